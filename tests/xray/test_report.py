"""Overlay PNG, Grad-CAM and Bland-Altman figures, the HTML report: writers return bytes/str."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cardioclarity.errors import InvalidInputError
from cardioclarity.reporting import png_data_uri
from cardioclarity.xray.demo import sample_path
from cardioclarity.xray.detect import HeartDetector
from cardioclarity.xray.io import read_xray
from cardioclarity.xray.report import (
    bland_altman_png,
    gradcam_map,
    gradcam_png,
    overlay_png,
    render_xray_report,
)

from .factory import write_dicom


@pytest.fixture(scope="module")
def sample():
    return read_xray(sample_path())


def _png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_overlay_draws_contours_box_and_lines(sample):
    det = HeartDetector.load()
    r = det.detect(sample)
    arr = _png(overlay_png(sample, r))
    assert arr.shape == (512, 512, 3)
    # Coloured pixels (contours, box, lines) exist; the film itself is grey.
    colour = (arr.max(axis=2).astype(int) - arr.min(axis=2)) > 60
    assert colour.sum() > 500
    x0, y0, x1, y1 = (int(v) for v in r.heart_box)
    yellow = (arr[..., 0] > 200) & (arr[..., 1] > 180) & (arr[..., 2] < 80)
    assert yellow[y0:y1, x0:x0 + 3].mean() > 0.5  # the box's left edge


def test_overlay_of_large_film_is_capped(sample):
    det = HeartDetector.load()
    big = read_xray(write_dicom(None, np.kron(sample.pixels, np.ones((4, 4), np.float32))))
    arr = _png(overlay_png(big, det.detect(big)))
    assert max(arr.shape[:2]) == 1024


def test_gradcam_for_box_model(sample):
    box = HeartDetector.load("box")
    cam = gradcam_map(box, sample)
    assert cam.shape == (512, 512) and cam.min() >= 0 and cam.max() == pytest.approx(1)
    assert _png(gradcam_png(box, sample, box.detect(sample))).shape == (512, 512, 3)
    with pytest.raises(InvalidInputError, match="box model only"):
        gradcam_map(HeartDetector.load(), sample)


def test_bland_altman_png():
    rng = np.random.default_rng(0)
    ref = rng.uniform(0.4, 0.6, 30)
    assert _png(bland_altman_png(ref + rng.normal(0, 0.01, 30), ref)).ndim == 3


def test_render_xray_report(sample):
    det = HeartDetector.load()
    res = det.detect(sample)
    doc = res.to_dict()
    doc["measurements"]["odd"] = float("nan")  # not JSON: shown as null
    png = overlay_png(sample, res)
    page = render_xray_report(doc, png, "film<1>")
    assert isinstance(page, str) and page.lstrip().lower().startswith("<!doctype html")
    assert "Chest X-ray heart detection: film&lt;1&gt;" in page  # the stem is escaped
    assert png_data_uri(png) in page  # the overlay is embedded
    for section in ("Result", "Overlay", "Quality", "Model"):
        assert f">{section}<" in page
    assert "ctr" in page and str(doc["ctr"]) in page
    text = page.replace(png_data_uri(png), "")  # base64 may spell "NaN" by chance
    assert "cxr-heart-seg" in text and "NaN" not in text and "null" in text
    # Without quality and model there are only the result and overlay sections.
    bare = render_xray_report({"ctr": None, "heart_box": [1, 2, 3, 4]}, png, "x")
    assert ">Result<" in bare and ">Quality<" not in bare and ">Model<" not in bare


def test_gradcam_png_has_a_colour_bar(sample):
    from matplotlib import colormaps

    from cardioclarity.xray.report import colour_bar_box

    png = _png(gradcam_png(HeartDetector.load("box"), sample))
    x0, y0, x1, y1 = colour_bar_box((png.shape[1], png.shape[0]))
    column = png[y0:y1, (x0 + x1) // 2].astype(float)
    expected = colormaps["jet"](np.linspace(1, 0, y1 - y0))[:, :3] * 255
    assert np.abs(column - expected).max() < 3  # the bar itself, unblended: high on top
    assert (png[y0 - 2, x0:x1] == 0).all()  # on a black backing panel
