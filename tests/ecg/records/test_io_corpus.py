"""read_record on real odd files: wfdb-python's sample-data (every record: a Record or a clear
CardioClarityError, never another exception), multi-segment and layout headers, EDF+ with
annotation channels and mixed rates, --fs that disagrees with a file, and size bounds."""

from __future__ import annotations

import shutil
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from cardioclarity.ecg.records.analyze import analyze_record
from cardioclarity.ecg.records.io import Record, read_record
from cardioclarity.errors import CardioClarityError, InputFileNotFoundError, InvalidInputError
from cardioclarity.validation import MAX_SAMPLES

from ._records_synth import synth_ecg, write_edf, write_wfdb

VENDORED = Path(__file__).resolve().parents[2] / "data" / "wfdb_sample"


def _outcome(path: Path) -> str:
    """"record", "analysed", "refused" (a CardioClarityError with a message); anything else
    raises (a failing test)."""
    try:
        rec = read_record(path)
    except CardioClarityError as exc:
        assert len(str(exc)) > 20 and "Traceback" not in str(exc)
        return "refused"
    assert isinstance(rec, Record) and rec.signal.ndim == 1 and rec.fs >= 100
    try:
        analyze_record(rec, detector=False)
    except CardioClarityError as exc:
        assert len(str(exc)) > 20
        return "read, analysis refused"
    return "read and analysed"


def _corpus(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in (".hea", ".edf"))


def test_vendored_odd_records():
    counts = Counter(_outcome(p) for p in _corpus(VENDORED))
    assert sum(counts.values()) == 5, counts


def test_wfdb_sample_data_corpus(shared_data):
    """Every record of wfdb-python's sample-data: read (and analysed) or refused clearly."""
    files = _corpus(shared_data / "wfdb_sample_data")
    assert len(files) > 80
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no raw NumPy warnings leak
        outcomes = {p.relative_to(shared_data / "wfdb_sample_data").as_posix(): _outcome(p)
                    for p in files}
    counts = Counter(outcomes.values())
    assert counts["read and analysed"] >= 20, counts
    for name in ("multi-segment/fixed1/v102s.hea", "multi-segment/041s/041s.hea",
                 "test_generator_2.edf", "test_generator_2.hea", "mixedsignals.hea"):
        assert outcomes[name] != "refused", name


def test_multi_segment_fixed_layout(shared_data):
    rec = read_record(shared_data / "wfdb_sample_data" / "multi-segment" / "fixed1" / "v102s.hea")
    assert rec.fs == 250 and rec.lead == "II" and rec.signal.size == 225000


def test_multi_segment_variable_layout_with_gap(tmp_path):
    for p in VENDORED.glob("3269321_*"):
        shutil.copy(p, tmp_path / p.name)
    # the first three segments of the real master header: layout, a 30-s gap, two segments
    (tmp_path / "p000878.hea").write_text("p000878/4 4 125 7500\n3269321_layout 0\n~ 3750\n"
                                          "3269321_0001 2000\n3269321_0002 1750\n")
    rec = read_record(tmp_path / "p000878.hea")
    assert rec.lead == "II" and rec.leads == ["PLETH", "II", "V", "ABP"] and rec.fs == 125
    assert rec.signal.size == 7500
    # the gap and the segment without II are NaN; segment 2 holds II (with a few invalid samples)
    assert np.isnan(rec.signal[:5750]).all() and np.isfinite(rec.signal[5750:]).mean() > 0.5
    pleth = read_record(tmp_path / "p000878.hea", lead="PLETH")
    assert np.isfinite(pleth.signal[3750:5750]).mean() > 0.5 and np.isnan(pleth.signal[:3750]).all()


def test_multi_segment_missing_segments_named():
    with pytest.raises(InputFileNotFoundError, match=r"names 30 segment header\(s\) missing.*"
                       r"3269321_0003\.hea"):
        read_record(VENDORED / "p000878-2137-10-26-16-57.hea")


def test_layout_header_is_named_as_such():
    with pytest.raises(InvalidInputError, match=r"layout header of a multi-segment record.*"
                       r"p000878-2137-10-26-16-57\.hea"):
        read_record(VENDORED / "3269321_layout.hea")


def test_edf_plus_with_annotations_and_mixed_rates(tmp_path):
    x, _ = synth_ecg(fs=250, duration=20)
    resp = np.sin(np.arange(20 * 25) / 10)
    write_edf(tmp_path / "mixed.edf", [x, resp], [250, 25], ["ECG", "Resp"], annotations=True)
    rec = read_record(tmp_path / "mixed.edf")
    assert rec.lead == "ECG" and rec.fs == 250 and rec.leads == ["ECG", "Resp"]
    assert np.allclose(rec.signal[:x.size], x, atol=1e-3)
    with pytest.raises(InvalidInputError, match="below the minimum"):
        read_record(tmp_path / "mixed.edf", lead="Resp")  # 25 Hz


def test_annotation_only_edf_is_refused(tmp_path):
    x, _ = synth_ecg(fs=250, duration=4)
    write_edf(tmp_path / "both.edf", [x], [250], ["ECG"], annotations=True)
    # the same file with its ECG channel dropped from the header and the data
    (tmp_path / "ann.edf").write_bytes(_drop_first_signal((tmp_path / "both.edf").read_bytes()))
    with pytest.raises(InvalidInputError, match="holds no ECG signal"):
        read_record(tmp_path / "ann.edf")


def _drop_first_signal(edf: bytes) -> bytes:
    """An EDF with its first of two signals removed (header fields and samples)."""
    ns = int(edf[252:256])
    assert ns == 2
    fields = (16, 80, 8, 8, 8, 8, 8, 80, 8, 32)
    body, pos, new = edf[256:256 * (ns + 1)], 0, b""
    for w in fields:
        new += body[pos + w:pos + 2 * w]
        pos += 2 * w
    spr = [int(body[sum(f * 2 for f in fields[:8]) + i * 8:][:8]) for i in range(2)]
    data = edf[256 * (ns + 1):]
    row = 2 * sum(spr)
    recs = [data[i:i + row][2 * spr[0]:] for i in range(0, len(data), row)]
    head = edf[:184] + str(512).ljust(8).encode() + edf[192:252] + b"1   "
    return head + new + b"".join(recs)


def test_fs_that_disagrees_with_the_file_is_an_error(tmp_path):
    x, _ = synth_ecg(fs=360, duration=10)
    write_wfdb(tmp_path, "r", x, 360)
    assert read_record(tmp_path / "r.hea", fs=360).fs == 360
    with pytest.raises(InvalidInputError, match=r"fs=250 Hz\) disagrees with the 360 Hz"):
        read_record(tmp_path / "r.hea", fs=250)
    write_edf(tmp_path / "r.edf", x[None, :], 360, ["II"])
    with pytest.raises(InvalidInputError, match="disagrees"):
        read_record(tmp_path / "r.edf", fs=36)


def test_too_many_samples_refused_from_the_header(tmp_path):
    # a header promising more than MAX_SAMPLES: refused before wfdb reads (or allocates) anything
    (tmp_path / "big.dat").write_bytes(b"\0" * 64)
    (tmp_path / "big.hea").write_text(f"big 1 1000 {MAX_SAMPLES + 1}\nbig.dat 16 200 16 0 0 0 0 II\n")
    with pytest.raises(InvalidInputError, match="maximum is 86,400,000"):
        read_record(tmp_path / "big.hea")
