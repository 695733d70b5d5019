"""Train the bundled ECG5000 beat detectors (``src/cardioclarity/weights/ecg5000-*.pt`` + cards).

Protocol (the same as ``benchmarks/bench_ecg_beats.py``): ``ecg.csv`` (5,000 beats, 1 = normal in
the file) is split 60/20/20 into train / validation / test, stratified, seed 0
(:func:`cardioclarity.ecg.beats.io.split_beats`). Models train on the *normal* beats of train; early
stopping and the threshold use the validation split only (threshold = best F1 on the labelled
validation split); the test split is touched once, for the metrics written into the model card.

Usage::

    python training/train_ecg5000.py --data-dir ../shared/data            # all bundled models
    python training/train_ecg5000.py --models dense --out-dir /tmp/weights

Deterministic on CPU for a given seed (one torch thread).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from cardioclarity import DISCLAIMER
from cardioclarity.ecg.beats.detector import (
    BeatAnomalyDetector,
    ClassicalDetector,
    EnsembleDetector,
)
from cardioclarity.ecg.beats.io import read_beats, split_beats
from cardioclarity.metrics import binary_report

REPO = Path(__file__).resolve().parents[1]
#: Bundled names. The ensemble (the package's default detector) combines the bundled dense
#: autoencoder, exactly as saved, with a k-NN detector fitted on the same training beats.
BUNDLED = ("ecg5000-dense", "ecg5000-conv1d", "ecg5000-ensemble")
#: Chosen on the *validation* split of seed 0 among all member subsets of {dense, conv1d, knn}
#: and both calibrations (validation AUROC: dense+knn rank 0.9974, zscore 0.9970; with conv1d
#: 0.9966 / 0.9940); the test split played no part in the choice.
ENSEMBLE_MEMBERS = ("dense", "knn")
ENSEMBLE_CALIBRATION = "rank"


def _card(name: str, det, metrics: dict, data: dict) -> str:
    m = metrics
    desc = det.describe()
    members = ", ".join(x["name"] for x in desc.get("members", [])) or desc["name"]
    cal = f"; {desc['calibration']}-calibrated scores averaged" if "calibration" in desc else ""
    return f"""# {name}

{DISCLAIMER}

- **Detector**: `{desc['name']}` ({desc['type']}; members: {members}{cal}), beats of {desc['input_length']} samples.
- **Training data**: ECG5000 (UCR archive; BIDMC CHF database record chf07), `ecg.csv` tutorial layout
  (file label 1 = normal). Seeded stratified 60/20/20 split (seed {data['seed']}):
  {data['n_train_normal']} normal training beats; validation split of {data['n_val']} beats
  (early stopping on its {data['n_val_normal']} normal beats; threshold = best F1 on it);
  test split of {data['n_test']} beats used only for the figures below.
- **Threshold**: {desc['threshold']:.6g} (strategy `{desc['threshold_strategy']}`); predict anomaly when score >= threshold.
- **Label convention**: positive class = anomaly; scores higher = more abnormal.
- **Test metrics (positive class = anomaly)**: AUROC {m['auroc']:.4f}, AUPRC {m['auprc']:.4f},
  F1 {m['f1']:.4f}, accuracy {m['accuracy']:.4f}, precision {m['precision']:.4f},
  recall {m['recall']:.4f}, specificity {m['specificity']:.4f} (n = {m['n']}).
- **Training time**: {data['fit_seconds']:.1f} s on one CPU thread (shared machine).
- **Reproduce**: `python training/train_ecg5000.py --data-dir ../shared/data --models {name}`
  (see `benchmarks/bench_ecg_beats.py` for the multi-seed comparison).
- **Limits**: one patient's recording (chf07) underlies all of ECG5000; the figures say nothing about
  other patients, leads or sampling rates. Not validated for clinical use.
"""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=Path(os.environ.get(
        "CARDIOCLARITY_DATA_DIR", REPO.parent / "shared" / "data")))
    ap.add_argument("--out-dir", type=Path, default=REPO / "src" / "cardioclarity" / "weights")
    ap.add_argument("--models", nargs="+", default=list(BUNDLED), choices=list(BUNDLED),
                    help="which bundled detectors to write (the ensemble trains its members)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    beats = read_beats(args.data_dir / "ecg5000" / "ecg.csv", fmt="tutorial")
    parts = split_beats(beats, seed=args.seed)
    tr, va, te = parts["train"], parts["val"], parts["test"]
    description = {"source": "ECG5000 ecg.csv (UCR archive, BIDMC CHF chf07)",
                   "label_convention": beats.meta["label_convention"],
                   "split": f"stratified 60/20/20, seed {args.seed}; trained on normal beats of train"}
    fitted = {}

    def member(kind: str):
        if kind not in fitted:
            det = (ClassicalDetector(kind, threshold="best_f1", seed=args.seed) if kind == "knn"
                   else BeatAnomalyDetector(kind, threshold="best_f1", seed=args.seed))
            fitted[kind] = det.fit(tr.normal(), va.X, va.y, data_description=description)
        return fitted[kind]

    for name in args.models:
        if name == "ecg5000-ensemble":
            det = EnsembleDetector.from_fitted([member(m) for m in ENSEMBLE_MEMBERS], va.X, va.y,
                                               calibration=ENSEMBLE_CALIBRATION,
                                               threshold="best_f1")
            det.fit_seconds_ = sum(member(m).fit_seconds_ for m in ENSEMBLE_MEMBERS)
            det.training_data = {**description, "n_train_normal": len(tr.normal()),
                                 "n_val_normal": int((va.y == 0).sum())}
        else:
            det = member(name.split("-", 1)[1])
        scores = det.anomaly_score(te.X)
        rep = binary_report(te.y, (scores >= det.threshold_).astype(int), scores).to_dict()
        data = {"seed": args.seed, "n_train_normal": len(tr.normal()), "n_val": len(va),
                "n_val_normal": int((va.y == 0).sum()), "n_test": len(te),
                "fit_seconds": det.fit_seconds_}
        path = det.save(args.out_dir / f"{name}.pt", metrics={"ecg5000_test": rep},
                        training_script="training/train_ecg5000.py")
        (args.out_dir / f"{name}.md").write_text(_card(name, det, rep, data))
        print(f"{name}: {path} ({path.stat().st_size / 1e6:.2f} MB) test "
              + json.dumps({k: round(v, 4) for k, v in rep.items() if isinstance(v, float)}))


if __name__ == "__main__":
    main()
