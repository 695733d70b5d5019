"""Train the record beat model ``mitdb-conv1d`` on MIT-BIH DS1 normal beats (inter-patient).

Protocol (seeded, reproducible; de Chazal et al. 2004 inter-patient split):

1. Every available DS1 record is read (lead MLII) and run through the package's own pipeline:
   cleaning, quality, R-peak detection (``cardioclarity.ecg.records.analyze.preprocess``).
2. Detected beats take the AAMI class of the reference annotation within 150 ms. Only beats of
   class N (normal) from DS1 are used for training: up to ``--per-record`` per record (seeded
   sample) so that no patient dominates. No DS2 record is read.
3. Windows 250 ms before to 450 ms after R, resampled to 128 samples, record-amplitude
   normalised (``cardioclarity.ecg.records.scoring.beat_windows``).
4. ``BeatAnomalyDetector("conv1d")`` from the beat-detection package fits those beats
   (its own 20% validation-normal hold-out gives early stopping and the 97.5th-percentile
   threshold).
5. The RR threshold is the 97.5th percentile of the RR score of all DS1 normal beats. Both
   thresholds therefore use normal beats only.
6. One hyper-parameter uses DS1 labels: ``adaptive_k``, the spread multiplier of the
   patient-adaptive variant, is the value of ``--k-grid`` with the best abnormal-beat F1 over
   all DS1 beats. DS2 is never read.

Usage::

    nice -n 10 python training/train_mitdb.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from cardioclarity.ecg.beats.detector import BeatAnomalyDetector
from cardioclarity.ecg.records.analyze import patient_reference, preprocess
from cardioclarity.ecg.records.datasets import DS1, available_records, label_detected_beats
from cardioclarity.ecg.records.io import read_record
from cardioclarity.ecg.records.scoring import (
    RecordBeatModel,
    WindowConfig,
    beat_windows,
    rr_context,
    rr_score_raw,
)
from cardioclarity.reporting import progress

SEED = 0
OUT = Path(__file__).resolve().parents[1] / "src" / "cardioclarity" / "weights"


def ds1_normal_beats(mitdb: Path, cfg: WindowConfig, per_record: int, seed: int = SEED
                     ) -> tuple[np.ndarray, np.ndarray, list[str], list]:
    """Normal-beat windows (sampled per record), RR scores of all DS1 normal beats, and the
    preprocessed records (for choosing ``adaptive_k``)."""
    rng = np.random.default_rng(seed)
    Xs, rr_scores, cache = [], [], []
    names = available_records(mitdb, DS1)
    for name in progress(names, desc="DS1 records", unit="rec"):
        rec = read_record(mitdb / name, lead="MLII")
        prep = preprocess(rec)
        labels = label_detected_beats(prep.peaks, rec.annotations, rec.fs)
        X, valid = beat_windows(prep.clean, prep.peaks, rec.fs, cfg)
        prem, comp, _ = rr_context(prep.peaks, rec.fs, prep.rr_valid)
        normal = labels == "N"
        rr_scores.append(rr_score_raw(prem, comp)[normal])
        idx = np.flatnonzero(normal[valid])
        if idx.size > per_record:
            idx = np.sort(rng.choice(idx, per_record, replace=False))
        Xs.append(X[idx])
        cache.append((prep, rec.fs, labels))
    return np.concatenate(Xs), np.concatenate(rr_scores), names, cache


def choose_adaptive_k(model: RecordBeatModel, cache: list, grid: list[float]) -> tuple[float, list]:
    """``adaptive_k`` with the best abnormal-beat (S+V+F vs N) F1 over the DS1 records."""
    from cardioclarity.metrics import binary_report

    results = []
    for k in grid:
        model.adaptive_k = k
        y, pred = [], []
        for prep, fs, labels in cache:
            ref = patient_reference(prep, fs)  # calibrate as analyze_record does
            bs = model.score(prep.clean, prep.peaks, fs, rr_valid=prep.rr_valid, adaptive=True,
                             calibration_beats=ref.sinus if ref is not None else None)
            keep = np.isin(labels, ["N", "S", "V", "F"])
            y.append(labels[keep] != "N")
            pred.append(bs.is_anomaly[keep])
        rep = binary_report(np.concatenate(y).astype(int), np.concatenate(pred).astype(int))
        results.append({"k": k, "f1": rep.f1, "precision": rep.precision, "recall": rep.recall})
        print(f"adaptive k={k:g}: DS1 F1 {rep.f1:.4f} (P {rep.precision:.3f}, R {rep.recall:.3f})")
    best = max(results, key=lambda r: r["f1"])
    return float(best["k"]), results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path,
                    default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--out", type=Path, default=OUT / "mitdb-conv1d.pt")
    ap.add_argument("--per-record", type=int, default=600)
    ap.add_argument("--epochs", type=int, default=80)
    ap.add_argument("--k-grid", type=float, nargs="+", default=[10, 20, 30, 45, 60, 90])
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cfg = WindowConfig()
    X, rr_n, names, cache = ds1_normal_beats(args.data_dir / "mitdb", cfg, args.per_record)
    print(f"{X.shape[0]} DS1 normal beats from {len(names)} records; window {cfg}")
    # One thread: on a shared 2-core CPU two threads thrash (45 s/epoch against 3 s/epoch).
    det = BeatAnomalyDetector("conv1d", train={"max_epochs": args.epochs, "patience": 8,
                                               "num_threads": 1,
                                               "seed": SEED}, percentile=97.5)
    det.fit(X, data_description={
        "source": "MIT-BIH Arrhythmia Database (PhysioNet, ODC-By 1.0)",
        "split": "inter-patient DS1 (de Chazal 2004), AAMI class N beats only",
        "records": names, "n_beats": int(X.shape[0]), "lead": "MLII",
        "window": "R-0.25 s .. R+0.45 s, 128 samples, record-amplitude normalised"})
    model = RecordBeatModel(detector=det, window=cfg,
                            rr_threshold=float(np.percentile(rr_n, 97.5)), name="mitdb-conv1d")
    model.adaptive_k, k_results = choose_adaptive_k(model, cache, args.k_grid)
    model.save(args.out, script="training/train_mitdb.py", adaptive_k_selection=k_results)
    print(f"adaptive_k {model.adaptive_k:g}; morphology threshold {det.threshold_:.4f}, RR threshold {model.rr_threshold:.4f}, "
          f"best epoch {getattr(det, 'best_epoch_', '?')}, {det.fit_seconds_:.0f} s")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
