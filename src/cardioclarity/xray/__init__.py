"""Chest X-ray: DICOM/PNG/JPEG reading, heart and lung segmentation, heart box, CTR, cardiomegaly.

>>> from cardioclarity.xray import HeartDetector, overlay_png, read_xray
>>> image = read_xray("film.dcm")
>>> result = HeartDetector.load().detect(image)       # bundled "cxr-heart-seg"
>>> result.to_dict()["ctr"], overlay_png(image, result)[:4]

Modules, inference first (none of the first seven imports the training side):

* :mod:`~cardioclarity.xray.io` — :func:`read_xray` → :class:`XrayImage`
* :mod:`~cardioclarity.xray.models` — the networks and their registry
* :mod:`~cardioclarity.xray.measure` — masks → heart box, widths, CTR
* :mod:`~cardioclarity.xray.gate` — is it a frontal chest radiograph? (:func:`dicom_reasons`,
  :class:`ChestCheck`)
* :mod:`~cardioclarity.xray.quality` — anatomical constraints on the masks, plausibility checks,
  the machine-readable :data:`REASONS`
* :mod:`~cardioclarity.xray.detect` — :class:`HeartDetector` → :class:`HeartResult`
* :mod:`~cardioclarity.xray.report` — overlay and Grad-CAM PNGs, the HTML report
* :mod:`~cardioclarity.xray.datasets`, :mod:`~cardioclarity.xray.train`,
  :mod:`~cardioclarity.xray.evaluate` — labelled data, training, evaluation
* :mod:`~cardioclarity.xray.cli`, :mod:`~cardioclarity.xray.demo` — ``cardioclarity xray`` and
  the demo step

The names below are imported on first use (PEP 562), so ``import cardioclarity.xray`` stays cheap:
torch and MONAI load only when a model is needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cardioclarity._lazy import lazy_exports

if TYPE_CHECKING:
    from cardioclarity.xray.datasets import MaskSample, load_mask_layout
    from cardioclarity.xray.detect import DEFAULT_MODEL, HeartDetector, HeartResult
    from cardioclarity.xray.evaluate import evaluate_detector
    from cardioclarity.xray.gate import ChestCheck, dicom_reasons
    from cardioclarity.xray.io import MIN_SIZE, XrayImage, read_xray
    from cardioclarity.xray.measure import (
        CTR_THRESHOLD,
        CardiacMeasurement,
        clean_mask,
        mask_to_box,
        measure_masks,
        widest_row_span,
    )
    from cardioclarity.xray.models import KINDS, MODELS, build_model, preprocess
    from cardioclarity.xray.quality import REASONS, constrain_masks, plausibility
    from cardioclarity.xray.report import (
        bland_altman_png,
        gradcam_map,
        gradcam_png,
        overlay_png,
        render_xray_report,
    )
    from cardioclarity.xray.train import TrainConfig, train_model

#: public name -> the submodule that defines it.
_EXPORTS: dict[str, str] = {
    "MIN_SIZE": "io",
    "XrayImage": "io",
    "read_xray": "io",
    "KINDS": "models",
    "MODELS": "models",
    "build_model": "models",
    "preprocess": "models",
    "CTR_THRESHOLD": "measure",
    "CardiacMeasurement": "measure",
    "clean_mask": "measure",
    "mask_to_box": "measure",
    "measure_masks": "measure",
    "widest_row_span": "measure",
    "ChestCheck": "gate",
    "dicom_reasons": "gate",
    "REASONS": "quality",
    "constrain_masks": "quality",
    "plausibility": "quality",
    "DEFAULT_MODEL": "detect",
    "HeartDetector": "detect",
    "HeartResult": "detect",
    "bland_altman_png": "report",
    "gradcam_map": "report",
    "gradcam_png": "report",
    "overlay_png": "report",
    "render_xray_report": "report",
    "MaskSample": "datasets",
    "load_mask_layout": "datasets",
    "TrainConfig": "train",
    "train_model": "train",
    "evaluate_detector": "evaluate",
}

__all__ = [
    "CTR_THRESHOLD",
    "REASONS",
    "ChestCheck",
    "constrain_masks",
    "dicom_reasons",
    "plausibility",
    "CardiacMeasurement",
    "DEFAULT_MODEL",
    "HeartDetector",
    "HeartResult",
    "KINDS",
    "MIN_SIZE",
    "MODELS",
    "MaskSample",
    "TrainConfig",
    "XrayImage",
    "bland_altman_png",
    "build_model",
    "clean_mask",
    "evaluate_detector",
    "gradcam_map",
    "gradcam_png",
    "load_mask_layout",
    "mask_to_box",
    "measure_masks",
    "overlay_png",
    "preprocess",
    "read_xray",
    "render_xray_report",
    "train_model",
    "widest_row_span",
]


__getattr__, __dir__ = lazy_exports(
    __name__, {name: f"{__name__}.{module}" for name, module in _EXPORTS.items()})
