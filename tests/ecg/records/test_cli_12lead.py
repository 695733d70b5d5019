"""`cardioclarity ecg analyze` on hospital ECG files: 12-lead outputs, --lead, --leads, and the
errors for files that are not ECG waveforms."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import run_cli

from ._formats_synth import XML_BOMB, aecg_xml


def _dicom() -> Path:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("waveform_ecg.dcm"))


def test_dicom_ecg_gets_the_12lead_outputs(tmp_path):
    src = tmp_path / "cart.dcm"
    shutil.copy(_dicom(), src)
    r = run_cli("ecg", "analyze", str(src), "--out", str(tmp_path / "o"), "--no-beats")
    assert r.returncode == 0, r.stderr
    d = json.loads((tmp_path / "o" / "findings.json").read_text())
    assert d["leads_used"][:3] == ["I", "II", "III"] and d["lead"] == "II" and "intervals" in d
    assert (tmp_path / "o" / "ecg12.png").read_bytes()[:4] == b"\x89PNG"
    page = (tmp_path / "o" / "report_12lead.html").read_text()
    assert "12-lead ECG" in page and "Research use only" in page
    assert "Research use only" in r.stdout


def test_lead_option_and_single_lead_mode(tmp_path):
    from cardioclarity.cli import main

    assert main(["ecg", "analyze", str(_dicom()), "--out", str(tmp_path / "o"), "--no-beats",
                 "--no-report", "--lead", "V5", "--leads", "one"]) == 0
    d = json.loads((tmp_path / "o" / "findings.json").read_text())
    assert d["lead"] == "V5" and "multilead" not in d


def test_bad_files_exit_65_with_the_reason(tmp_path, capsys):
    from pydicom.data import get_testdata_file

    from cardioclarity.cli import main

    cases = {"ct.dcm": (Path(get_testdata_file("CT_small.dcm")).read_bytes(), "X-ray"),
             "bomb.xml": (XML_BOMB, "DTD or entities"),
             "beats.xml": (aecg_xml(series_code="REPRESENTATIVE_BEAT"), "no rhythm sequence")}
    for name, (data, words) in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        assert main(["ecg", "analyze", str(p), "--out", str(tmp_path / "o")]) == 65, name
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err
