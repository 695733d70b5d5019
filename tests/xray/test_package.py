"""The package's shape: its public names, a torch-free import, inference free of training code."""

from __future__ import annotations

import importlib
import json
import pydoc
import subprocess
import sys

import pytest

import cardioclarity.xray as xray

PUBLIC = {
    "CTR_THRESHOLD", "CardiacMeasurement", "DEFAULT_MODEL", "HeartDetector", "HeartResult",
    "KINDS", "MIN_SIZE", "MODELS", "MaskSample", "TrainConfig", "XrayImage", "bland_altman_png",
    "build_model", "clean_mask", "evaluate_detector", "gradcam_map", "gradcam_png",
    "load_mask_layout", "mask_to_box", "measure_masks", "overlay_png", "preprocess", "read_xray",
    "render_xray_report", "train_model", "widest_row_span",
    "ChestCheck", "dicom_reasons", "REASONS", "constrain_masks", "plausibility",
}
TRAINING_SIDE = ("cardioclarity.xray.train", "cardioclarity.xray.datasets",
                 "cardioclarity.xray.evaluate")


def _modules_after(code: str) -> list[str]:
    """``sys.modules`` of a fresh interpreter after running ``code``."""
    r = subprocess.run([sys.executable, "-c", f"{code}\nimport json, sys; print(json.dumps(sorted(sys.modules)))"],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_public_names_resolve():
    assert set(xray.__all__) == PUBLIC
    for name in xray.__all__:
        home = importlib.import_module(f"cardioclarity.xray.{xray._EXPORTS[name]}")
        assert getattr(xray, name) is getattr(home, name)
    assert PUBLIC <= set(dir(xray))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        xray.nope  # noqa: B018


def test_help_shows_the_public_names():
    text = pydoc.render_doc(xray, renderer=pydoc.plaintext)
    for name in ("read_xray", "XrayImage", "HeartDetector", "HeartResult", "measure_masks",
                 "overlay_png", "render_xray_report"):
        assert name in text


def test_importing_the_package_does_not_import_torch():
    mods = _modules_after("import cardioclarity.xray")
    heavy = [m for m in ("torch", "monai", "scipy", "matplotlib", "PIL") if m in mods]
    assert heavy == [], f"import cardioclarity.xray imported {heavy}"


@pytest.mark.parametrize("module", ["detect", "measure", "report", "io", "models", "gate", "quality"])
def test_inference_modules_import_no_training_code(module):
    mods = _modules_after(f"import cardioclarity.xray.{module}")
    leaked = [m for m in TRAINING_SIDE if m in mods]
    assert leaked == [], f"cardioclarity.xray.{module} imported {leaked}"
