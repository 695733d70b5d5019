"""Beat readers: layouts, label conventions and every bad-input case."""

from __future__ import annotations

import io

import numpy as np
import pytest

from cardioclarity.ecg.beats.io import read_beats, split_beats
from cardioclarity.errors import InputFileNotFoundError, InvalidInputError, UnsupportedFormatError

from .beats_synth import synthetic_beats, write_tutorial_csv


@pytest.fixture(scope="module")
def beats():
    return synthetic_beats(30, 10, length=40)


def test_tutorial_layout_maps_label_1_to_normal(tmp_path, beats):
    X, y = beats
    write_tutorial_csv(tmp_path / "b.csv", X, y)
    b = read_beats(tmp_path / "b.csv")
    assert b.meta["format"] == "tutorial"
    np.testing.assert_array_equal(b.y, y)
    np.testing.assert_allclose(b.X, X, atol=1e-4)
    assert b.X.dtype == np.float32 and b.length == 40
    assert "1 (last column) = normal" in b.meta["label_convention"]
    np.testing.assert_allclose(b.normal(), X[y == 0], atol=1e-4)


def test_ucr_whitespace_with_custom_normal_label(tmp_path, beats):
    X, y = beats
    lab = np.where(y == 1, 1, -1)  # here -1 is normal
    np.savetxt(tmp_path / "u.txt", np.c_[lab, X], fmt="%.6e")
    b = read_beats(tmp_path / "u.txt", normal_label=-1)
    assert b.meta["format"] == "ucr"
    np.testing.assert_array_equal(b.y, y)
    np.testing.assert_array_equal(b.raw_labels, lab)


def test_bytes_and_npy_and_matrix_with_header(tmp_path, beats):
    X, _ = beats
    np.save(tmp_path / "m.npy", X)
    b = read_beats((tmp_path / "m.npy").read_bytes())
    assert b.meta["format"] == "npy" and b.y is None
    np.testing.assert_allclose(b.X, X)
    text = ",".join(f"s{i}" for i in range(X.shape[1])) + "\n" + "\n".join(
        ",".join(f"{v:.5f}" for v in row) for row in X)
    m = read_beats(text.encode())
    assert m.meta["format"] == "matrix" and m.meta["header_row_skipped"] and len(m) == len(X)
    with pytest.raises(InvalidInputError, match="no labels"):
        m.normal()


def test_real_ecg5000_and_ecg200(shared_data):
    e = read_beats(shared_data / "ecg5000" / "ecg.csv")
    assert (len(e), e.length, int(e.y.sum())) == (5000, 140, 2081)
    u = read_beats(shared_data / "ecg5000" / "ECG5000_TRAIN.txt")
    assert u.meta["format"] == "ucr" and set(u.meta["raw_label_counts"]) == {"1", "2", "3", "4", "5"}
    assert int(u.y.sum()) == 500 - u.meta["raw_label_counts"]["1"]
    g = read_beats(shared_data / "ecg200" / "ECG200_TEST.txt")
    assert g.length == 96 and set(np.unique(g.raw_labels)) == {-1, 1}


def test_split_is_seeded_stratified_and_disjoint(beats):
    from cardioclarity.ecg.beats.io import BeatSet

    X, y = synthetic_beats(120, 80, length=20)
    b = BeatSet(X, y, {"source": "synthetic"})
    p1, p2 = split_beats(b, seed=3), split_beats(b, seed=3)
    np.testing.assert_array_equal(p1["test"].X, p2["test"].X)
    assert [len(p1[k]) for k in ("train", "val", "test")] == [120, 40, 40]
    assert all(abs(p1[k].y.mean() - 0.4) < 0.03 for k in p1)
    rows = {tuple(r) for k in p1 for r in p1[k].X.round(5)}
    assert len(rows) == 200


@pytest.mark.parametrize("content, exc, match", [
    (b"", InvalidInputError, "empty"),
    (b"\n\n  \n", InvalidInputError, "empty"),
    (b"1,2,3,1\n4,5,1\n", InvalidInputError,
     r"ragged rows: beat 1 \(0-based index, as in scores.csv\) on line 2 of the file has 3"),
    (b"1,2,3,1\n4,x,6,0\n", InvalidInputError, "line 2 of the file, column 2: 'x' is not a number"),
    # NaN rows are named like every other message: 0-based beat index and 1-based file line
    (b"# c\n1,2,3,1\n4,nan,6,0\n", InvalidInputError,
     r"NaN or inf in 1 beat\(s\); first: beat 1 \(0-based index, as in scores.csv\) on line 3"),
    (b"1,2,3,1\n4,inf,6,0\n", InvalidInputError, "NaN or inf"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", UnsupportedFormatError, "binary"),
    (b"\x93NUMPY garbage", InvalidInputError, "not a readable .npy"),
])
def test_bad_content_gives_clear_error(content, exc, match):
    with pytest.raises(exc, match=match):
        read_beats(content)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputFileNotFoundError, match="does not exist"):
        read_beats(tmp_path / "nope.csv")
    with pytest.raises(InputFileNotFoundError, match="folder"):
        read_beats(tmp_path)


def test_wrong_column_count_and_labels(tmp_path, beats):
    X, y = beats
    write_tutorial_csv(tmp_path / "b.csv", X, y)
    with pytest.raises(InvalidInputError, match="beats of 40 samples .* expected 140"):
        read_beats(tmp_path / "b.csv", expected_length=140)
    with pytest.raises(InvalidInputError, match="no beat carries the normal label 7"):
        read_beats(tmp_path / "b.csv", normal_label=7)
    with pytest.raises(InvalidInputError, match="integer class labels"):
        read_beats(b"0.5,1,2\n0.25,3,4\n", fmt="ucr")
    with pytest.raises(UnsupportedFormatError, match="valid formats"):
        read_beats(tmp_path / "b.csv", fmt="excel")


def test_json_beats_are_read_as_an_unlabelled_matrix():
    beats = read_beats(b'{"beats": [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]}')
    assert beats.X.shape == (2, 3) and beats.y is None and beats.meta["format"] == "json"
    assert read_beats(b"[[1, 2], [3, 4]]").X.tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize(("body", "words"), [
    (b'{"beats": [[0.1, NaN, 0.2]]}', ("NaN", "1 beat")),
    (b'{"rows": [[1, 2]]}', ("no 'beats' field",)),
    (b'{"beats": [[1, 2], [3]]}', ("equal length",)),
    (b'{"beats": [["a", "b"]]}', ("rows of numbers",)),
    (b'{"beats": [[1, 2]', ("not valid JSON",)),
])
def test_bad_json_beats_say_what_is_wrong(body, words):
    with pytest.raises(InvalidInputError) as exc:
        read_beats(body)
    for w in words:
        assert w in str(exc.value)


def test_uploaded_bytes_are_named_by_name_or_plainly():
    with pytest.raises(InvalidInputError, match=r"^the uploaded beats is empty"):
        read_beats(b"  ")
    with pytest.raises(InvalidInputError, match=r"^'beats\.csv' is empty"):
        read_beats(b"  ", name="beats.csv")
    assert read_beats(b"1,2,3\n4,5,6\n", name="b.csv").meta["source"] == "b.csv"


def test_one_long_column_is_a_signal_not_beats():
    col = "\n".join(str(np.sin(i / 9)) for i in range(21600)).encode()
    with pytest.raises(InvalidInputError, match=r"one column of 21,600 values: that is an ECG "
                       r"signal.*ecg analyze FILE --fs HZ"):
        read_beats(col)


def test_beat_cells_bounded_before_allocation(monkeypatch):
    import cardioclarity.validation as validation

    monkeypatch.setattr(validation.check_beat_cells, "__kwdefaults__", {"maximum": 10})
    with pytest.raises(InvalidInputError, match="the maximum is 10"):
        read_beats(b"1,2,3,4\n5,6,7,8\n9,1,2,3\n")
    buf = io.BytesIO()
    np.save(buf, np.zeros((4, 3)))
    with pytest.raises(InvalidInputError, match="the maximum is 10"):
        read_beats(buf.getvalue())
    with pytest.raises(InvalidInputError, match="the maximum is 10"):
        read_beats(b'{"beats": [[1, 2, 3], [4, 5, 6], [7, 8, 9], [1, 2, 3]]}')


def test_beats_beyond_float32_are_refused_not_cast_to_inf():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy overflow warning may leak
        with pytest.raises(InvalidInputError) as exc:
            read_beats(b'{"beats": [[0.1, 1e39, 0.2], [0.1, 0.2, 0.3]]}')
    assert "beyond" in str(exc.value) and "1 beat(s)" in str(exc.value)
