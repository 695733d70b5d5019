"""``cardioclarity demo``: run every pipeline offline on bundled sample data and bundled weights.

Each pipeline contributes one step, a function ``run_demo(out_dir: Path) -> dict`` returning at
least ``{"title": str, "report": Path, "summary": str}`` (``ecg.beats.demo``, ``ecg.records.demo``,
``xray.demo``). The demo writes each step's outputs in its own folder and an ``index.html`` that
links them.
"""

from __future__ import annotations

import argparse
import html
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cardioclarity import DISCLAIMER


def demo_steps() -> list[tuple[str, Callable[[Path], dict]]]:
    """``(folder, run_demo)`` for each demo step, in the order they run.

    Imported here, not at module level: the CLI imports this module to build its parser, and the
    pipelines pull in torch.
    """
    from cardioclarity.ecg.beats import demo as beats_demo
    from cardioclarity.ecg.records import demo as records_demo
    from cardioclarity.xray import demo as xray_demo

    return [("ecg_beats", beats_demo.run_demo), ("ecg_record", records_demo.run_demo),
            ("xray", xray_demo.run_demo)]


def run_demo(out_dir: str | Path = "cardioclarity-demo") -> dict:
    """Run all demo steps into ``out_dir`` and write ``out_dir/index.html``.

    Returns
    -------
    dict
        ``{"index": Path, "steps": [step results]}``.
    """
    from cardioclarity.reporting import Section, write_html_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for folder, func in demo_steps():
        t0 = time.perf_counter()
        res = dict(func(out / folder))
        res["seconds"] = time.perf_counter() - t0
        res["folder"] = folder
        results.append(res)
        print(f"[{folder}] {res['summary']}  ->  {res['report']}", file=sys.stderr)
    links = "".join(
        f"<li><a href='{html.escape(str(Path(r['report']).relative_to(out)))}'>"
        f"{html.escape(r['title'])}</a>: {html.escape(r['summary'])}</li>" for r in results)
    index = write_html_report(out / "index.html", "CardioClarity demo",
                              [Section("Reports", html_body=f"<ul>{links}</ul>")])
    return {"index": index, "steps": results}


def _cmd_demo(args: argparse.Namespace) -> int:
    res = run_demo(args.out)
    print(f"Demo reports written. Open {res['index'].resolve()}")
    print(DISCLAIMER)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``demo`` sub-command."""
    p = sub.add_parser(
        "demo", help="run every pipeline offline on bundled samples and weights",
        description="Run the ECG beat detector, the ECG record analysis and the chest X-ray heart "
        "detector on bundled sample data with bundled pretrained weights (no network). Writes "
        "HTML reports and prints where.")
    p.add_argument("--out", default="cardioclarity-demo", help="output folder (default: %(default)s)")
    p.set_defaults(func=_cmd_demo)
