"""`cardioclarity xray detect | train | evaluate` end to end, with bad files in a batch."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import run_cli

from cardioclarity.xray.demo import sample_path
from cardioclarity.xray.io import read_xray

from .factory import synthetic_film, write_dicom, write_mask_layout, write_rgb_dicom


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("films")
    film = read_xray(sample_path()).pixels
    (d / "nih.png").write_bytes(sample_path().read_bytes())
    write_dicom(d / "mono1.dcm", film, photometric="MONOCHROME1", PixelSpacing=[0.7, 0.7])
    write_dicom(d / "rle.dcm", film, compress="rle")
    write_dicom(d / "lateral.dcm", film, view="LL")
    write_rgb_dicom(d / "rgb.dcm", film)
    write_dicom(d / "frames.dcm", np.stack([film, film]))
    write_dicom(d / "nopixels.dcm", film, with_pixels=False)
    write_dicom(d / "tiny.dcm", synthetic_film(48)[0])
    full = write_dicom(None, film)
    (d / "truncated.dcm").write_bytes(full[: len(full) // 3])
    (d / "notdicom.dcm").write_text("this is not a DICOM file\n" * 10)
    (d / "readme.txt").write_text("ignored: not an image extension")
    return d


@pytest.fixture(scope="module")
def batch(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    return run_cli("xray", "detect", str(folder), "--out", str(out)), out


def test_batch_processes_good_files_and_reports_bad_ones(batch):
    proc, out = batch
    assert proc.returncode == 1, proc.stderr
    for bad, why in (("nopixels.dcm", "no pixel data"), ("tiny.dcm", "64-pixel minimum"),
                     ("truncated.dcm", "truncated"), ("notdicom.dcm", "not a DICOM")):
        assert any(bad in line and why in line for line in proc.stderr.splitlines()), (bad, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert "lateral" in proc.stderr and "multi-frame" in proc.stderr
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert list(rows[0]) == ["file", "x_min", "y_min", "x_max", "y_max", "ctr", "cardiomegaly",
                             "status", "quality_score", "reasons"]
    assert len(rows) == 10 and "readme.txt" not in {r["file"] for r in rows}
    ok = {r["file"]: r for r in rows if r["x_min"]}
    assert set(ok) == {"nih.png", "mono1.dcm", "rle.dcm", "rgb.dcm", "frames.dcm"}
    # A lateral view is refused, not measured: no box, no CTR, the reason in the row.
    lateral = next(r for r in rows if r["file"] == "lateral.dcm")
    assert lateral["status"] == "refused" and "lateral-view" in lateral["reasons"] and not lateral["ctr"]
    # The same film read from PNG, MONOCHROME1, RLE, RGB DICOM gives (nearly) the same CTR.
    ctrs = [float(ok[f]["ctr"]) for f in ("nih.png", "mono1.dcm", "rle.dcm", "rgb.dcm")]
    assert max(ctrs) - min(ctrs) < 0.02
    errors = list(csv.DictReader((out / "errors.csv").open()))
    assert {e["file"] for e in errors} == {"nopixels.dcm", "tiny.dcm", "truncated.dcm", "notdicom.dcm",
                                           "lateral.dcm"}
    assert "not measured: not a frontal chest radiograph" in next(
        e["error"] for e in errors if e["file"] == "lateral.dcm")


def test_json_and_overlay_per_file(batch):
    _, out = batch
    doc = json.loads((out / "mono1.json").read_text())
    assert doc["image_size"] == [512, 512] and doc["pixel_spacing_mm"] == [0.7, 0.7]
    assert doc["measurements"]["heart_box_mm"]["width"] > 50
    assert "not a medical device" in doc["disclaimer"].lower()
    assert (out / "mono1_overlay.png").read_bytes()[:4] == b"\x89PNG"
    assert not (out / "notdicom.json").exists()


def test_single_bad_file_exit_codes(folder, tmp_path):
    p = run_cli("xray", "detect", str(folder / "notdicom.dcm"), "--out", str(tmp_path))
    assert p.returncode == 65 and "not a DICOM" in p.stderr
    p = run_cli("xray", "detect", str(folder / "missing.dcm"), "--out", str(tmp_path))
    assert p.returncode == 66
    p = run_cli("xray", "detect", str(folder / "nih.png"), "--out", str(tmp_path), "--model", "nope")
    assert p.returncode == 66 and "bundled names" in p.stderr


def test_single_good_file_with_box_model(tmp_path):
    p = run_cli("xray", "detect", str(sample_path()), "--out", str(tmp_path), "--model", "box",
                "--no-overlay")
    assert p.returncode == 0, p.stderr
    doc = json.loads((tmp_path / "cxr_nih_00000001_000.json").read_text())
    assert doc["model"]["architecture"] == "box" and doc["ctr"] is None
    assert not list(tmp_path.glob("*_overlay.png"))


def test_train_and_evaluate_on_a_tiny_layout(tmp_path):
    root = write_mask_layout(tmp_path / "data", n_per_set=4, size=96)
    ck = tmp_path / "tiny.pt"
    p = run_cli("xray", "train", "--data-dir", str(root), "--model", "seg", "--out", str(ck),
                "--epochs", "1", "--input-size", "64", "--batch-size", "4")
    assert p.returncode == 0, p.stderr
    assert "swapped labels: 1" in p.stderr and ck.exists()
    split = ck.with_suffix(".split.json")
    assert split.exists()
    p = run_cli("xray", "evaluate", "--data-dir", str(root), "--model", str(ck), "--split", str(split),
                "--part", "val", "--out", str(tmp_path / "ev"))
    assert p.returncode == 0, p.stderr
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert m["part"] == "val" and 0 <= m["metrics"]["pooled"]["box_iou"] <= 1
    assert (tmp_path / "ev" / "report.html").exists()


# ------------------------------------------------------------ a batch never stops on one file
@pytest.fixture()
def failing_reader(monkeypatch):
    """read_xray raising a non-CardioClarity exception (a bug) on files named boom*."""
    import torch

    import cardioclarity.xray.io as xio

    real, threads = xio.read_xray, torch.get_num_threads()

    def reader(path, **kw):
        if str(path).rsplit("/", 1)[-1].startswith("boom"):
            raise RuntimeError("simulated decoder bug\nsecond line")
        return real(path, **kw)

    monkeypatch.setattr(xio, "read_xray", reader)
    yield
    torch.set_num_threads(threads)  # main() sets --threads for the whole process


def test_unexpected_exception_on_one_file_becomes_an_error_row(tmp_path, failing_reader, capsys):
    from cardioclarity.cli import main

    d = tmp_path / "films"
    d.mkdir()
    film = read_xray(sample_path()).pixels  # a real film: a synthetic one is refused as no chest film
    for name in ("a.dcm", "boom.dcm", "c.dcm"):
        write_dicom(d / name, film)
    out = tmp_path / "out"
    assert main(["xray", "detect", str(d), "--out", str(out), "--no-overlay"]) == 1
    err = capsys.readouterr().err
    assert "boom.dcm: unexpected error (RuntimeError: simulated decoder bug second line)" in err
    assert "Traceback" not in err
    rows = {r["file"]: r for r in csv.DictReader((out / "summary.csv").open())}
    assert rows["a.dcm"]["x_min"] and rows["c.dcm"]["x_min"] and not rows["boom.dcm"]["x_min"]
    errors = list(csv.DictReader((out / "errors.csv").open()))
    assert [e["file"] for e in errors] == ["boom.dcm"] and "RuntimeError" in errors[0]["error"]
    assert (out / "a.json").exists() and (out / "c.json").exists()


def test_unexpected_exception_on_a_single_file_exits_70(tmp_path, failing_reader):
    from cardioclarity.cli import main

    write_dicom(tmp_path / "boom.dcm", synthetic_film(96)[0])
    assert main(["xray", "detect", str(tmp_path / "boom.dcm"), "--out", str(tmp_path / "o")]) == 70


# ------------------------------------------------------------------------- options and threads
def _xray_parsers():
    import argparse

    from cardioclarity.cli import build_parser

    def subparsers(p):
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                yield from a.choices.items()

    xray = dict(subparsers(build_parser()))["xray"]
    return dict(subparsers(xray))


def test_every_xray_option_has_help():
    missing = [f"xray {cmd} {a.option_strings or a.dest}" for cmd, p in _xray_parsers().items()
               for a in p._actions if not a.help]
    assert not missing


@pytest.mark.parametrize("cmd", ["detect", "evaluate"])
def test_threads_option(cmd):
    p = _xray_parsers()[cmd]
    assert "--threads" in p.format_help()
    required = ["x"] if cmd == "detect" else []
    assert p.parse_args([*required, "--out", "o"]).threads == 1
    assert p.parse_args([*required, "--out", "o", "--threads", "0"]).threads == 0


def test_set_threads():
    import torch

    from cardioclarity.errors import InvalidInputError
    from cardioclarity.xray.cli import set_threads

    before = torch.get_num_threads()
    try:
        set_threads(1)
        assert torch.get_num_threads() == 1
        set_threads(0)  # leaves torch's setting alone
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    with pytest.raises(InvalidInputError, match="--threads"):
        set_threads(-1)


# ------------------------------------------------------------------- knowing when not to answer
def test_single_non_chest_picture_exits_65_and_says_why(tmp_path):
    noise = (np.random.default_rng(0).random((256, 320)) * 255).astype(np.uint8)
    from PIL import Image

    Image.fromarray(noise).save(tmp_path / "noise.png")
    out = tmp_path / "out"
    p = run_cli("xray", "detect", str(tmp_path / "noise.png"), "--out", str(out))
    assert p.returncode == 65, p.stderr
    assert "not measured: not a frontal chest radiograph (not-a-chest-radiograph" in p.stderr
    doc = json.loads((out / "noise.json").read_text())
    assert doc["ctr"] is None and doc["cardiomegaly"] is None and doc["quality"]["status"] == "refused"
    row = next(csv.DictReader((out / "summary.csv").open()))
    assert row["status"] == "refused" and "not-a-chest-radiograph" in row["reasons"] and not row["ctr"]
    assert [e["file"] for e in csv.DictReader((out / "errors.csv").open())] == ["noise.png"]
    assert (out / "noise_overlay.png").read_bytes()[:4] == b"\x89PNG"
