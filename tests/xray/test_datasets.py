"""Mask layout + label QC, splits, RSNA and generic box CSVs, augmentations that move masks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cardioclarity.errors import InputFileNotFoundError, InvalidInputError
from cardioclarity.xray.datasets import (
    augment_transforms,
    box_to_mask,
    check_masks,
    load_mask_layout,
    load_split,
    make_split,
    read_box_csv,
    read_rsna_boxes,
)
from cardioclarity.xray.measure import clean_mask, mask_to_box

from .factory import synthetic_film, write_dicom, write_mask_layout


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    return write_mask_layout(tmp_path_factory.mktemp("layout"))


def test_load_mask_layout_skips_swapped_labels(layout):
    samples, qc = load_mask_layout(layout)
    assert qc.n_found == 12 and qc.n_kept == 11 == len(samples)
    assert qc.skipped == [{"name": "siteB_000.png", "set": "siteB",
                           "reason": "swapped labels: heart and left-lung masks appear exchanged"}]
    assert "11/12 images kept" in qc.summary()
    m = samples[0].load_masks()
    assert m.shape == (3, 96, 96) and m.dtype == bool
    assert samples[0].load_image().shape == (96, 96)


def test_load_mask_layout_without_qc_keeps_all(layout):
    samples, qc = load_mask_layout(layout, qc=False)
    assert len(samples) == 12 and not qc.skipped


def test_check_masks_cases():
    _, (h, rl, ll) = synthetic_film(96)
    assert check_masks(h, rl, ll) == (None, [])
    assert check_masks(ll, rl, h)[0].startswith("swapped labels")
    assert check_masks(np.zeros_like(h), rl, ll)[0].startswith("empty mask: heart")
    # A heart drawn left of both lungs is outside the thorax.
    shifted = np.zeros_like(h)
    shifted[40:60, 0:8] = True
    assert check_masks(shifted, rl, ll)[0].startswith("heart outside the thorax")
    speck = h.copy()
    speck[2:4, 2:4] = True
    reason, notes = check_masks(speck, rl, ll)
    assert reason is None and notes == ["heart: 1 speck(s) removed"]
    assert clean_mask(speck).sum() == h.sum()


def test_missing_layout(tmp_path):
    with pytest.raises(InputFileNotFoundError):
        load_mask_layout(tmp_path / "nothing")
    with pytest.raises(InvalidInputError, match="no <set>/png"):
        load_mask_layout(tmp_path)


def test_split_is_seeded_stratified_and_disjoint(layout, tmp_path):
    samples, _ = load_mask_layout(layout)
    a = make_split(samples, (0.5, 0.25, 0.25), seed=3)
    assert a == make_split(samples, (0.5, 0.25, 0.25), seed=3)
    keys = a["train"] + a["val"] + a["test"]
    assert len(keys) == len(set(keys)) == len(samples)
    for part in ("val", "test"):  # each set is represented in each part
        assert {k.split("/")[0] for k in a[part]} == {"siteA", "siteB"}
    p = tmp_path / "split.json"
    p.write_text(json.dumps(a))
    parts = load_split(p, samples)
    assert [f"{s.set}/{s.name}" for s in parts["test"]] == a["test"]
    with pytest.raises(InvalidInputError):
        make_split(samples, (0.5, 0.5, 0.5))


def test_box_mask_roundtrip():
    m = box_to_mask([10, 20, 30, 50], (64, 64))
    assert m.sum() == 20 * 30
    assert mask_to_box(m) == (10.0, 20.0, 30.0, 50.0)
    assert mask_to_box(np.zeros((4, 4), bool)) is None


def test_rsna_box_csv_with_dicoms_written_here(tmp_path):
    film = synthetic_film(128)[0]
    names = ["ca112a3c-b701-48b8-a94f-725ea65416a7", "e5f292ae-f1e5-497c-b0a0-68f1aa2196b2"]
    for n in names:
        write_dicom(tmp_path / f"{n}.dcm", film)
    csv = tmp_path / "rsna_heart_detection.csv"
    csv.write_text("label,x0,y0,w,h,name,img_shape_x,img_shape_y\n"
                   f"heart,91,71,77,102,{names[0]},224,224\nheart,70,64,89,67,{names[1]},224,224\n")
    boxes = read_rsna_boxes(csv, tmp_path)
    assert [b.name for b in boxes] == names
    assert boxes[0].box == (91.0, 71.0, 168.0, 173.0) and boxes[0].image_size == (224, 224)
    from cardioclarity.xray.io import read_xray

    assert read_xray(boxes[1].image_path).size == (128, 128)
    bad = tmp_path / "bad.csv"
    bad.write_text("label,x0,y0,w,h,name\nheart,1,1,-5,3,x\n")
    with pytest.raises(InvalidInputError, match="empty or malformed"):
        read_rsna_boxes(bad)
    with pytest.raises(InvalidInputError, match="expected columns"):
        read_rsna_boxes(_write(tmp_path / "w.csv", "a,b\n1,2\n"))


def _write(p, text):
    p.write_text(text)
    return p


@pytest.mark.shared_data
def test_real_rsna_csv(shared_data):
    boxes = read_rsna_boxes(shared_data / "rsna_heart" / "rsna_heart_detection.csv")
    assert len(boxes) == 496
    assert all(0 <= b.box[0] < b.box[2] <= 224 and 0 <= b.box[1] < b.box[3] <= 224 for b in boxes)


def test_generic_box_csv(tmp_path):
    p = _write(tmp_path / "summary.csv",
               "file,x_min,y_min,x_max,y_max,ctr,cardiomegaly\na.png,1,2,30,40,0.5,False\nb.dcm,,,,,,\n")
    boxes = read_box_csv(p)
    assert len(boxes) == 1 and boxes[0].box == (1.0, 2.0, 30.0, 40.0)
    assert boxes[0].image_path == tmp_path / "a.png"
    with pytest.raises(InvalidInputError, match="expected columns"):
        read_box_csv(_write(tmp_path / "x.csv", "name,box\n"))


def test_augmentation_moves_mask_with_image():
    img, masks = synthetic_film(96, seed=1)
    t = augment_transforms(seed=5, strength=1.5)
    moved = 0
    for _ in range(6):
        d = t({"image": img[None].copy(), "mask": masks.astype(np.float32)})
        im, m = np.asarray(d["image"])[0], np.asarray(d["mask"]) > 0.5
        assert set(np.unique(np.asarray(d["mask"]))) <= {0.0, 1.0}  # nearest: masks stay binary
        # The heart mask still sits on the bright heart and the lung masks on dark lungs.
        if m[0].sum() and (m[1] | m[2]).sum():
            assert im[m[0]].mean() > im[m[1] | m[2]].mean() + 0.2
        moved += not np.array_equal(m, masks)
    assert moved >= 3
