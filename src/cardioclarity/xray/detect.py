"""The image pipeline: :class:`XrayImage` → :class:`HeartResult` (heart box, CTR, cardiomegaly).

>>> from cardioclarity.xray.io import read_xray
>>> from cardioclarity.xray.detect import HeartDetector
>>> det = HeartDetector.load()                     # bundled "cxr-heart-seg"
>>> result = det.detect(read_xray("film.dcm"))
>>> result.to_dict()["ctr"]

``HeartResult.to_dict()`` is the ``<stem>.json`` schema (docs/ARCHITECTURE.md); coordinates are
in the input image's pixels whatever size the network works at. This module is inference only: it
imports nothing from training, datasets or evaluation.

Knowing when not to answer: every result carries ``quality`` = ``{ok, score, status, reasons,
notes, chest_probability, checks}``. ``status`` is ``"refused"`` when the input is not a frontal
chest radiograph (:mod:`cardioclarity.xray.gate`: DICOM header, then the chest-radiograph
check), ``"withheld"`` when the masks are implausible (:func:`cardioclarity.xray.quality.plausibility`),
``"caution"`` when the CTR is reported with a caveat (AP film, thorax cut off, sizes in mm out of
range) and ``"measured"`` otherwise. Refused and withheld results have ``ctr`` and
``cardiomegaly`` None (a refused one has no heart box either); ``ok`` is True only when measured.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cardioclarity import DISCLAIMER
from cardioclarity.checkpoints import card_from_checkpoint, load_checkpoint
from cardioclarity.errors import InvalidInputError
from cardioclarity.xray.gate import ENCODER_LAYERS, ChestCheck, chest_features, dicom_reasons
from cardioclarity.xray.io import XrayImage
from cardioclarity.xray.measure import CTR_THRESHOLD, clean_mask, implausible_sizes, measure_masks
from cardioclarity.xray.models import KINDS, build_model, preprocess
from cardioclarity.xray.quality import (
    CAUTION,
    REFUSE,
    constrain_masks,
    mask_features,
    plausibility,
)

__all__ = ["DEFAULT_MODEL", "HeartDetector", "HeartResult"]

#: Bundled checkpoint used when no model is named.
DEFAULT_MODEL = "cxr-heart-seg"
#: Longest side of the grid the masks are measured on (see HeartDetector.detect).
MEASURE_MAX_SIDE = 1024
_ALIASES = {"seg": "cxr-heart-seg", "box": "cxr-heart-box"}


@dataclass
class HeartResult:
    """Result for one film. :meth:`to_dict` gives the stable JSON schema.

    Attributes
    ----------
    image_size : [width, height] of the input.
    heart_box : [x_min, y_min, x_max, y_max] in input pixels (None if no heart was found).
    ctr : cardiothoracic ratio (None for the box model or when a lung is missing).
    cardiomegaly : CTR > threshold (None when the CTR is unavailable).
    model : the detector's :meth:`HeartDetector.model_field` (name, architecture, kind, ...).
    masks : bool array (3, h, w) heart / right lung / left lung (seg model), not serialised; on the
        measuring grid (the input's size, scaled down to at most MEASURE_MAX_SIDE pixels).
        None when the input was refused.
    quality : dict
        ``ok`` (True only when the CTR is measured without caveat), ``score`` (0..1, the weakest
        of the chest-radiograph probability and the plausibility checks), ``status``
        ("measured", "caution", "withheld", "refused"), ``reasons`` (machine-readable, see
        :data:`cardioclarity.xray.quality.REASONS`), ``notes`` (the same in words, plus reader
        warnings), ``chest_probability``, ``checks`` (value of each plausibility check).
    """

    image_size: list[int]
    heart_box: list[float] | None
    ctr: float | None
    cardiomegaly: bool | None
    pixel_spacing_mm: list[float] | None
    view_position: str | None
    quality: dict
    model: dict
    measurements: dict = field(default_factory=dict)
    masks: np.ndarray | None = field(default=None, repr=False)
    name: str = "image"

    def to_dict(self) -> dict[str, Any]:
        """The ``<stem>.json`` object, plus ``measurements`` and ``disclaimer``."""
        return {
            "image_size": list(self.image_size),
            "heart_box": [round(float(v), 1) for v in self.heart_box] if self.heart_box else None,
            "ctr": round(float(self.ctr), 4) if self.ctr is not None else None,
            "cardiomegaly": self.cardiomegaly,
            "pixel_spacing_mm": self.pixel_spacing_mm,
            "view_position": self.view_position,
            "quality": self.quality,
            "model": self.model,
            "measurements": self.measurements,
            "disclaimer": DISCLAIMER,
        }

    def summary_row(self, file: str) -> dict[str, Any]:
        """Row of ``summary.csv``: ``file,x_min,y_min,x_max,y_max,ctr,cardiomegaly``."""
        box = self.heart_box or [None] * 4
        return {"file": file, "x_min": _r(box[0]), "y_min": _r(box[1]), "x_max": _r(box[2]),
                "y_max": _r(box[3]), "ctr": None if self.ctr is None else round(self.ctr, 4),
                "cardiomegaly": self.cardiomegaly}


def _r(v: float | None) -> float | None:
    return None if v is None else round(float(v), 1)


class HeartDetector:
    """Heart detection with a ``seg`` (heart + lungs → CTR) or ``box`` (heart box only) network.

    Build one with :meth:`load`; the constructor takes an already loaded checkpoint.

    Parameters
    ----------
    checkpoint : dict
        A loaded checkpoint of kind ``xray-heart-seg`` or ``xray-heart-box``.
    ctr_threshold : float
        Cardiomegaly cut-off on the CTR (default 0.5, PA films).
    chest_check : ChestCheck, optional
        The chest-radiograph check (default: the bundled ``cxr-chest-check``; seg model only).
    tta : bool
        Also segment a slightly zoomed-out copy and compare the hearts (the copy rides in the
        same forward pass as a second batch item; the ``augmentation-disagreement`` check).
    constrain : bool
        Apply the anatomical constraints to the masks
        (:func:`cardioclarity.xray.quality.constrain_masks`); False keeps the network's masks
        (largest region of each), for comparisons.

    Attributes
    ----------
    card : dict
        The model card (:func:`cardioclarity.checkpoints.card_from_checkpoint`: name, kind, model,
        version, created_utc, training data, input_size...), with ``ctr_threshold`` set to the
        cut-off this detector applies.
    kind, model_name, input_size, ctr_threshold, net
        Checkpoint kind, architecture ("seg"/"box"), network input side, cut-off, the network.
    """

    def __init__(self, checkpoint: dict, *, ctr_threshold: float = CTR_THRESHOLD,
                 chest_check: ChestCheck | None = None, tta: bool = True,
                 constrain: bool = True) -> None:
        if not 0 < ctr_threshold < 1:
            raise InvalidInputError(f"ctr_threshold must be in (0, 1), got {ctr_threshold}.",
                                    hint="the usual cut-off on a PA film is 0.5.")
        self.kind = checkpoint["kind"]
        self.model_name = checkpoint["model"]
        self.input_size = int(checkpoint.get("input_size") or checkpoint["config"]["input_size"])
        self.net = build_model(self.model_name, checkpoint["config"])
        self.net.load_state_dict(checkpoint["state_dict"])
        self.net.eval()
        self.ctr_threshold = float(ctr_threshold)
        card = card_from_checkpoint(checkpoint)
        card.setdefault("name", self.model_name)  # a checkpoint dict that was never on disk
        card["ctr_threshold"] = self.ctr_threshold
        self.card = card
        self._chest_check = chest_check
        self.tta = bool(tta)
        self.constrain = bool(constrain)
        # Pooled encoder activations for the chest-radiograph check, caught by forward hooks.
        # Per thread: the web backend runs one detector from several worker threads.
        self._pooled = threading.local()
        modules = dict(self.net.named_modules())
        self._encoder_layers = [n for n in ENCODER_LAYERS if n in modules] \
            if self.model_name == "seg" else []
        for i, name in enumerate(self._encoder_layers):
            modules[name].register_forward_hook(self._pool_hook(i))

    def _pool_hook(self, index: int):
        def hook(module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> None:
            o = output.detach()[0]
            store = getattr(self._pooled, "values", None)
            if store is None:
                store = self._pooled.values = {}
            store[index] = torch.cat([o.mean(dim=(1, 2)), o.std(dim=(1, 2))]).numpy()
        return hook

    def encoder_features(self) -> np.ndarray | None:
        """The pooled encoder activations of this thread's last forward pass (seg model), or None."""
        store = getattr(self._pooled, "values", None)
        if not self._encoder_layers or not store or len(store) != len(self._encoder_layers):
            return None
        return np.concatenate([store[i] for i in range(len(self._encoder_layers))])

    @property
    def chest_check(self) -> ChestCheck | None:
        """The chest-radiograph check (loaded on first use; None for the box model, which makes
        no masks for it to read)."""
        if self._chest_check is None and self.model_name == "seg":
            self._chest_check = ChestCheck.load()
        return self._chest_check

    @classmethod
    def load(cls, name_or_path: str | Path | None = None, *,
             ctr_threshold: float = CTR_THRESHOLD, tta: bool = True, constrain: bool = True,
             chest_check: ChestCheck | None = None) -> HeartDetector:
        """Load a bundled model or a checkpoint file.

        Parameters
        ----------
        name_or_path : str or Path, optional
            None for the bundled default (:data:`DEFAULT_MODEL`, ``"cxr-heart-seg"``), a bundled
            name (``"cxr-heart-seg"``, ``"cxr-heart-box"``, or the aliases ``"seg"``/``"box"``),
            or the path of a checkpoint written by ``cardioclarity xray train``.
        ctr_threshold : float
            Cardiomegaly cut-off on the CTR.
        tta, constrain, chest_check
            See the class.

        Raises
        ------
        InputFileNotFoundError
            Neither a file nor a bundled name.
        CheckpointError
            Not a CardioClarity checkpoint, or one of another kind.
        """
        name = str(name_or_path) if name_or_path is not None else DEFAULT_MODEL
        name = _ALIASES.get(name, name)
        return cls(load_checkpoint(name, expected_kind=tuple(KINDS.values())),
                   ctr_threshold=ctr_threshold, tta=tta, constrain=constrain, chest_check=chest_check)

    def model_field(self) -> dict[str, Any]:
        """The ``model`` object of the result schema (``<stem>.json``, ``metrics.json``).

        Built from :attr:`card`; its keys are part of the output schema: ``name``,
        ``architecture``, ``kind``, ``input_size``, ``created_utc``, ``ctr_threshold``.
        """
        return {"name": self.card["name"], "architecture": self.model_name, "kind": self.kind,
                "input_size": self.input_size, "created_utc": self.card.get("created_utc"),
                "ctr_threshold": self.ctr_threshold}

    # ------------------------------------------------------------------------------ inference
    @torch.inference_mode()
    def predict_logits(self, image: XrayImage) -> torch.Tensor:
        """Raw network output for one image: (3, S, S) mask logits (seg) or (4,) box fractions."""
        x = preprocess(image.pixels, self.input_size)
        return self.net(x)[0]

    @torch.inference_mode()
    def _forward(self, image: XrayImage) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits of the film and, with :attr:`tta`, the heart logits of its zoomed-out copy.

        The film is resampled once to the network size; the copy is made from that resampled
        film, and both go through the network as one batch of two (one forward pass). Instance
        normalisation makes each item independent of the other, and the pooled-activation hooks
        read item 0, the film itself.
        """
        s = self.input_size
        x = torch.from_numpy(np.ascontiguousarray(image.pixels, dtype=np.float32))[None, None]
        if x.shape[-2:] != (s, s):
            x = torch.nn.functional.interpolate(x, size=(s, s), mode="bilinear", align_corners=False,
                                                antialias=True)
        film = preprocess(x, s)
        if not (self.tta and self.model_name == "seg"):
            return self.net(film)[0], None
        inner = round(s * 0.9)
        pad = (s - inner) // 2
        copy = torch.nn.functional.pad(preprocess(x, inner), (pad, s - inner - pad, pad, s - inner - pad),
                                       mode="replicate")
        out = self.net(torch.cat([film, copy]))
        heart = out[1:2, 0:1, pad:pad + inner, pad:pad + inner]
        heart = torch.nn.functional.interpolate(heart, size=(s, s), mode="bilinear", align_corners=False)[0, 0]
        return out[0], heart

    def detect(self, image: XrayImage) -> HeartResult:
        """Run the pipeline on one image (see the module docstring).

        Raises
        ------
        InvalidInputError
            ``image`` is not an :class:`~cardioclarity.xray.io.XrayImage`.
        """
        if not isinstance(image, XrayImage):
            raise InvalidInputError(f"detect() needs an XrayImage, got {type(image).__name__}.",
                                    hint="read the file with cardioclarity.xray.io.read_xray first.")
        w, h = image.size
        out, heart_zoomed = self._forward(image)
        notes = list(image.warnings)
        reasons = dicom_reasons(image.metadata)
        quality: dict[str, Any] = {"chest_probability": None, "checks": {}}
        if self.model_name == "seg":
            seg = _from_seg_logits(out, w, h, constrain=self.constrain)
            box, ctr, masks, measurements = seg.box, seg.ctr, seg.masks, seg.measurements
            notes += seg.notes
            encoder = self.encoder_features()
            check = self.chest_check
            if encoder is not None and check is not None and check.fits(self.card):
                p_chest = float(check.score_samples(chest_features(seg.features, encoder))[0])
                quality["chest_probability"] = round(p_chest, 4)
                if p_chest < check.threshold:
                    reasons.append("not-a-chest-radiograph")
            else:
                p_chest = 1.0
                notes.append("chest-radiograph check not available for this seg model "
                             "(fitted on another network): only the DICOM header and the "
                             "plausibility checks were applied")
            tta = _heart_dice(out[0], heart_zoomed) if heart_zoomed is not None else None
            checks = plausibility(seg.features, masks, ctr,
                                  clipped_fraction=seg.clipped_fraction, tta_dice=tta)
            quality["checks"] = {c.reason: round(c.value, 3) for c in checks}
            reasons += [c.reason for c in checks if c.failed and c.reason not in reasons]
            score = min([p_chest] + [c.value for c in checks])
        else:
            box, ctr, masks, measurements = _from_box_fractions(out, w, h)
            score = 1.0
        reasons += [r for r in _caution_reasons(notes) if r not in reasons]
        spacing = image.metadata.get("pixel_spacing_mm")
        if spacing and box is not None:
            _add_millimetres(measurements, box, spacing, image.metadata.get("spacing_source"))
            size_notes = implausible_sizes(measurements.get("heart_width_mm"),
                                           measurements.get("thorax_width_mm"))
            notes += size_notes
            if size_notes:
                reasons.append("implausible-size-mm")
        view = image.metadata.get("view_position")
        if view == "AP":
            notes.append("AP film: the heart is magnified, CTR > 0.5 is a less reliable sign of cardiomegaly")
            reasons.append("ap-view")
        status = _status(reasons)
        if status == "refused":
            score = 0.0 if any(r != "not-a-chest-radiograph" for r in reasons if r in REFUSE) else score
            box, masks, measurements = None, None, {}
        if status in ("refused", "withheld"):
            notes.append("not measured: " + ", ".join(r for r in reasons if r not in CAUTION))
            ctr = None
        cardiomegaly = None if ctr is None else bool(ctr > self.ctr_threshold)
        quality = {"ok": status == "measured", "score": round(float(score), 4), "status": status,
                   "reasons": reasons, "notes": notes, **quality}
        return HeartResult(image_size=[w, h], heart_box=box, ctr=ctr, cardiomegaly=cardiomegaly,
                           pixel_spacing_mm=spacing, view_position=view, quality=quality,
                           model=self.model_field(), measurements=measurements, masks=masks,
                           name=image.name)

@dataclass
class _SegOutput:
    box: list[float] | None
    ctr: float | None
    masks: np.ndarray
    measurements: dict[str, Any]
    notes: list[str]
    features: dict[str, float]
    clipped_fraction: float


def _heart_dice(heart: torch.Tensor, heart_zoomed: torch.Tensor) -> float:
    """Heart Dice between the film's mask and that of a copy zoomed out by 10 % (edge-padded).

    A network that has found the heart finds the same one on a slightly smaller film; on a film
    unlike its training data its masks move.
    """
    a, b = (heart > 0).numpy(), (heart_zoomed > 0).numpy()
    total = a.sum() + b.sum()
    return float(2 * (a & b).sum() / total) if total else 0.0


@functools.lru_cache(maxsize=16)
def _bilinear_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices ``i0``, ``i1`` and weight of ``i1`` of each output sample of a bilinear
    resize from ``n_in`` to ``n_out`` samples (torch's ``align_corners=False`` convention)."""
    src = np.maximum((np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5, 0.0)
    i0 = np.minimum(src.astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (src - i0).astype(np.float32)


def _upsample_positive(out: torch.Tensor, gh: int, gw: int) -> tuple[np.ndarray, np.ndarray]:
    """``interpolate(out, (gh, gw), bilinear) > 0`` for each channel, and the heart's upsampled
    logits, computed only where a channel can be positive.

    A bilinear sample is positive only if one of its source samples is, so each channel is
    resampled inside the box of the output rows and columns that read a positive source sample
    (about a fifth of a film's grid per structure). Elsewhere the mask is False and the heart
    logit is left at -inf (probability 0).
    """
    logits = out.numpy()
    c, sh, sw = logits.shape
    y0s, y1s, wy = _bilinear_taps(sh, gh)
    x0s, x1s, wx = _bilinear_taps(sw, gw)
    masks = np.zeros((c, gh, gw), dtype=bool)
    heart = np.full((gh, gw), -np.inf, dtype=np.float32)
    for k in range(c):
        pos = logits[k] > 0
        rows, cols = np.nonzero(pos.any(axis=1))[0], np.nonzero(pos.any(axis=0))[0]
        if rows.size == 0:
            continue
        ry = np.nonzero((y0s >= rows[0]) & (y0s <= rows[-1]) | (y1s >= rows[0]) & (y1s <= rows[-1]))[0]
        rx = np.nonzero((x0s >= cols[0]) & (x0s <= cols[-1]) | (x1s >= cols[0]) & (x1s <= cols[-1]))[0]
        ya, yb, xa, xb = ry[0], ry[-1] + 1, rx[0], rx[-1] + 1
        lk = logits[k]
        t = wy[ya:yb, None]
        band = lk[y0s[ya:yb]] * (1 - t) + lk[y1s[ya:yb]] * t
        t = wx[None, xa:xb]
        crop = band[:, x0s[xa:xb]] * (1 - t) + band[:, x1s[xa:xb]] * t
        masks[k, ya:yb, xa:xb] = crop > 0
        if k == 0:
            heart[ya:yb, xa:xb] = crop
    return masks, heart


def _from_seg_logits(out: torch.Tensor, w: int, h: int, *, constrain: bool = True) -> _SegOutput:
    """Box, CTR, masks, measurements, notes and mask features from the seg network's (3, S, S) logits."""
    features = mask_features(torch.sigmoid(out).numpy())
    # Upsample logits (not masks) so borders are placed between network pixels; measure on a grid
    # of at most MEASURE_MAX_SIDE pixels (finer than the network's 320 px, and a 2k film costs no
    # more than a 1k one), then scale back to input pixels.
    f = min(1.0, MEASURE_MAX_SIDE / max(w, h))
    gw, gh = max(1, round(w * f)), max(1, round(h * f))
    # One region per structure, holes filled, heart cut at the lung bases: what is drawn is what
    # was measured.
    raw, heart_logits = _upsample_positive(out, gh, gw)
    if constrain:
        masks, info = constrain_masks(raw)
    else:
        masks = np.stack([clean_mask(x) for x in raw])
        info = {"clipped_fraction": 0.0, "base_line": None}
    m = measure_masks(*masks, clean=False)
    sx, sy = w / gw, h / gh
    box = [m.heart_box[0] * sx, m.heart_box[1] * sy, m.heart_box[2] * sx,
           m.heart_box[3] * sy] if m.heart_box else None
    measurements: dict[str, Any] = {
        "heart_width_px": m.heart_width * sx if m.heart_width else None,
        "thorax_width_px": m.thorax_width * sx if m.thorax_width else None,
        "heart_line": [m.heart_line[0] * sx, m.heart_line[1] * sx, m.heart_line[2] * sy]
        if m.heart_line else None,
        "thorax_line": [m.thorax_line[0] * sx, m.thorax_line[1] * sx, m.thorax_line[2] * sy]
        if m.thorax_line else None,
        "lung_base_line": [v * s for v, s in zip(info["base_line"], (sx, sy, sx, sy), strict=True)]
        if info["base_line"] else None,
    }
    if box is not None:
        heart_prob = 1.0 / (1.0 + np.exp(-heart_logits[masks[0]]))
        measurements["heart_confidence"] = round(float(heart_prob.mean()), 4)
    return _SegOutput(box, m.ctr, masks, measurements, list(m.notes), features,
                      info["clipped_fraction"])


def _from_box_fractions(out: torch.Tensor, w: int, h: int) -> tuple[
        list[float], None, None, dict[str, Any]]:
    """Box (input pixels), no CTR, no masks and the heart width from the box network's output."""
    f = out.clamp(0, 1).numpy()
    box = [float(f[0] * w), float(f[1] * h), float(f[2] * w), float(f[3] * h)]
    return box, None, None, {"heart_width_px": box[2] - box[0]}


def _add_millimetres(measurements: dict[str, Any], box: list[float], spacing: list[float],
                     source: str | None) -> None:
    """Add the box size and the widths in mm (pixel spacing [row, col] in mm) in place."""
    row_mm, col_mm = spacing
    measurements["heart_box_mm"] = {"width": round((box[2] - box[0]) * col_mm, 1),
                                    "height": round((box[3] - box[1]) * row_mm, 1)}
    for key in ("heart_width", "thorax_width"):
        if measurements.get(f"{key}_px"):
            measurements[f"{key}_mm"] = round(measurements[f"{key}_px"] * col_mm, 1)
    measurements["spacing_source"] = source


def _caution_reasons(notes: list[str]) -> list[str]:
    """Reasons for the measurement notes that qualify a CTR without withholding it."""
    return ["thorax-cut-off"] if any("touches" in n for n in notes) else []


def _status(reasons: list[str]) -> str:
    """``refused`` (not a frontal chest film), ``withheld`` (implausible masks), ``caution`` or
    ``measured``."""
    if any(r in REFUSE for r in reasons):
        return "refused"
    if any(r not in CAUTION for r in reasons):
        return "withheld"
    return "caution" if reasons else "measured"
