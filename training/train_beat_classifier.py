"""Train the bundled AAMI beat classifier (``aami-beats``) on labelled patients.

Protocol (seeded, reproducible):

1. Every available record of MIT-BIH DS1 (de Chazal split, paced records excluded) and of the
   SVDB goes through the package's own pipeline (``datasets.labelled_beat_features``: cleaning,
   quality, R-peaks, patient-adaptive autoencoder score, beat features relative to the
   patient's sinus reference); each detected beat takes the AAMI class of the reference beat
   within 150 ms. The records are listed in ``training/splits/aami_beats_split.json``.
   **MIT-BIH DS2 is never used here**: it stays the held-out inter-patient test.
2. The decision rule (least S and V probabilities for an S / V call, and the gate that calls no
   beat S inside an irregular stretch without P waves) is chosen on out-of-fold probabilities
   of a 5-fold cross-validation **grouped by record** (no patient on both sides): the highest
   S + V sensitivity among the rules flagging at most 1 % of the normal beats
   (``classify.choose_decision``).
3. The final model is fitted on all training records with that rule; its trees are stored
   as tensors in ``src/cardioclarity/weights/aami-beats.pt`` with the out-of-fold figures in its
   card.

Usage::

    nice -n 10 python training/train_beat_classifier.py --data-dir ../shared/data
    # the tree settings side by side (same grouped CV, same rule search), nothing saved:
    nice -n 10 python training/train_beat_classifier.py --compare-fits
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from cardioclarity.checkpoints import save_checkpoint
from cardioclarity.ecg.records.classify import (
    AAMI_LABELS,
    DEFAULT_FIT,
    KIND_BEAT_CLASSIFIER,
    MAX_N_FLAGGED,
    DecisionRule,
    choose_decision,
    cross_val_proba,
    fit_beat_classifier,
)
from cardioclarity.ecg.records.datasets import DS1, beat_feature_table
from cardioclarity.ecg.records.ec57 import beat_class_stats
from cardioclarity.ecg.records.methods import DEFAULT_PEAK_METHOD
from cardioclarity.metrics import roc_auc

SEED = 0
REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "src" / "cardioclarity" / "weights" / "aami-beats.pt"
SPLIT = REPO / "training" / "splits" / "aami_beats_split.json"


def training_table(data_dir: Path, cache_dir: Path | None) -> dict[str, np.ndarray]:
    """DS1 + SVDB beats (features, classes, records), DS2 left out."""
    mit = beat_feature_table(data_dir, "mitdb", cache_dir=cache_dir)
    sv = beat_feature_table(data_dir, "svdb", cache_dir=cache_dir)
    ds1 = np.isin(mit["record"], DS1)
    return {k: np.concatenate([mit[k][ds1], sv[k]]) for k in ("F", "y", "record")}


#: Tree settings compared by ``--compare-fits`` (each overrides :data:`DEFAULT_FIT`).
FIT_CANDIDATES = ({}, {"max_iter": 60, "learning_rate": 0.2},
                  {"max_iter": 150, "learning_rate": 0.1, "min_samples_leaf": 200},
                  {"max_iter": 120, "learning_rate": 0.1, "max_depth": 4, "l2_regularization": 5.0})


def compare_fits(F: np.ndarray, y: np.ndarray, rec: np.ndarray) -> None:
    """Print, for each of :data:`FIT_CANDIDATES`, the out-of-fold rule and figures."""
    cls = np.asarray(AAMI_LABELS)
    for params in FIT_CANDIDATES:
        proba, _ = cross_val_proba(F, y, rec, n_splits=5, seed=SEED, **params)
        rule, chosen = choose_decision(proba, F, y)
        ok = np.isin(y, AAMI_LABELS) & np.all(np.isfinite(proba), axis=1)
        st = beat_class_stats(y[ok], cls[rule.apply(proba[ok], F[ok])], rec[ok])
        yy, P = y[ok], proba[ok]
        auc = {c: roc_auc(yy[(yy == "N") | (yy == c)] == c, P[(yy == "N") | (yy == c), AAMI_LABELS.index(c)])
               for c in ("S", "V")}
        print(json.dumps({**DEFAULT_FIT, **params}), f"rule {rule.to_dict()}",
              f"N flagged {chosen['n_flagged']:.4f}", f"S Se {st['S']['Se']:.3f} +P {st['S']['+P']:.3f}",
              f"V Se {st['V']['Se']:.3f} +P {st['V']['+P']:.3f}",
              f"AUROC S {auc['S']:.4f} V {auc['V']:.4f} S+V+F {roc_auc(yy != 'N', 1 - P[:, 0]):.4f}",
              flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--cache-dir", type=Path, default=Path("/tmp/cc-beat-features"))
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--compare-fits", action="store_true",
                    help="compare the tree settings of FIT_CANDIDATES by grouped CV; save nothing")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    t = training_table(args.data_dir, args.cache_dir)
    F, y, rec = t["F"], t["y"], t["record"]
    if args.compare_fits:
        compare_fits(F, y, rec)
        return 0
    proba, _ = cross_val_proba(F, y, rec, n_splits=5, seed=SEED)
    rule, chosen = choose_decision(proba, F, y)
    ok = np.all(np.isfinite(proba), axis=1)
    cls = np.asarray(AAMI_LABELS)

    def stats(r: DecisionRule) -> dict:
        st = beat_class_stats(y[ok], cls[r.apply(proba[ok], F[ok])], rec[ok])
        return {c: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in st[c].items()}
                for c in st}

    clf = fit_beat_classifier(F, y, groups=rec, seed=SEED)
    clf.decision_ = rule
    records = sorted(set(rec.tolist()))
    SPLIT.write_text(json.dumps({"train": records, "held_out": "MIT-BIH DS2 (de Chazal 2004)",
                                 "excluded": "paced records 102 104 107 217"}, indent=1) + "\n")
    ck = clf.to_checkpoint()
    metrics = {"protocol": "5-fold cross-validation grouped by record over the training "
                           "records (out-of-fold); the decision rule chosen on these same "
                           "out-of-fold probabilities",
               "decision_rule": rule.to_dict(),
               "per_class": stats(rule), "per_class_plain_argmax": stats(DecisionRule()),
               "rule_search": {k: (round(v, 4) if isinstance(v, float) else v)
                               for k, v in chosen.items()}}
    counts = {c: int((y == c).sum()) for c in AAMI_LABELS}
    save_checkpoint(
        args.out, kind=KIND_BEAT_CLASSIFIER, model="gradient-boosted-trees",
        config=ck["config"], state_dict=ck["state_dict"], name="aami-beats",
        training_data=(f"{len(records)} records: MIT-BIH DS1 ({int(np.isin(records, DS1).sum())}"
                       f" records, 360 Hz) + SVDB ({int((~np.isin(records, DS1)).sum())} "
                       f"records, 128 Hz); beats {counts}; MIT-BIH DS2 never used; R-peaks "
                       f"of the record pipeline's default detector ({DEFAULT_PEAK_METHOD!r})"),
        protocol=("HistGradientBoostingClassifier " + json.dumps(DEFAULT_FIT)
                  + "; per-record and inverse-sqrt class sample weights; decision rule "
                  + json.dumps(rule.to_dict()) + " chosen by grouped 5-fold CV (highest S + V "
                  f"sensitivity with <= {100 * MAX_N_FLAGGED:g} % of normal beats flagged)"),
        metrics=metrics, threshold=float(rule.s_threshold))
    print(json.dumps(metrics, indent=1))
    print(f"saved {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
