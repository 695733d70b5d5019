"""Benchmark of the ECG beat anomaly detectors (section ``ecg-beats`` of BENCHMARKS.md).

Protocols
---------
ECG5000 (``ecg5000/ecg.csv``, 5,000 beats, file label 1 = normal)
    Seeded stratified 60/20/20 split (``cardioclarity.ecg.beats.io.split_beats``) per seed. Every model
    trains on the normal beats of train; early stopping and the threshold (best F1 on the labelled
    validation split) use validation only; every figure is on test. Ensembles combine the already
    fitted members after z-calibrating each on the validation-normal scores.
Tutorial protocol (reference row)
    The public notebook's: 80/20 split (random_state 21), dense AE, batch 512, 20 and 200 epochs,
    threshold = mean + 1 std of the *training* errors, metrics on the 20 %.
ECG200 (UCR ``ECG200_TRAIN/TEST.txt``, 1 = normal, -1 = infarction)
    UCR split: TRAIN is split 75/25 (stratified, seeded) into fit / validation, TEST is the test.

Classical rows sit in the same run: PyOD's default KNN (when PyOD is installed), the package's own
k-NN distance and Isolation Forest. Throughput: median of repeated batch scoring of 20,000 beats
(model loaded once, ``torch.inference_mode``, one torch thread), first seed only.

Usage::

    python benchmarks/bench_ecg_beats.py [--data-dir DIR] [--seeds 0 1 2] [--models dense conv1d ...]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from _common import default_data_dir, machine, md_table, median_time, write_section

from cardioclarity.ecg.beats.detector import (
    BeatAnomalyDetector,
    ClassicalDetector,
    EnsembleDetector,
)
from cardioclarity.ecg.beats.io import read_beats, split_beats
from cardioclarity.metrics import best_f1_threshold, binary_report

AE_MODELS = ("dense", "conv1d", "lstm", "resconv")
METRICS = ("auroc", "auprc", "f1", "accuracy", "precision", "recall")
THROUGHPUT_BEATS = 20_000


class _PyodKNN:
    """PyOD's default KNN on the detector contract (threshold: best F1 on validation)."""

    name = "pyod-knn (default)"

    def fit(self, X, X_val, y_val):
        from pyod.models.knn import KNN

        t0 = time.perf_counter()
        self.model = KNN().fit(X)
        self.fit_seconds_ = time.perf_counter() - t0
        self.threshold_ = best_f1_threshold(y_val, self.anomaly_score(X_val))[0]
        return self

    def anomaly_score(self, X):
        return self.model.decision_function(X)


def _evaluate(det, X_test, y_test) -> dict:
    s = det.anomaly_score(X_test)
    rep = binary_report(y_test, (s >= det.threshold_).astype(int), s)
    return {k: getattr(rep, k) for k in METRICS}


def _throughput(det, X: np.ndarray) -> float:
    reps = int(np.ceil(THROUGHPUT_BEATS / len(X)))
    big = np.tile(X, (reps, 1))[:THROUGHPUT_BEATS]
    return THROUGHPUT_BEATS / median_time(lambda: det.anomaly_score(big), repeats=5, warmup=1)


def _fit_all(models, seed, X_normal, X_val, y_val, with_pyod):
    """Fit every requested detector on one split; returns {row name: fitted detector}."""
    fitted = {}
    for name in models:
        fitted[name] = BeatAnomalyDetector(name, threshold="best_f1", seed=seed).fit(
            X_normal, X_val, y_val)
        print(f"    {name}: {fitted[name].fit_seconds_:.1f} s, best epoch "
              f"{fitted[name].best_epoch_}", flush=True)
    for method in ("knn", "iforest"):
        fitted[f"{method} (ours)"] = ClassicalDetector(method, threshold="best_f1", seed=seed).fit(
            X_normal, X_val, y_val)
    if with_pyod:
        fitted[_PyodKNN.name] = _PyodKNN().fit(X_normal, X_val, y_val)
    aes = [m for m in models if m in fitted]
    combos = [([*aes, "knn (ours)"], "zscore"), (["dense", "conv1d", "knn (ours)"], "zscore"),
              (["dense", "knn (ours)"], "zscore"), (["dense", "knn (ours)"], "rank"),
              (aes, "zscore")]
    for members, cal in combos:
        if len(members) < 2 or not all(m in fitted for m in members):
            continue
        row = f"ensemble({'+'.join(members)}; {cal})"
        if row in fitted:
            continue
        t0 = time.perf_counter()
        ens = EnsembleDetector.from_fitted([fitted[m] for m in members], X_val, y_val,
                                           calibration=cal, threshold="best_f1")
        ens.fit_seconds_ = sum(fitted[m].fit_seconds_ for m in members) + time.perf_counter() - t0
        fitted[row] = ens
    return fitted


def _summarise(per_seed: dict[str, list[dict]], extra: dict[str, dict]) -> list[dict]:
    rows = []
    for name, runs in per_seed.items():
        row = {"model": name}
        for k in METRICS:
            vals = [r[k] for r in runs]
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            row[k] = f"{statistics.mean(vals):.4f} ± {sd:.4f}"
        row["train s"] = f"{statistics.mean(r['fit_seconds'] for r in runs):.1f}"
        tp = extra.get(name, {}).get("throughput")
        row["beats/s"] = f"{tp:,.0f}" if tp else "-"
        rows.append(row)
    return rows


def run_ecg5000(data_dir: Path, seeds, models, with_pyod) -> list[dict]:
    beats = read_beats(data_dir / "ecg5000" / "ecg.csv", fmt="tutorial")
    per_seed: dict[str, list[dict]] = defaultdict(list)
    extra: dict[str, dict] = defaultdict(dict)
    for seed in seeds:
        print(f"ECG5000 seed {seed}", flush=True)
        p = split_beats(beats, seed=seed)
        tr, va, te = p["train"], p["val"], p["test"]
        fitted = _fit_all(models, seed, tr.normal(), va.X, va.y, with_pyod)
        for name, det in fitted.items():
            per_seed[name].append({**_evaluate(det, te.X, te.y), "fit_seconds": det.fit_seconds_})
            if seed == seeds[0]:
                extra[name]["throughput"] = _throughput(det, te.X)
    return _summarise(per_seed, extra)


def run_tutorial(data_dir: Path) -> list[dict]:
    from sklearn.model_selection import train_test_split

    beats = read_beats(data_dir / "ecg5000" / "ecg.csv", fmt="tutorial")
    X_tr, X_te, y_tr, y_te = train_test_split(beats.X, beats.y, test_size=0.2, random_state=21)
    rows = []
    for epochs in (20, 200):
        # The notebook: no early stopping, batch 512, threshold from the training errors.
        det = BeatAnomalyDetector("dense", threshold="mean_std", k=1.0, train={
            "max_epochs": epochs, "batch_size": 512, "lr": 1e-3, "weight_decay": 0.0,
            "patience": 10**6}).fit(X_tr[y_tr == 0], X_val=X_tr[y_tr == 0])
        rows.append({"model": f"dense, tutorial protocol ({epochs} epochs)",
                     **{k: f"{v:.4f}" for k, v in _evaluate(det, X_te, y_te).items()},
                     "train s": f"{det.fit_seconds_:.1f}"})
    return rows


def run_ecg200(data_dir: Path, seeds, models, with_pyod) -> list[dict]:
    train = read_beats(data_dir / "ecg200" / "ECG200_TRAIN.txt", fmt="ucr")
    test = read_beats(data_dir / "ecg200" / "ECG200_TEST.txt", fmt="ucr")
    from sklearn.model_selection import train_test_split

    per_seed: dict[str, list[dict]] = defaultdict(list)
    for seed in seeds:
        print(f"ECG200 seed {seed}", flush=True)
        fit_i, val_i = train_test_split(np.arange(len(train)), test_size=0.25, stratify=train.y,
                                        random_state=seed)
        X_fit = train.X[fit_i][train.y[fit_i] == 0]
        fitted = _fit_all(models, seed, X_fit, train.X[val_i], train.y[val_i], with_pyod)
        for name, det in fitted.items():
            per_seed[name].append({**_evaluate(det, test.X, test.y),
                                   "fit_seconds": det.fit_seconds_})
    return _summarise(per_seed, {})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=default_data_dir())
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--models", nargs="+", default=list(AE_MODELS), choices=AE_MODELS,
                    help="autoencoders for ECG5000 (default: all)")
    ap.add_argument("--models-ecg200", nargs="+", default=list(AE_MODELS), choices=AE_MODELS,
                    help="autoencoders for ECG200 (default: all)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = ap.parse_args(argv)
    try:
        import pyod  # noqa: F401

        with_pyod = True
    except ImportError:
        with_pyod = False
    t0 = time.perf_counter()
    mach = machine()
    e5000 = run_ecg5000(args.data_dir, args.seeds, args.models, with_pyod)
    tut = run_tutorial(args.data_dir)
    e200 = run_ecg200(args.data_dir, args.seeds, args.models_ecg200, with_pyod)
    minutes = (time.perf_counter() - t0) / 60
    seeds = ", ".join(map(str, args.seeds))
    body = f"""## ECG beat anomaly detection (`benchmarks/bench_ecg_beats.py`)

Command: `python benchmarks/bench_ecg_beats.py --seeds {' '.join(map(str, args.seeds))} --models {' '.join(args.models)} --models-ecg200 {' '.join(args.models_ecg200)}` ({minutes:.0f} min).
Machine: {mach} (load average at start; the CPU is shared, so timings are noisy).

Positive class = **anomaly** in every column. Mean ± std over seeds {seeds}. Thresholds: best F1 on the
labelled validation split (never on test). `train s` = training time (ensembles: sum of members);
`beats/s` = scoring throughput, median of 5 runs of batch scoring {THROUGHPUT_BEATS:,} beats, one torch
thread, first seed. Ensembles = mean of member scores, each z- or rank-calibrated (the row says which) on
the validation-normal beats.

### ECG5000, seeded stratified 60/20/20 split (train on normal beats of train, test = 1,000 beats)

{md_table(e5000)}

### Reference: the public tutorial's protocol (80/20, threshold from training errors)

{md_table(tut)}

### ECG200 (UCR split: TRAIN 75/25 fit/validation, TEST = 100 beats; 1 = normal, -1 = MI)

{md_table(e200)}
"""
    print(body)
    if not args.no_write:
        write_section("ecg-beats", body)


if __name__ == "__main__":
    main()
