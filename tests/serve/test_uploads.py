"""Zip uploads: path traversal, symlinks, bombs, corrupt archives."""

from __future__ import annotations

import io
import stat
import zipfile

import pytest

from cardioclarity.serve.problems import ApiProblem
from cardioclarity.serve.uploads import unzip_safely

LIMITS = {"max_entries": 8, "max_total_bytes": 1 << 20}


def make_zip(entries: dict[str, bytes], *, symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


def test_plain_record_zip_is_read_by_base_name():
    data = make_zip({"rec/100.hea": b"header", "rec/100.dat": b"\x01\x02", "__MACOSX/._100.hea": b"x"})
    assert unzip_safely(data, **LIMITS) == {"100.hea": b"header", "100.dat": b"\x01\x02"}


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "a/../../b.hea",
                                  "C:/Windows/win.ini", "..\\..\\evil.dat"])
def test_path_traversal_is_rejected(name):
    with pytest.raises(ApiProblem) as exc:
        unzip_safely(make_zip({"100.hea": b"h", name: b"x"}), **LIMITS)
    assert exc.value.http_status == 422 and exc.value.kind == "unsafe-archive"
    assert "unsafe name" in exc.value.message


def test_symlink_entry_is_rejected():
    with pytest.raises(ApiProblem, match="symbolic link"):
        unzip_safely(make_zip({"100.hea": b"h"}, symlink="100.dat"), **LIMITS)


def test_zip_bomb_is_stopped_while_decompressing():
    bomb = make_zip({"big.dat": b"\x00" * (4 << 20)})  # 4 MB of zeros compress to a few kB
    assert len(bomb) < 50_000
    with pytest.raises(ApiProblem) as exc:
        unzip_safely(bomb, **LIMITS)
    assert exc.value.http_status == 413


def test_too_many_entries():
    with pytest.raises(ApiProblem, match="at most 8"):
        unzip_safely(make_zip({f"{i}.dat": b"x" for i in range(9)}), **LIMITS)


def test_duplicate_base_names():
    with pytest.raises(ApiProblem, match="two files named"):
        unzip_safely(make_zip({"a/100.dat": b"1", "b/100.dat": b"2"}), **LIMITS)


def test_corrupt_and_truncated_archives():
    good = make_zip({"100.hea": b"h" * 1000})
    for bad in (b"PK\x03\x04" + b"\x00" * 40, good[: len(good) // 2]):
        with pytest.raises(ApiProblem) as exc:
            unzip_safely(bad, **LIMITS)
        assert exc.value.http_status == 422
