"""Anatomical constraints on predicted masks, mask features and the plausibility of a result.

Three stages, each a pure function of arrays:

1. :func:`constrain_masks` — what every frontal chest film obeys, applied to the network's masks:
   each structure is one region without holes, and the heart ends at the diaphragm
   (:func:`diaphragm_limit`: the line joining the lowest points of the two lung fields, raised on
   the left to the left hemidiaphragm under the heart). A heart mask that leaks into the abdomen
   is cut back to that line.
2. :func:`mask_features` — cheap numbers describing the network's output (areas, fragmentation,
   how uncertain the borders are, where the structures lie). The chest-radiograph check
   (:mod:`cardioclarity.xray.gate`) and the plausibility checks both read them.
3. :func:`shape_features` — the heart mask's convexity, raggedness, proportions, how high it
   starts against the lung apices and how much of it is also lung.
4. :func:`plausibility` — soft checks, each giving a value in [0, 1] (1 = typical of the
   training films, 0 = clearly implausible) and a machine-readable reason when below 0.5.

The thresholds of each check come from the distribution on the training part of ``cxr_heart``
(``ok`` is about the 1st/99th percentile there, ``bad`` is a value no training film comes close
to) and from anatomy (a CTR can never exceed 1; below 0.2 no adult heart is measured right).
The shape checks' thresholds were chosen on the val part and the seed-12 visual audit sample
(see :func:`plausibility`); the test part and the other audit samples are not tuning data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from cardioclarity.xray.measure import _box_slices, _centre_col

__all__ = [
    "CTR_REPORTABLE",
    "REASONS",
    "Check",
    "constrain_masks",
    "diaphragm_limit",
    "shape_features",
    "fill_holes",
    "lung_base_line",
    "mask_features",
    "plausibility",
]

#: A CTR outside this range is never reported, whatever the other checks say.
CTR_REPORTABLE = (0.2, 1.0)

#: Machine-readable reasons (``quality.reasons``) and what each means. The first group refuses
#: the input (not a frontal chest film), the second withholds the CTR of a chest film whose masks
#: are implausible, the third are cautions (CTR reported).
REASONS: dict[str, str] = {
    "not-a-chest-radiograph": "the image does not look like a frontal chest radiograph",
    "dicom-modality": "the DICOM Modality is not a projection radiograph (CT, MR, US, NM, ...)",
    "dicom-sop-class": "the DICOM SOP class is a cross-sectional, ultrasound or other non-radiograph class",
    "dicom-body-part": "the DICOM BodyPartExamined is not the chest",
    "lateral-view": "a lateral view: the heart box and CTR are defined on frontal films only",
    "no-heart": "no heart was segmented",
    "no-lung": "a lung field was not segmented",
    "lungs-flipped": "the lungs are on the wrong sides (mirrored film?)",
    "heart-not-between-lungs": "the heart does not lie between the lungs",
    "ctr-out-of-range": "the CTR is outside the range a measurement can have (0.2-1.0) or typical films have",
    "heart-fragmented": "the heart mask is in several pieces",
    "lung-fragmented": "a lung mask is in several pieces",
    "uncertain-borders": "the network is unsure where the borders are (wide band of in-between values)",
    "heart-leaks-below-diaphragm": "much of the heart mask lay below the lung bases (cut back, width unreliable)",
    "heart-too-tall": "the heart mask reaches up into the upper mediastinum",
    "heart-too-high": "the heart mask starts near the lung apices: it takes in the mediastinum up to the hila",
    "heart-not-compact": "the heart mask is not one compact, convex region (a leak, the great vessels or a bite)",
    "heart-ragged": "the heart mask's border is ragged",
    "heart-shape-implausible": "the heart mask's height and width are out of proportion",
    "heart-lung-overlap": "much of the heart mask is also painted as lung",
    "lung-size-implausible": "the lungs are implausibly small, large or unequal",
    "augmentation-disagreement": "the masks change when the film is slightly rescaled",
    "thorax-cut-off": "a lung field touches the image border: the thorax may be cut off",
    "implausible-size-mm": "a width in mm is outside adult ranges (pixel spacing or segmentation wrong)",
    "ap-view": "an AP film: the heart is magnified, CTR > 0.5 is a weaker sign of cardiomegaly",
}

#: Reasons that refuse the input: not a frontal chest radiograph (HTTP 422).
REFUSE = ("not-a-chest-radiograph", "dicom-modality", "dicom-sop-class", "dicom-body-part",
          "lateral-view")
#: Reasons that do not withhold the CTR, only qualify it.
CAUTION = ("thorax-cut-off", "implausible-size-mm", "ap-view")


@dataclass
class Check:
    """One plausibility check: its value in [0, 1], the reason it raises, what was measured."""

    reason: str
    value: float
    measured: float | None

    @property
    def failed(self) -> bool:
        """Below 0.5: the check raises its reason."""
        return self.value < 0.5


def _ramp(x: float | None, ok: float, bad: float) -> float:
    """1 at ``ok`` or better, 0 at ``bad`` or worse, linear between (either direction)."""
    if x is None or not np.isfinite(x):
        return 0.0
    t = (x - bad) / (ok - bad)
    return float(np.clip(t, 0.0, 1.0))


# ------------------------------------------------------------------------------------ constraints
def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` with every background region that does not reach the image border filled.

    The same result as :func:`scipy.ndimage.binary_fill_holes` with one labelling pass instead of
    an iterated dilation (10-50x faster on a 1024-px grid), inside the mask's box grown by one
    pixel: a background region that reaches that ring reaches the image border through the empty
    rest of the image, and one that does not is enclosed by the mask.
    """
    mask = np.asarray(mask, dtype=bool)
    box = _box_slices(mask)
    if box is None:
        return mask.copy()
    out = mask.copy()
    crop = mask[box]
    lab, n = ndimage.label(~crop)
    if n == 0:
        return out
    touches = np.zeros(n + 1, dtype=bool)
    touches[np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])] = True
    touches[0] = False  # label 0 is the mask itself
    out[box] = ~touches[lab]
    return out


def _largest(mask: np.ndarray) -> tuple[np.ndarray, float]:
    """Largest connected region of ``mask`` and the share of the mask it holds (1 if empty)."""
    mask = np.asarray(mask, dtype=bool)
    box = _box_slices(mask, margin=0)
    if box is None:
        return mask.copy(), 1.0
    lab, n = ndimage.label(mask[box])
    if n <= 1:
        return mask.copy(), 1.0
    sizes = np.bincount(lab.ravel(), minlength=n + 1)[1:]
    k = int(np.argmax(sizes))
    out = np.zeros_like(mask)
    out[box] = lab == k + 1
    return out, float(sizes[k] / sizes.sum())


def lung_base_line(right_lung: np.ndarray, left_lung: np.ndarray) -> tuple[float, float, float, float] | None:
    """The diaphragm line under the heart: ``(x_right, y_right, x_left, y_left)``.

    Each end is the lowest point of one lung field (its costophrenic recess). The heart rests on
    the diaphragm, whose domes lie above the line joining these two points, so no part of a
    frontal film's heart lies much below it. None when a lung is empty.
    """
    ends = []
    for mask in (right_lung, left_lung):
        rows = np.nonzero(mask.any(axis=1))[0]
        if rows.size == 0:
            return None
        bottom = rows[-1]
        ends.append((float(np.nonzero(mask[bottom])[0].mean()), float(bottom)))
    (xr, yr), (xl, yl) = ends
    return xr, yr, xl, yl


#: How far lateral of the heart's outermost column the left lung's base is read, as a fraction
#: of the image width: far enough that the lung's lower edge there is the hemidiaphragm, not
#: the heart's border.
APEX_OFFSET = 0.05


def _bottom_rows(mask: np.ndarray) -> np.ndarray:
    """Lowest row of ``mask`` in each column (-1 where the column is empty)."""
    h = mask.shape[0]
    flipped = mask[::-1].argmax(axis=0)
    return np.where(mask.any(axis=0), h - 1 - flipped, -1)


def diaphragm_limit(heart: np.ndarray, right_lung: np.ndarray, left_lung: np.ndarray, *,
                    line: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """Lowest row the heart may reach in each column: the diaphragm line under it.

    Start from the line joining the two lungs' lowest points (:func:`lung_base_line`, extended
    flat beyond its ends). On the left the heart rests on the left hemidiaphragm, which is higher
    than the left costophrenic recess: where the left lung's lower edge, read just lateral of
    the heart's outermost column (:data:`APEX_OFFSET`), is higher than that line, the line runs
    from the right lung's lowest point to that point, and lateral of it follows the left lung's
    lower edge. A heart mask leaking under the left hemidiaphragm into the abdomen (gastric
    bubble, spleen) is then cut at the diaphragm rather than at the recess, tens of pixels lower.

    Parameters
    ----------
    heart, right_lung, left_lung : ndarray of bool, shape (H, W)
        One region each; right lung = the patient's right (the image's left side).
    line : tuple, optional
        :func:`lung_base_line` of the lungs, if already computed.

    Returns
    -------
    ndarray of float, shape (W,)
        Row limit per column (no margin added).
    """
    line = line if line is not None else lung_base_line(right_lung, left_lung)
    w = heart.shape[1]
    xs = np.arange(w, dtype=np.float64)
    if line is None:
        return np.full(w, float(heart.shape[0]))
    xr, yr, xl, yl = line
    base = np.interp(xs, [min(xr, xl), max(xr, xl)], [yr, yl] if xr <= xl else [yl, yr])
    cols = np.flatnonzero(heart.any(axis=0))
    if xr >= xl or cols.size == 0:  # mirrored film or no heart: keep the straight line
        return base
    xc = int(min(w - 1, cols[-1] + round(APEX_OFFSET * w)))
    bottoms = _bottom_rows(left_lung)
    yc = float(bottoms[xc])
    if yc < 0 or yc >= base[xc] or xc <= xr:
        return base
    limit = base.copy()
    medial = xs <= xc
    limit[medial] = np.minimum(base[medial], np.interp(xs[medial], [xr, xc], [yr, yc]))
    lateral = ~medial & (bottoms >= 0)
    limit[lateral] = np.minimum(base[lateral], np.maximum(bottoms[lateral], yc))
    return limit


def constrain_masks(masks: np.ndarray, *, margin: float = 0.02) -> tuple[np.ndarray, dict]:
    """Apply the anatomical constraints to (3, H, W) heart / right lung / left lung masks.

    Parameters
    ----------
    masks : ndarray of bool, shape (3, H, W)
        Raw network masks (probability > 0.5).
    margin : float
        How far below the lung-base line the heart may reach, as a fraction of the image height
        (on the reference masks of the training films the heart ends up to a few per cent of the
        image height below the line joining the lungs' lowest points).

    Returns
    -------
    masks : ndarray of bool, shape (3, H, W)
        Each structure one region with its holes filled; the heart cut at the lung-base line.
    info : dict
        ``main_fraction`` (share of each raw mask in its largest region), ``clipped_fraction``
        (share of the heart removed below the line), ``base_line`` (or None).
    """
    out, main = [], []
    for m in masks:
        region, frac = _largest(m)
        out.append(fill_holes(region))
        main.append(frac if m.any() else 0.0)
    heart, rl, ll = out
    info: dict = {"main_fraction": main, "clipped_fraction": 0.0, "base_line": None}
    line = lung_base_line(rl, ll)
    if line is not None and heart.any():
        h, w = heart.shape
        limit = diaphragm_limit(heart, rl, ll, line=line)
        below = np.arange(h)[:, None] > (limit + margin * h)[None, :]
        cut = heart & below
        if cut.any():
            area = heart.sum()
            heart, _ = _largest(heart & ~below)
            info["clipped_fraction"] = float(1 - heart.sum() / area)
        info["base_line"] = [float(v) for v in line]
    return np.stack([heart, rl, ll]), info


# --------------------------------------------------------------------------------------- features
#: Names of :func:`mask_features`, in the order the chest-radiograph check reads them.
FEATURES = ("heart_area", "right_area", "left_area", "heart_main", "right_main", "left_main",
            "heart_fuzzy", "right_fuzzy", "left_fuzzy", "order", "heart_cy", "right_cx", "left_cx",
            "heart_cx", "lung_ratio", "heart_extent")


def mask_features(probs: np.ndarray) -> dict[str, float]:
    """Cheap numbers describing (3, S, S) heart / right lung / left lung probabilities.

    ``*_area`` share of the image in the largest region; ``*_main`` share of the raw mask in that
    region (fragmentation); ``*_fuzzy`` pixels with 0.1 < p < 0.9 per mask pixel (how unsure the
    borders are); ``order`` 1 when right lung, heart and left lung lie left to right on the image;
    ``*_cx``/``*_cy`` centroids as fractions of the width/height; ``lung_ratio`` right/left lung
    area; ``heart_extent`` heart area / its bounding box's area (compactness).
    """
    p = np.asarray(probs, dtype=np.float32)
    raw = p > 0.5
    h_, w_ = raw.shape[1:]
    f: dict[str, float] = {}
    regions = []
    for i, key in enumerate(("heart", "right", "left")):
        region, frac = _largest(raw[i])
        regions.append(region)
        f[f"{key}_area"] = float(region.mean())
        f[f"{key}_main"] = frac if raw[i].any() else 0.0
        f[f"{key}_fuzzy"] = float(((p[i] > 0.1) & (p[i] < 0.9)).sum() / max(1, raw[i].sum()))

    def centre(m: np.ndarray, axis: int) -> float:
        idx = np.nonzero(m)[axis]
        return float(idx.mean() / (h_ if axis == 0 else w_)) if idx.size else 0.0

    heart, rl, ll = regions
    f["order"] = float(all(m.any() for m in regions)
                       and centre(rl, 1) < centre(heart, 1) < centre(ll, 1))
    f["heart_cy"], f["heart_cx"] = centre(heart, 0), centre(heart, 1)
    f["right_cx"], f["left_cx"] = centre(rl, 1), centre(ll, 1)
    f["lung_ratio"] = float(rl.sum() / max(1, ll.sum()))
    if heart.any():
        ys, xs = np.nonzero(heart)
        f["heart_extent"] = float(heart.sum() / ((np.ptp(xs) + 1) * (np.ptp(ys) + 1)))
    else:
        f["heart_extent"] = 0.0
    return {k: f[k] for k in FEATURES}


# ------------------------------------------------------------------------------------ shape
#: Names of :func:`shape_features`.
SHAPE_FEATURES = ("heart_solidity", "heart_roughness", "heart_aspect", "heart_top", "heart_lung_overlap")


def _edge_count(mask: np.ndarray) -> int:
    """Pixel edges between the mask and the background (its 4-connected perimeter)."""
    m = np.pad(mask, 1)
    return int(np.count_nonzero(m[1:] != m[:-1]) + np.count_nonzero(m[:, 1:] != m[:, :-1]))


def _hull_area(mask: np.ndarray) -> float:
    """Area of the convex hull of the mask's pixels (as unit squares), in pixels."""
    from scipy.spatial import ConvexHull, QhullError

    edge = mask & ~ndimage.binary_erosion(mask)
    ys, xs = np.nonzero(edge)
    if xs.size < 3:
        return float(mask.sum())
    pts = np.concatenate([np.stack([xs + dx, ys + dy], axis=1) for dx in (0, 1) for dy in (0, 1)])
    try:
        return float(ConvexHull(pts).volume)  # in 2-D, "volume" is the area
    except QhullError:  # all points on a line
        return float(mask.sum())


def shape_features(masks: np.ndarray) -> dict[str, float]:
    """Shape of the heart mask and where it lies against the lungs, on (3, H, W) bool masks.

    ``heart_solidity`` heart area / area of its convex hull (a heart is convex; a mask that
    also takes in the great vessels, a leak or a bite out of it is not); ``heart_roughness``
    the heart's 4-connected perimeter / that of its bounding box (exactly 1 for a region convex
    along rows and columns, above 1 by twice the depth of every notch and spike: ragged borders);
    ``heart_aspect`` heart height / heart width; ``heart_top`` rows from the lungs' top (apices)
    to the heart's top, as a share of the lungs' height (the heart starts below the hila, about
    a third of the way down; a mask that climbs the mediastinum starts higher);
    ``heart_lung_overlap`` share of the heart mask also painted as lung. NaN when the heart or
    both lungs are empty.
    """
    heart, rl, ll = (np.asarray(m, bool) for m in masks)
    nan = dict.fromkeys(SHAPE_FEATURES, float("nan"))
    lungs = rl | ll
    if not heart.any() or not lungs.any():
        return nan
    box = _box_slices(heart, margin=0)
    lr = np.flatnonzero(lungs.any(axis=1))
    crop = heart[box]
    height, width = crop.shape
    area = float(crop.sum())
    return {
        "heart_solidity": area / max(area, _hull_area(crop)),
        "heart_roughness": _edge_count(crop) / (2.0 * (height + width)),
        "heart_aspect": height / width,
        "heart_top": (box[0].start - lr[0]) / max(1, lr[-1] - lr[0] + 1),
        "heart_lung_overlap": float((crop & lungs[box]).sum() / area),
    }


# ------------------------------------------------------------------------------------ plausibility
def plausibility(features: dict[str, float], masks: np.ndarray, ctr: float | None, *,
                 clipped_fraction: float = 0.0, tta_dice: float | None = None) -> list[Check]:
    """The plausibility checks of one result (see the module docstring).

    Parameters
    ----------
    features : dict
        :func:`mask_features` of the network's probabilities.
    masks : ndarray of bool, shape (3, H, W)
        The constrained masks the CTR was measured on.
    ctr : float or None
        The measured CTR.
    clipped_fraction : float
        Share of the heart cut away below the lung bases (:func:`constrain_masks`).
    tta_dice : float, optional
        Heart Dice between the masks of the film and of a rescaled copy.

    Returns
    -------
    list of Check
        Every check that was computed; ``[c.reason for c in checks if c.failed]`` are the reasons.
    """
    heart, rl, ll = (np.asarray(m, bool) for m in masks)
    checks = [Check("no-heart", float(heart.any()), float(heart.mean())),
              Check("no-lung", float(rl.any() and ll.any()), float(min(rl.mean(), ll.mean())))]
    if not (heart.any() and rl.any() and ll.any()):
        return checks
    h, w = heart.shape
    cx = [_centre_col(m) for m in (rl, heart, ll)]
    checks.append(Check("lungs-flipped", float(cx[0] < cx[2]), cx[0] / w))
    checks.append(Check("heart-not-between-lungs", float(cx[0] < cx[1] < cx[2]), cx[1] / w))
    lo, hi = CTR_REPORTABLE
    if ctr is None or not lo <= ctr <= hi:
        checks.append(Check("ctr-out-of-range", 0.0, ctr))
    else:
        # Reference masks of the training films: CTR 0.36-0.83 (160 of the train part); a CTR near
        # 0.2 or 0.95 is a failed mask.
        checks.append(Check("ctr-out-of-range", min(_ramp(ctr, 0.30, 0.22), _ramp(ctr, 0.80, 0.92)), ctr))
    checks.append(Check("heart-fragmented", _ramp(features["heart_main"], 0.95, 0.75),
                        features["heart_main"]))
    lung_main = min(features["right_main"], features["left_main"])
    checks.append(Check("lung-fragmented", _ramp(lung_main, 0.90, 0.60), lung_main))
    fuzzy = max(features["heart_fuzzy"], features["right_fuzzy"], features["left_fuzzy"])
    checks.append(Check("uncertain-borders", _ramp(fuzzy, 0.30, 0.60), fuzzy))
    checks.append(Check("heart-leaks-below-diaphragm", _ramp(clipped_fraction, 0.08, 0.25),
                        clipped_fraction))
    lung_rows = np.nonzero((rl | ll).any(axis=1))[0]
    heart_rows = np.nonzero(heart.any(axis=1))[0]
    # Heart height / lung height: about 0.4-0.6 on the training films; a mask that climbs to the
    # hila or the aortic arch reaches 0.8 and more.
    tall = (np.ptp(heart_rows) + 1) / max(1, np.ptp(lung_rows) + 1)
    checks.append(Check("heart-too-tall", _ramp(tall, 0.70, 0.85), float(tall)))
    # Shape of the heart (shape_features). Thresholds: the midpoint (where a check fails) lies
    # beyond what the network's masks reach on the cxr_heart val part (68 films) and beyond the
    # 99th percentile of the reference masks of the train part (319 films), and was placed, within
    # that room, where it flagged most of the rejected overlays of the seed-12 visual audit
    # (benchmarks/xray_audit, 65 rejected of 100) while withholding few accepted ones.
    shape = shape_features(masks)
    # Convex hull share: val masks >= 0.87 (1st percentile 0.91), reference masks >= 0.93;
    # rejected audit overlays median 0.84.
    checks.append(Check("heart-not-compact", _ramp(shape["heart_solidity"], 0.92, 0.84),
                        shape["heart_solidity"]))
    # Perimeter / bounding-box perimeter: 1.00-1.02 on reference masks, val 99th percentile 1.21.
    checks.append(Check("heart-ragged", _ramp(shape["heart_roughness"], 1.35, 1.55),
                        shape["heart_roughness"]))
    # Height / width: reference masks 0.51-1.35 (train part).
    aspect = shape["heart_aspect"]
    checks.append(Check("heart-shape-implausible",
                        min(_ramp(aspect, 1.25, 1.45), _ramp(aspect, 0.50, 0.40)), aspect))
    # Heart top below the apices, share of the lungs' height: reference 1st percentile 0.29, val
    # masks >= 0.35; a mask taking in the mediastinum up to the hila starts at a quarter or less.
    checks.append(Check("heart-too-high", _ramp(shape["heart_top"], 0.32, 0.24), shape["heart_top"]))
    # Share of the heart also painted as lung: val masks 99th percentile 0.06.
    checks.append(Check("heart-lung-overlap", _ramp(shape["heart_lung_overlap"], 0.05, 0.09),
                        shape["heart_lung_overlap"]))
    lung_area = min(rl.mean(), ll.mean())
    ratio = rl.sum() / max(1, ll.sum())
    size_ok = min(_ramp(lung_area, 0.04, 0.015), _ramp(max(ratio, 1 / ratio), 1.8, 2.6))
    checks.append(Check("lung-size-implausible", size_ok, float(ratio)))
    if tta_dice is not None:
        # Heart Dice with the rescaled copy on the training films: median 0.92, 5th percentile 0.71,
        # lowest 0.55 (107 train-part films): the check fails only below what they reach.
        checks.append(Check("augmentation-disagreement", _ramp(tta_dice, 0.70, 0.55), tta_dice))
    return checks
