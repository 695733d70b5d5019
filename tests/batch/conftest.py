"""Inputs for the batch tests, made on the fly or copied from the bundled samples (no ../shared)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

SAMPLES = REPO / "src" / "cardioclarity" / "samples"
WFDB_SAMPLE = ("mitdb219_5m.hea", "mitdb219_5m.dat", "mitdb219_5m.atr")


def film_png(seed: int, size: int = 192) -> bytes:
    """A crude PA film (dark lungs, a bright heart between them) as PNG bytes; seeds differ in
    heart size and noise so every file has its own result."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    lungs = (((xx - 0.3) / 0.17) ** 2 + ((yy - 0.5) / 0.32) ** 2 < 1) | \
            (((xx - 0.7) / 0.17) ** 2 + ((yy - 0.5) / 0.32) ** 2 < 1)
    hw = (0.35 + 0.02 * (seed % 8)) * 0.33
    heart = ((xx - 0.52) / hw) ** 2 + ((yy - 0.62) / 0.15) ** 2 < 1
    img = np.full((size, size), 0.7)
    img[lungs] = 0.2
    img[heart] = 0.85
    img = np.clip(img + rng.normal(0, 0.03, img.shape), 0, 1)
    buf = io.BytesIO()
    Image.fromarray((img * 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def write_films(folder: Path, n: int, *, corrupt: tuple[str, ...] = ()) -> list[str]:
    """``n`` films ``f000.png``... (the first two in ``sub/``), plus corrupt files; their names."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(n):
        name = f"sub/f{i:03d}.png" if i < 2 else f"f{i:03d}.png"
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(film_png(i))
        names.append(name)
    for name in corrupt:  # text named .png, a truncated PNG
        data = b"not an image" if "text" in name else film_png(99)[:300]
        (folder / name).write_bytes(data)
        names.append(name)
    return sorted(names)


@pytest.fixture
def films(tmp_path) -> Path:
    """Six films (two in a sub-folder) and two corrupt files."""
    write_films(tmp_path / "films", 6, corrupt=("text.png", "truncated.png"))
    return tmp_path / "films"


@pytest.fixture
def records(tmp_path) -> Path:
    """The bundled 5-min MIT-BIH record 219 (WFDB), a 20-s CSV cut from it, a broken header."""
    d = tmp_path / "records"
    d.mkdir()
    for f in WFDB_SAMPLE:
        shutil.copy(SAMPLES / f, d / f)
    import wfdb

    sig = wfdb.rdrecord(str(SAMPLES / "mitdb219_5m")).p_signal[: 20 * 360, 0]
    (d / "strip.csv").write_text("MLII\n" + "\n".join(f"{v:.4f}" for v in sig) + "\n")
    (d / "broken.hea").write_text("broken 1 360 1000\nbroken.dat 16 200 11 1024 0 0 0 MLII\n")
    return d
