"""Readers for tables of heartbeats: the tutorial ``ecg.csv``, UCR archive files, plain matrices.

Layouts
-------
``tutorial``
    Comma-separated, one beat per row, the *last* column is the label with **1 = normal**,
    0 = abnormal (the ``ecg.csv`` of the public ECG5000 autoencoder tutorials).
``ucr``
    UCR time-series archive (``*_TRAIN.txt`` / ``*_TEST.txt``, whitespace or comma separated):
    the *first* column is the class, then the samples. ``normal_label`` says which class is
    normal (ECG5000: class 1 = normal, 2-5 = abnormal; ECG200: 1 = normal, -1 = infarction).
``matrix``
    Numbers only (CSV/TXT, optional header row), one beat per row, no labels.
``npy``
    A 2-D NumPy array ``(n_beats, length)`` saved with ``np.save``, no labels.
``json``
    ``{"beats": [[...], [...]]}`` or a bare list of rows, no labels (what the REST API takes).

Whatever the layout, :class:`BeatSet` codes labels one way: ``y == 1`` is an **anomaly**, the
positive class of every metric, and ``meta["label_convention"]`` states how the file's labels
were mapped.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cardioclarity.ecg.beats.names import BEAT_FORMATS
from cardioclarity.errors import InputFileNotFoundError, InvalidInputError, UnsupportedFormatError
from cardioclarity.sniff import describe_kind, is_number, sniff
from cardioclarity.validation import MAX_ABS_SAMPLE, check_beat_cells, check_finite_matrix

__all__ = ["BEAT_FORMATS", "BeatSet", "read_beats", "split_beats"]

#: Sniffed kinds (:func:`cardioclarity.sniff.sniff`) parsed as text tables; others are binary.
_TEXT_KINDS = frozenset({"text", "json", "wfdb-header", "empty"})
#: A column with at most this many distinct integer values looks like a class label.
_MAX_LABEL_CLASSES = 20
#: One column with at least this many rows is a signal (samples), not beats of one sample.
_SIGNAL_ROWS = 100


@dataclass
class BeatSet:
    """Beats read from a file.

    Attributes
    ----------
    X : ndarray of float32, shape (n_beats, length)
    y : ndarray of int or None
        1 = anomaly, 0 = normal; None when the source has no labels.
    meta : dict
        ``source``, ``format``, ``n_beats``, ``length``, ``label_convention`` (how labels were
        mapped), ``raw_label_counts`` and the like.
    raw_labels : ndarray or None
        The file's own labels (e.g. ECG5000 classes 1-5), before mapping to anomaly/normal.
    """

    X: np.ndarray
    y: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    raw_labels: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def length(self) -> int:
        """Samples per beat."""
        return int(self.X.shape[1])

    def subset(self, index: np.ndarray, part: str = "") -> BeatSet:
        """The beats at ``index`` (meta says which part of which split they are)."""
        index = np.asarray(index)
        meta = {**self.meta, "n_beats": int(index.size)}
        if part:
            meta["split_part"] = part
        return BeatSet(self.X[index], None if self.y is None else self.y[index], meta,
                       None if self.raw_labels is None else self.raw_labels[index])

    def normal(self) -> np.ndarray:
        """The normal beats (``y == 0``); raises when the set is unlabelled."""
        if self.y is None:
            raise InvalidInputError(f"{self.meta.get('source', 'these beats')} carry no labels, so "
                                    "normal beats cannot be selected.",
                                    hint="read a labelled layout (tutorial/ucr) or treat all beats "
                                    "as normal.")
        return self.X[self.y == 0]


# ---------------------------------------------------------------------------------- raw input
def _load_source(source: str | Path | bytes, name: str | None) -> tuple[bytes, str, str, str]:
    """(content, source name for meta, name as messages quote it, suffix)."""
    if isinstance(source, bytes | bytearray | memoryview):
        return (bytes(source), name or "uploaded beats", f"'{name}'" if name else
                "the uploaded beats", Path(name or "").suffix.lower())
    p = Path(source)
    if not p.exists():
        raise InputFileNotFoundError(f"Beat file '{p}' does not exist.",
                                     hint="check the path (CSV, UCR .txt/.tsv or .npy).")
    if p.is_dir():
        raise InputFileNotFoundError(f"'{p}' is a folder, expected a beat file.",
                                     hint="give one CSV/TXT/NPY file.")
    try:
        return p.read_bytes(), name or str(p), f"'{name or p}'", p.suffix.lower()
    except OSError as exc:
        raise InputFileNotFoundError(f"Beat file '{p}' cannot be read ({exc.strerror}).") from exc


def _npy_shape(data: bytes) -> tuple[int, ...] | None:
    """The shape a .npy header declares (None when unreadable: ``np.load`` then says why)."""
    fh = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(fh)
        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                else np.lib.format.read_array_header_2_0)
        return tuple(int(v) for v in read(fh)[0])
    except (ValueError, OSError, EOFError):
        return None


def _parse_npy(data: bytes, name: str) -> np.ndarray:
    shape = _npy_shape(data)
    if shape and len(shape) <= 2:
        check_beat_cells(shape[0] if len(shape) == 2 else 1, shape[-1], name)
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError/EOFError/OSError for broken files
        raise InvalidInputError(f"{name} is not a readable .npy array ({exc}).",
                                hint="save beats with numpy.save(path, X) (no pickled objects).") from exc
    if arr.dtype.kind not in "iuf":
        raise InvalidInputError(f"{name} holds {arr.dtype} values, expected numbers.")
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise InvalidInputError(f"{name} holds an array of shape {arr.shape}; expected 2-D "
                                "(n_beats, samples).")
    return arr.astype(np.float64)


def _parse_json(data: bytes, name: str) -> np.ndarray:
    """Rows of ``{"beats": [[...], ...]}`` (or of a bare list of rows) as a float64 matrix."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InvalidInputError(f"{name} is not valid JSON ({type(exc).__name__}).",
                                hint="check the JSON syntax.") from None
    rows = doc.get("beats") if isinstance(doc, dict) else doc
    if rows is None:
        raise InvalidInputError(f"The JSON object of {name} has no 'beats' field.",
                                hint='send {"beats": [[...], [...]]}, one row per beat.')
    if not isinstance(rows, list) or any(isinstance(v, bool | str | dict) for v in _flat(rows)):
        raise InvalidInputError(f"'beats' in {name} must be a list of rows of numbers.",
                                hint='send {"beats": [[...], [...]]}, one row per beat.')
    check_beat_cells(len(rows), max((len(r) for r in rows[:1] if isinstance(r, list)), default=1),
                     name)
    return check_finite_matrix(rows, "Beats", dtype=np.float64,
                               hint='send {"beats": [[...], [...]]}, one row per beat.')


def _flat(rows: list) -> list:
    """The cells of a list of rows (rows that are not lists count as cells)."""
    return [v for r in rows for v in (r if isinstance(r, list) else [r])]


def _split_line(line: str, delimiter: str | None) -> list[str]:
    return [c.strip() for c in line.split(delimiter)] if delimiter else line.split()


def _parse_text(data: bytes, name: str, delimiter: str | None
                ) -> tuple[np.ndarray, bool, np.ndarray]:
    """Numbers from a delimited text table with strict checks.

    Returns (array, had_header, the file's 1-based line number of each row).
    """
    kind = sniff(data)
    if kind not in _TEXT_KINDS:
        raise UnsupportedFormatError(f"{name} is a binary file ({describe_kind(kind)}), not a "
                                     "beat table.",
                                     hint="give a CSV/TXT table of numbers or a .npy array.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnsupportedFormatError(f"{name} is not UTF-8 text ({exc.reason}).",
                                     hint="give a CSV/TXT table of numbers or a .npy array.") from exc
    lines = [(i + 1, ln.strip()) for i, ln in enumerate(text.splitlines())]
    lines = [(i, ln) for i, ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise InvalidInputError(f"{name} is empty: no beats found.",
                                hint="each row must hold one beat's samples.")
    if delimiter is None:
        first = lines[min(1, len(lines) - 1)][1]
        delimiter = "," if "," in first else ";" if ";" in first else "\t" if "\t" in first else None
    header = False
    cells0 = _split_line(lines[0][1], delimiter)
    if not any(re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|nan|inf|-inf", c, re.I)
               for c in cells0):
        header = True  # a row of column names: skip it
        lines = lines[1:]
        if not lines:
            raise InvalidInputError(f"{name} has a header row but no beats.")
    n_cols = len(_split_line(lines[0][1], delimiter))
    check_beat_cells(len(lines), n_cols, name)
    rows = np.empty((len(lines), n_cols), dtype=np.float64)
    for r, (lineno, ln) in enumerate(lines):
        cells = _split_line(ln, delimiter)
        if len(cells) != n_cols:
            raise InvalidInputError(
                f"{name} has ragged rows: {_where(r, lineno)} has {len(cells)} values, the first "
                f"row {n_cols}.", hint="every beat must have the same number of samples; "
                "resample or pad them before saving.")
        try:
            rows[r] = np.asarray(cells, dtype=np.float64)
        except ValueError:
            bad = next(c for c in cells if not is_number(c))
            col = cells.index(bad) + 1
            raise InvalidInputError(
                f"{name}, {_where(r, lineno)}, column {col}: '{bad[:30]}' is not a number.",
                hint="beat tables hold numbers only (one optional header row).") from None
    return rows, header, np.array([ln for ln, _ in lines], dtype=np.int64)


def _where(row: int, line: int | None = None) -> str:
    """How messages name a beat: its 0-based index (scores.csv's ``index``) and file line."""
    return f"beat {row} (0-based index, as in scores.csv)" + (
        f" on line {line} of the file" if line is not None else "")


def _is_label_column(col: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(col)) and np.all(col == np.round(col))
                and np.unique(col).size <= _MAX_LABEL_CLASSES)


def _check_finite(X: np.ndarray, name: str, lines: np.ndarray | None) -> None:
    """Refuse NaN/inf cells and magnitudes beyond ``MAX_ABS_SAMPLE`` (they would overflow the
    float32 beats to inf), naming beats as every message of this module does."""
    with np.errstate(invalid="ignore"):
        huge = np.abs(X) > MAX_ABS_SAMPLE  # NaN compares False; inf is caught below
    for bad, what in ((~np.isfinite(X), "NaN or inf"),
                      (huge, f"values beyond +-{MAX_ABS_SAMPLE:g}")):
        if bad.any():
            rows = np.unique(np.nonzero(bad)[0])
            first = ", ".join(_where(int(r), None if lines is None else int(lines[r]))
                              for r in rows[:3])
            raise InvalidInputError(f"{name} contains {what} in {rows.size} beat(s); first: "
                                    f"{first}.", hint="drop or repair those beats before scoring.")


# ------------------------------------------------------------------------------------- reader
def read_beats(source: str | Path | bytes, *, fmt: str = "auto", normal_label: float | None = None,
               delimiter: str | None = None, expected_length: int | None = None,
               name: str | None = None) -> BeatSet:
    """Read a table of heartbeats.

    Parameters
    ----------
    source : str, Path or bytes
        A file path or the file's content.
    fmt : {"auto", "tutorial", "ucr", "matrix", "npy", "json"}
        Layout (see the module docstring). ``auto`` sniffs (:func:`cardioclarity.sniff.sniff`):
        ``.npy`` magic bytes -> ``npy``; JSON text -> ``json``;
        a last column of only 0/1 -> ``tutorial``; an integer first column with few distinct
        values -> ``ucr``; otherwise ``matrix``. Force ``fmt`` when a file is ambiguous.
    normal_label : float, optional
        The file's label for a normal beat (default 1 for both ``tutorial`` and ``ucr``); every
        other label is an anomaly.
    delimiter : str, optional
        Column separator; default: comma, semicolon or tab if present, else whitespace.
    expected_length : int, optional
        Required samples per beat (e.g. a checkpoint's ``input_length``); checked here so a
        wrong file fails with the column count in the message.
    name : str, optional
        What messages and ``meta["source"]`` call the input (e.g. an uploaded file's name);
        default: the path, or "the uploaded beats" for bytes.

    Beats are named in messages by their 0-based index (the ``index`` of scores.csv) and, for
    text tables, the 1-based line number of the file.

    Returns
    -------
    BeatSet
        ``X`` float32 (n_beats, length), ``y`` (1 = anomaly) or None, ``meta``.

    Raises
    ------
    InputFileNotFoundError
        Missing path.
    InvalidInputError
        Empty file, ragged rows, non-numeric cells, NaN/inf, wrong column count, more than
        :data:`~cardioclarity.validation.MAX_BEAT_CELLS` values, or one long column (an ECG
        signal, not beats).
    UnsupportedFormatError
        Binary or non-UTF-8 content that is not a .npy array; unknown ``fmt``.
    """
    if fmt not in BEAT_FORMATS:
        raise UnsupportedFormatError(f"Unknown beat format '{fmt}'.",
                                     hint=f"valid formats: {', '.join(BEAT_FORMATS)}.")
    data, source_name, name, suffix = _load_source(source, name)
    if not data.strip():
        raise InvalidInputError(f"{name} is empty: no beats found.",
                                hint="each row must hold one beat's samples.")
    table, layout, header, lines = _read_table(data, name, suffix, fmt, delimiter)
    meta: dict[str, Any] = {"source": source_name, "format": layout, "header_row_skipped": header}
    X, y, raw = _split_labels(table, layout, name, normal_label, meta, lines)
    _check_finite(X, name, lines)
    if X.shape[1] == 1 and X.shape[0] >= _SIGNAL_ROWS:
        raise InvalidInputError(
            f"{name} has one column of {X.shape[0]:,} values: that is an ECG signal (one sample "
            "per row), not a table of beats (one beat per row).",
            hint="analyse a recording with `cardioclarity ecg analyze FILE --fs HZ --out DIR` "
            "(read_record + analyze_record in Python).")
    if expected_length is not None and X.shape[1] != int(expected_length):
        raise InvalidInputError(
            f"{name} has beats of {X.shape[1]} samples ({layout} layout), expected "
            f"{expected_length}.", hint="check the layout (CLI --fmt, fmt= in Python) or "
            "resample the beats (CLI --resample, resample=True in Python).")
    meta.update(n_beats=int(X.shape[0]), length=int(X.shape[1]))
    if y is not None:
        meta.update(n_anomaly=int(y.sum()), n_normal=int((y == 0).sum()))
    return BeatSet(X=X.astype(np.float32), y=y, meta=meta,
                   raw_labels=None if raw is None else raw.astype(int))


def _read_table(data: bytes, name: str, suffix: str, fmt: str, delimiter: str | None
                ) -> tuple[np.ndarray, str, bool, np.ndarray | None]:
    """(numbers, layout, header row skipped, file line of each row or None): a .npy array, a
    JSON list of rows or a text table, layout resolved."""
    kind = sniff(data) if fmt == "auto" else fmt
    if fmt == "npy" or (fmt == "auto" and (kind == "npy" or suffix == ".npy")):
        return _parse_npy(data, name), "npy", False, None
    if fmt == "json" or (fmt == "auto" and kind == "json"):
        return _parse_json(data, name), "json", False, None
    table, header, lines = _parse_text(data, name, delimiter)
    return table, _detect_layout(table) if fmt == "auto" else fmt, header, lines


def _detect_layout(table: np.ndarray) -> str:
    """``tutorial`` (last column 0/1 labels), ``ucr`` (integer first column) or ``matrix``."""
    last, first = table[:, -1], table[:, 0]
    if table.shape[1] > 2 and _is_label_column(last) and np.isin(last, (0, 1)).all() \
            and not _is_label_column(first):
        return "tutorial"
    if table.shape[1] > 2 and _is_label_column(first) and not _is_label_column(last):
        return "ucr"
    return "matrix"


def _split_labels(table: np.ndarray, layout: str, name: str, normal_label: float | None,
                  meta: dict[str, Any], lines: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(beats, y with 1 = anomaly, the file's own labels); records the mapping in ``meta``."""
    if layout not in ("tutorial", "ucr"):
        meta["label_convention"] = "unlabelled"
        return table, None, None
    if table.shape[1] < 3:
        raise InvalidInputError(
            f"{name} has {table.shape[1]} column(s); the {layout} layout needs a label "
            "column plus at least 2 samples.")
    where = "last" if layout == "tutorial" else "first"
    raw = table[:, -1] if layout == "tutorial" else table[:, 0]
    X = table[:, :-1] if layout == "tutorial" else table[:, 1:]
    _check_finite(raw[:, None], name, lines)
    if not _is_label_column(raw):
        raise InvalidInputError(
            f"{name}: the {where} column should hold integer class labels for the "
            f"{layout} layout, but holds values such as {np.unique(raw)[:5].tolist()}.",
            hint="give the layout: --fmt matrix for unlabelled beats (fmt='matrix' in Python), "
            "or the right one.")
    nl = 1.0 if normal_label is None else float(normal_label)
    if not np.any(raw == nl):
        raise InvalidInputError(
            f"{name}: no beat carries the normal label {nl:g} (labels found: "
            f"{np.unique(raw).tolist()}).", hint="set normal_label (CLI --normal-label).")
    meta["label_convention"] = (f"file label {nl:g} ({where} column) = normal, any other = "
                                "anomaly; y: 1 = anomaly, 0 = normal")
    meta["raw_label_counts"] = {f"{k:g}": int(v)
                                for k, v in zip(*np.unique(raw, return_counts=True), strict=True)}
    return X, (raw != nl).astype(int), raw


def split_beats(beats: BeatSet, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
                seed: int = 0) -> dict[str, BeatSet]:
    """Seeded split into ``train`` / ``val`` / ``test``, stratified on the labels when present.

    The evaluation protocol of the benchmarks and of the bundled weights (ECG5000 ``ecg.csv``:
    60/20/20, seed 0). The same ``(beats, fractions, seed)`` always gives the same split.
    """
    from sklearn.model_selection import train_test_split

    f = np.asarray(fractions, dtype=float)
    if f.shape != (3,) or (f <= 0).any() or abs(f.sum() - 1) > 1e-6:
        raise InvalidInputError(f"fractions must be three positive shares summing to 1, got "
                                f"{tuple(fractions)}.")
    idx = np.arange(len(beats))
    strat = beats.y
    try:
        rest, test = train_test_split(idx, test_size=f[2], stratify=strat, random_state=seed)
        train, val = train_test_split(rest, test_size=f[1] / (f[0] + f[1]),
                                      stratify=None if strat is None else strat[rest],
                                      random_state=seed)
    except ValueError as exc:  # too few beats of a class to stratify
        raise InvalidInputError(f"cannot split {len(beats)} beats as {tuple(fractions)}: {exc}",
                                hint="give more beats of each class.") from exc
    return {name: beats.subset(np.sort(part), name)
            for name, part in (("train", train), ("val", val), ("test", test))}
