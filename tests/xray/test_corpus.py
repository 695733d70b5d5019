"""Every DICOM shipped with pydicom (and pydicom-data when installed) through read_xray and detect.

The peer corpus holds what a hospital folder holds besides radiographs: CT/MR slices and volumes,
structured reports, RT plans, waveforms, colour captures, DICOMDIRs, truncated and malformed
files. Each must give a result or a CardioClarityError with a clear one-line message, never any
other exception. Detection runs only on what reads (about 0.1 s a film on CPU).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from pydicom.data import get_testdata_files

from cardioclarity.errors import CardioClarityError
from cardioclarity.xray.detect import HeartDetector, HeartResult
from cardioclarity.xray.io import read_xray

CORPUS = sorted(get_testdata_files())
_ROOTS = sorted({str(Path(p).parents[1]) for p in CORPUS}, key=len)


def _id(path: str) -> str:
    for root in _ROOTS:  # shortest common root first: ids stay short and unique
        if path.startswith(root):
            return path[len(root) + 1:]
    return path


def assert_clear(exc: CardioClarityError) -> None:
    """One line, a complete sentence (not cut mid-word, not ending in a bare colon)."""
    text, message = str(exc), exc.message
    assert "\n" not in text and "\r" not in text, text
    assert message.strip() == message and message.endswith((".", ".)", "?")), message
    assert not re.search(r":\s*[.)]*$", message), message
    # A shortened detail ends with " ..." after a whole word, never inside one.
    for cut in re.finditer(r"(\S*) \.\.\.", message):
        assert cut.group(1)[-1:].isalnum() or cut.group(1)[-1:] in ")]'\"", message


@pytest.fixture(scope="module")
def detector():
    import torch

    # One thread: the suite runs beside other processes, where torch's default thread count is
    # several times slower (benchmarks/bench_xray_threads.py).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield HeartDetector.load()
    torch.set_num_threads(before)


#: Images already detected: the corpus holds one picture in many encodings (SC_rgb_*, MR_small_*),
#: detecting each distinct picture once keeps the run to seconds.
_SEEN: set[tuple] = set()


@pytest.mark.parametrize("path", CORPUS, ids=[_id(p) for p in CORPUS])
def test_corpus_file_reads_or_fails_clearly(path, detector):
    try:
        image = read_xray(path)
    except CardioClarityError as exc:
        assert_clear(exc)
        return
    key = (image.pixels.shape, round(float(image.pixels.mean()), 2), round(float(image.pixels.std()), 2))
    if key in _SEEN:
        return
    _SEEN.add(key)
    try:
        result = detector.detect(image)
    except CardioClarityError as exc:
        assert_clear(exc)
        return
    assert isinstance(result, HeartResult) and isinstance(result.quality["ok"], bool)


def test_corpus_is_the_whole_of_pydicom_and_pydicom_data():
    assert len(CORPUS) >= 150  # pydicom alone ships about 190 files
    if importlib.util.find_spec("data_store") is None:
        pytest.skip("pydicom-data is not installed (pip install pydicom-data): only pydicom's own "
                    "test files were run")
    assert any("data_store" in p for p in CORPUS)
