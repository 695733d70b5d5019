"""Masks → heart box, heart and thoracic widths, cardiothoracic ratio (CTR).

Definitions (PA chest film, standard display: the patient's right on the image's left):

* **heart width** — the widest horizontal heart diameter, i.e. the distance between the heart
  mask's leftmost and rightmost columns (the sum of the right and left mid-line distances,
  MRD + MLD, of the classic Danzer measurement).
* **thoracic width** — the widest inner thoracic diameter, measured from the outer edge of the
  right lung field to the outer edge of the left lung field.
* **CTR** = heart width / thoracic width; > 0.5 on a PA film is the usual cut-off for an enlarged
  heart (cardiomegaly). AP films magnify the heart, so a flag on them is less reliable.

All functions take masks in the image's own pixels; they need NumPy and SciPy's connected-component
labelling, nothing from training. Inference (:mod:`cardioclarity.xray.detect`) and the dataset
loaders both clean masks with :func:`clean_mask` and box them with :func:`mask_to_box`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from cardioclarity.errors import InvalidInputError

__all__ = [
    "CTR_THRESHOLD",
    "HEART_WIDTH_MM",
    "THORAX_WIDTH_MM",
    "CardiacMeasurement",
    "clean_mask",
    "implausible_sizes",
    "mask_to_box",
    "measure_masks",
    "widest_row_span",
]

#: Default cardiomegaly cut-off on the CTR (PA films).
CTR_THRESHOLD = 0.5

# Plausible physical sizes on an adult frontal film, in mm. Radiology references give an adult
# transverse cardiac diameter of about 110-160 mm (larger in cardiomegaly) and an inner thoracic
# diameter of about 250-350 mm on a PA film; the bounds are set wide around those so that big
# hearts, small or large adults and the ~10 % geometric magnification of detector-plane spacing
# all pass, while a wrong pixel spacing (or a child's film, a cropped figure, a failed
# segmentation) does not.
#: Plausible adult heart width (transverse cardiac diameter), mm.
HEART_WIDTH_MM = (80.0, 250.0)
#: Plausible adult inner thoracic width, mm.
THORAX_WIDTH_MM = (200.0, 450.0)


@dataclass
class CardiacMeasurement:
    """Measurements of one film, all in input pixels (x to the right, y down).

    ``heart_line`` and ``thorax_line`` are the two diameters as ``[x_start, x_end, y]`` for
    drawing; the CTR is ``heart_width / thorax_width``.
    """

    heart_box: list[float] | None
    heart_width: float | None
    thorax_width: float | None
    ctr: float | None
    heart_line: list[float] | None
    thorax_line: list[float] | None
    notes: list[str]

    def to_dict(self) -> dict:
        """Plain-value dict of the fields."""
        return asdict(self)


# ------------------------------------------------------------------------------ mask post-processing
def clean_mask(mask: np.ndarray) -> np.ndarray:
    """Keep the largest connected region of a binary mask (drops stray specks)."""
    lab, n = ndimage.label(mask)
    if n <= 1:
        return mask.astype(bool)
    sizes = ndimage.sum_labels(mask, lab, index=np.arange(1, n + 1))
    return lab == (1 + int(np.argmax(sizes)))


def mask_to_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """Bounding box ``[x_min, y_min, x_max, y_max]`` of a mask, continuous coordinates.

    A mask covering columns 10..19 gives x_min=10, x_max=20 (pixel edges), so box widths equal
    pixel counts and boxes compose with :func:`cardioclarity.metrics.box_iou`.
    """
    # Row and column projections: the same box as np.nonzero's extremes, without listing pixels.
    rows = np.flatnonzero(np.asarray(mask).any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(np.asarray(mask).any(axis=0))
    return float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)


def _box_slices(mask: np.ndarray, margin: int = 1) -> tuple[slice, slice] | None:
    """Row and column slices of ``mask``'s bounding box grown by ``margin`` (clipped to the
    image), or None when the mask is empty. Labelling, filling or eroding inside that box gives
    the same result as on the whole grid, at a fraction of the cost."""
    box = mask_to_box(mask)
    if box is None:
        return None
    x0, y0, x1, y1 = (int(v) for v in box)
    h, w = mask.shape
    return (slice(max(0, y0 - margin), min(h, y1 + margin)),
            slice(max(0, x0 - margin), min(w, x1 + margin)))


# ------------------------------------------------------------------------------------ measurements
def widest_row_span(mask: np.ndarray) -> tuple[float, float, int] | None:
    """Leftmost and rightmost column of a mask and the row where the extent is widest.

    Returns ``(x_start, x_end, y)`` with ``x_end`` exclusive (pixel edges), or None when empty.
    The span is the horizontal *extent* of the whole structure (the max and min columns may lie on
    different rows), which is how the CTR's diameters are defined; ``y`` is the middle row
    between where the two extremes are reached, for drawing the line.
    """
    mask = np.asarray(mask)
    cols = np.flatnonzero(mask.any(axis=0))
    if cols.size == 0:
        return None
    x0, x1 = int(cols[0]), int(cols[-1])
    y = int(round((np.flatnonzero(mask[:, x0]).mean() + np.flatnonzero(mask[:, x1]).mean()) / 2))
    return float(x0), float(x1 + 1), y


def measure_masks(heart: np.ndarray, right_lung: np.ndarray, left_lung: np.ndarray, *,
                  clean: bool = True) -> CardiacMeasurement:
    """Heart box, heart width, thoracic width and CTR from binary masks of the same shape.

    Parameters
    ----------
    heart, right_lung, left_lung : ndarray of bool, shape (H, W)
        Masks in the image's pixels; right lung = the patient's right (the image's left side).
    clean : bool
        Keep only the largest region of each mask first (predicted masks can have specks).

    Returns
    -------
    CardiacMeasurement
        Fields are None where a structure is missing; ``notes`` says why, and flags lung fields
        touching the image border (thorax possibly cut off, CTR unreliable).
    """
    masks = [np.asarray(m, dtype=bool) for m in (heart, right_lung, left_lung)]
    if masks[0].ndim != 2 or any(m.shape != masks[0].shape for m in masks):
        raise InvalidInputError(
            f"masks must be 2-D and of one shape, got {[m.shape for m in masks]}.")
    if clean:
        masks = [clean_mask(m) for m in masks]
    h, rl, ll = masks
    notes: list[str] = []
    box = mask_to_box(h)
    heart_span = widest_row_span(h)
    lungs = rl | ll
    thorax_span = widest_row_span(lungs)
    if box is None:
        notes.append("no heart found")
    if not rl.any() or not ll.any():
        notes.append("a lung field was not found: thoracic width unavailable")
        thorax_span = None
    elif _centre_col(rl) > _centre_col(ll):
        notes.append("lungs appear left-right flipped (image mirrored?)")
    if thorax_span is not None:
        W = lungs.shape[1]
        if thorax_span[0] <= 0 or thorax_span[1] >= W:
            notes.append("lung field touches the image's side border: thorax may be cut off, CTR unreliable")
        ys = np.flatnonzero(lungs.any(axis=1))
        if ys[0] <= 0 or ys[-1] >= lungs.shape[0] - 1:
            notes.append("lung field touches the top or bottom border: film may be cropped")
    hw = heart_span[1] - heart_span[0] if heart_span else None
    tw = thorax_span[1] - thorax_span[0] if thorax_span else None
    ctr = float(hw / tw) if hw and tw else None
    return CardiacMeasurement(
        heart_box=list(box) if box else None,
        heart_width=hw, thorax_width=tw, ctr=ctr,
        heart_line=[heart_span[0], heart_span[1], heart_span[2]] if heart_span else None,
        thorax_line=[thorax_span[0], thorax_span[1], thorax_span[2]] if thorax_span else None,
        notes=notes,
    )


def _centre_col(mask: np.ndarray) -> float:
    """Mean column of a non-empty mask's pixels (from its column sums: cheaper than
    np.nonzero)."""
    cols = mask.sum(axis=0, dtype=np.int64)
    return float((cols * np.arange(cols.size)).sum() / cols.sum())


def implausible_sizes(heart_width_mm: float | None, thorax_width_mm: float | None) -> list[str]:
    """Quality notes for widths outside the adult ranges :data:`HEART_WIDTH_MM` and
    :data:`THORAX_WIDTH_MM` (empty when both are plausible or unknown)."""
    notes = []
    for label, value, (lo, hi) in (("heart width", heart_width_mm, HEART_WIDTH_MM),
                                   ("thorax width", thorax_width_mm, THORAX_WIDTH_MM)):
        if value is not None and not lo <= value <= hi:
            notes.append(f"implausible {label} {value:.1f} mm (adult range {lo:.0f}-{hi:.0f} mm): "
                         "pixel spacing or segmentation likely wrong, not an adult PA/AP film, "
                         "or the film is cropped")
    return notes
