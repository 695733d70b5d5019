"""Train the bundled ECG5000 beat detectors (``src/cardioclarity/weights/ecg5000-*.pt`` + cards).

Protocol (the same as ``benchmarks/bench_ecg_beats.py``): ``ecg.csv`` (5,000 beats, 1 = normal in
the file) is split 60/20/20 into train / validation / test, stratified, seed 0
(:func:`cardioclarity.ecg.io.split_beats`). Models train on the *normal* beats of train; early
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
from cardioclarity.ecg.detector import BeatAnomalyDetector, EnsembleDetector
from cardioclarity.ecg.io import read_beats, split_beats
from cardioclarity.metrics import binary_report

REPO = Path(__file__).resolve().parents[1]
#: name -> how to build it. The ensemble is the default detector of the package.
BUNDLED = {
    "ecg5000-dense": lambda: BeatAnomalyDetector("dense", threshold="best_f1"),
    "ecg5000-conv1d": lambda: BeatAnomalyDetector("conv1d", threshold="best_f1"),
    "ecg5000-ensemble": lambda: EnsembleDetector(("conv1d", "dense", "knn"), threshold="best_f1"),
}


def _card(name: str, det, metrics: dict, data: dict) -> str:
    m = metrics
    desc = det.describe()
    members = ", ".join(x["name"] for x in desc.get("members", [])) or desc["name"]
    return f"""# {name}

{DISCLAIMER}

- **Detector**: `{desc['name']}` ({desc['type']}; members: {members}), beats of {desc['input_length']} samples.
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
    ap.add_argument("--models", nargs="+", default=list(BUNDLED), choices=list(BUNDLED))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    beats = read_beats(args.data_dir / "ecg5000" / "ecg.csv", fmt="tutorial")
    parts = split_beats(beats, seed=args.seed)
    tr, va, te = parts["train"], parts["val"], parts["test"]
    for name in args.models:
        det = BUNDLED[name]()
        det.fit(tr.normal(), va.X, va.y, data_description={
            "source": "ECG5000 ecg.csv (UCR archive, BIDMC CHF chf07)",
            "label_convention": beats.meta["label_convention"],
            "split": f"stratified 60/20/20, seed {args.seed}; trained on normal beats of train"})
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
