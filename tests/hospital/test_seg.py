"""DICOM SEG of heart and lungs: segments, codes, resampling onto the film, validity."""

from __future__ import annotations

import io

import highdicom as hd
import numpy as np
import pytest

from cardioclarity.errors import InvalidInputError
from cardioclarity.hospital.seg import seg_bytes

from .factory import COLS, ROWS, dciodvfy_errors, film, header, result


def _masks(h: int, w: int) -> np.ndarray:
    m = np.zeros((3, h, w), dtype=bool)
    m[0, h // 3: 2 * h // 3, w // 3: 2 * w // 3] = True
    m[1, h // 5: 4 * h // 5, : w // 3] = True
    m[2, h // 5: 4 * h // 5, 2 * w // 3:] = True
    return m


def test_three_segments_on_the_films_own_grid(tmp_path):
    ds = film()
    masks = _masks(ROWS // 2, COLS // 2)  # the measuring grid: half the film's size
    data = seg_bytes(header(ds), masks, result())
    seg = hd.seg.segread(io.BytesIO(data))
    assert seg.StudyInstanceUID == ds.StudyInstanceUID and seg.PatientID == "TEST-1"
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["Heart", "Right lung", "Left lung"]
    types = [s.SegmentedPropertyTypeCodeSequence[0] for s in seg.SegmentSequence]
    assert [t.CodeValue for t in types] == ["80891009", "39607008", "39607008"]
    assert [t.SegmentedPropertyTypeModifierCodeSequence[0].CodeValue for t in types[1:]] == [
        "24028007", "7771000"]  # right, left
    assert seg.SourceImageSequence[0].ReferencedSOPInstanceUID == ds.SOPInstanceUID
    for number, mask in enumerate(masks, start=1):
        got = seg.pixel_array[number - 1].astype(bool)  # one frame per segment
        want = np.repeat(np.repeat(mask, 2, axis=0), 2, axis=1)
        assert (got == want).all()
    assert dciodvfy_errors(data, tmp_path) == []


def test_zero_pixel_spacing_of_the_source_is_not_copied(tmp_path):
    data = seg_bytes(header(film(PixelSpacing=[0, 0])), _masks(ROWS, COLS), result())
    seg = hd.seg.segread(io.BytesIO(data))
    assert "PixelMeasuresSequence" not in seg.SharedFunctionalGroupsSequence[0]
    assert dciodvfy_errors(data, tmp_path) == []


def test_no_masks_or_wrong_shape_is_a_clear_error():
    with pytest.raises(InvalidInputError, match="heart-box model"):
        seg_bytes(header(film()), None, result())
    with pytest.raises(InvalidInputError, match=r"shape \(3, h, w\)"):
        seg_bytes(header(film()), np.zeros((2, 8, 8), bool), result())
