"""Pseudo-label unlabelled chest films of other hospitals with the bundled seg model (domain adaptation).

Rule (a film is kept only if all hold; nothing here is a label made up by hand):

1. The full pipeline (``HeartDetector.detect``: input gate, anatomical constraints, plausibility
   checks) measures the film: ``quality.status == "measured"``.
2. Test-time augmentation: the network runs on the film under ``len(TTA)`` changes it should not
   care about (zoom-out, rotation, gamma, blur + JPEG); every prediction is mapped back to the
   network grid. Per film, the mean Dice of each prediction against their majority vote is at
   least ``--min-dice`` (0.88) for the heart and for each lung.
3. Pixelwise: a pixel is labelled by the majority vote, but left out of the loss (ignore map)
   unless all predictions but at most one agree on it, and wherever the majority disagrees with
   the pipeline's constrained masks (e.g. the heart cut at the lung bases).

The sub-site ``--holdout`` (default ``ieee8023``: 49 hospitals, also the chest check's held-out
set) is never read, so an audit on it stays honest.

Usage::

    python training/pseudo_label_xray.py --data-dir ../shared/data --out training/runs/pseudo-hannover.npz
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cardioclarity.reporting import progress
from cardioclarity.xray.detect import HeartDetector
from cardioclarity.xray.io import read_xray
from cardioclarity.xray.measure import clean_mask
from cardioclarity.xray.models import preprocess

HERE = Path(__file__).resolve().parent
#: Test-time augmentations: (name, kind, parameter).
TTA = (("identity", "none", 0.0), ("zoom-out 0.9", "zoom", 0.9), ("zoom-out 0.8", "zoom", 0.8),
       ("rotate +6 deg", "rotate", 6.0), ("rotate -6 deg", "rotate", -6.0),
       ("gamma 0.6", "gamma", 0.6), ("gamma 1.6", "gamma", 1.6), ("blur + JPEG q30", "jpeg", 30.0))


def _rotation_grid(size: int, degrees: float) -> torch.Tensor:
    a = np.deg2rad(degrees)
    theta = torch.tensor([[[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0]]], dtype=torch.float32)
    return nn.functional.affine_grid(theta, [1, 1, size, size], align_corners=False)


@torch.no_grad()
def tta_probabilities(net: nn.Module, pixels: np.ndarray, size: int) -> np.ndarray:
    """Sigmoid outputs (len(TTA), 3, size, size) of the network, each mapped back to the plain grid."""
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    out = []
    for _, kind, v in TTA:
        if kind == "zoom":
            inner = round(size * v)
            pad = (size - inner) // 2
            x = preprocess(pixels, inner)
            x = nn.functional.pad(x, (pad, size - inner - pad, pad, size - inner - pad), mode="replicate")
            y = net(x)[:, :, pad:pad + inner, pad:pad + inner]
            y = nn.functional.interpolate(y, size=(size, size), mode="bilinear", align_corners=False)
        elif kind == "rotate":
            x = nn.functional.grid_sample(preprocess(pixels, size), _rotation_grid(size, v),
                                          padding_mode="border", align_corners=False)
            y = nn.functional.grid_sample(net(x), _rotation_grid(size, -v), padding_mode="border",
                                          align_corners=False)
        else:
            p = pixels
            if kind == "gamma":
                p = np.clip(p, 0, 1) ** v
            elif kind == "jpeg":
                import io

                buf = io.BytesIO()
                img8 = np.round(np.clip(gaussian_filter(p, 1.0), 0, 1) * 255).astype(np.uint8)
                Image.fromarray(img8).save(buf, format="JPEG", quality=int(v))
                p = np.asarray(Image.open(io.BytesIO(buf.getvalue())), dtype=np.float32) / 255
            y = net(preprocess(p, size))
        out.append(torch.sigmoid(y)[0].numpy())
    return np.stack(out)


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    t = a.sum() + b.sum()
    return float(2 * (a & b).sum() / t) if t else 1.0


def _to_grid(masks: np.ndarray, size: int) -> np.ndarray:
    m = torch.from_numpy(masks.astype(np.float32))[None]
    return (nn.functional.interpolate(m, size=(size, size), mode="area")[0].numpy() >= 0.5)


def pseudo_label(det: HeartDetector, path: Path, size: int, min_dice: float) -> tuple[dict, tuple | None]:
    """One film → (its row of the log, (image, masks, ignore) at ``size`` or None when not kept)."""
    image = read_xray(path)
    res = det.detect(image)
    row = {"file": str(path), "status": res.quality["status"], "reasons": ";".join(res.quality["reasons"])}
    if res.quality["status"] != "measured":
        return {**row, "kept": False, "why": "not measured"}, None
    probs = tta_probabilities(det.net, image.pixels, size)
    votes = probs > 0.5
    frac = votes.mean(axis=0)
    label = np.stack([clean_mask(c) for c in frac >= 0.5])
    dice = [[_dice(votes[k, c], label[c]) for k in range(len(TTA))] for c in range(3)]
    mean_dice = [float(np.mean(d)) for d in dice]
    row.update({f"tta_dice_{n}": round(d, 4) for n, d in zip(("heart", "right_lung", "left_lung"), mean_dice,
                                                              strict=True)})
    pipe = _to_grid(res.masks, size)
    row["pipeline_dice_heart"] = round(_dice(pipe[0], label[0]), 4)
    if min(mean_dice) < min_dice:
        return {**row, "kept": False, "why": f"TTA Dice < {min_dice}"}, None
    n = len(TTA)
    unsure = ((frac > 1 / n + 1e-6) & (frac < (n - 1) / n - 1e-6)) | (pipe != label)
    ignore = unsure.any(axis=0, keepdims=True)
    row["ignored_fraction"] = round(float(ignore.mean()), 4)
    img = torch.from_numpy(image.pixels.astype(np.float32))[None, None]
    img = nn.functional.interpolate(img, size=(size, size), mode="bilinear", antialias=True,
                                    align_corners=False)[0].numpy()
    return {**row, "kept": True, "why": ""}, (img, label.astype(np.uint8), ignore.astype(np.uint8))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path,
                    default=Path(os.environ.get("CARDIOCLARITY_DATA_DIR", HERE.parent.parent / "shared" / "data")))
    ap.add_argument("--model", default="cxr-heart-seg")
    ap.add_argument("--holdout", default="ieee8023", help="cxr_multisite sub-site never read")
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--min-dice", type=float, default=0.88)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=HERE / "runs" / "pseudo-hannover.npz")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    root = args.data_dir / "cxr_multisite"
    with open(root / "manifest.csv", newline="") as f:
        files = [r["file"] for r in csv.DictReader(f)]
    sites = sorted({f.split("/")[0] for f in files} - {args.holdout})
    files = [f for f in files if f.split("/")[0] in sites]
    print(f"pseudo-labelling {len(files)} films of {sites}; held out: {args.holdout}", flush=True)
    det = HeartDetector.load(args.model)
    rows, kept = [], []
    for f in progress(files, desc="pseudo-labels", unit="film"):
        row, item = pseudo_label(det, root / f, args.size, args.min_dice)
        rows.append({**row, "file": f})
        if item is not None:
            kept.append(item)
    n_measured = sum(r["status"] == "measured" for r in rows)
    meta = {"sites": sites, "held_out_site": args.holdout, "n_considered": len(rows),
            "n_measured": n_measured, "n_kept": len(kept), "model": args.model, "min_tta_dice": args.min_dice,
            "tta": [t[0] for t in TTA],
            "rule": "pipeline status measured; mean Dice of each TTA prediction vs the majority >= "
                    f"{args.min_dice} for heart and both lungs; pixels ignored unless all but at most "
                    "one TTA prediction agree and the majority matches the pipeline's constrained masks"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if kept:
        imgs, masks, ignore = (np.stack(x) for x in zip(*kept, strict=True))
    else:
        imgs = np.zeros((0, 1, args.size, args.size), np.float32)
        masks = np.zeros((0, 3, args.size, args.size), np.uint8)
        ignore = np.zeros((0, 1, args.size, args.size), np.uint8)
    np.savez_compressed(args.out, images=imgs, masks=masks, ignore=ignore, meta=json.dumps(meta))
    log = args.out.with_suffix(".csv")
    keys = sorted({k for r in rows for k in r}, key=lambda k: (k != "file", k))
    with open(log, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    print(json.dumps(meta, indent=1))
    print(f"wrote {args.out} and {log}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
