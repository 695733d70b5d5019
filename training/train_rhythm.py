"""Train the rhythm irregularity (AF-like) model on the CinC 2017 training split.

Protocol (seeded, reproducible):

1. Every CinC 2017 record is read with ``read_record``, cleaned, quality-checked and R-peak
   detected by the package's own pipeline (``cardioclarity.ecg.records.analyze.preprocess``); the
   features are ``cardioclarity.ecg.records.rhythm.rhythm_features`` over the whole record.
2. ``cinc2017_split(seed=2017)`` holds out 30% of each class as the test split (used only by
   ``benchmarks/bench_ecg_rhythm.py``).
3. On the train part an MLP (scikit-learn ``MLPClassifier``) learns A (positive) vs N and O
   (negatives: a deployed model meets "other" rhythms too); the noisy (~) records are left out.
   The hidden layers (none = logistic regression, 16, or 32-16) are chosen by 5-fold
   out-of-fold AUROC (A vs N) on the train part, and the probability threshold is the best-F1
   threshold of those out-of-fold predictions, so no test record influences either.
4. Weights go to ``src/cardioclarity/weights/rhythm-cinc2017.pt`` (weights-only checkpoint).

Usage::

    nice -n 10 python training/train_rhythm.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold
from sklearn.neural_network import MLPClassifier

from cardioclarity.checkpoints import save_checkpoint
from cardioclarity.ecg.records.datasets import cinc2017_features, cinc2017_reference, cinc2017_split
from cardioclarity.ecg.records.methods import DEFAULT_PEAK_METHOD
from cardioclarity.ecg.records.rhythm import RhythmModel
from cardioclarity.metrics import best_f1_threshold, binary_report, roc_auc

SEED = 2017
OUT = Path(__file__).resolve().parents[1] / "src" / "cardioclarity" / "weights"


def fit_mlp(X: np.ndarray, y: np.ndarray, hidden: tuple[int, ...] = (16,), seed: int = SEED
            ) -> RhythmModel:
    """Standardise, impute NaN with train medians, fit the MLP; return a numpy RhythmModel."""
    fill = np.nanmedian(X, axis=0)
    Xf = np.where(np.isfinite(X), X, fill)
    mean, scale = Xf.mean(axis=0), Xf.std(axis=0) + 1e-9
    clf = MLPClassifier(hidden_layer_sizes=hidden, alpha=1e-2, max_iter=2000, random_state=seed)
    clf.fit((Xf - mean) / scale, y)
    return RhythmModel(mean_=mean, scale_=scale, fill_=fill,
                       weights_=[w.astype(np.float64) for w in clf.coefs_],
                       biases_=[b.astype(np.float64) for b in clf.intercepts_])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--out", type=Path, default=OUT / "rhythm-cinc2017.pt")
    ap.add_argument("--cache", type=Path,
                    default=Path(f"/tmp/cinc2017_features-{DEFAULT_PEAK_METHOD}.npz"),
                    help="feature cache (per R-peak detector: the features come from its beats)")
    args = ap.parse_args(argv)
    cdir = args.data_dir / "cinc2017"
    ref = cinc2017_reference(cdir)
    train, _test = cinc2017_split(ref, seed=SEED)
    names = sorted(ref)
    if args.cache.exists():
        z = np.load(args.cache, allow_pickle=False)
        F, usable, cached = z["F"], z["usable"], list(z["names"])
        assert cached == names, "stale feature cache; delete it"
    else:
        F, usable = cinc2017_features(cdir, names)
        np.savez(args.cache, F=F, usable=usable, names=np.array(names))
    idx = {n: i for i, n in enumerate(names)}
    tr = [idx[n] for n in train if ref[n] in "ANO"]
    X = F[tr]
    y = np.array([ref[names[i]] == "A" for i in tr], dtype=int)
    # Out-of-fold probabilities on the train part choose the architecture (AUROC A vs N) and
    # the threshold (best F1 A vs N); the test part is never touched here.
    is_an = np.array([ref[names[i]] in "AN" for i in tr])
    folds = list(StratifiedKFold(5, shuffle=True, random_state=SEED).split(X, y))
    best = None
    for hidden in ((), (16,), (32, 16)):
        oof = np.zeros(len(tr))
        for k, (a, b) in enumerate(folds):
            oof[b] = fit_mlp(X[a], y[a], hidden, seed=SEED + k).predict_proba(X[b])
        auc = roc_auc(y[is_an], oof[is_an])
        print(f"hidden {hidden}: out-of-fold AUROC A vs N {auc:.4f}")
        if best is None or auc > best[0]:
            best = (auc, hidden, oof)
    _, hidden, oof = best
    thr, f1 = best_f1_threshold(y[is_an], oof[is_an])
    rep = binary_report(y[is_an], (oof[is_an] >= thr).astype(int), oof[is_an], "AF (A vs N)")
    print(f"train out-of-fold A vs N: AUROC {rep.auroc:.4f} F1 {rep.f1:.4f} at threshold {thr:.3f}")
    model = fit_mlp(X, y, hidden)
    model.threshold_ = thr
    print(f"chosen hidden layers {hidden}")
    ck = model.to_checkpoint()
    save_checkpoint(args.out, kind="ecg-rhythm-model", model="mlp", config=ck["config"],
                    hidden_layers=list(hidden),
                    state_dict=ck["state_dict"], threshold=ck["threshold"],
                    training_data="PhysioNet/CinC Challenge 2017 (subset), seeded split seed=2017, "
                                  "train part: A vs N+O, noisy (~) excluded; R-peaks of the "
                                  f"record pipeline's default detector ({DEFAULT_PEAK_METHOD!r})",
                    positive_class="irregular rhythm (AF-like)",
                    train_oof_metrics=json.loads(json.dumps(rep.to_dict())),
                    script="training/train_rhythm.py")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.1f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
