"""HeartDetector with the bundled weights: schema, geometry, both models, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cardioclarity import DISCLAIMER
from cardioclarity.errors import CheckpointError, InputFileNotFoundError, InvalidInputError
from cardioclarity.xray.demo import sample_path
from cardioclarity.xray.detect import HeartDetector
from cardioclarity.xray.io import read_xray

from .factory import write_dicom

SCHEMA = {"image_size", "heart_box", "ctr", "cardiomegaly", "pixel_spacing_mm", "view_position",
          "quality", "model", "disclaimer"}


@pytest.fixture(scope="module")
def seg():
    return HeartDetector.load()


@pytest.fixture(scope="module")
def sample():
    return read_xray(sample_path())


def test_seg_on_bundled_cardiomegaly_film(seg, sample):
    r = seg.detect(sample)
    d = r.to_dict()
    assert SCHEMA <= set(d) and d["disclaimer"] == DISCLAIMER
    assert d["image_size"] == [512, 512]
    x0, y0, x1, y1 = d["heart_box"]
    assert 0 <= x0 < x1 <= 512 and 0 <= y0 < y1 <= 512
    # The heart sits in the lower middle of a PA film and is narrower than the thorax.
    assert 150 < (x0 + x1) / 2 < 350 and (y0 + y1) / 2 > 200
    assert 0.3 < d["ctr"] < 0.8 and d["cardiomegaly"] == (d["ctr"] > 0.5)
    # NIH labels this film Cardiomegaly.
    assert d["cardiomegaly"] is True
    assert r.masks.shape == (3, 512, 512)
    m = d["measurements"]
    assert m["heart_width_px"] == pytest.approx(d["ctr"] * m["thorax_width_px"], rel=1e-3)


def test_box_model(sample):
    box = HeartDetector.load("box")
    d = box.detect(sample).to_dict()
    assert d["ctr"] is None and d["cardiomegaly"] is None
    x0, y0, x1, y1 = d["heart_box"]
    assert 0 <= x0 < x1 <= 512 and 0 <= y0 < y1 <= 512


def test_coordinates_follow_input_size_and_spacing(seg, sample):
    """The same film at 2x and as a DICOM with spacing: box doubles, CTR stays, mm appear."""
    base = seg.detect(sample)
    big = np.kron(sample.pixels, np.ones((2, 2), np.float32))
    r = seg.detect(read_xray(write_dicom(None, big, PixelSpacing=[0.35, 0.35])))
    assert r.to_dict()["image_size"] == [1024, 1024]
    assert np.allclose(np.array(r.heart_box) / 2, base.heart_box, atol=4)
    assert r.ctr == pytest.approx(base.ctr, abs=0.01)
    mm = r.measurements["heart_box_mm"]
    assert mm["width"] == pytest.approx((r.heart_box[2] - r.heart_box[0]) * 0.35, abs=0.1)
    assert r.pixel_spacing_mm == [0.35, 0.35]


def test_ap_and_lateral_are_flagged(seg, sample):
    ap = seg.detect(read_xray(write_dicom(None, sample.pixels, view="AP")))
    assert not ap.quality["ok"] and any("AP film" in n for n in ap.quality["notes"])
    lat = seg.detect(read_xray(write_dicom(None, sample.pixels, view="LATERAL")))
    assert not lat.quality["ok"] and any("lateral" in n for n in lat.quality["notes"])


def test_threshold_is_configurable(sample):
    strict = HeartDetector.load(ctr_threshold=0.9).detect(sample)
    assert strict.cardiomegaly is False and strict.model["ctr_threshold"] == 0.9
    with pytest.raises(InvalidInputError, match="ctr_threshold"):
        HeartDetector.load(ctr_threshold=1.5)


def test_bad_model_and_input(seg, tmp_path):
    with pytest.raises(InputFileNotFoundError):
        HeartDetector.load("no-such-model")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        HeartDetector.load(str(junk))
    with pytest.raises(InvalidInputError, match="XrayImage"):
        seg.detect(np.zeros((64, 64)))


def test_summary_row(seg, sample):
    row = seg.detect(sample).summary_row("a.png")
    assert list(row) == ["file", "x_min", "y_min", "x_max", "y_max", "ctr", "cardiomegaly"]


def test_load_protocol_and_card(seg, sample, tmp_path):
    # load(None) is the bundled default; .card is the checkpoint's card with the cut-off in use.
    card = seg.card
    assert card["name"] == "cxr-heart-seg" and card["kind"] == "xray-heart-seg"
    assert card["model"] == "seg" and card["input_size"] == 320 and card["ctr_threshold"] == 0.5
    assert {"cardioclarity_version", "created_utc", "training_data"} <= set(card)
    assert "state_dict" not in card and "config" not in card
    assert HeartDetector.load(None).card == card
    assert HeartDetector.load("seg").card["name"] == "cxr-heart-seg"
    assert HeartDetector.load("box").card["model"] == "box"
    # A checkpoint file by path, as str or Path: its name is the file stem.
    from cardioclarity.checkpoints import bundled_path

    copy = tmp_path / "my-heart.pt"
    copy.write_bytes(bundled_path("cxr-heart-seg").read_bytes())
    assert HeartDetector.load(copy).card["name"] == "my-heart"
    # The result's `model` object keeps its schema, built from the card.
    model = seg.detect(sample).to_dict()["model"]
    assert model == {"name": "cxr-heart-seg", "architecture": "seg", "kind": "xray-heart-seg",
                     "input_size": 320, "created_utc": card["created_utc"], "ctr_threshold": 0.5}
    assert not hasattr(HeartDetector, "from_pretrained") and not hasattr(seg, "info")


def test_implausible_physical_sizes_fail_the_quality_check(seg, sample):
    # The bundled film's thorax is ~431 px wide: 0.32 mm pixels make it ~138 mm, no adult's.
    small = read_xray(write_dicom(None, sample.pixels, PixelSpacing=[0.32, 0.32]))
    r = seg.detect(small)
    assert 130 < r.measurements["thorax_width_mm"] < 145
    assert r.quality["ok"] is False
    assert any(n.startswith("implausible thorax width") for n in r.quality["notes"])
    assert set(r.to_dict()) == set(seg.detect(sample).to_dict())  # same schema keys
    adult = seg.detect(read_xray(write_dicom(None, sample.pixels, PixelSpacing=[0.7, 0.7])))
    assert 200 < adult.measurements["thorax_width_mm"] < 450 and adult.quality["ok"] is True


def test_positive_upsampling_matches_torch_bilinear():
    """The masks upsampled inside each structure's box equal ``interpolate(...) > 0`` everywhere."""
    from cardioclarity.xray.detect import _upsample_positive

    gen = torch.Generator().manual_seed(0)
    out = torch.randn(3, 80, 80, generator=gen) * 0.5 - 1.0
    out[0, 30:50, 20:45] += 3
    out[1, 10:70, 5:30] += 3
    out[2, 5:20, 60:75] += 3
    for gh, gw in ((256, 256), (256, 197), (60, 70)):
        ref = torch.nn.functional.interpolate(out[None], size=(gh, gw), mode="bilinear",
                                              align_corners=False)[0]
        masks, heart = _upsample_positive(out, gh, gw)
        assert (masks == (ref > 0).numpy()).all()
        np.testing.assert_allclose(heart[masks[0]], ref[0].numpy()[masks[0]], atol=1e-4)
