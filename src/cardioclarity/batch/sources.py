"""INPUT → the list of work items: a folder (recursive), a glob, a manifest, or fsspec URLs.

Every input goes through `fsspec <https://filesystem-spec.readthedocs.io>`_, so a local folder,
``file://``, ``memory://`` and ``s3://`` (with the optional ``s3fs``, extra ``[s3]``) are read the
same way. One :class:`Item` is one unit of work: one film, or one ECG record with its companion
files (a WFDB ``.hea`` with its ``.dat``/``.atr``...). An item is small and picklable: a worker
reads the bytes itself (:func:`read_item`), so they never travel through the client, except for
in-process filesystems (``memory://``) that a worker process cannot see.

INPUT is read as, in this order:

1. a glob when its path holds ``*``, ``?`` or ``[`` (``films/**/*.png``);
2. a folder: every matching file below it, recursively;
3. a manifest: a ``.txt``/``.lst`` list of paths or URLs (one per line, ``#`` comments), or a
   ``.csv``/``.tsv`` whose header has a ``path`` (or ``file``) column; relative entries are
   relative to the manifest's folder. For ``ecg``, a ``.csv``/``.txt`` is a manifest only when it
   looks like one (such a header, or a first entry naming a file), since a signal table is a
   record of its own;
4. one file.

An item's ``name`` (the ``file`` column of every output) is its path relative to the folder or to
the glob's fixed prefix, the entry as written in a manifest, or the file name for one file: the
same ``file`` the single-file CLI writes for a folder.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cardioclarity.errors import InputFileNotFoundError, InvalidInputError

__all__ = ["ECG_RECORD_SUFFIXES", "FINGERPRINTS", "IMAGE_SUFFIXES", "Item", "list_items",
           "read_item"]

#: Film files taken from a folder (extensionless files too: DICOMs often have none).
IMAGE_SUFFIXES = frozenset({".dcm", ".dicom", ".dic", ".png", ".jpg", ".jpeg", ""})
#: Files that start an ECG record (a WFDB record by its header).
ECG_RECORD_SUFFIXES = frozenset({".hea", ".csv", ".txt", ".edf"})
#: How an item is recognised as unchanged on a rerun: ``stat`` (size + modification time, or
#: the store's ETag/checksum) or ``hash`` (SHA-256 of the content, read by the client).
FINGERPRINTS = ("stat", "hash")
_MANIFEST_SUFFIXES = frozenset({".txt", ".lst", ".csv", ".tsv"})
#: File systems living inside one process: a worker process cannot read them.
_IN_PROCESS = frozenset({"memory"})


@dataclass(frozen=True)
class Item:
    """One unit of work.

    Attributes
    ----------
    name : str
        Identifier in every output (the ``file`` column), POSIX-style.
    urls : tuple of str
        fsspec URLs of its files, the primary one (film, ``.hea``, ``.csv``, ``.edf``) first.
    size : int
        Total bytes of its files.
    fingerprint : str
        What a rerun compares to decide the item is unchanged (see :data:`FINGERPRINTS`).
    inline : bool
        The client must read the bytes and send them (an in-process file system).
    """

    name: str
    urls: tuple[str, ...]
    size: int
    fingerprint: str
    inline: bool = False


def list_items(source: str, kind: str, *, fingerprint: str = "stat") -> list[Item]:
    """The work items of INPUT ``source`` for pipeline ``kind`` (``"xray"`` or ``"ecg"``), sorted
    by name (see the module docstring for how ``source`` is read).

    Raises
    ------
    InputFileNotFoundError
        ``source`` (or a manifest entry) does not exist.
    InvalidInputError
        Unknown ``kind`` or ``fingerprint``, or nothing to process.
    """
    if kind not in ("xray", "ecg"):
        raise InvalidInputError(f"kind must be 'xray' or 'ecg', got {kind!r}.")
    if fingerprint not in FINGERPRINTS:
        raise InvalidInputError(f"fingerprint must be one of {', '.join(FINGERPRINTS)}, got "
                                f"{fingerprint!r}.")
    fs, path = _fs(source)
    if any(c in path for c in "*?["):
        prefix = path[: min(path.find(c) for c in "*?[" if c in path)]
        base = prefix if prefix.endswith("/") else posixpath.dirname(prefix)
        found = _files(fs, fs.glob(path, detail=True))
        entries = [(_rel(p, base), fs, p, i) for p, i in found.items() if _wanted(p, kind)]
    elif fs.isdir(path):
        found = _files(fs, fs.find(path, detail=True))
        entries = [(_rel(p, path), fs, p, i) for p, i in found.items() if _wanted(p, kind)]
    elif fs.isfile(path) and _is_manifest(fs, path, kind):
        entries = _manifest_entries(fs, path, source, kind)
    elif fs.isfile(path):
        entries = [(posixpath.basename(path), fs, path, _info(fs, path))]
    elif kind == "ecg" and fs.isfile(path + ".hea"):  # a WFDB record by its base name
        entries = [(posixpath.basename(path) + ".hea", fs, path + ".hea", _info(fs, path + ".hea"))]
    else:
        raise InputFileNotFoundError(
            f"INPUT '{source}' does not exist.",
            hint="give a folder, a glob ('films/*.png'), a manifest (.txt/.csv of paths), a file, "
            "or an fsspec URL (file://, memory://, s3:// with cardioclarity[s3]).")
    items = _group_records(entries, fingerprint) if kind == "ecg" else [
        _item(name, fs_, [(p, info)], fingerprint) for name, fs_, p, info in entries]
    if not items:
        what = "films (.dcm/.png/.jpg or no extension)" if kind == "xray" else \
            "ECG records (.hea/.csv/.txt/.edf)"
        raise InvalidInputError(f"INPUT '{source}' holds no {what}.",
                                hint="point at the folder with the files, or use a glob.")
    names = [it.name for it in items]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})[:3]
        raise InvalidInputError(f"INPUT '{source}' names the same input twice ({', '.join(dup)}).",
                                hint="list each file once in the manifest.")
    return sorted(items, key=lambda it: it.name)


def read_item(item: Item) -> dict[str, bytes]:
    """The bytes of an item's files, ``{file name: bytes}``, the primary file first.

    Raises
    ------
    InputFileNotFoundError
        A file vanished or cannot be read since it was listed.
    """
    out: dict[str, bytes] = {}
    for url in item.urls:
        fs, path = _fs(url)
        try:
            out[posixpath.basename(path)] = fs.cat_file(path)
        except (OSError, ValueError) as exc:  # FileNotFoundError, PermissionError, store errors
            raise InputFileNotFoundError(
                f"{item.name}: cannot read {url} ({type(exc).__name__}: {exc}).",
                hint="the file was moved, deleted or made unreadable after it was listed.") from exc
    return out


# ------------------------------------------------------------------------------------ helpers
def _fs(url: str) -> tuple[Any, str]:
    from fsspec.core import url_to_fs

    return url_to_fs(url)


def _files(fs: Any, found: Mapping[str, dict]) -> dict[str, dict]:
    """The plain files of a listing; a symbolic link to a file counts as that file (its size and
    mtime: a changed target is a changed input), links to folders and dangling links do not."""
    out = {}
    for p, info in found.items():
        if info.get("islink") or info.get("type") == "other":
            if not fs.isfile(p):
                continue
            st = os.stat(p)  # only local file systems have links
            info = {**info, "type": "file", "size": st.st_size, "mtime": st.st_mtime}
        if info.get("type", "file") == "file":
            out[p] = info
    return out


def _info(fs: Any, path: str) -> dict:
    """``fs.info`` of a file, a symbolic link followed."""
    return _files(fs, {path: fs.info(path)})[path]


def _rel(path: str, base: str) -> str:
    base = base.rstrip("/")
    return posixpath.relpath(path, base) if base else path.lstrip("/")


def _suffix(path: str) -> str:
    name = posixpath.basename(path)
    return posixpath.splitext(name)[1].lower() if not name.startswith(".") else name


def _wanted(path: str, kind: str) -> bool:
    name = posixpath.basename(path)
    if name.startswith("."):
        return False
    if kind == "xray":
        return _suffix(path) in IMAGE_SUFFIXES
    return True  # ECG: every file may be a record's companion; starts are picked when grouping


def _is_manifest(fs: Any, path: str, kind: str) -> bool:
    if _suffix(path) not in _MANIFEST_SUFFIXES:
        return False
    if kind == "xray":
        return True  # a text file is never a film
    head = fs.cat_file(path, end=4096).decode("utf-8", "replace")
    first = next((ln.strip() for ln in head.splitlines()
                  if ln.strip() and not ln.lstrip().startswith("#")), "")
    cols = [c.strip().lower() for c in first.replace("\t", ",").split(",")]
    return bool({"path", "file"} & set(cols)) or (
        len(cols) == 1 and ("://" in first or _suffix(first) in ECG_RECORD_SUFFIXES))


def _manifest_entries(fs: Any, path: str, source: str, kind: str) -> list[tuple]:
    text = fs.cat_file(path).decode("utf-8-sig", "replace")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    header = [c.strip().lower() for c in lines[0].replace("\t", ",").split(",")] if lines else []
    if {"path", "file"} & set(header):
        col = header.index("path") if "path" in header else header.index("file")
        delim = "\t" if "\t" in lines[0] else ","
        names = [row[col].strip() for row in csv.reader(io.StringIO("\n".join(lines[1:])),
                                                          delimiter=delim) if len(row) > col]
    else:
        names = [ln.strip() for ln in lines]
    base_dir = posixpath.dirname(path)
    entries = []
    for entry in names:
        efs, epath = _fs(entry) if "://" in entry else (fs, posixpath.join(base_dir, entry)
                                                         if not entry.startswith("/") else entry)
        if kind == "ecg" and not efs.isfile(epath) and efs.isfile(epath + ".hea"):
            epath, entry = epath + ".hea", entry + ".hea"
        if not efs.isfile(epath):
            raise InputFileNotFoundError(f"manifest {source}: entry '{entry}' does not exist.",
                                         hint="fix the path (relative entries are relative to "
                                         "the manifest's folder), or remove the line.")
        entries.append((entry, efs, epath, _info(efs, epath)))
    return entries


def _group_records(entries: list[tuple], fingerprint: str) -> list[Item]:
    """ECG items: every record start, with a WFDB header's companions (same folder and stem,
    and the segments of a multi-segment record); segment headers are not records of their own."""
    listings: dict[tuple[int, str], dict[str, dict]] = {}

    def listing(fs: Any, folder: str) -> dict[str, dict]:
        key = (id(fs), folder)
        if key not in listings:
            listings[key] = _files(fs, {d["name"]: d for d in fs.ls(folder, detail=True)})
        return listings[key]

    starts = [e for e in entries if _suffix(e[2]) in ECG_RECORD_SUFFIXES]
    segments: dict[str, set[str]] = {}
    for _, fs, p, _ in starts:
        if _suffix(p) == ".hea":
            segments[p] = _segments_of(fs, p)
    parts = {posixpath.join(posixpath.dirname(p), s + ".hea")
             for p, segs in segments.items() for s in segs}
    items = []
    for name, fs, p, info in starts:
        if p in parts:
            continue
        files = [(p, info)]
        if _suffix(p) == ".hea":
            folder = posixpath.dirname(p)
            stems = {_stem(p)} | segments[p]
            files += sorted((q, i) for q, i in listing(fs, folder).items()
                            if q != p and _stem(q) in stems)
        items.append(_item(name, fs, files, fingerprint))
    return items


def _stem(path: str) -> str:
    return posixpath.splitext(posixpath.basename(path))[0]


def _segments_of(fs: Any, hea: str) -> set[str]:
    """Segment (and layout) names a multi-segment master header lists; empty for any other."""
    try:
        text = fs.cat_file(hea, end=1 << 20).decode("utf-8", "replace")
    except OSError:
        return set()
    lines = [ln.split() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines or "/" not in lines[0][0]:
        return set()
    return {ln[0] for ln in lines[1:] if ln and ln[0] != "~"}


def _item(name: str, fs: Any, files: list[tuple[str, dict]], fingerprint: str) -> Item:
    urls = tuple(fs.unstrip_protocol(p) for p, _ in files)
    size = sum(int(i.get("size") or 0) for _, i in files)
    if fingerprint == "hash":
        h = hashlib.sha256()
        for p, _ in files:
            h.update(fs.cat_file(p))
        fp = "sha256:" + h.hexdigest()
    else:
        fp = "stat:" + ";".join(f"{posixpath.basename(p)}:{i.get('size')}:{_version(fs, p, i)}"
                                for p, i in files)
    return Item(name=name, urls=urls, size=size, fingerprint=fp,
                inline=bool(_IN_PROCESS & set(_protocols(fs))))


def _protocols(fs: Any) -> Iterable[str]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)


def _version(fs: Any, path: str, info: Mapping[str, Any]) -> str:
    """What changes when a file changes: its mtime, or a store's ETag / checksum."""
    for key in ("mtime", "ETag", "etag", "LastModified", "last_modified", "md5", "checksum",
                "created"):
        value = info.get(key)
        if value is not None:
            return str(value.timestamp() if hasattr(value, "timestamp") else value)
    return str(fs.ukey(path))
