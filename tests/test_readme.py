"""Every ```bash and ```python block of README.md runs, as a user would run it.

Each block runs in its own temporary folder holding the files the README names, made from the
bundled samples (``beats.csv``, ``100.hea``, ``film.dcm`` ...). ``cardioclarity`` and ``python``
are this checkout's; ``curl`` fails on an HTTP error and talks to a live ``cardioclarity serve``
started on a free 127.0.0.1 port (the README's ``127.0.0.1:8000`` is rewritten to it). A block
that cannot run here says why inside itself: ``# readme-test: skip (reason)``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import REPO

README = REPO / "README.md"
SAMPLES = REPO / "src" / "cardioclarity" / "samples"
SKIP = re.compile(r"#\s*readme-test:\s*skip\s*\((.+)\)")
_FENCE = re.compile(r"^( *)```(bash|python)\n(.*?)^\1```", re.S | re.M)


def _blocks() -> list[tuple[str, str, str]]:
    """``(id, language, code)`` of each runnable block, in README order."""
    text = README.read_text()
    out = []
    for m in _FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        out.append((f"{m.group(2)}-line{line}", m.group(2), textwrap.dedent(m.group(3))))
    return out


BLOCKS = _blocks()


def test_readme_has_blocks_to_run():
    assert len(BLOCKS) >= 8 and any(lang == "python" for _, lang, _ in BLOCKS)


def _film_dcm(path: Path) -> None:
    """The bundled NIH film as a DICOM, the way a PACS export would carry it."""
    import numpy as np
    from PIL import Image
    from serve.serve_samples import dicom_from_pixels

    pixels = np.asarray(Image.open(SAMPLES / "cxr_nih_00000001_000.png").convert("L"), np.uint8)
    path.write_bytes(dicom_from_pixels(pixels, bits_stored=8, photometric="MONOCHROME2",
                                       Modality="DX", ViewPosition="PA",
                                       PixelSpacing=[0.143, 0.143]))


def _record(folder: Path, name: str) -> None:
    """The bundled MIT-BIH excerpt as record ``name`` (.hea/.dat/.atr) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    header = (SAMPLES / "mitdb219_5m.hea").read_text().replace("mitdb219_5m", name)
    (folder / f"{name}.hea").write_text(header)
    for ext in ("dat", "atr"):
        shutil.copy(SAMPLES / f"mitdb219_5m.{ext}", folder / f"{name}.{ext}")


def _signal_csv(path: Path, seconds: float = 30.0) -> None:
    """One column of samples (360 Hz) of the bundled record's MLII lead: a CSV needing ``fs``."""
    import wfdb

    sig = wfdb.rdrecord(str(SAMPLES / "mitdb219_5m"), channels=[0],
                        sampto=int(seconds * 360)).p_signal[:, 0]
    path.write_text("\n".join(f"{v:.4f}" for v in sig) + "\n")


def _strip_csv(path: Path, seconds: float = 30.0) -> None:
    """A wearable's export at 250 Hz: a header naming the leads (I, II), one column each."""
    import wfdb
    from scipy.signal import resample_poly

    sig = wfdb.rdrecord(str(SAMPLES / "mitdb219_5m"), sampto=int(seconds * 360)).p_signal
    sig = resample_poly(sig, 25, 36, axis=0)
    path.write_text("I,II\n" + "".join(f"{a:.4f},{b:.4f}\n" for b, a in sig))


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> Path:
    """The files the README's examples name."""
    d = tmp_path_factory.mktemp("readme-files")
    for name in ("beats.csv", "ecg.csv", "test.csv"):
        shutil.copy(SAMPLES / "ecg5000_test_sample.csv", d / name)
    _record(d, "100")
    _record(d / "mitdb", "100")
    _record(d / "recordings", "100")
    _record(d / "recordings", "219")
    _signal_csv(d / "signal.csv")
    _strip_csv(d / "strip.csv")
    _film_dcm(d / "film.dcm")
    (d / "scans").mkdir()
    shutil.copy(d / "film.dcm", d / "scans" / "film.dcm")
    shutil.copy(SAMPLES / "cxr_nih_00000001_000.png", d / "scans" / "nih.png")
    return d


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO / "src"), CARDIOCLARITY_PROGRESS="0",
                PY=sys.executable)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``cardioclarity serve`` on a free 127.0.0.1 port, ready; stopped by its PID afterwards."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path_factory.mktemp("readme-serve") / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "cardioclarity", "serve", "--host", "127.0.0.1",
                             "--port", str(port)], env=_env(), stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, f"server exited with {proc.returncode}"
            try:
                if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server not ready within 180 s"
            time.sleep(0.3)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


_PRELUDE = """set -euo pipefail
cardioclarity() { "$PY" -m cardioclarity "$@"; }
python() { "$PY" "$@"; }
python3() { "$PY" "$@"; }
curl() { command curl --fail-with-body -sS "$@"; echo; }
"""


@pytest.mark.parametrize(("lang", "code"), [(lang, code) for _, lang, code in BLOCKS],
                         ids=[i for i, _, _ in BLOCKS])
def test_readme_block_runs(lang, code, fixtures, tmp_path, request):
    skip = SKIP.search(code)
    if skip:
        pytest.skip(f"README says: {skip.group(1)}")
    shutil.copytree(fixtures, tmp_path, dirs_exist_ok=True)
    if "127.0.0.1:8000" in code:
        if shutil.which("curl") is None and "curl " in code:
            pytest.skip("curl is not installed (.ci/run installs it)")
        code = code.replace("127.0.0.1:8000", request.getfixturevalue("server"))
    if lang == "python":
        (tmp_path / "readme_block.py").write_text(code)
        cmd = [sys.executable, "readme_block.py"]
    else:
        cmd = ["bash", "-c", _PRELUDE + code]
    r = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"block failed ({r.returncode}):\n{code}\n--- stdout\n" \
        f"{r.stdout[-3000:]}\n--- stderr\n{r.stderr[-3000:]}"
