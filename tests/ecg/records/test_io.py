"""read_record: WFDB / CSV / EDF from paths, bytes and uploads, and every bad-input case."""

from __future__ import annotations

import numpy as np
import pytest

from cardioclarity.ecg.records.io import read_record, select_lead
from cardioclarity.errors import InputFileNotFoundError, InvalidInputError, UnsupportedFormatError

from ._records_synth import synth_ecg, write_edf, write_wfdb


@pytest.fixture(scope="module")
def two_lead(tmp_path_factory):
    d = tmp_path_factory.mktemp("wfdb")
    x, _ = synth_ecg(fs=250, duration=8)
    write_wfdb(d, "rec", np.c_[0.5 * x, x], 250, sig_names=("V1", "II"))
    return d, x


def test_wfdb_default_lead_prefers_ii_and_keeps_values(two_lead):
    d, x = two_lead
    for src in (d / "rec.hea", d / "rec", str(d / "rec.dat")):
        rec = read_record(src)
        assert rec.lead == "II" and rec.leads == ["V1", "II"] and rec.fs == 250
        assert rec.name == "rec" and rec.units == "mV" and rec.annotations is None
        np.testing.assert_allclose(rec.signal, x, atol=2e-3)  # 16-bit quantisation


def test_wfdb_lead_by_name_case_insensitive_and_index(two_lead):
    d, x = two_lead
    assert read_record(d / "rec.hea", lead="v1").lead == "V1"
    np.testing.assert_allclose(read_record(d / "rec.hea", lead=0).signal, 0.5 * x, atol=2e-3)


def test_unknown_lead_lists_available(two_lead):
    d, _ = two_lead
    with pytest.raises(InvalidInputError, match="V1, II"):
        read_record(d / "rec.hea", lead="V6")


def test_select_lead_skips_non_ecg_channels():
    assert select_lead(["PLETH", "ABP", "MCL1"], None) == 2
    assert select_lead(["MLII", "V5"], None) == 0


def test_uploaded_wfdb_files(two_lead):
    d, x = two_lead
    files = {"rec.hea": (d / "rec.hea").read_bytes(), "uploads/../rec.dat": (d / "rec.dat").read_bytes()}
    rec = read_record(files)
    assert rec.lead == "II" and rec.signal.size == x.size


def test_missing_dat_is_named(two_lead, tmp_path):
    d, _ = two_lead
    (tmp_path / "rec.hea").write_bytes((d / "rec.hea").read_bytes())
    with pytest.raises(InputFileNotFoundError, match=r"rec\.dat"):
        read_record(tmp_path / "rec.hea")
    with pytest.raises(InputFileNotFoundError, match=r"rec\.dat"):
        read_record({"rec.hea": (d / "rec.hea").read_bytes()})


def test_truncated_dat(two_lead, tmp_path):
    d, _ = two_lead
    (tmp_path / "rec.hea").write_bytes((d / "rec.hea").read_bytes())
    (tmp_path / "rec.dat").write_bytes((d / "rec.dat").read_bytes()[:1000])
    with pytest.raises(InvalidInputError, match="truncated"):
        read_record(tmp_path / "rec.hea")


def test_csv_needs_fs_and_reads_header(tmp_path):
    x, _ = synth_ecg(fs=200, duration=5)
    p = tmp_path / "strip.csv"
    p.write_text("time,I,II\n" + "\n".join(f"{i / 200},{v * 0.3},{v}" for i, v in enumerate(x)))
    with pytest.raises(InvalidInputError, match="sampling rate"):
        read_record(p)
    rec = read_record(p, fs=200)
    assert rec.leads == ["I", "II"] and rec.lead == "II" and rec.fs == 200
    np.testing.assert_allclose(rec.signal, x, atol=1e-9)
    rec_b = read_record(p.read_bytes(), fs=200, lead="I")
    np.testing.assert_allclose(rec_b.signal, 0.3 * x, atol=1e-9)


def test_fs_below_minimum(tmp_path):
    p = tmp_path / "slow.txt"
    p.write_text("\n".join(str(v) for v in np.sin(np.arange(500))))
    with pytest.raises(InvalidInputError, match="below the minimum of 100 Hz"):
        read_record(p, fs=50)


@pytest.mark.parametrize("content, match", [
    ("", "empty"),
    ("ECG\n", "no samples"),
    ("nan\nnan\nnan\n", "NaN"),
    ("1,2\n3,x\n", "numeric"),
])
def test_bad_csv_content(tmp_path, content, match):
    p = tmp_path / "bad.csv"
    p.write_text(content)
    with pytest.raises(InvalidInputError, match=match):
        read_record(p, fs=250)


def test_unknown_format_and_missing_file(tmp_path):
    p = tmp_path / "image.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(UnsupportedFormatError):
        read_record(p)
    with pytest.raises(UnsupportedFormatError):
        read_record(p.read_bytes(), fs=250)
    with pytest.raises(InputFileNotFoundError):
        read_record(tmp_path / "nope.hea")
    with pytest.raises(InvalidInputError, match="valid options"):
        read_record(p, fmt="xml")


def test_edf_file_and_bytes(tmp_path):
    x, _ = synth_ecg(fs=250, duration=8)
    write_edf(tmp_path / "rec.edf", np.c_[0.5 * x, x].T, 250, ["V1", "II"])
    rec = read_record(tmp_path / "rec.edf")
    assert rec.leads == ["V1", "II"] and rec.lead == "II" and rec.fs == 250
    assert rec.meta["format"] == "edf" and rec.units == "mV"
    np.testing.assert_allclose(rec.signal, x, atol=1e-3)
    from_bytes = read_record((tmp_path / "rec.edf").read_bytes(), lead="V1")
    np.testing.assert_allclose(from_bytes.signal, 0.5 * x, atol=1e-3)


def test_truncated_edf(tmp_path):
    x, _ = synth_ecg(fs=250, duration=8)
    write_edf(tmp_path / "rec.edf", x[None, :], 250, ["II"])
    data = (tmp_path / "rec.edf").read_bytes()
    for cut in (700, len(data) - 100):  # inside the header, inside the samples
        (tmp_path / "cut.edf").write_bytes(data[:cut])
        with pytest.raises(InvalidInputError, match="EDF"):
            read_record(tmp_path / "cut.edf")


def test_mitdb_record_with_annotations(shared_data):
    rec = read_record(shared_data / "mitdb" / "100")
    assert rec.lead == "MLII" and rec.fs == 360 and rec.signal.size == 650000
    ann = rec.annotations
    assert ann is not None and ann.extension == "atr"
    assert ann.symbol.count("N") > 2000 and ann.aux_note[0] == "(N"  # NUL padding stripped


def test_mat_format_and_other_rates(shared_data):
    rec = read_record(shared_data / "wfdb" / "a103l.hea")
    assert rec.fs == 250 and rec.lead == "II" and "PLETH" in rec.leads
    rec = read_record(shared_data / "wfdb" / "03700181")
    # MCL1 is sampled 4 times per 125-Hz frame ("212x4"): read at its own 500 Hz
    assert rec.fs == 500 and rec.lead == "MCL1"


def test_hospital_formats_by_path_and_extension(tmp_path):
    from ._formats_synth import aecg_xml, sierra_xml

    (tmp_path / "a.xml").write_bytes(aecg_xml())
    (tmp_path / "p.XML").write_bytes(sierra_xml())
    (tmp_path / "n.xml").write_bytes(b"<note/>")
    assert read_record(tmp_path / "a.xml").meta["format"] == "hl7-aecg"
    assert read_record(tmp_path / "p.XML", lead="aVF").lead == "aVF"
    with pytest.raises(UnsupportedFormatError, match="an XML document, not a DICOM ECG"):
        read_record(tmp_path / "n.xml")
    with pytest.raises(InvalidInputError, match="valid options: .*dicom, aecg, philips"):
        read_record(tmp_path / "a.xml", fmt="scp")


def test_wfdb_all_leads_get_standard_names(tmp_path):
    from ._records_synth import synth_ecg, write_wfdb

    x, _ = synth_ecg(fs=250, duration=10)
    write_wfdb(tmp_path, "ptb", np.c_[0.5 * x, x, 0.5 * x], 250, sig_names=("i", "ii", "avr"))
    one = read_record(tmp_path / "ptb.hea")
    assert one.signals is None and one.lead == "ii"
    rec = read_record(tmp_path / "ptb.hea", all_leads=True)
    assert rec.leads == ["I", "II", "aVR"] and rec.lead == "II"
    assert rec.meta["source_leads"] == ["i", "ii", "avr"]
    np.testing.assert_allclose(rec.signals[1], rec.signal)


@pytest.mark.shared_data
def test_ptb_s0010_re_all_leads_against_the_raw_files(shared_data):
    base = shared_data / "wfdb" / "s0010_re"
    rec = read_record(base.with_suffix(".hea"), all_leads=True)
    # Independent reading: the header says format 16, gain 2000/mV, baseline 0; .dat holds the
    # 12 standard leads interleaved, .xyz the 3 Frank leads.
    lines = [ln.split() for ln in base.with_suffix(".hea").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert lines[0][:4] == ["s0010_re", "15", "1000", "38400"]
    assert all(ln[1] == "16" and ln[2] == "2000" and ln[4] == "0" for ln in lines[1:])
    dat = np.fromfile(base.with_suffix(".dat"), dtype="<i2").reshape(-1, 12).T / 2000.0
    xyz = np.fromfile(base.with_suffix(".xyz"), dtype="<i2").reshape(-1, 3).T / 2000.0
    assert rec.fs == 1000 and rec.units == "mV" and rec.signals.shape == (15, 38400)
    assert rec.leads == ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5",
                         "V6", "vx", "vy", "vz"]
    assert rec.meta["source_leads"] == [ln[-1] for ln in lines[1:]]
    np.testing.assert_allclose(rec.signals[:12], dat, atol=1e-12)
    np.testing.assert_allclose(rec.signals[12:], xyz, atol=1e-12)
    assert rec.lead == "II"
