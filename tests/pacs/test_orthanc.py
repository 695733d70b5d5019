"""End to end against a real Orthanc (DICOMweb plugin) in its own network namespace.

The shared DICOM films go into Orthanc; ``cardioclarity pacs pull`` and ``pacs watch`` run inside
the namespace as a user would; what comes back through QIDO-RS / WADO-RS is read with pydicom and
highdicom (``ns_client.py``) and compared with the JSON results. Skips with the reason when
Orthanc, its DICOMweb plugin, unshare/nsenter or the shared data are missing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import REPO

from cardioclarity.pacs.sandbox import OrthancSandbox, unavailable_reason
from tests.hospital.factory import dciodvfy_errors, film, film_bytes

NS_CLIENT = str(Path(__file__).with_name("ns_client.py"))
RG1 = "RG1_UNCR.dcm"
SIIM = "1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm"

pytestmark = pytest.mark.slow


REJECTED_PATIENT = "TEST-REJECT"


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    # Drops the SRs of one test patient, as a PACS filter would, still answering STOW with success.
    with OrthancSandbox(tmp_path_factory.mktemp("orthanc"), reject_sr_of_patient=REJECTED_PATIENT) as server:
        yield server


def _env(server: OrthancSandbox, *, auth: bool = True) -> dict[str, str]:
    return {**server.env(with_auth=auth), "PYTHONPATH": str(REPO / "src"), "CARDIOCLARITY_PROGRESS": "0"}


def _cli(server, *args: str, auth: bool = True):
    return server.run([sys.executable, "-m", "cardioclarity", *args], env=_env(server, auth=auth),
                      timeout=300)


def _client(server, *args: str) -> object:
    res = server.run([sys.executable, NS_CLIENT, *args], env=_env(server), timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout)


def _study_uid(path: Path) -> str:
    import pydicom

    return str(pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID)


@pytest.mark.shared_data
def test_pull_real_films_and_read_the_results_back(orthanc, shared_data, tmp_path):
    dicom = shared_data / "dicom"
    rg1_study, siim_study = _study_uid(dicom / RG1), _study_uid(dicom / SIIM)
    _client(orthanc, "upload", orthanc.root, str(dicom / RG1), str(dicom / SIIM))

    # pull: QIDO, WADO, analysis, STOW back into each study.
    out = tmp_path / "pull"
    # (The date range leaves out the made-up 2026 studies of the watch test, whatever the order.)
    res = _cli(orthanc, "pacs", "pull", "--url", orthanc.url, "--query", "ModalitiesInStudy=CR",
               "--query", "StudyDate=19000101-20251231", "--out", str(out))
    assert res.returncode == 0, res.stderr[-3000:]
    assert "2/2 study(ies) processed" in res.stdout
    found = _client(orthanc, "results", orthanc.url, rg1_study, siim_study)
    objects = {o["modality"]: o for o in found[rg1_study]}
    assert set(objects) == {"SR", "SEG", "OT"}  # OT: the Secondary Capture
    film_json = json.loads(next((out / rg1_study).glob("*.json")).read_text())
    sr = objects["SR"]
    assert sr["ctr"] is not None and sr["ctr"] == pytest.approx(film_json["ctr"], abs=1e-4)
    assert sr["patient_id"] == "9RG1" and sr["patient_name"] == "CompressedSamples^RG1"
    assert objects["SEG"]["segments"] == ["Heart", "Right lung", "Left lung"]
    assert objects["OT"]["burned_in"] == "YES"
    assert {o["study"] for o in objects.values()} == {rg1_study}
    # The SIIM film's quality gate refuses it: an SR without CTR and the capture, no SEG.
    siim_json = json.loads(next((out / siim_study).glob("*.json")).read_text())
    siim = {o["modality"]: o for o in found[siim_study]}
    assert siim_json["quality"]["ok"] is False
    assert set(siim) == {"SR", "OT"} and siim["SR"]["ctr"] is None
    for local in sorted(out.glob("*/*.dcm")):  # the same bytes that were stored
        assert dciodvfy_errors(local.read_bytes(), tmp_path) == [], local.name


def test_watch_processes_each_new_study_once_across_a_restart(orthanc, tmp_path):
    # Two new studies (small made-up films, StudyDate 20260101); the PACS drops the SR of one.
    films = []
    for patient in ("TEST-1", REJECTED_PATIENT):
        path = tmp_path / f"{patient}.dcm"
        path.write_bytes(film_bytes(film(PatientID=patient)))
        films.append(path)
    _client(orthanc, "upload", orthanc.root, *map(str, films))
    good, dropped = (_study_uid(p) for p in films)
    cp = tmp_path / "watch.json"
    watch = ["pacs", "watch", "--url", orthanc.url, "--checkpoint", str(cp), "--interval", "0",
             "--query", "StudyDate=20260101", "--max-attempts", "1"]
    first = _cli(orthanc, *watch, "--max-polls", "2")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "1 new study(ies) processed" in first.stdout
    # The dropped SR is caught and reported; the watch went on (two polls, no crash).
    assert "are not in the study afterwards" in first.stderr and "Traceback" not in first.stderr
    state = json.loads(cp.read_text())
    assert list(state["done"]) == [good] and state["failed"][dropped]["attempts"] == 1
    again = _cli(orthanc, *watch, "--max-polls", "1")  # a restart: nothing is new
    assert again.returncode == 0 and "0 new study(ies) processed" in again.stdout
    assert json.loads(cp.read_text())["done"] == state["done"]
    assert {o["modality"] for o in _client(orthanc, "results", orthanc.url, good)[good]} >= {"SR", "OT"}


def test_wrong_credentials_and_missing_study(orthanc):
    res = _cli(orthanc, "pacs", "pull", "--url", orthanc.url, "--study", "1.2.3.4", auth=False)
    assert res.returncode == 77 and "refused access (HTTP 401" in res.stderr
    assert "Traceback" not in res.stderr
    res = _cli(orthanc, "pacs", "pull", "--url", orthanc.url, "--study", "1.2.3.4")
    assert res.returncode == 69 and "study 1.2.3.4 has no instances" in res.stderr
