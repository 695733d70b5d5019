"""Datasets for heart detection: the cxr_heart mask layout, RSNA heart boxes, generic box CSVs.

Three on-disk layouts are read as they come from their sources:

* **mask layout** (Dong et al. 2018 "CTR estimation dataset", ``cxr_heart``)::

      <root>/<set>/png/<file>.png
      <root>/<set>/mask/{heart,left_lung,right_lung}/<file>.png      (0/255, threshold at 127)
      <root>/ctr_ground_truth.csv                                     (id,ctr; optional)

  :func:`load_mask_layout` checks every label on load (:func:`check_masks`) and returns the
  usable samples plus a report of what was skipped and why.
* **RSNA heart boxes** (``rsna_heart_detection.csv``: ``label,x0,y0,w,h,name,img_shape_x,
  img_shape_y`` with the box in the 224-px resized image; DICOMs named ``<name>.dcm``):
  :func:`read_rsna_boxes`.
* **generic box CSV** ``file,x_min,y_min,x_max,y_max`` in input pixels — the same columns as the
  ``summary.csv`` that ``cardioclarity xray detect`` writes: :func:`read_box_csv`.

:func:`augment_transforms` builds MONAI dictionary transforms that move masks with the image;
boxes are moved by rasterising them to a mask (:func:`box_to_mask`), transforming that mask with the
image and reading the box back (:func:`cardioclarity.xray.measure.mask_to_box`), so any geometric
transform stays consistent.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from cardioclarity.errors import InputFileNotFoundError, InvalidInputError
from cardioclarity.xray.measure import clean_mask

if TYPE_CHECKING:
    from monai.transforms import Compose

__all__ = [
    "MASK_CHANNELS",
    "BoxSample",
    "MaskSample",
    "QCReport",
    "augment_transforms",
    "box_to_mask",
    "check_masks",
    "load_mask_layout",
    "load_split",
    "make_split",
    "read_box_csv",
    "read_rsna_boxes",
]

#: Channel order of every multi-structure mask in the package.
MASK_CHANNELS = ("heart", "right_lung", "left_lung")
#: Components smaller than this fraction of the largest one are specks (label noise).
_SPECK_FRACTION = 0.05


@dataclass
class MaskSample:
    """One image of the mask layout: paths plus the expert CTR when known."""

    name: str
    set: str
    image_path: Path
    mask_paths: dict[str, Path]
    expert_ctr: float | None = None
    notes: list[str] = field(default_factory=list)

    def load_image(self) -> np.ndarray:
        """Pixels float32 [0, 1] through :func:`cardioclarity.xray.io.read_xray`."""
        from cardioclarity.xray.io import read_xray

        return read_xray(self.image_path).pixels

    def load_masks(self) -> np.ndarray:
        """Cleaned boolean masks, shape (3, H, W) in :data:`MASK_CHANNELS` order."""
        return np.stack([clean_mask(_read_mask(self.mask_paths[c])) for c in MASK_CHANNELS])


@dataclass
class BoxSample:
    """One image with one heart box ``[x_min, y_min, x_max, y_max]`` in the image's pixels."""

    name: str
    image_path: Path | None
    box: tuple[float, float, float, float]
    image_size: tuple[int, int] | None = None  # (width, height) the box refers to


@dataclass
class QCReport:
    """What a loader kept and skipped, and why (printed by the CLI, saved by training)."""

    n_found: int = 0
    n_kept: int = 0
    skipped: list[dict] = field(default_factory=list)   # {"name", "set", "reason"}
    fixed: list[dict] = field(default_factory=list)     # {"name", "set", "note"} e.g. specks removed

    def summary(self) -> str:
        """One line: kept/found, skipped by reason, masks cleaned."""
        reasons: dict[str, int] = {}
        for s in self.skipped:
            key = s["reason"].split(":")[0]
            reasons[key] = reasons.get(key, 0) + 1
        why = ", ".join(f"{k}: {v}" for k, v in reasons.items()) or "none"
        return (f"{self.n_kept}/{self.n_found} images kept; skipped {len(self.skipped)} ({why}); "
                f"{len(self.fixed)} masks cleaned (specks removed)")

    def to_dict(self) -> dict:
        """Plain values (for checkpoints and JSON), with :meth:`summary`."""
        return {"n_found": self.n_found, "n_kept": self.n_kept, "skipped": self.skipped,
                "fixed": self.fixed, "summary": self.summary()}


# ------------------------------------------------------------------------------------ masks / QC
def _read_mask(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        # Edge pixels carry in-between values from the dataset's resizing: threshold at half.
        return np.asarray(im.convert("L")) > 127


def _speck_count(mask: np.ndarray) -> int:
    lab, n = ndimage.label(mask)
    if n <= 1:
        return 0
    sizes = np.sort(ndimage.sum_labels(mask, lab, index=np.arange(1, n + 1)))
    return int(n - 1) if sizes[-1] > 0 else 0


def check_masks(heart: np.ndarray, right_lung: np.ndarray, left_lung: np.ndarray) -> tuple[str | None, list[str]]:
    """Label quality check of one image's masks.

    Image orientation: the patient's right lung is on the image's left (standard PA display).

    Returns
    -------
    reason, notes : str or None, list of str
        ``reason`` is why the sample must be skipped (None = usable): an empty mask, the heart
        outside the thorax, or heart/left-lung labels swapped. ``notes`` lists fixable issues
        (specks, removed by :func:`clean_mask`).
    """
    masks = {"heart": heart, "right_lung": right_lung, "left_lung": left_lung}
    for k, m in masks.items():
        if m.sum() < 50:
            return f"empty mask: {k} has {int(m.sum())} pixels", []
    notes = [f"{k}: {n} speck(s) removed" for k, m in masks.items() if (n := _speck_count(m))]
    h, rl, ll = (clean_mask(m) for m in (heart, right_lung, left_lung))

    def cx(m: np.ndarray) -> float:
        return float(np.nonzero(m)[1].mean())

    x_rl, x_ll, x_h = cx(rl), cx(ll), cx(h)
    if not x_rl < x_h < x_ll:
        # The classic label error: the "heart" file holds the left lung and vice versa. A
        # swapped pair shows as a "left lung" sitting between the lungs and a lateral "heart".
        if x_rl < x_ll < x_h:
            return "swapped labels: heart and left-lung masks appear exchanged", notes
        return (f"heart outside the thorax: heart centre x={x_h:.0f} not between the lungs "
                f"({x_rl:.0f}..{x_ll:.0f})"), notes
    lungs = rl | ll
    ys = np.nonzero(lungs)[0]
    yh = np.nonzero(h)[0]
    if yh.mean() < ys.min() or yh.mean() > ys.max() + 0.25 * (ys.max() - ys.min()):
        return "heart outside the thorax: heart centre above or far below the lung fields", notes
    if h.sum() > 1.5 * max(rl.sum(), ll.sum()) * 2:
        return "heart outside the thorax: heart mask larger than both lungs together", notes
    return None, notes


def load_mask_layout(root: str | Path, sets: tuple[str, ...] | None = None, *,
                     qc: bool = True) -> tuple[list[MaskSample], QCReport]:
    """Scan a mask-layout dataset (``cxr_heart``) and check its labels.

    Parameters
    ----------
    root : path
        Folder holding ``<set>/png`` and ``<set>/mask/...`` (e.g. ``../shared/data/cxr_heart``).
    sets : tuple of str, optional
        Which sets to load (default: every sub-folder with a ``png`` folder, sorted).
    qc : bool
        Run :func:`check_masks` and skip unusable samples (recorded in the report).

    Returns
    -------
    samples, report : list of MaskSample, QCReport
    """
    root = Path(root)
    if not root.is_dir():
        raise InputFileNotFoundError(f"mask-layout folder {root} does not exist.",
                                     hint="pass the folder holding <set>/png and <set>/mask.")
    if sets is None:
        sets = tuple(sorted(p.name for p in root.iterdir() if (p / "png").is_dir()))
    if not sets:
        raise InvalidInputError(f"{root} holds no <set>/png folder.",
                                hint="expected e.g. jsrt/png, jsrt/mask/heart, ... (cxr_heart layout).")
    expert: dict[str, float] = {}
    gt = root / "ctr_ground_truth.csv"
    if gt.exists():
        with gt.open(newline="") as f:
            expert = {r["id"]: float(r["ctr"]) for r in csv.DictReader(f)}
    report = QCReport()
    samples: list[MaskSample] = []
    for s in sets:
        pngs = sorted((root / s / "png").glob("*.png"))
        if not pngs:
            raise InvalidInputError(f"{root / s / 'png'} holds no PNG images.")
        for img in pngs:
            report.n_found += 1
            paths = {c: root / s / "mask" / c / img.name for c in MASK_CHANNELS}
            missing = [c for c, p in paths.items() if not p.exists()]
            if missing:
                report.skipped.append({"name": img.name, "set": s, "reason": f"missing mask: {missing}"})
                continue
            sample = MaskSample(img.name, s, img, paths, expert.get(img.name))
            if qc:
                reason, notes = check_masks(*(_read_mask(paths[c]) for c in MASK_CHANNELS))
                if reason:
                    report.skipped.append({"name": img.name, "set": s, "reason": reason})
                    continue
                if notes:
                    sample.notes = notes
                    report.fixed.append({"name": img.name, "set": s, "note": "; ".join(notes)})
            samples.append(sample)
    report.n_kept = len(samples)
    return samples, report


# ----------------------------------------------------------------------------------------- split
def make_split(samples: list[MaskSample], fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
               seed: int = 0) -> dict[str, list[str]]:
    """Seeded train/val/test split of image names, stratified by set.

    Returns ``{"train": [...], "val": [...], "test": [...]}`` with ``"<set>/<file>"`` keys.
    """
    if abs(sum(fractions) - 1) > 1e-6:
        raise InvalidInputError(f"split fractions must sum to 1, got {fractions}.")
    rng = np.random.default_rng(seed)
    out: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for s in sorted({x.set for x in samples}):
        keys = sorted(f"{x.set}/{x.name}" for x in samples if x.set == s)
        keys = [keys[i] for i in rng.permutation(len(keys))]
        n_val = round(fractions[1] * len(keys))
        n_test = round(fractions[2] * len(keys))
        out["test"] += keys[:n_test]
        out["val"] += keys[n_test:n_test + n_val]
        out["train"] += keys[n_test + n_val:]
    return {k: sorted(v) for k, v in out.items()}


def load_split(path: str | Path, samples: list[MaskSample]) -> dict[str, list[MaskSample]]:
    """Apply a saved split (JSON of ``"<set>/<file>"`` lists) to loaded samples."""
    spec = json.loads(Path(path).read_text())
    by_key = {f"{x.set}/{x.name}": x for x in samples}
    return {part: [by_key[k] for k in keys if k in by_key]
            for part, keys in spec.items() if part in ("train", "val", "test")}


# ----------------------------------------------------------------------------------------- boxes
def box_to_mask(box: Sequence[float], shape: tuple[int, int]) -> np.ndarray:
    """Rasterise a box ``[x_min, y_min, x_max, y_max]`` into a boolean mask of ``shape`` (H, W)."""
    h, w = shape
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    m = np.zeros((h, w), bool)
    m[max(y0, 0):max(min(y1, h), 0), max(x0, 0):max(min(x1, w), 0)] = True
    return m


def _check_box(name: str, box: tuple[float, ...], where: str) -> None:
    x0, y0, x1, y1 = box
    if not all(np.isfinite(box)) or x1 <= x0 or y1 <= y0:
        raise InvalidInputError(f"{where}: box of '{name}' is empty or malformed: {list(box)}.",
                                hint="boxes need x_max > x_min and y_max > y_min.")


def read_rsna_boxes(csv_path: str | Path, image_dir: str | Path | None = None, *,
                    resized_to: int = 224) -> list[BoxSample]:
    """Read the RSNA heart-box CSV (``label,x0,y0,w,h,name,img_shape_x,img_shape_y``).

    The boxes are given in the image resized to ``resized_to`` x ``resized_to`` (224 in the public
    file). They are returned in that space (``image_size = (224, 224)``); call
    :meth:`BoxSample` consumers with the DICOM's real size to scale (the 1024-px RSNA DICOMs scale
    by 1024/224).

    Parameters
    ----------
    csv_path : path
    image_dir : path, optional
        Folder with ``<name>.dcm``; ``image_path`` is None when not given.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise InputFileNotFoundError(f"RSNA box CSV {csv_path} does not exist.")
    out = []
    with csv_path.open(newline="") as f:
        reader = csv.DictReader(f)
        need = {"x0", "y0", "w", "h", "name"}
        if not need <= set(reader.fieldnames or []):
            raise InvalidInputError(
                f"{csv_path.name}: expected columns {sorted(need)} (RSNA heart layout), got "
                f"{reader.fieldnames}.", hint="use read_box_csv for file,x_min,y_min,x_max,y_max CSVs.")
        for i, r in enumerate(reader, start=2):
            try:
                x0, y0, w, h = (float(r[k]) for k in ("x0", "y0", "w", "h"))
                sx = float(r.get("img_shape_x") or resized_to)
                sy = float(r.get("img_shape_y") or resized_to)
            except ValueError as exc:
                raise InvalidInputError(f"{csv_path.name} line {i}: non-numeric box ({exc}).") from exc
            box = (x0, y0, x0 + w, y0 + h)
            _check_box(r["name"], box, f"{csv_path.name} line {i}")
            path = Path(image_dir) / f"{r['name']}.dcm" if image_dir is not None else None
            out.append(BoxSample(r["name"], path, box, (int(sx), int(sy))))
    return out


def read_box_csv(csv_path: str | Path, image_dir: str | Path | None = None) -> list[BoxSample]:
    """Read a generic box CSV ``file,x_min,y_min,x_max,y_max`` (boxes in input pixels).

    ``summary.csv`` written by ``cardioclarity xray detect`` has this layout, so its output can be
    corrected by hand and read back as labels.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise InputFileNotFoundError(f"box CSV {csv_path} does not exist.")
    base = Path(image_dir) if image_dir is not None else csv_path.parent
    out = []
    with csv_path.open(newline="") as f:
        reader = csv.DictReader(f)
        need = ["file", "x_min", "y_min", "x_max", "y_max"]
        if not set(need) <= set(reader.fieldnames or []):
            raise InvalidInputError(f"{csv_path.name}: expected columns {need}, got {reader.fieldnames}.",
                                    hint="for the RSNA layout (x0,y0,w,h,name) use read_rsna_boxes.")
        for i, r in enumerate(reader, start=2):
            if not r["x_min"]:
                continue  # a failed detection in a summary.csv: no box to learn from
            try:
                box = tuple(float(r[k]) for k in need[1:])
            except ValueError as exc:
                raise InvalidInputError(f"{csv_path.name} line {i}: non-numeric box ({exc}).") from exc
            _check_box(r["file"], box, f"{csv_path.name} line {i}")
            out.append(BoxSample(Path(r["file"]).stem, base / r["file"], box))  # type: ignore[arg-type]
    return out


# -------------------------------------------------------------------------------- augmentations
def augment_transforms(keys: tuple[str, str] = ("image", "mask"), *, seed: int = 0,
                       strength: float = 1.0) -> Compose:
    """MONAI dictionary transforms moving a mask (or a rasterised box) with its image.

    Small rotations, scaling, shifts (as radiographs are positioned), brightness/contrast/gamma
    changes (as exposure and processing vary between sites). Masks use nearest-neighbour
    interpolation. Inputs are channel-first arrays (C, H, W).
    """
    from monai.transforms import (
        Compose,
        RandAdjustContrastd,
        RandAffined,
        RandGaussianNoised,
        RandScaleIntensityd,
    )

    img, msk = keys
    t = Compose([
        RandAffined(keys=[img, msk], prob=0.8, rotate_range=0.12 * strength,
                    scale_range=0.12 * strength, translate_range=(20 * strength, 20 * strength),
                    mode=("bilinear", "nearest"), padding_mode="zeros"),
        RandScaleIntensityd(keys=[img], factors=0.15 * strength, prob=0.5),
        RandAdjustContrastd(keys=[img], gamma=(0.7, 1.5), prob=0.5),
        RandGaussianNoised(keys=[img], std=0.02 * strength, prob=0.3),
    ])
    t.set_random_state(seed=seed)
    return t
