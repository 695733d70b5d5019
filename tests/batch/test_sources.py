"""INPUT → items: folders, globs, manifests, fsspec URLs, WFDB companions, fingerprints."""

from __future__ import annotations

import os
import shutil
import uuid

import fsspec
import pytest

from cardioclarity.batch.sources import list_items, read_item
from cardioclarity.errors import InputFileNotFoundError, InvalidInputError

from .conftest import REPO, film_png


def _names(items):
    return [i.name for i in items]


def test_folder_is_recursive_and_names_are_relative(films):
    (films / ".hidden.png").write_bytes(b"x")
    (films / "notes.md").write_text("not a film")
    items = list_items(str(films), "xray")
    assert _names(items) == ["f002.png", "f003.png", "f004.png", "f005.png", "sub/f000.png",
                             "sub/f001.png", "text.png", "truncated.png"]
    first = items[0]
    assert first.urls[0].startswith("file://") and first.size == (films / "f002.png").stat().st_size
    assert read_item(first) == {"f002.png": (films / "f002.png").read_bytes()}
    assert not first.inline


def test_glob_names_are_relative_to_the_fixed_prefix(films):
    assert _names(list_items(str(films / "sub" / "*.png"), "xray")) == ["f000.png", "f001.png"]
    assert _names(list_items(str(films) + "/**/f00[01].png", "xray")) == ["sub/f000.png",
                                                                            "sub/f001.png"]


def test_text_and_csv_manifests(films, tmp_path):
    (tmp_path / "list.txt").write_text("# chosen films\nfilms/f002.png\n\n"
                                       f"{films / 'sub' / 'f000.png'}\n")
    assert _names(list_items(str(tmp_path / "list.txt"), "xray")) == [
        str(films / "sub" / "f000.png"), "films/f002.png"]
    (tmp_path / "m.csv").write_text("patient,path\np1,films/f003.png\np2,films/f004.png\n")
    items = list_items(str(tmp_path / "m.csv"), "xray")
    assert _names(items) == ["films/f003.png", "films/f004.png"]
    (tmp_path / "bad.txt").write_text("films/nope.png\n")
    with pytest.raises(InputFileNotFoundError, match="nope.png"):
        list_items(str(tmp_path / "bad.txt"), "xray")
    (tmp_path / "twice.txt").write_text("films/f002.png\nfilms/f002.png\n")
    with pytest.raises(InvalidInputError, match="twice"):
        list_items(str(tmp_path / "twice.txt"), "xray")


def test_ecg_csv_is_a_record_unless_it_looks_like_a_manifest(records, tmp_path):
    assert _names(list_items(str(records / "strip.csv"), "ecg")) == ["strip.csv"]
    (tmp_path / "m.txt").write_text(f"{records / 'mitdb219_5m.hea'}\n")
    (item,) = list_items(str(tmp_path / "m.txt"), "ecg")
    assert sorted(read_item(item)) == ["mitdb219_5m.atr", "mitdb219_5m.dat", "mitdb219_5m.hea"]


def test_wfdb_records_carry_their_companions(records):
    items = {i.name: i for i in list_items(str(records), "ecg")}
    assert sorted(items) == ["broken.hea", "mitdb219_5m.hea", "strip.csv"]
    files = read_item(items["mitdb219_5m.hea"])
    assert list(files)[0] == "mitdb219_5m.hea"  # the header first: it names the record
    assert sorted(files) == ["mitdb219_5m.atr", "mitdb219_5m.dat", "mitdb219_5m.hea"]
    assert items["mitdb219_5m.hea"].size == sum(len(v) for v in files.values())
    # A record by its base name, as `cardioclarity ecg analyze` takes it:
    assert _names(list_items(str(records / "mitdb219_5m"), "ecg")) == ["mitdb219_5m.hea"]


def test_multi_segment_record_is_one_item_with_its_segments(tmp_path):
    src = REPO / "tests" / "data" / "wfdb_sample"
    shutil.copytree(src, tmp_path / "w")
    items = {i.name: i for i in list_items(str(tmp_path / "w"), "ecg")}
    master = "p000878-2137-10-26-16-57.hea"
    assert master in items and "3269321_0001.hea" not in items and "3269321_layout.hea" not in items
    assert {"3269321_0001.dat", "3269321_layout.hea"} <= set(read_item(items[master]))


def test_memory_and_file_urls():
    root = f"memory://cc-test-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    for i in range(3):
        fs.pipe(f"{root}/d/f{i}.png", film_png(i))
    items = list_items(f"{root}/d", "xray")
    assert _names(items) == ["f0.png", "f1.png", "f2.png"] and all(i.inline for i in items)
    assert read_item(items[1]) == {"f1.png": film_png(1)}
    fs.rm(root, recursive=True)


def test_file_url(films):
    items = list_items(f"file://{films}/sub", "xray")
    assert _names(items) == ["f000.png", "f001.png"] and not items[0].inline


def test_stat_fingerprint_changes_with_the_file_and_hash_with_the_content(films):
    before = {i.name: i.fingerprint for i in list_items(str(films), "xray")}
    st = os.stat(films / "f002.png")
    os.utime(films / "f002.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    after = {i.name: i.fingerprint for i in list_items(str(films), "xray")}
    assert after["f002.png"] != before["f002.png"] and after["f003.png"] == before["f003.png"]
    h1 = {i.name: i.fingerprint for i in list_items(str(films), "xray", fingerprint="hash")}
    os.utime(films / "f003.png", ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))
    h2 = {i.name: i.fingerprint for i in list_items(str(films), "xray", fingerprint="hash")}
    assert h1 == h2 and h1["f002.png"].startswith("sha256:")


def test_missing_and_empty_inputs_say_what_to_do(tmp_path):
    with pytest.raises(InputFileNotFoundError, match="does not exist"):
        list_items(str(tmp_path / "nope"), "xray")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="holds no films"):
        list_items(str(tmp_path / "empty"), "xray")
    with pytest.raises(InvalidInputError, match="kind"):
        list_items(str(tmp_path), "mri")


def test_symbolic_links_count_as_their_targets(films, tmp_path):
    (tmp_path / "links").mkdir()
    (tmp_path / "links" / "a.png").symlink_to(films / "f002.png")
    (tmp_path / "links" / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    (item,) = list_items(str(tmp_path / "links"), "xray")
    assert item.name == "a.png" and item.size == (films / "f002.png").stat().st_size
    before = item.fingerprint
    st = os.stat(films / "f002.png")
    os.utime(films / "f002.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert list_items(str(tmp_path / "links"), "xray")[0].fingerprint != before
    assert list_items(str(tmp_path / "links" / "a.png"), "xray")[0].size == item.size
