"""``/v1/ecg/records`` and ``/v1/ecg/beats`` against the pipelines, over real files."""

from __future__ import annotations

import io
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from cardioclarity import DISCLAIMER

from .checks import problem, require, same

SAMPLES = Path(str(resources.files("cardioclarity") / "samples"))
RECORD = "mitdb219_5m"


@pytest.fixture(scope="module")
def record_files() -> dict[str, bytes]:
    paths = [SAMPLES / f"{RECORD}.{ext}" for ext in ("hea", "dat", "atr")]
    if not all(p.exists() for p in paths):
        pytest.skip(f"bundled sample record {RECORD} not in this build")
    return {p.name: p.read_bytes() for p in paths}


@pytest.fixture(scope="module")
def record_answer(client, record_files):
    require(client, "ecg-records")
    files = [("file", (n, b)) for n, b in record_files.items()]
    r = client.post("/v1/ecg/records", files=files)
    assert r.status_code == 200, r.text
    return r.json()


def test_record_multipart_equals_the_pipeline(client, record_files, record_answer):
    models = require(client, "ecg-records")
    from cardioclarity.ecg.records import analyze, io

    direct = analyze.analyze_record(io.read_record(dict(record_files)),
                                    **models.analyze_kwargs()).to_dict()
    same(record_answer, direct)
    assert record_answer["disclaimer"] == DISCLAIMER
    for key in ("sampling_rate", "lead", "duration_s", "beats", "rhythm", "quality", "model"):
        assert key in record_answer
    assert record_answer["sampling_rate"] == 360 and len(record_answer["beats"]) > 100
    assert record_answer["model"]["peak_method"] == "hybrid"  # as the CLI's default


def test_record_zip_gives_the_same_findings(client, record_files, record_answer):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in record_files.items():
            zf.writestr(f"{RECORD}/{name}", data)
    r = client.post("/v1/ecg/records", content=buf.getvalue(),
                    headers={"content-type": "application/zip"})
    assert r.status_code == 200, r.text
    assert r.json() == record_answer


@pytest.fixture(scope="module")
def signal_csv(client, record_files) -> tuple[bytes, np.ndarray]:
    require(client, "ecg-records")
    from cardioclarity.ecg.records.io import read_record

    sig = read_record(dict(record_files)).signal[: 360 * 60]  # the first minute
    return "\n".join(f"{v:.4f}" for v in sig).encode(), sig


def test_csv_signal_with_fs(client, signal_csv):
    data, sig = signal_csv
    r = client.post("/v1/ecg/records?fs=360&filename=minute.csv", content=data)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["sampling_rate"] == 360 and abs(body["duration_s"] - sig.size / 360) < 1e-6
    assert len(body["beats"]) > 30


def test_json_signal(client, signal_csv):
    _, sig = signal_csv
    doc = {"signal": [round(float(v), 4) for v in sig], "fs": 360, "lead": "MLII"}
    r = client.post("/v1/ecg/records", json=doc)
    assert r.status_code == 200, r.text
    assert r.json()["sampling_rate"] == 360 and r.json()["lead"] == "MLII"


def test_nan_filled_csv_signal(client):
    require(client, "ecg-records")
    r = client.post("/v1/ecg/records?fs=360", content=b"nan\n" * 5000)
    problem(r, 422)
    assert "nan" in r.json()["detail"].lower() or "finite" in r.json()["detail"].lower()


def test_nan_in_json_signal(client):
    require(client, "ecg-records")
    r = client.post("/v1/ecg/records", content=b'{"signal": [0.1, NaN, 0.3], "fs": 360}')
    problem(r, 422, "NaN")


def test_unknown_lead(client, record_files):
    require(client, "ecg-records")
    files = [("file", (n, b)) for n, b in record_files.items()]
    r = client.post("/v1/ecg/records?lead=V6", files=files)
    assert 400 <= r.status_code < 500 and "V6" in r.json()["detail"]


def test_record_with_the_learned_peak_detector(client, record_files):
    require(client, "ecg-records")
    files = [("file", (n, b)) for n, b in record_files.items()]
    r = client.post("/v1/ecg/records?peaks=net", files=files)
    assert r.status_code == 200, r.text
    assert r.json()["model"]["peak_method"] == "net" and len(r.json()["beats"]) > 100
    problem(client.post("/v1/ecg/records?peaks=magic", files=files), 422, "peaks")


def test_truncated_dat_file(client, record_files):
    require(client, "ecg-records")
    files = [("file", (n, b[:1000] if n.endswith(".dat") else b)) for n, b in record_files.items()]
    r = client.post("/v1/ecg/records", files=files)
    assert 400 <= r.status_code < 500, r.text


def test_record_report_and_strip(client, record_files):
    require(client, "ecg-records")
    pytest.importorskip("cardioclarity.ecg.records.report", reason="record report not in this build")
    files = [("file", (n, b)) for n, b in record_files.items()]
    html = client.post("/v1/ecg/records?format=html", files=files)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "attachment" in html.headers["content-disposition"]
    assert "Research use only" in html.text and "data:image/png;base64," in html.text
    png = client.post("/v1/ecg/records?format=png", files=files)
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    js = client.post("/v1/ecg/records?include_images=true", files=files).json()
    assert js["images"]["strip"].startswith("data:image/png;base64,")


# --- ECG beats ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def beats_csv(shared_data) -> bytes:
    return ("\n".join((shared_data / "ecg5000" / "ecg.csv").read_text().splitlines()[:100]) + "\n").encode()


def test_beats_csv_equals_score_table(client, beats_csv, tmp_path):
    detector = require(client, "ecg-beats")
    from cardioclarity.ecg.beats import detector as ecg_detector
    from cardioclarity.ecg.beats import io

    r = client.post("/v1/ecg/beats", content=beats_csv, headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    body = r.json()
    beats = io.read_beats(beats_csv)
    assert beats.y is not None  # the tutorial layout carries labels: echoed as in scores.csv
    same([{k: v for k, v in b.items() if k != "label"} for b in body["beats"]],
         ecg_detector.score_table(detector, beats.X))
    assert [b["label"] for b in body["beats"]] == beats.y.tolist()
    assert body["n_beats"] == 100 and body["n_anomalies"] == sum(b["is_anomaly"] for b in body["beats"])
    assert body["disclaimer"] == DISCLAIMER
    csv_r = client.post("/v1/ecg/beats?format=csv", content=beats_csv)
    from cardioclarity.ecg.beats.report import scores_csv

    expected = scores_csv(ecg_detector.score_table(detector, beats.X), beats.y)
    assert csv_r.content == expected.encode()  # what `ecg score` writes, byte for byte
    assert csv_r.text.splitlines()[0] == "index,score,is_anomaly,label"


def test_beats_as_json(client, beats_csv):
    require(client, "ecg-beats")
    from cardioclarity.ecg.beats.io import read_beats

    X = read_beats(beats_csv).X[:10]
    r = client.post("/v1/ecg/beats", json={"beats": X.tolist()})
    assert r.status_code == 200, r.text
    assert r.json()["n_beats"] == 10


def test_nan_filled_beats_csv(client):
    require(client, "ecg-beats")
    row = ",".join(["nan"] * 140)
    r = client.post("/v1/ecg/beats", content=(row + "\n" + row + "\n").encode())
    assert r.status_code == 422, r.text


def test_beat_length_mismatch_and_resample(client, beats_csv):
    require(client, "ecg-beats")
    short = "\n".join(",".join(line.split(",")[:100]) for line in beats_csv.decode().splitlines()[:5])
    r = client.post("/v1/ecg/beats", content=short.encode())
    assert r.status_code == 422, r.text
    ok = client.post("/v1/ecg/beats?resample=true", content=short.encode())
    assert ok.status_code == 200 and ok.json()["n_beats"] == 5


def test_nan_beats_json(client):
    require(client, "ecg-beats")
    r = client.post("/v1/ecg/beats", content=b'{"beats": [[0.1, NaN, 0.2]]}')
    problem(r, 422, "NaN")



# --- parameter bounds and the beat report -------------------------------------------------------

SAMPLE_BEATS = SAMPLES / "ecg5000_test_sample.csv"


@pytest.mark.parametrize("query", ["fs=20001", "fs=1e300", "fs=0", "fs=-5", "lead=" + "L" * 65])
def test_record_query_parameters_are_bounded(client, query):
    r = client.post(f"/v1/ecg/records?{query}", content=b"1\n2\n3\n")
    problem(r, 422)


def test_form_lead_is_bounded_like_the_query(client):
    r = client.post("/v1/ecg/records", files={"file": ("s.csv", b"1\n2\n3\n")},
                    data={"fs": "360", "lead": "L" * 65})
    problem(r, 422, "64")


def test_a_record_too_short_to_analyse_is_a_422(client):
    require(client, "ecg-records")
    r = client.post("/v1/ecg/records?fs=106", content=b"0\n1\n0\n")
    problem(r, 422, "at least 3 s")


def test_beats_html_is_the_report_ecg_score_writes(client):
    detector = require(client, "ecg-beats")
    import re

    from cardioclarity.ecg.beats import detector as ecg_detector
    from cardioclarity.ecg.beats.io import read_beats
    from cardioclarity.ecg.beats.report import render_beat_report

    data = SAMPLE_BEATS.read_bytes()
    r = client.post("/v1/ecg/beats?format=html&filename=sample.csv", content=data)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["content-disposition"] == 'attachment; filename="sample_report.html"'
    beats = read_beats(data)
    scores = np.array([row["score"] for row in ecg_detector.score_table(detector, beats.X)])
    expected = render_beat_report(detector, beats.X, scores, labels=beats.y, source="sample.csv")
    # The same sections, figures and numbers; only the generation time may differ.
    strip = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d)?(\.\d+)?Z?( UTC)?")
    assert strip.sub("", r.text) == strip.sub("", expected)
    assert "Research use only" in r.text and "data:image/png;base64," in r.text
