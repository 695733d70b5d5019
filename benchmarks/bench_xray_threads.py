"""Torch threads under CPU contention: images/s of ``read_xray`` + ``HeartDetector.detect``.

Each measurement is a fresh process (``--worker``) that sets its torch threads the way
``cardioclarity xray detect --threads N`` does, warms up on two films, then times the loop over
``n`` PNG films of ``cxr_heart`` (JSRT and wingspan, 512 x 512). Four cases: torch's default
thread count vs one thread, each on the machine as it is and with one busy-loop process per core
competing. Medians of ``--repeats`` runs.

Usage::

    python benchmarks/bench_xray_threads.py [--data-dir ../shared/data] [--n 40] [--repeats 3] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import REPO, default_data_dir, machine, md_table, write_section

BUSY = "while True:\n    pass\n"


def films(data_dir: Path, n: int) -> list[Path]:
    """``n`` films, alternating JSRT and wingspan (sorted names, so the same ones every run)."""
    sets = [sorted((data_dir / "cxr_heart" / s / "png").glob("*.png")) for s in ("jsrt", "wingspan")]
    out = [f for pair in zip(*sets, strict=False) for f in pair][:n]
    if len(out) < n:
        raise SystemExit(f"only {len(out)} films under {data_dir / 'cxr_heart'}")
    return out


def worker(threads: int, paths: list[str]) -> None:
    """Time the pipeline over ``paths`` in this process; print ``{"images_per_s", "threads"}``."""
    import torch

    from cardioclarity.xray.cli import set_threads
    from cardioclarity.xray.detect import HeartDetector
    from cardioclarity.xray.io import read_xray

    set_threads(threads)
    det = HeartDetector.load()
    for p in paths[:2]:
        det.detect(read_xray(p))
    t0 = time.perf_counter()
    for p in paths:
        det.detect(read_xray(p))
    dt = time.perf_counter() - t0
    print(json.dumps({"images_per_s": len(paths) / dt, "threads": torch.get_num_threads()}))


def run_case(threads: int, paths: list[Path], repeats: int) -> tuple[float, int]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    rates, used = [], 0
    for _ in range(repeats):
        out = subprocess.run([sys.executable, __file__, "--worker", str(threads), *map(str, paths)],
                             env=env, capture_output=True, text=True, check=True).stdout
        doc = json.loads(out.strip().splitlines()[-1])
        rates.append(doc["images_per_s"])
        used = doc["threads"]
    return statistics.median(rates), used


def measure(paths: list[Path], repeats: int) -> list[dict]:
    cores = os.cpu_count() or 1
    rows = []
    for load in ("none", f"{cores} busy-loop process(es)"):
        busy = [] if load == "none" else [subprocess.Popen([sys.executable, "-c", BUSY])
                                          for _ in range(cores)]
        try:
            for label, threads in (("torch default", 0), ("--threads 1", 1)):
                rate, used = run_case(threads, paths, repeats)
                rows.append({"competing load": load, "threads": f"{label} ({used})",
                             "images/s (median)": round(rate, 2)})
                print(rows[-1], file=sys.stderr)
        finally:
            for p in busy:
                p.kill()
                p.wait()
    for load in {r["competing load"] for r in rows}:
        pair = [r for r in rows if r["competing load"] == load]
        pair[1]["speed-up of --threads 1"] = round(pair[1]["images/s (median)"] / pair[0]["images/s (median)"], 2)
        pair[0]["speed-up of --threads 1"] = 1.0
    return rows


def _verdict(rows: list[dict]) -> str:
    """What the table says about the ``--threads 1`` default, from the measured speed-ups."""
    gain = {r["competing load"]: r["speed-up of --threads 1"] for r in rows
            if r["threads"].startswith("--threads 1")}
    idle = gain.get("none")
    loaded = next((v for k, v in gain.items() if k != "none"), None)
    text = ("`cardioclarity xray detect` and `xray evaluate` default to `--threads 1`: batch jobs "
            "usually share their machine, and under a competing load one thread per process ran "
            f"{loaded:.2f}x the images/s of torch's default.")
    if idle is not None and idle < 1:
        text += (f" On an otherwise idle machine the default costs {100 * (1 - idle):.0f} %: pass "
                 "`--threads 0` (torch's own default) there, or run one process per core on "
                 "parts of the folder.")
    return text + "\n"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(int(sys.argv[2]), sys.argv[3:])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=default_data_dir())
    ap.add_argument("--n", type=int, default=40, help="films per run (default: %(default)s)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per case (default: %(default)s)")
    ap.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md alone")
    args = ap.parse_args()
    paths = films(args.data_dir, args.n)
    mach = machine()
    rows = measure(paths, args.repeats)
    body = (
        "## Chest X-ray: torch threads under CPU contention (`benchmarks/bench_xray_threads.py`)\n\n"
        f"Machine: {mach}. Command: `python benchmarks/bench_xray_threads.py --n {args.n} "
        f"--repeats {args.repeats}`.\n\n"
        f"`read_xray` + `HeartDetector.detect` (bundled seg model, CPU) on n = {len(paths)} PNG films "
        "(512 x 512, JSRT and wingspan alternating), each run a fresh process after a two-film "
        f"warm-up; median of {args.repeats} runs. \"Competing load\" adds one busy-loop Python "
        "process per core; \"none\" is the machine as it was (the load average above includes "
        "other users' work).\n\n"
        + md_table(rows, ".2f") + "\n\n" + _verdict(rows))
    print(body)
    if not args.no_write:
        write_section("xray-threads", body)


if __name__ == "__main__":
    main()
