"""read_record on uploads: JSON signals and WFDB headers sent without their data files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cardioclarity.ecg.records.io import read_record
from cardioclarity.errors import InvalidInputError, MissingDataFileError

from ._records_synth import synth_ecg, write_wfdb


def test_json_signal_bytes_and_mapping():
    x, _ = synth_ecg(fs=360, duration=10)
    body = json.dumps({"signal": x.tolist(), "fs": 360, "lead": "MLII"}).encode()
    rec = read_record(body)
    assert rec.fs == 360 and rec.lead == "MLII" and rec.leads == ["MLII"]
    assert rec.meta["format"] == "json" and rec.name == "upload"
    np.testing.assert_array_equal(rec.signal, np.asarray(x, dtype=np.float64))
    again = read_record({"strip.json": body}, lead="II", fs=250)  # arguments win
    assert again.lead == "II" and again.fs == 250 and again.name == "strip"
    plain = read_record(json.dumps({"signal": x.tolist()}).encode(), fs=360)
    assert plain.lead == "ECG"


@pytest.mark.parametrize("doc, match", [
    ([1, 2, 3], "object with a 'signal' list"),
    ({"fs": 360}, "object with a 'signal' list"),
    ({"signal": "1,2,3", "fs": 360}, "list of numbers"),
    ({"signal": [1, None, 3], "fs": 360}, "signal"),
    ({"signal": [1.0, float("nan"), 3.0], "fs": 360}, "NaN or inf"),
    ({"signal": [[1, 2], [3, 4]], "fs": 360}, "flat list"),
    ({"signal": [1.0] * 500}, "sampling rate"),
    ({"signal": [1.0] * 500, "fs": 50}, "below the minimum"),
    ({"signal": [1.0] * 500, "fs": "fast"}, "JSON field fs"),
])
def test_bad_json_signals(doc, match):
    body = json.dumps(doc).encode()
    with pytest.raises(InvalidInputError, match=match):
        read_record(body)


def test_broken_json_is_named():
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        read_record(b'{"signal": [1, 2')


def test_header_without_its_data_file(tmp_path):
    x, _ = synth_ecg(fs=360, duration=5)
    write_wfdb(tmp_path, "100", np.c_[x, x], 360, ["MLII", "V5"])
    d = tmp_path
    header = (d / "100.hea").read_bytes()
    for files in ({"100.hea": header}, {"upload": header}, {"whatever.txt": header}):
        with pytest.raises(MissingDataFileError) as err:
            read_record(files)
        assert err.value.kind == "missing-data-file"
        assert isinstance(err.value, InvalidInputError)
        assert err.value.message == ("The WFDB header of record '100' refers to '100.dat', which "
                                     "was not uploaded.")
        assert "send the header together with its data files" in err.value.hint
    with pytest.raises(MissingDataFileError, match="'100.dat'"):
        read_record(header)  # raw body


def test_header_under_another_name_reads_with_its_data(tmp_path):
    x, _ = synth_ecg(fs=360, duration=5)
    write_wfdb(tmp_path, "100", np.c_[x, x], 360, ["MLII", "V5"])
    d = tmp_path
    rec = read_record({"upload": (d / "100.hea").read_bytes(),
                       "100.dat": (d / "100.dat").read_bytes()})
    assert rec.name == "100" and rec.lead == "MLII" and rec.fs == 360
