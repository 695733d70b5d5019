"""Evaluation of a heart detector on labelled films (mask layout).

:func:`evaluate_detector` runs the detector through the same public pipeline a user calls
(``read_xray`` → ``HeartDetector.detect``) and compares it with the reference masks:

* heart box: mean IoU, mean absolute corner error in pixels (input size and rescaled to 224 px,
  the scale of the published box regressors), precision/recall/F1 at IoU >= 0.5 and >= 0.75,
  mean signed error of each edge in % of the image side (``edge_bias_pct``: left, top, right, bottom);
* ``seg`` only: Dice of heart and both lungs; CTR error against the expert CTR (where the set has
  one) and against the CTR measured from the reference masks (all), with Bland-Altman;
  cardiomegaly (CTR > threshold) accuracy, precision, recall, F1 and AUROC (score = predicted CTR).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from cardioclarity.metrics import binary_report, bland_altman, box_iou, detection_prf, dice
from cardioclarity.reporting import progress
from cardioclarity.xray.datasets import MASK_CHANNELS, MaskSample
from cardioclarity.xray.io import read_xray
from cardioclarity.xray.measure import mask_to_box, measure_masks

if TYPE_CHECKING:
    from cardioclarity.xray.detect import HeartDetector

__all__ = ["evaluate_detector", "per_image_rows", "summarise"]


def per_image_rows(detector: HeartDetector, samples: Sequence[MaskSample], desc: str = "evaluating") -> list[dict[str, Any]]:
    """One row per film: truth and prediction side by side (boxes, CTRs, Dice)."""
    rows = []
    for s in progress(samples, desc=desc, unit="img"):
        img = read_xray(s.image_path)
        ref = s.load_masks()
        truth = measure_masks(*ref, clean=False)
        res = detector.detect(img)
        w, h = img.size
        row: dict[str, Any] = {
            "name": s.name, "set": s.set, "width": w, "height": h,
            "true_box": truth.heart_box, "pred_box": res.heart_box,
            "mask_ctr": truth.ctr, "expert_ctr": s.expert_ctr, "pred_ctr": res.ctr,
            "status": res.quality.get("status"), "reasons": " ".join(res.quality.get("reasons", [])),
        }
        if res.masks is not None:
            pred = res.masks
            if pred.shape[1:] != ref.shape[1:]:
                from PIL import Image

                pred = np.stack([np.asarray(Image.fromarray(m.astype(np.uint8)).resize(
                    (ref.shape[2], ref.shape[1]), Image.Resampling.NEAREST)) > 0 for m in pred])
            for c, name in enumerate(MASK_CHANNELS):
                row[f"dice_{name}"] = dice(pred[c], ref[c])
        rows.append(row)
    return rows


def _box_stats(rows: list[dict]) -> dict[str, Any]:
    t = np.array([r["true_box"] for r in rows], float)
    detected = np.array([r["pred_box"] is not None for r in rows])
    p = np.array([r["pred_box"] if r["pred_box"] is not None else [0, 0, 0, 0] for r in rows], float)
    iou = np.where(detected, box_iou(p, t), 0.0)
    err = np.abs(p - t)[detected]
    size = np.array([[r["width"], r["height"]] * 2 for r in rows], float)[detected]
    scale = 224 / size
    # Signed error of each edge as % of the image side: shows *where* boxes go wrong (e.g. a site
    # whose annotators end the heart lower), which the IoU alone hides.
    bias = ((p - t)[detected] / size * 100).mean(axis=0) if err.size else np.full(4, np.nan)
    out = {"n": len(rows), "box_iou": float(iou.mean()),
           "edge_bias_pct": [float(v) for v in bias],
           "corner_err_px": float(err.mean()) if err.size else float("nan"),
           "corner_err_px_224": float((err * scale).mean()) if err.size else float("nan")}
    for thr in (0.5, 0.75):
        prf = detection_prf(iou, thr, detected)
        tag = f"{int(thr * 100)}"
        out.update({f"precision@{tag}": prf["precision"], f"recall@{tag}": prf["recall"],
                    f"f1@{tag}": prf["f1"]})
    return out


def summarise(rows: list[dict], ctr_threshold: float = 0.5) -> dict[str, Any]:
    """Aggregate metrics of :func:`per_image_rows` output (see the module docstring)."""
    out: dict[str, Any] = _box_stats(rows)
    if any("dice_heart" in r for r in rows):
        # A film refused as no chest radiograph has no masks: it counts as Dice 0.
        for name in MASK_CHANNELS:
            out[f"dice_{name}"] = float(np.mean([r.get(f"dice_{name}", 0.0) for r in rows]))
    with_ctr = [r for r in rows if r["pred_ctr"] is not None and r["mask_ctr"] is not None]
    out["n_ctr_missing"] = sum(r["pred_ctr"] is None for r in rows)
    out["n_withheld"] = sum(r.get("status") == "withheld" for r in rows)
    out["n_refused"] = sum(r.get("status") == "refused" for r in rows)
    if len(with_ctr) >= 2:
        pred = np.array([r["pred_ctr"] for r in with_ctr])
        mask = np.array([r["mask_ctr"] for r in with_ctr])
        ba = bland_altman(pred, mask)
        out.update({"ctr_mae_vs_masks": ba["mae"], "ctr_bias_vs_masks": ba["bias"],
                    "ctr_loa_vs_masks": [ba["loa_low"], ba["loa_high"]]})
        exp = [r for r in with_ctr if r["expert_ctr"] is not None]
        if len(exp) >= 2:
            ba = bland_altman([r["pred_ctr"] for r in exp], [r["expert_ctr"] for r in exp])
            out.update({"n_expert": len(exp), "ctr_mae_vs_expert": ba["mae"],
                        "ctr_bias_vs_expert": ba["bias"],
                        "ctr_loa_vs_expert": [ba["loa_low"], ba["loa_high"]]})
        # Truth for cardiomegaly: the expert CTR where there is one, else the reference masks' CTR.
        truth = np.array([(r["expert_ctr"] if r["expert_ctr"] is not None else r["mask_ctr"]) > ctr_threshold
                          for r in with_ctr]).astype(int)
        rep = binary_report(truth, (pred > ctr_threshold).astype(int), scores=pred,
                            positive_class="cardiomegaly")
        out["cardiomegaly"] = {k: v for k, v in rep.to_dict().items() if k != "positive_class"}
    return out


def evaluate_detector(detector: HeartDetector, samples: Sequence[MaskSample], *, by_set: bool = True,
                      desc: str = "evaluating") -> dict[str, Any]:
    """Evaluate ``detector`` on labelled samples.

    Returns
    -------
    dict
        ``{"pooled": metrics, "<set>": metrics..., "rows": per-image rows}``.
    """
    rows = per_image_rows(detector, samples, desc=desc)
    thr = getattr(detector, "ctr_threshold", 0.5)
    out: dict[str, Any] = {"pooled": summarise(rows, thr)}
    if by_set:
        for s in sorted({r["set"] for r in rows}):
            out[s] = summarise([r for r in rows if r["set"] == s], thr)
    out["rows"] = rows
    return out


def mean_box_baseline(train: Sequence[MaskSample], test_rows: list[dict]) -> float:
    """IoU of always predicting the mean training heart box (fractions of the image): the floor."""
    from PIL import Image

    fr = []
    for s in train:
        with Image.open(s.mask_paths["heart"]) as im:
            m = np.asarray(im.convert("L")) > 127
        b = mask_to_box(m)
        fr.append([b[0] / m.shape[1], b[1] / m.shape[0], b[2] / m.shape[1], b[3] / m.shape[0]])
    f = np.mean(fr, axis=0)
    # Fractions -> pixels: x by width, y by height ([w, h, w, h], not numpy broadcasting of [w, h]).
    ious = [float(box_iou(f * np.array([r["width"], r["height"]] * 2), r["true_box"]))
            for r in test_rows]
    return float(np.mean(ious))
