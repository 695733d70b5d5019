"""Command-line interface: ``cardioclarity demo | ecg ... | xray ... | serve | models``.

The CLI is a thin door onto the pipeline functions: it parses arguments, calls the package like any
user script would, and turns every error into a one-line message with a conventional exit code
(sysexits.h) instead of a traceback: a :class:`~cardioclarity.errors.CardioClarityError` exits with
its own code (65 bad data, 66 missing input), anything else is a bug and exits 70. ``--debug``
prints the traceback as well.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Sequence

from cardioclarity import DISCLAIMER, __version__
from cardioclarity.errors import EX_SOFTWARE, CardioClarityError, exception_summary


def _card_metrics(card_md) -> str | None:
    """The "Metrics" bullet of a bundled model card (``weights/<name>.md``), as one line."""
    import re

    try:
        text = card_md.read_text(encoding="utf-8")
    except OSError:
        return None
    m = re.search(r"^- \*\*(?:Metrics|Held-out results)\*\*[^:]*:\s*(.*?)(?=^- \*\*|^#|\Z)", text, re.M | re.S)
    return " ".join(m.group(1).split()) if m else None


def _cmd_models(args: argparse.Namespace) -> int:
    from cardioclarity.checkpoints import describe_checkpoint, list_bundled, load_checkpoint

    rows = []
    for name, path in list_bundled().items():
        meta = describe_checkpoint(load_checkpoint(path))
        # A rhythm "mlp" without hidden layers is a logistic regression: say what it is.
        arch = "logistic" if meta.get("hidden_layers") == [] else meta["model"]
        data = meta.get("training_data")
        rows.append({"name": name, "kind": meta["kind"], "model": meta["model"],
                     "architecture": arch, "training_data": data,
                     "input": meta.get("input_length") or meta.get("input_size"),
                     "threshold": meta.get("threshold"),
                     "metrics": meta.get("metrics") or meta.get("train_oof_metrics")
                     or _card_metrics(path.with_suffix(".md")),
                     "card": str(path.with_suffix(".md")),
                     "data_source": data.get("source") if isinstance(data, dict) else data})
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    print(f"{'NAME':<18} {'KIND':<19} {'MODEL':<9} {'INPUT':>5} {'THRESHOLD':>9}  TRAINING DATA")
    for r in rows:
        thr = "" if r["threshold"] is None else f"{r['threshold']:.4g}"
        src = str(r["data_source"] or "")
        print(f"{r['name']:<18} {r['kind']:<19} {r['architecture']:<9} {r['input'] or '':>5} "
              f"{thr:>9}  {src[:60]}{'...' if len(src) > 60 else ''}")
    print("Model cards (metrics, protocol, limits): weights/<name>.md; `--json` for every field. "
          + DISCLAIMER)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (each pipeline registers its own sub-commands)."""
    from cardioclarity import demo
    from cardioclarity.batch import cli as batch_cli
    from cardioclarity.ecg import cli as ecg_cli
    from cardioclarity.pacs import cli as pacs_cli
    from cardioclarity.serve import cli as serve_cli
    from cardioclarity.xray import cli as xray_cli

    parser = argparse.ArgumentParser(
        prog="cardioclarity",
        description="CardioClarity: ECG anomaly detection and chest X-ray heart detection. "
        + DISCLAIMER,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Start with `cardioclarity demo`, then `cardioclarity ecg --help` or "
        "`cardioclarity xray --help`.",
    )
    parser.add_argument("--version", action="version", version=f"cardioclarity {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="print the full traceback of an error (for bug reports)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo.register(sub)
    ecg_cli.register(sub)
    xray_cli.register(sub)
    serve_cli.register(sub)
    pacs_cli.register(sub)
    batch_cli.register(sub)
    p = sub.add_parser("models", help="list the bundled pretrained models")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cardioclarity`` console script. Returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        # `cardioclarity` or `cardioclarity ecg` alone: show the relevant help, usage error.
        getattr(args, "_parser", parser).print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except CardioClarityError as exc:
        _debug_traceback(args)
        print(f"cardioclarity: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("cardioclarity: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        _debug_traceback(args)
        print("cardioclarity: error: out of memory; try a smaller batch or input.", file=sys.stderr)
        return EX_SOFTWARE
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a bug, not bad input
        _debug_traceback(args)
        print(f"cardioclarity: internal error ({exception_summary(exc)}). This is a bug in "
              "CardioClarity; rerun with --debug for the traceback and please report it.",
              file=sys.stderr)
        return EX_SOFTWARE


def _debug_traceback(args: argparse.Namespace) -> None:
    if getattr(args, "debug", False):
        traceback.print_exc(file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
