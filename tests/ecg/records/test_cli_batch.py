"""`cardioclarity ecg analyze FOLDER`: distinct output folders, a batch never stops on one file,
and out-of-range --fs (in-process, rhythm only, so these stay fast)."""

from __future__ import annotations

import csv
import json

import numpy as np

from cardioclarity.cli import main

from ._records_synth import synth_ecg, write_wfdb


def _summary(out):
    with open(out / "summary.csv") as fh:
        return list(csv.DictReader(fh))


def test_same_stem_in_two_formats_gets_two_folders(tmp_path):
    d, out = tmp_path / "in", tmp_path / "out"
    d.mkdir()
    x, _ = synth_ecg(fs=360, duration=20, hr=60)
    write_wfdb(d, "100", x, 360)
    np.savetxt(d / "100.csv", np.c_[x], delimiter=",", header="ECG", comments="")
    assert main(["ecg", "analyze", str(d), "--fs", "360", "--no-beats", "--no-report",
                 "--out", str(out)]) == 0
    rows = _summary(out)
    assert len(rows) == 2 and len({r["findings"] for r in rows}) == 2
    assert {r["findings"] for r in rows} == {str(out / "100" / "findings.json"),
                                           str(out / "100_csv" / "findings.json")}
    assert {r["file"] for r in rows} == {str(d / "100.hea"), str(d / "100.csv")}
    assert json.loads((out / "100_csv" / "findings.json").read_text())["n_beats"] > 15


def test_unexpected_exception_on_one_file_is_an_error_row(tmp_path, monkeypatch, capsys):
    from cardioclarity.ecg.records import analyze

    d, out = tmp_path / "in", tmp_path / "out"
    d.mkdir()
    x, _ = synth_ecg(fs=360, duration=20, hr=60)
    write_wfdb(d, "good", x, 360)
    write_wfdb(d, "bug", x, 360)
    real = analyze.analyze_record

    def flaky(record, **kw):
        if record.name == "bug":
            raise RuntimeError("boom")
        return real(record, **kw)

    monkeypatch.setattr(analyze, "analyze_record", flaky)
    assert main(["ecg", "analyze", str(d), "--no-beats", "--no-report", "--out", str(out)]) == 1
    rows = {r["record"]: r for r in _summary(out)}
    assert rows["good"]["status"] == "ok"
    assert rows["bug"]["status"] == "failed" and "RuntimeError: boom" in rows["bug"]["error"]
    assert "bug.hea: internal error (RuntimeError: boom)" in capsys.readouterr().err


def test_absurd_fs_is_one_line_not_a_traceback(tmp_path, capsys):
    p = tmp_path / "s.csv"
    x, _ = synth_ecg(fs=250, duration=10)
    np.savetxt(p, x[:, None])
    assert main(["ecg", "analyze", str(p), "--fs", "1e300", "--out", str(tmp_path / "o")]) == 65
    err = capsys.readouterr().err
    assert "above the maximum of 20000 Hz" in err and "Traceback" not in err


def test_fs_given_for_wfdb_that_disagrees_is_an_error(tmp_path, capsys):
    x, _ = synth_ecg(fs=360, duration=10)
    write_wfdb(tmp_path, "r", x, 360)
    assert main(["ecg", "analyze", str(tmp_path / "r.hea"), "--fs", "250", "--no-beats",
                 "--out", str(tmp_path / "o")]) == 65
    assert "disagrees with the 360 Hz" in capsys.readouterr().err
