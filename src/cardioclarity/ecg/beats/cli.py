"""``cardioclarity ecg train | evaluate | score``: the beat anomaly detector from the shell.

``ecg score BEATS --out DIR`` writes ``DIR/scores.csv`` with the stable columns
``index,score,is_anomaly`` (+ ``label`` when the file is labelled): ``index`` is the 0-based row of
the beat in the input, ``score`` the anomaly score (higher = more abnormal), ``is_anomaly`` 1/0
(``score >= threshold``). Plus ``report.html`` and its PNGs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cardioclarity import DISCLAIMER
from cardioclarity.ecg.beats.names import BEAT_FORMATS

_FORMATS_HELP = ("beat file layout: auto (default: sniffed), tutorial (CSV, last column label, "
                 "1 = normal), ucr (first column class), matrix (numbers only), npy, "
                 'json ({"beats": [[...], ...]})')


def _add_input_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("beats", help="beat file: CSV/TXT (tutorial or UCR layout, or a plain matrix) "
                   "or .npy; one beat per row")
    p.add_argument("--fmt", default="auto", choices=BEAT_FORMATS, metavar="FMT", help=_FORMATS_HELP)
    p.add_argument("--normal-label", type=float, default=None, metavar="L",
                   help="the file's label for a normal beat (default 1); others are anomalies")


def _read(args: argparse.Namespace):
    from cardioclarity.ecg.beats.io import read_beats

    return read_beats(args.beats, fmt=args.fmt, normal_label=args.normal_label)


def _load(model: str | None):
    from cardioclarity.ecg.beats.detector import load_detector

    return load_detector(model)


def _cmd_train(args: argparse.Namespace) -> int:
    from cardioclarity.ecg.beats.detector import (
        BeatAnomalyDetector,
        ClassicalDetector,
        EnsembleDetector,
    )
    from cardioclarity.errors import InvalidInputError

    beats = _read(args)
    if beats.y is None:
        X_normal = beats.X
        note = "unlabelled file: every beat is taken as normal"
    else:
        X_normal = beats.normal()
        note = f"{len(X_normal)} normal beats of {len(beats)} ({beats.meta['label_convention']})"
    if len(X_normal) < 10:
        raise InvalidInputError(f"only {len(X_normal)} normal beats to train on; need >= 10.",
                                hint="give a larger file or check --normal-label.")
    X_val = y_val = None
    if args.val:
        from cardioclarity.ecg.beats.io import read_beats

        val = read_beats(args.val, fmt=args.fmt, normal_label=args.normal_label)
        X_val, y_val = val.X, val.y
    common = dict(threshold=args.threshold, percentile=args.percentile, k=args.k)
    train = {"seed": args.seed, "val_fraction": args.val_fraction}
    if args.epochs:
        train["max_epochs"] = args.epochs
    if args.model == "ensemble":
        members = [m.strip() for m in args.members.split(",") if m.strip()]
        det = EnsembleDetector(members, train=train, seed=args.seed, calibration=args.calibration,
                               val_fraction=args.val_fraction, **common)
    elif args.model in ("knn", "iforest"):
        det = ClassicalDetector(args.model, seed=args.seed, val_fraction=args.val_fraction,
                                **common)
    else:
        det = BeatAnomalyDetector(args.model, train=train, **common)
    print(f"Training '{det.name}' on {note}, beat length {beats.length}.", file=sys.stderr)
    det.fit(X_normal, X_val, y_val, data_description={
        "source": beats.meta["source"], "format": beats.meta["format"],
        "label_convention": beats.meta["label_convention"]})
    path = det.save(args.out)
    print(f"Saved {path}  (threshold {det.threshold_:.4g}, strategy '{args.threshold}', "
          f"fit {det.fit_seconds_:.1f} s)")
    return 0


def _save_beat_report(out: Path, det, X, scores, labels, **kwargs) -> Path:
    """Render the beat report and save it with its figures into ``out``."""
    from cardioclarity.ecg.beats.report import beat_report_figures, render_beat_report
    from cardioclarity.reporting import save_report

    figures = beat_report_figures(det, X, scores, labels=labels)
    return save_report(out, render_beat_report(det, X, scores, labels=labels, figures=figures,
                                               **kwargs), figures)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from cardioclarity.errors import InvalidInputError
    from cardioclarity.metrics import binary_report

    beats = _read(args)
    if beats.y is None:
        raise InvalidInputError(f"'{args.beats}' has no labels; evaluate needs labelled beats.",
                                hint="use `ecg score` for unlabelled beats, or --fmt tutorial/ucr.")
    det = _load(args.model)
    scores = det.anomaly_score(beats.X, resample=args.resample)
    X = beats.X if beats.length == det.input_length_ else det.prepare(beats.X, resample=True)
    rep = binary_report(beats.y, (scores >= det.threshold_).astype(int), scores,
                        positive_class="anomaly")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"source": beats.meta["source"], "label_convention": beats.meta["label_convention"],
              "metrics": rep.to_dict(), "model": det.describe(), "disclaimer": DISCLAIMER}
    (out / "metrics.json").write_text(json.dumps(result, indent=2, default=str))
    report = _save_beat_report(out, det, X, scores, beats.y, source=beats.meta["source"],
                               title="ECG beat anomaly detector: evaluation")
    print(f"AUROC {rep.auroc:.4f}  AUPRC {rep.auprc:.4f}  F1 {rep.f1:.4f}  accuracy "
          f"{rep.accuracy:.4f}  precision {rep.precision:.4f}  recall {rep.recall:.4f} "
          f"(positive class = anomaly, n = {rep.n})")
    print(f"Wrote {out / 'metrics.json'} and {report}")
    print(DISCLAIMER)
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    from cardioclarity.ecg.beats.detector import score_table
    from cardioclarity.ecg.beats.report import scores_csv

    beats = _read(args)
    det = _load(args.model)
    rows = score_table(det, beats.X, resample=args.resample)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scores.csv").write_text(scores_csv(rows, beats.y), newline="")
    report = None
    if not args.no_report:
        import numpy as np

        X = beats.X if beats.length == det.input_length_ else det.prepare(beats.X, resample=True)
        report = _save_beat_report(out, det, X, np.array([r["score"] for r in rows]), beats.y,
                                   source=beats.meta["source"])
    n_flag = sum(r["is_anomaly"] for r in rows)
    print(f"{n_flag} of {len(rows)} beats flagged as anomalous (threshold {det.threshold_:.4g}). "
          f"Wrote {out / 'scores.csv'}" + (f" and {report}" if report else ""))
    print(DISCLAIMER)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``train``, ``evaluate`` and ``score`` to the ``ecg`` group."""
    # Long but flat: one declarative block of options per sub-command, read as the --help pages.
    from cardioclarity.ecg.beats.names import (
        CALIBRATIONS,
        CLASSICAL_METHODS,
        DEFAULT_DETECTOR,
        MODEL_DESCRIPTIONS,
        THRESHOLD_STRATEGIES,
    )

    models_help = "; ".join(f"{k}: {v}" for k, v in MODEL_DESCRIPTIONS.items())
    p = sub.add_parser(
        "train", help="train a beat anomaly detector on normal beats",
        description="Train an autoencoder (or knn / iforest / an ensemble) on the NORMAL beats of a "
        "file (labelled files: only beats with the normal label are used; unlabelled: all). A "
        "share of them is held out for early stopping and to set the decision threshold. "
        "Example: cardioclarity ecg train ecg.csv --model conv1d --out conv1d.pt. " + DISCLAIMER,
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=f"Models - {models_help}.")
    _add_input_args(p)
    p.add_argument("--model", default="conv1d",
                   choices=[*MODEL_DESCRIPTIONS, *CLASSICAL_METHODS, "ensemble"],
                   help="architecture (default: %(default)s)")
    p.add_argument("--members", default="dense,knn",
                   help="comma-separated members for --model ensemble (default: %(default)s)")
    p.add_argument("--calibration", default="zscore", choices=CALIBRATIONS,
                   help="how ensemble member scores are made comparable (default: %(default)s)")
    p.add_argument("--out", required=True, help="checkpoint file to write (.pt)")
    p.add_argument("--val", help="optional labelled validation file (its normal beats replace "
                   "the hold-out; needed for --threshold best_f1)")
    p.add_argument("--threshold", default="percentile", choices=THRESHOLD_STRATEGIES,
                   help="threshold strategy (default: %(default)s of validation-normal scores)")
    p.add_argument("--percentile", type=float, default=97.5,
                   help="percentile for --threshold percentile (default: %(default)s)")
    p.add_argument("--k", type=float, default=1.0,
                   help="k for --threshold mean_std: mean + k*std (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=None, help="maximum epochs (early stopping)")
    p.add_argument("--val-fraction", type=float, default=0.2,
                   help="share of normal beats held out when no --val (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.set_defaults(func=_cmd_train)

    model_arg = dict(default=None, help=f"checkpoint file or bundled name (default: "
                     f"{DEFAULT_DETECTOR}; see `cardioclarity models`)")
    resample_arg = dict(action="store_true", help="linearly resample beats whose length differs "
                        "from the model's (otherwise that is an error)")
    p = sub.add_parser(
        "evaluate", help="measure a detector on labelled beats (metrics + report)",
        description="Score labelled beats and report AUROC, AUPRC, F1, accuracy, precision, recall "
        "(positive class = anomaly) with ROC, histogram and reconstruction plots. Writes "
        "DIR/metrics.json and DIR/report.html. " + DISCLAIMER)
    _add_input_args(p)
    p.add_argument("--model", **model_arg)
    p.add_argument("--out", default="ecg-evaluate", help="output folder (default: %(default)s)")
    p.add_argument("--resample", **resample_arg)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser(
        "score", help="score beats: per-beat anomaly score and flag (scores.csv + report)",
        description="Score every beat of a file. Writes DIR/scores.csv with columns "
        "index,score,is_anomaly[,label] (index = 0-based row; score higher = more abnormal; "
        "is_anomaly 1 when score >= the model's threshold; label 1 = anomaly when the file is "
        "labelled) and DIR/report.html. Beats are rows of a table; for a recording (one "
        "column of samples) use `ecg analyze`. Example: cardioclarity ecg score beats.csv "
        "--out scores/. " + DISCLAIMER)
    _add_input_args(p)
    p.add_argument("--model", **model_arg)
    p.add_argument("--out", required=True, help="output folder (scores.csv, report.html, PNGs)")
    p.add_argument("--resample", **resample_arg)
    p.add_argument("--no-report", action="store_true", help="write only scores.csv")
    p.set_defaults(func=_cmd_score)
