"""The input gate: DICOM header rules, the chest-radiograph check, refusals end to end."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cardioclarity.errors import InvalidInputError, NotFittedError
from cardioclarity.xray.demo import sample_path
from cardioclarity.xray.detect import HeartDetector
from cardioclarity.xray.gate import ChestCheck, chest_features, dicom_reasons
from cardioclarity.xray.io import read_xray
from cardioclarity.xray.quality import FEATURES

from .factory import write_dicom


def _meta(**kw):
    return {"format": "dicom", "modality": "CR", "sop_class": "Computed Radiography Image Storage",
            "body_part": "CHEST", "view_position": "PA", **kw}


@pytest.mark.parametrize(("changes", "reason"), [
    ({"modality": "CT", "sop_class": "CT Image Storage"}, "dicom-modality"),
    ({"modality": "US"}, "dicom-modality"),
    ({"modality": "OT", "sop_class": "MR Image Storage"}, "dicom-sop-class"),
    ({"body_part": "KNEE"}, "dicom-body-part"),
    ({"view_position": "LATERAL"}, "lateral-view"),
])
def test_dicom_header_rules_out_non_chest(changes, reason):
    assert reason in dicom_reasons(_meta(**changes))


def test_dicom_header_lets_chest_films_and_rasters_through():
    assert dicom_reasons(_meta()) == []
    assert dicom_reasons(_meta(modality="DX", body_part=None, sop_class=None, view_position="AP")) == []
    # A secondary capture of a film (SC modality, SOP class of any capture) is judged on its pixels.
    assert dicom_reasons(_meta(modality="SC", sop_class="Secondary Capture Image Storage")) == []
    # A PNG says nothing: only the lateral rule can apply, and it has no view.
    assert dicom_reasons({"format": "png", "modality": None, "view_position": None}) == []


def test_chest_check_fit_score_predict_and_checkpoint(tmp_path):
    rng = np.random.default_rng(0)
    n_enc = 6
    pos = np.hstack([rng.normal(1, 0.3, (40, len(FEATURES))), rng.normal(2, 0.5, (40, n_enc))])
    neg = np.hstack([rng.normal(0, 0.3, (40, len(FEATURES))), rng.normal(0, 0.5, (40, n_enc))])
    X, y = np.vstack([pos, neg]), np.r_[np.ones(40), np.zeros(40)]
    with pytest.raises(NotFittedError):
        ChestCheck().score_samples(X)
    check = ChestCheck(n_components=3, seg_model="2026-01-01T00:00:00Z").fit(X, y)
    p = check.score_samples(X)
    assert ((p >= 0) & (p <= 1)).all() and (check.predict(X) == y).mean() > 0.95
    path = check.save(tmp_path / "check.pt", training_data="synthetic")
    loaded = ChestCheck.load(path)
    assert np.allclose(loaded.score_samples(X), p) and loaded.card["kind"] == "xray-chest-check"
    assert loaded.fits({"created_utc": "2026-01-01T00:00:00Z"}) and not loaded.fits({"created_utc": "x"})
    with pytest.raises(InvalidInputError, match="chest_features"):
        loaded.score_samples(X[:, :5])
    with pytest.raises(InvalidInputError, match="both labels"):
        ChestCheck().fit(X, np.ones(80))
    assert chest_features(dict.fromkeys(FEATURES, 0.5), np.zeros(n_enc)).shape == (len(FEATURES) + n_enc,)


@pytest.fixture(scope="module")
def seg():
    return HeartDetector.load()


def _png(arr_or_image) -> bytes:
    im = arr_or_image if isinstance(arr_or_image, Image.Image) else Image.fromarray(arr_or_image)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def _sine_plot() -> bytes:
    im = Image.new("L", (480, 360), 255)
    d = ImageDraw.Draw(im)
    xs = np.linspace(20, 460, 300)
    d.line(list(zip(xs, 180 - 120 * np.sin(xs / 40), strict=True)), fill=0, width=2)
    d.line([(20, 340), (460, 340)], fill=0)
    d.line([(20, 20), (20, 340)], fill=0)
    return _png(im)


def _noise() -> bytes:
    return _png((np.random.default_rng(1).random((300, 400)) * 255).astype(np.uint8))


@pytest.mark.parametrize("make", [_sine_plot, _noise], ids=["sine-plot", "noise"])
def test_pictures_that_are_no_chest_film_are_refused(seg, make):
    r = seg.detect(read_xray(make(), name="picture"))
    q = r.quality
    assert q["status"] == "refused" and "not-a-chest-radiograph" in q["reasons"]
    assert q["chest_probability"] < 0.5 and q["ok"] is False and q["score"] < 0.5
    d = r.to_dict()
    assert d["ctr"] is None and d["cardiomegaly"] is None and d["heart_box"] is None


def test_ct_header_refuses_even_a_chest_picture(seg):
    film = read_xray(sample_path()).pixels
    r = seg.detect(read_xray(write_dicom(None, film, Modality="CT")))
    assert r.quality["status"] == "refused" and "dicom-modality" in r.quality["reasons"]
    assert r.ctr is None and r.quality["score"] == 0.0


def test_bundled_film_passes_the_gate(seg):
    r = seg.detect(read_xray(sample_path()))
    q = r.quality
    assert q["status"] == "measured" and q["ok"] and q["reasons"] == []
    assert q["chest_probability"] > 0.9 and 0.5 < q["score"] <= 1
    assert set(q["checks"]) >= {"heart-fragmented", "uncertain-borders", "augmentation-disagreement"}


def test_bundled_check_card(seg):
    check = seg.chest_check
    assert check.card["name"] == "cxr-chest-check" and check.fits(seg.card)
    assert "hannover" in check.card["training_data"]
    # The box model makes no masks: no chest check, only the header rules.
    assert HeartDetector.load("box").chest_check is None
