"""Train the bundled ventricular flutter/fibrillation window detector (``vf-cudb``).

Protocol (seeded, reproducible):

1. Windows (4 s, every 2 s) of every record of the Creighton VT database (cudb, 35 records,
   250 Hz), of every available MIT-BIH record (360 Hz; 207 holds ventricular flutter) and of
   both channels of the nstdb noise records bw/em/ma (real baseline wander, electrode motion
   and muscle noise: the negatives a VF detector must not fire on) are described by
   ``ventricular.vf_window_features`` (``datasets.vf_window_table``).
2. A window is VF when at least half of it lies in a reference ``[``..``]`` / ``(VFL`` span,
   not VF when none of it does; windows in between are left out.
3. Class-balanced gradient-boosted trees (``VFDetector.fit``); the threshold is chosen on out-of-fold
   probabilities of a 5-fold cross-validation **grouped by record** (no record on both
   sides): the lowest threshold at which out-of-fold VF windows in non-VF signal stay below
   0.5 % of the non-VF windows, which bounds false VF calls per hour.
4. The final model is fitted on all windows; weights in ``src/cardioclarity/weights/vf-cudb.pt``.

Usage::

    nice -n 10 python training/train_vf.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from cardioclarity.checkpoints import save_checkpoint
from cardioclarity.ecg.records.datasets import vf_window_table
from cardioclarity.ecg.records.ventricular import KIND_VF, VFDetector, cross_val_vf_proba

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "src" / "cardioclarity" / "weights" / "vf-cudb.pt"
#: Highest share of non-VF windows the threshold may call VF (out of fold).
MAX_FALSE_WINDOW_RATE = 0.005


def choose_threshold(p: np.ndarray, y: np.ndarray) -> float:
    """Lowest threshold keeping out-of-fold false VF windows <= MAX_FALSE_WINDOW_RATE."""
    neg = np.sort(p[y == 0])
    return float(neg[int(np.ceil((1 - MAX_FALSE_WINDOW_RATE) * neg.size)) - 1]) if neg.size else 0.5


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--cache-dir", type=Path, default=Path("/tmp/cc-beat-features"))
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    t = vf_window_table(args.data_dir, cache_dir=args.cache_dir)
    F, y, rec = t["F"], t["y"], t["record"]
    p = cross_val_vf_proba(F, y, rec)
    thr = choose_threshold(p, y)
    pos, neg = y == 1, y == 0
    metrics = {"protocol": "5-fold CV grouped by record, out-of-fold windows",
               "vf_window_sensitivity": round(float((p[pos] >= thr).mean()), 4),
               "false_vf_window_rate": round(float((p[neg] >= thr).mean()), 4),
               "n_vf_windows": int(pos.sum()), "n_other_windows": int(neg.sum())}
    det = VFDetector(threshold_=thr).fit(F, y)
    ck = det.to_checkpoint()
    n_rec = {db: len({r for r in set(rec.tolist()) if r.startswith(db + "/")})
             for db in ("cudb", "mitdb", "nstdb-noise")}
    save_checkpoint(args.out, kind=KIND_VF, model="gradient-boosted-trees", config=ck["config"],
                    state_dict=ck["state_dict"], threshold=ck["threshold"], name="vf-cudb",
                    training_data=(f"4-s windows of cudb ({n_rec['cudb']} records), MIT-BIH "
                                   f"({n_rec['mitdb']}) and nstdb noise bw/em/ma "
                                   f"({n_rec['nstdb-noise']} channels)"),
                    protocol=("class-balanced gradient-boosted trees (80 rounds, depth 4); threshold: lowest with "
                              f"<= {MAX_FALSE_WINDOW_RATE:.1%} out-of-fold false VF windows "
                              "(5-fold CV grouped by record)"),
                    metrics=metrics)
    print(json.dumps({"threshold": thr, **metrics}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
