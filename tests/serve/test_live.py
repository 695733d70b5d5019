"""End to end: ``cardioclarity serve`` as a subprocess on 127.0.0.1, real HTTP, real Chromium.

The browser test drives Debian's ``/usr/bin/chromium`` with ``/usr/bin/chromedriver`` (Selenium),
uploads files through the page and checks what it renders; it skips with a reason when they are
absent.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cardioclarity import DISCLAIMER

from .serve_samples import PNG_1PX

REPO = Path(__file__).resolve().parents[2]
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, log_path: Path, **env_overrides: str) -> subprocess.Popen:
    """``python -m cardioclarity serve`` on ``port``; waits until ``/healthz`` answers."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), CARDIOCLARITY_PROGRESS="0", **env_overrides)
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([sys.executable, "-m", "cardioclarity", "serve", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    proc.log_file = log
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError("server did not start within 180 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    proc.log_file.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log_path = tmp_path_factory.mktemp("serve") / "server.log"
    port = free_port()
    proc = start_server(port, log_path)
    base = f"http://127.0.0.1:{port}"
    # Preloading runs in the lifespan; wait for it so the tests time the routes, not the loading.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        models = httpx.get(base + "/readyz", timeout=5).json()["models"]
        if "not-loaded" not in models.values():
            break
        time.sleep(0.5)
    yield base
    stop_server(proc)
    # Privacy: the server log holds no patient identifier from the uploads below.
    assert "DOE^JOHN" not in log_path.read_text()


def test_serve_command_answers_and_preloads(server):
    r = httpx.get(server + "/healthz")
    assert r.status_code == 200 and r.headers["x-cardioclarity-disclaimer"] == DISCLAIMER
    models = httpx.get(server + "/v1/models").json()["models"]
    assert all(m["status"] in {"loaded", "unavailable"} for m in models)  # nothing left "not-loaded"


def test_200_mb_upload_with_content_length_is_refused(server):
    size = 200 * 1024 * 1024

    def body():
        chunk = b"0," * (1 << 19)
        for _ in range(size // len(chunk)):
            yield chunk

    try:
        r = httpx.post(server + "/v1/ecg/beats", content=body(), timeout=60,
                       headers={"content-length": str(size)})
        assert r.status_code == 413 and "64 MB limit" in r.json()["detail"]
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        # The server answered 413 and closed before the client finished sending: a client-side
        # error is the only way some clients surface that. What matters: it is still serving.
        pass
    assert httpx.get(server + "/healthz").status_code == 200


def test_200_mb_chunked_upload_is_refused_without_buffering_it(server):
    def body():
        chunk = b"1," * (1 << 19)
        for _ in range(200):
            yield chunk

    try:
        r = httpx.post(server + "/v1/xray/heart", content=body(), timeout=60)
        assert r.status_code == 413 and "chunked" in r.json()["detail"]
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        pass
    assert httpx.get(server + "/healthz").status_code == 200


def test_malformed_bodies_never_break_the_server(server):
    bad = [b"", b"\x00" * 1000, PNG_1PX[:20], b"\x00" * 128 + b"DICM" + b"\x02\x00" * 10,
           b"PK\x03\x04" + b"\xff" * 60, b'{"beats": [[NaN, 1]]}', b"nan,nan\nnan,nan\n",
           b"100 1 360 10\n100.dat 212 200 11 1024 0 0 0 MLII\n", "é,ü\n".encode("latin-1")]
    with httpx.Client(base_url=server, timeout=60) as c:
        for route in ("/v1/ecg/beats", "/v1/ecg/records?fs=360", "/v1/xray/heart"):
            for body in bad:
                r = c.post(route, content=body)
                assert 400 <= r.status_code < 500 or (
                    r.status_code == 503 and r.json()["type"].endswith("model-unavailable")), (
                    route, body[:30], r.status_code, r.text[:300])
        assert c.get("/healthz").status_code == 200


# --- the page in real headless Chromium ---------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip(f"headless browser test needs {CHROMIUM} and {CHROMEDRIVER} (Debian packages "
                    "chromium and chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", "--window-size=1280,1600"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _upload(browser, server: str, paths: list[Path], mode: str = "auto", fs: str = ""):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    browser.get(server + "/")
    Select(browser.find_element(By.ID, "mode")).select_by_value(mode)
    if fs:
        browser.find_element(By.ID, "fs").send_keys(fs)
    file_input = browser.find_element(By.ID, "file-input")
    browser.execute_script("arguments[0].hidden = false;", file_input)  # as a user's file dialog
    file_input.send_keys("\n".join(str(p) for p in paths))
    WebDriverWait(browser, 120).until(
        lambda d: d.find_element(By.ID, "result").is_displayed()
        or d.find_element(By.ID, "error").is_displayed())
    return By


def _models(server: str) -> dict:
    return {m["pipeline"]: m["status"] for m in httpx.get(server + "/v1/models").json()["models"]}


def test_page_renders_xray_result(browser, server, shared_data):
    By = _upload(browser, server, [shared_data / "cxr_samples" / "00000001_000.png"])
    if _models(server)["xray-heart"] != "loaded":
        assert "Model not available" in browser.find_element(By.ID, "error-detail").text
        pytest.skip("X-ray pipeline not in this build: the page showed the 503 problem")
    assert browser.find_element(By.ID, "result").is_displayed()
    assert "Chest X-ray" in browser.find_element(By.ID, "result-title").text
    facts = browser.find_element(By.ID, "facts").text
    assert "Cardiothoracic ratio" in facts and "Heart box" in facts
    img = browser.find_element(By.ID, "result-image")
    assert img.get_attribute("src").startswith("data:image/png;base64,")
    assert browser.execute_script("return arguments[0].naturalWidth", img) > 100  # it decoded
    flags = browser.find_element(By.ID, "flags").text
    assert "ardiomegaly" in flags


def test_page_renders_ecg_record_result(browser, server, shared_data):
    rec = shared_data / "wfdb"
    By = _upload(browser, server, [rec / "a103l.hea", rec / "a103l.mat"])
    if _models(server)["ecg-records"] != "loaded":
        assert "Model not available" in browser.find_element(By.ID, "error-detail").text
        pytest.skip("ECG record pipeline not in this build: the page showed the 503 problem")
    assert "ECG record" in browser.find_element(By.ID, "result-title").text
    assert "beats" in browser.find_element(By.ID, "flags").text
    assert "Heart rate" in browser.find_element(By.ID, "facts").text
    if importlib.util.find_spec("cardioclarity.ecg.records.report") is None:
        assert not browser.find_element(By.ID, "figure").is_displayed()  # no strip renderer yet
        return
    img = browser.find_element(By.ID, "result-image")
    assert browser.execute_script("return arguments[0].naturalWidth", img) > 100


def test_page_shows_a_clear_error_for_an_image_sent_as_ecg(browser, server, shared_data):
    By = _upload(browser, server, [shared_data / "cxr_samples" / "00000001_000.png"], mode="record")
    assert browser.find_element(By.ID, "error").is_displayed()
    assert "415" in browser.find_element(By.ID, "error-title").text
    assert "PNG image, not an ECG" in browser.find_element(By.ID, "error-detail").text
    hint = browser.find_element(By.ID, "error-hint").text
    assert "Chest X-ray" in hint and "/v1/" not in hint  # what to do on the page, not a route
    assert "Research use only" in browser.find_element(By.ID, "disclaimer").text
    # The page loaded nothing from outside this server.
    hosts = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => new URL(e.name).host)")
    assert set(hosts) <= {server.removeprefix("http://")}


SAMPLES = REPO / "src" / "cardioclarity" / "samples"


def test_automatic_mode_reads_a_beat_table_by_its_content(browser, server, tmp_path):
    # A text table of beats, whatever its name: scored as beats, with its HTML report offered.
    misnamed = tmp_path / "beats.dcm"
    misnamed.write_bytes((SAMPLES / "ecg5000_test_sample.csv").read_bytes())
    for path in (SAMPLES / "ecg5000_test_sample.csv", misnamed):
        By = _upload(browser, server, [path])
        if _models(server)["ecg-beats"] != "loaded":
            pytest.skip("beat pipeline not in this build")
        assert "ECG beats" in browser.find_element(By.ID, "result-title").text, path
        assert "beats flagged" in browser.find_element(By.ID, "flags").text
        assert browser.find_element(By.ID, "download-report").is_displayed()


def test_automatic_mode_says_what_to_do_with_two_images(browser, server, tmp_path):
    png = SAMPLES / "cxr_nih_00000001_000.png"
    other = tmp_path / "second.png"
    other.write_bytes(png.read_bytes())
    By = _upload(browser, server, [png, other])
    detail = browser.find_element(By.ID, "error-detail").text
    assert "Two images were dropped: drop one chest X-ray at a time." in detail
    assert "/v1/" not in browser.find_element(By.ID, "error").text


def test_automatic_mode_asks_for_the_rate_of_a_one_column_signal(browser, server, tmp_path):
    signal = tmp_path / "strip.csv"
    signal.write_text("\n".join(str((i % 300) / 300) for i in range(3600)) + "\n")
    By = _upload(browser, server, [signal])
    assert "sampling rate" in browser.find_element(By.ID, "error-detail").text
    By = _upload(browser, server, [signal], fs="360")
    # With the rate given it is sent as a record: a result, or the server's verdict on the signal.
    if browser.find_element(By.ID, "result").is_displayed():
        assert "ECG record" in browser.find_element(By.ID, "result-title").text
    else:
        assert browser.find_element(By.ID, "error-title").text != "Nothing was analysed"


def test_quality_table_has_readable_labels_and_rounded_numbers(browser, server):
    rec = SAMPLES / "mitdb219_5m"
    By = _upload(browser, server, [rec.with_suffix(".hea"), rec.with_suffix(".dat")])
    if _models(server)["ecg-records"] != "loaded":
        pytest.skip("record pipeline not in this build")
    tables = browser.find_element(By.ID, "tables").text
    assert "Usable signal" in tables and "Window (s)" in tables
    assert "usable_fraction" not in tables and "window_s" not in tables
    import re

    assert not re.search(r"\d\.\d{4,}", tables.split("Signal quality", 1)[1])


def test_server_log_is_free_of_uploaded_identifiers(server):
    # Checked at teardown of the server fixture; this upload carries a DICOM-style name.
    r = httpx.post(server + "/v1/xray/heart?filename=DOE^JOHN.dcm", content=b"PatientName=DOE^JOHN")
    assert r.status_code == 415
