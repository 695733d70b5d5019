"""Content sniffing by magic bytes: what an upload *is*, whatever its name or Content-Type says.

File names and Content-Type headers are chosen by clients and are often wrong (a ``.dat`` saved as
``.txt``, every upload sent as ``application/octet-stream``), so routes decide from the first bytes.
"""

from __future__ import annotations

import re

__all__ = ["IMAGE_KINDS", "describe_kind", "is_number", "looks_like_wfdb_header", "sniff"]

#: Kinds the chest X-ray route reads.
IMAGE_KINDS = frozenset({"dicom", "png", "jpeg"})

# (kind, offset, magic) — checked in order.
_MAGIC: tuple[tuple[str, int, bytes], ...] = (
    ("dicom", 128, b"DICM"),
    ("png", 0, b"\x89PNG\r\n\x1a\n"),
    ("jpeg", 0, b"\xff\xd8\xff"),
    ("zip", 0, b"PK\x03\x04"),
    ("zip", 0, b"PK\x05\x06"),  # empty archive
    ("gif", 0, b"GIF8"),
    ("pdf", 0, b"%PDF"),
    ("gzip", 0, b"\x1f\x8b"),
    ("tiff", 0, b"II*\x00"),
    ("tiff", 0, b"MM\x00*"),
    ("bmp", 0, b"BM"),
    ("webp", 8, b"WEBP"),
    ("jpeg2000", 0, b"\x00\x00\x00\x0cjP  "),
    ("matlab", 0, b"MATLAB 5.0 MAT-file"),
    ("npy", 0, b"\x93NUMPY"),
)

_DESCRIPTIONS = {
    "dicom": "a DICOM file", "png": "a PNG image", "jpeg": "a JPEG image", "zip": "a zip archive",
    "gif": "a GIF image", "pdf": "a PDF document", "gzip": "a gzip archive", "tiff": "a TIFF image",
    "bmp": "a BMP image", "webp": "a WebP image", "jpeg2000": "a JPEG 2000 image",
    "matlab": "a MATLAB file", "npy": "a NumPy .npy array", "edf": "an EDF signal file", "json": "JSON text",
    "wfdb-header": "a WFDB header (.hea)", "text": "plain text", "binary": "binary data",
    "empty": "an empty body", "dicom-waveform": "a DICOM ECG waveform",
    "hl7-aecg": "an HL7 aECG (XML)", "philips-xml": "a Philips Sierra ECG (XML)",
    "xml": "an XML document",
}

#: Every DICOM waveform storage SOP class UID (ECG, hemodynamic, EP...) starts so; the UID sits
#: in the file meta header near the start, so the first bytes tell a waveform from an image.
_WAVEFORM_UID = b"1.2.840.10008.5.1.4.1.1.9."
#: Root elements of the XML ECG formats, as they start the document's first element.
_XML_ROOTS = ((b"AnnotatedECG", "hl7-aecg"), (b"restingecgdata", "philips-xml"))

# A WFDB record line: "name[/nseg] nsig [fs[/counterfreq][(base)] [nsamp ...]]".
_WFDB_RECORD_LINE = re.compile(rb"^[\w.\-~]+(/\d+)?\s+\d+(\s+[\d.]+(/[\d.]+)?(\([\d.\-]+\))?)?(\s|$)")


def is_number(token: str | bytes) -> bool:
    """Whether ``token`` parses as a float (``"1e-3"``, ``b"nan"`` do; ``"100.dat"`` does not)."""
    try:
        float(token)
    except ValueError:
        return False
    return True


def looks_like_wfdb_header(data: bytes) -> bool:
    """True when ``data`` starts like a WFDB ``.hea`` file.

    That is: comments, a record line ``name nsig [fs ...]``, then (when ``nsig > 0``) a signal line
    whose first token is a file name (``100.dat``) or ``~``, which tells a header from a
    whitespace-separated table of numbers.
    """
    lines = [ln.strip() for ln in data[:8192].splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith(b"#")]
    if not lines or not _WFDB_RECORD_LINE.match(lines[0]):
        return False
    nsig = int(lines[0].split()[1])
    if nsig == 0 or "/" in lines[0].split()[0].decode("ascii", "replace"):
        return True  # multi-segment master headers list segments, not signal files
    return len(lines) > 1 and not is_number(lines[1].split()[0])


def _is_raw_dicom(data: bytes) -> bool:
    # DICOM written without the 128-byte preamble: starts with a group 0002 or 0008 element,
    # little endian, often followed by a two-letter VR.
    return len(data) >= 8 and data[:2] in (b"\x02\x00", b"\x08\x00") and (
        data[4:6].isalpha() and data[4:6].isupper() or data[1:2] == b"\x00" and data[3:4] == b"\x00")


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sniffed window is still text.
        if exc.start < len(head) - 3:
            return False
    return True


def sniff(data: bytes) -> str:
    """Kind of an upload from its first bytes.

    Parameters
    ----------
    data : bytes
        The upload (only the first few kilobytes are looked at).

    Returns
    -------
    str
        One of ``"empty"``, ``"dicom"``, ``"png"``, ``"jpeg"``, ``"zip"``, ``"gif"``, ``"pdf"``,
        ``"gzip"``, ``"tiff"``, ``"bmp"``, ``"webp"``, ``"jpeg2000"``, ``"matlab"``, ``"npy"``, ``"edf"``,
        ``"json"``, ``"wfdb-header"``, ``"dicom-waveform"`` (a DICOM ECG, not an image),
        ``"hl7-aecg"``, ``"philips-xml"``, ``"xml"`` (other XML), ``"text"`` or ``"binary"`` (unrecognised bytes, e.g. a
        WFDB ``.dat`` signal file, which has no magic number).
    """
    if not data or not data.strip():
        return "empty"
    for kind, offset, magic in _MAGIC:
        if data[offset:offset + len(magic)] == magic:
            return _dicom_kind(data) if kind == "dicom" else kind
    if _is_raw_dicom(data):
        return _dicom_kind(data)
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 BOM: Philips exports XML so
        text = data[:8192].decode("utf-16", errors="replace").encode("utf-8", "replace")
        return _xml_kind(text) if text.lstrip().startswith(b"<") else "text"
    # EDF/EDF+: an 8-byte version field "0       " then ASCII patient/recording fields.
    if data[:8] == b"0       " and len(data) >= 256 and _is_text(data[:256]):
        return "edf"
    head = data[:8192]
    if _is_text(head):
        stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if stripped[:1] in (b"{", b"["):
            return "json"
        if stripped[:1] == b"<":
            return _xml_kind(stripped)
        if looks_like_wfdb_header(head):
            return "wfdb-header"
        return "text"
    return "binary"


def _dicom_kind(data: bytes) -> str:
    """``"dicom-waveform"`` when the SOP class in the first bytes is a waveform, else ``"dicom"``."""
    return "dicom-waveform" if _WAVEFORM_UID in data[:4096] else "dicom"


def _xml_kind(head: bytes) -> str:
    """Which XML ECG format ``head`` (text starting with ``<``) is, by its root element."""
    # Searched, not matched at the start: a DOCTYPE (which the XML readers refuse, naming it)
    # or comments may come first.
    for root, kind in _XML_ROOTS:
        if re.search(rb"<(\w+:)?" + root + rb"[\s>/]", head):
            return kind
    return "xml"


def describe_kind(kind: str) -> str:
    """Human phrase for a kind returned by :func:`sniff` ("a PNG image")."""
    return _DESCRIPTIONS.get(kind, kind)
