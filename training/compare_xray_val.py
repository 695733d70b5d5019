"""Compare X-ray checkpoints on the **val** part of the cxr_heart split (model selection).

The bundled seg model's input size (320 px) was chosen with this script over 256 and 384 px; the
test part is never read here (``benchmarks/bench_xray.py`` reports on it). Every checkpoint runs
through the public pipeline (``read_xray`` -> ``HeartDetector.detect``).

Usage::

    python training/train_xray.py --which seg --seg-size 256 --seg-out training/runs/seg256.pt
    python training/train_xray.py --which seg --seg-size 384 --seg-out training/runs/seg384.pt
    python training/compare_xray_val.py training/runs/seg256.pt cxr-heart-seg training/runs/seg384.pt

``--by-set`` adds a row per site (JSRT, wingspan): for a model trained on one site only
(``--which cross``) the other site's row is a cross-site figure that leaves the test parts unread.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from cardioclarity.xray.datasets import load_mask_layout, load_split
from cardioclarity.xray.detect import HeartDetector
from cardioclarity.xray.evaluate import evaluate_detector

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+", help="checkpoint paths or bundled names")
    ap.add_argument("--data-dir", type=Path,
                    default=Path(os.environ.get("CARDIOCLARITY_DATA_DIR", HERE.parent.parent / "shared" / "data")))
    ap.add_argument("--split", type=Path, default=HERE / "splits" / "cxr_heart_split.json")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--by-set", action="store_true", help="also one row per site (jsrt, wingspan)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    samples, _ = load_mask_layout(args.data_dir / "cxr_heart")
    val = load_split(args.split, samples)["val"]
    print(f"val part: {len(val)} films\n")
    print("| checkpoint | films | input px | heart Dice | box IoU | F1@0.75 | CTR MAE vs masks |")
    print("|---|---|---|---|---|---|---|")
    for name in args.checkpoints:
        det = HeartDetector.load(name)
        res = evaluate_detector(det, val, by_set=args.by_set, desc=name)
        for part, m in res.items():
            if part == "rows":
                continue
            label = name if part == "pooled" else f"{name} / {part}"
            print(f"| {label} | {m['n']} | {det.input_size} | {m.get('dice_heart', float('nan')):.3f} "
                  f"| {m['box_iou']:.3f} | {m['f1@75']:.3f} | {m.get('ctr_mae_vs_masks', float('nan')):.4f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
