"""CLI start-up: how long `cardioclarity --help` takes, against a bare Python start.

Every command pays the start-up (parsers of all command groups are built before any work), so it
is kept free of torch, SciPy, Matplotlib and tqdm. Writes the ``cli`` section of BENCHMARKS.md.

    python benchmarks/bench_cli.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from _common import REPO, machine, md_table, median_time, write_section


def _run(*args: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    subprocess.run([sys.executable, *args], check=True, env=env, stdout=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15, help="timed runs per command (median)")
    args = ap.parse_args()
    rows = []
    for label, cmd in (("python -c pass (interpreter alone)", ("-c", "pass")),
                       ("cardioclarity --help", ("-m", "cardioclarity", "--help")),
                       ("cardioclarity ecg analyze --help",
                        ("-m", "cardioclarity", "ecg", "analyze", "--help"))):
        seconds = median_time(lambda cmd=cmd: _run(*cmd), repeats=args.repeats, warmup=2)
        rows.append({"command": label, "median s": seconds})
        print(f"{label}: {seconds:.3f} s", file=sys.stderr)
    body = (f"## CLI start-up (`benchmarks/bench_cli.py`)\n\nMedian of {args.repeats} runs after 2 "
            f"warm-up runs, each a fresh process. Machine: {machine()}. Target: <= 0.5 s.\n\n"
            + md_table(rows, ".3f"))
    write_section("cli", body)


if __name__ == "__main__":
    main()
