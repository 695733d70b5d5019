"""Read chest radiographs (DICOM, PNG, JPEG) into one documented representation.

:func:`read_xray` is the single reader every other module uses. It returns an :class:`XrayImage`
whose ``pixels`` are float32, 2-D, in ``[0, 1]`` with **0 = black** (MONOCHROME2 display
orientation: air is dark, bone is bright), whatever the source format.

DICOM handling, in the order the standard applies it (PS3.3 C.11):

1. decode pixel data (uncompressed, or JPEG baseline / JPEG 2000 / JPEG-LS / RLE through the
   pylibjpeg plugins), honouring *Bits Stored* (values above it are masked off by pydicom);
2. modality LUT (Rescale Slope/Intercept or a Modality LUT Sequence);
3. the first VOI LUT, else the first window centre/width (the default preset, PS3.3 C.11.2.1.2)
   when the file carries one, otherwise the full value range (0.5th-99.9th percentile, robust to
   burnt-in labels and collimator edges); malformed VOI or rescale values, or a window that
   leaves a constant image, fall back to that range with a warning in ``XrayImage.warnings``;
4. MONOCHROME1 inversion, so that 0 is always black.

Patient identifiers are never copied into :attr:`XrayImage.metadata`, never logged and never put
into error messages: only the file name the caller gave is.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cardioclarity.errors import (
    InputFileNotFoundError,
    InvalidInputError,
    UnsupportedFormatError,
    one_line,
)
from cardioclarity.sniff import IMAGE_KINDS, sniff

__all__ = ["MIN_SIZE", "XrayImage", "read_xray"]

#: Smallest accepted side in pixels: below it no anatomy can be measured.
MIN_SIZE = 64

_LATERAL = {"LL", "RL", "LATERAL", "LAT", "RLD", "LLD"}


@dataclass
class XrayImage:
    """A radiograph ready for the pipeline.

    Attributes
    ----------
    pixels : ndarray
        float32, shape (height, width), values in [0, 1], 0 = black (display orientation).
    metadata : dict
        ``format`` ("dicom" / "png" / "jpeg"), ``name``, ``width``, ``height``,
        ``pixel_spacing_mm`` ([row, col] mm or None), ``spacing_source`` ("PixelSpacing",
        "ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor", "ImagerPixelSpacing
        (detector plane)" or None), ``view_position`` ("PA", "AP", "LATERAL", ... or None),
        ``photometric``, ``bits_stored``, ``transfer_syntax``, ``modality``, ``sop_class``
        (SOP class name), ``body_part`` (BodyPartExamined, upper case), ``window``, ``frames``
        (the DICOM-only keys are None for PNG/JPEG). Never patient identifiers.
    warnings : list of str
        Non-fatal problems (lateral view, multi-frame file, colour converted to grey...).
    """

    pixels: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels, the order of the result's ``image_size``."""
        h, w = self.pixels.shape
        return int(w), int(h)

    @property
    def name(self) -> str:
        """The name given to :func:`read_xray` (file name or "upload"), for messages."""
        return str(self.metadata.get("name") or "image")


def read_xray(source: str | Path | bytes, *, name: str | None = None) -> XrayImage:
    """Read a chest radiograph from a path or bytes (DICOM, PNG or JPEG, sniffed by magic bytes).

    Parameters
    ----------
    source : str, Path or bytes
        File path, or the file's raw bytes (e.g. an upload).
    name : str, optional
        Name used in messages and metadata (defaults to the file name, or "upload").

    Returns
    -------
    XrayImage
        Pixels float32 in [0, 1], 0 = black; metadata without patient identifiers.

    Raises
    ------
    InputFileNotFoundError
        The path does not exist.
    UnsupportedFormatError
        The bytes are neither DICOM, PNG nor JPEG (e.g. a text file named ``.dcm``).
    InvalidInputError
        A DICOM without pixel data, truncated or undecodable pixel data, an image smaller than
        :data:`MIN_SIZE` pixels, or a constant image.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        name = name or "upload"
    else:
        path = Path(source)
        name = name or path.name
        if path.is_dir():
            raise InputFileNotFoundError(
                f"{name}: is a folder, not a file ({path}).",
                hint="give one DICOM, PNG or JPEG file (`cardioclarity xray detect` takes folders).")
        if not path.is_file():
            raise InputFileNotFoundError(
                f"{name}: no such file ({path}).", hint="check the path; give a DICOM, PNG or JPEG file.")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputFileNotFoundError(f"{name}: cannot be read ({exc.strerror or type(exc).__name__}).",
                                         hint="check the file's permissions.") from exc
    # The content decides, not the name: cardioclarity.sniff is the one sniffer every door uses.
    fmt = sniff(data)
    if fmt == "dicom-waveform":  # a DICOM ECG: the DICOM reader says it holds no image
        fmt = "dicom"
    if fmt not in IMAGE_KINDS:
        raise UnsupportedFormatError(
            f"{name}: not a DICOM, PNG or JPEG file (first bytes {data[:8]!r}, {len(data)} bytes).",
            hint="give a chest radiograph as DICOM (.dcm), PNG or JPEG; the name's extension is "
            "not enough, the content is checked.")
    img = _read_dicom(data, name) if fmt == "dicom" else _read_raster(data, name, fmt)
    h, w = img.pixels.shape
    if min(h, w) < MIN_SIZE:
        raise InvalidInputError(
            f"{name}: image is {w} x {h} pixels, smaller than the {MIN_SIZE}-pixel minimum.",
            hint="give the full-resolution radiograph, not a thumbnail.")
    if float(img.pixels.max() - img.pixels.min()) < 1e-6:
        raise InvalidInputError(f"{name}: the image is constant (every pixel has the same value).",
                                hint="the file holds no usable image; check the export.")
    img.metadata.update(name=name, format=fmt, width=int(w), height=int(h))
    return img


# --------------------------------------------------------------------------------------- raster
def _read_raster(data: bytes, name: str, fmt: str) -> XrayImage:
    from PIL import Image, UnidentifiedImageError

    warn: list[str] = []
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            mode = im.mode
            if mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float64)
                maxval = 65535.0 if arr.max() > 255 else 255.0
            else:
                if mode not in ("L", "1", "P", "LA"):
                    warn.append(f"colour image ({mode}) converted to greyscale")
                arr = np.asarray(im.convert("L"), dtype=np.float64)
                maxval = 255.0
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidInputError(
            f"{name}: the {fmt.upper()} file could not be decoded ({exc}).",
            hint="the file may be truncated; export it again.") from exc
    meta = {"pixel_spacing_mm": None, "spacing_source": None, "view_position": None,
            "photometric": f"{fmt.upper()} {mode}", "bits_stored": 16 if maxval > 255 else 8,
            "transfer_syntax": None, "modality": None, "sop_class": None, "body_part": None,
            "window": None, "frames": 1}
    return XrayImage((arr / maxval).astype(np.float32), meta, warn)


# ---------------------------------------------------------------------------------------- DICOM
#: Modalities whose multi-frame files are volumes or cine loops, never one projection film.
_VOLUME_MODALITIES = {"CT", "MR", "PT", "NM", "US", "OPT", "IVOCT", "IVUS", "RTDOSE"}


def _read_dicom(data: bytes, name: str) -> XrayImage:
    warn: list[str] = []
    ds, tsyntax = _parse_dicom(data, name, warn)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    frames = _int(ds, "NumberOfFrames", 1)
    modality = str(ds.get("Modality", "") or "").strip().upper() or None
    if frames > 1 and modality in _VOLUME_MODALITIES:
        raise InvalidInputError(
            f"{name}: a {frames}-frame {modality} DICOM is a volume or cine loop, not a chest "
            "radiograph.", hint="give one projection film (CR, DX or a secondary capture).")
    arr = _decode_pixels(ds, name, tsyntax)
    if frames > 1:
        warn.append(f"multi-frame DICOM ({frames} frames): the first frame was used")
        arr = arr[0]
    if arr.ndim == 3 and arr.shape[-1] not in (3, 4):
        raise InvalidInputError(f"{name}: pixel data of shape {tuple(arr.shape)} is a 3-D volume, "
                                "not one image.", hint="give one projection film.")
    if _int(ds, "SamplesPerPixel", 1) > 1 or arr.ndim == 3:
        arr = _colour_to_grey(ds, arr, photometric)
        warn.append(f"colour DICOM ({photometric}) converted to greyscale")
        photometric_out = "MONOCHROME2"
        rescaled = arr.astype(np.float64)
        # Colour images are display-ready (like a PNG): keep their full nominal range.
        window = {"type": "range", "range": [0.0, float(2 ** _int(ds, "BitsStored", 8) - 1)]}
    else:
        photometric_out = photometric
        rescaled = _modality_lut(ds, arr, warn)
        rescaled, window = _apply_voi(ds, rescaled, warn)
    img = _to_unit(rescaled, window)
    if window is not None and float(img.max() - img.min()) < 1e-6:
        warn.append("the file's VOI window leaves a constant image: full value range used instead")
        window = None
        img = _to_unit(rescaled, window)
    if photometric_out == "MONOCHROME1":
        img = 1.0 - img  # MONOCHROME1: minimum value is displayed white; flip so 0 = black
    spacing, source = _pixel_spacing(ds)
    view = _view_position(ds)
    if view == "LATERAL":
        warn.append("lateral view: the heart box and CTR are defined on frontal (PA/AP) films only")
    meta = {
        "pixel_spacing_mm": spacing,
        "spacing_source": source,
        "view_position": view,
        "photometric": photometric,
        "bits_stored": _int(ds, "BitsStored", _int(ds, "BitsAllocated", 8)),
        "transfer_syntax": str(getattr(tsyntax, "name", tsyntax)) if tsyntax else None,
        "modality": modality,
        "sop_class": _sop_class(ds),
        "body_part": str(ds.get("BodyPartExamined", "") or "").strip().upper() or None,
        "window": window,
        "frames": frames,
    }
    return XrayImage(img.astype(np.float32, copy=False), meta, warn)


def _sop_class(ds: Any) -> str | None:
    """The SOP class name (e.g. "CT Image Storage"), from the data set or the file meta."""
    fm = getattr(ds, "file_meta", None)
    uid = ds.get("SOPClassUID") or (fm.get("MediaStorageSOPClassUID") if fm is not None else None)
    return str(getattr(uid, "name", uid)).strip() or None if uid else None


def _to_unit(values: np.ndarray, window: dict | None) -> np.ndarray:
    lo, hi = _display_range(values, window)
    # float32 throughout, in place: a 2k x 2k film is 4 M pixels, and float64 temporaries cost
    # more than the rest of the read; the result is stored as float32 anyway.
    out = np.subtract(values, lo, dtype=np.float32)
    out *= np.float32(1.0 / max(hi - lo, 1e-12))
    return np.clip(out, 0.0, 1.0, out=out)


def _int(ds: Any, key: str, default: int) -> int:
    """An integer attribute, or ``default`` when absent, empty or malformed (e.g. "1A")."""
    try:
        v = ds.get(key, default)
        return int(v) if v not in (None, "") else default
    except (TypeError, ValueError):
        return default


def _parse_dicom(data: bytes, name: str, warn: list[str]) -> tuple[Any, Any]:
    """The data set and its transfer syntax; refuses files that hold no image."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(io.BytesIO(data), force=True)
        except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError,
                AttributeError, NotImplementedError) as exc:
            raise InvalidInputError(
                f"{name}: DICOM header could not be parsed ({type(exc).__name__}: {one_line(exc, 300)}).",
                hint="the file may be truncated or corrupt.") from exc
    truncated = any("End of file" in str(w.message) or "truncat" in str(w.message).lower()
                    for w in caught)
    if "PixelData" not in ds and "FloatPixelData" not in ds:
        what, hint = _what_without_pixels(ds)
        ending = " and ends early (truncated?)" if truncated else ""
        raise InvalidInputError(f"{name}: DICOM has no pixel data{ending}: it is {what}.", hint=hint)
    fm = getattr(ds, "file_meta", None)
    tsyntax = fm.get("TransferSyntaxUID") if fm is not None else None
    if tsyntax is None:
        tsyntax = _infer_transfer_syntax(ds, name)
        warn.append(f"no Transfer Syntax UID in the file meta: read as {tsyntax.name}, the "
                    "encoding of its data set")
    return ds, tsyntax


def _what_without_pixels(ds: Any) -> tuple[str, str]:
    """What a DICOM without pixel data is (from its SOP class), and a hint."""
    sop = _sop_class(ds) or ""
    image_hint = "give an image DICOM (a chest radiograph: CR, DX or a secondary capture)."
    if "Directory" in sop or "DirectoryRecordSequence" in ds:
        return "a DICOMDIR (an index of other files)", "give one of the image files it lists."
    if "Image" in sop:
        return f"SOP class {sop}, with no image stored", image_hint
    for key, what in (("SR", "a structured report"), ("RT ", "a radiotherapy object"),
                      ("Waveform", "a waveform recording (e.g. an ECG)"),
                      ("Presentation State", "a presentation state"), ("Encapsulated", "an encapsulated document")):
        if key in sop:
            return f"{what} (SOP class {sop}), not an image", image_hint
    return f"SOP class {sop or 'not stated'}, with no image stored", image_hint


def _infer_transfer_syntax(ds: Any, name: str) -> Any:
    """Transfer syntax of a file without one in its meta: uncompressed, as its data set is encoded."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    implicit, little = getattr(ds, "original_encoding", (None, None))
    elem = ds["PixelData"] if "PixelData" in ds else None
    if elem is not None and elem.is_undefined_length:
        raise UnsupportedFormatError(
            f"{name}: compressed pixel data, but the file meta names no Transfer Syntax UID, so the "
            "codec is unknown.", hint="export the file again with its file meta (a Part 10 file).")
    ts = (ImplicitVRLittleEndian if implicit else
          ExplicitVRLittleEndian if little in (True, None) else ExplicitVRBigEndian)
    if getattr(ds, "file_meta", None) is None:
        ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ts
    return ts


def _decode_pixels(ds: Any, name: str, tsyntax: Any) -> np.ndarray:
    """The stored pixel values (step 1 of the module docstring), with messages that say why not."""
    ts = getattr(tsyntax, "name", tsyntax)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ds.pixel_array
    except (NotImplementedError, RuntimeError) as exc:
        detail = one_line(exc, 300).replace("Unable to decode as exceptions were raised by all "
                                        "available plugins: ", "")
        if isinstance(exc, NotImplementedError) or "missing" in detail or "no pixel data handlers" in detail:
            raise UnsupportedFormatError(
                f"{name}: no decoder for pixel data in transfer syntax {ts} is installed "
                f"(pydicom: {detail}).",
                hint="install the pylibjpeg plugins (pylibjpeg-libjpeg, pylibjpeg-openjpeg) or "
                "python-gdcm, or decompress the file (e.g. `gdcmconv --raw`).") from exc
        raise InvalidInputError(
            f"{name}: the installed decoders could not decode the {ts} pixel data ({detail}).",
            hint="the file may be corrupt or use a codec variant the decoders lack; try "
            "python-gdcm, or decompress it (e.g. `gdcmconv --raw`).") from exc
    except Exception as exc:  # truncated data, bad lengths: pydicom raises several types
        raise InvalidInputError(
            f"{name}: DICOM pixel data could not be decoded ({type(exc).__name__}: {one_line(exc, 300)}).",
            hint="the file may be truncated, or its image header (rows, columns, bits) wrong; "
            "export it again.") from exc


def _colour_to_grey(ds: Any, arr: np.ndarray, photometric: str) -> np.ndarray:
    """Luma (ITU-R BT.601) of a colour image. pydicom already returns YBR data as RGB
    (its default ``as_rgb=True``); palette images are expanded through their LUT first."""
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        arr = apply_color_lut(arr, ds)
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 3 and arr.shape[-1] >= 3:
        arr = arr[..., 0] * 0.299 + arr[..., 1] * 0.587 + arr[..., 2] * 0.114
    return arr


def _modality_lut(ds: Any, arr: np.ndarray, warn: list[str]) -> np.ndarray:
    """Step 2 (Rescale Slope/Intercept or Modality LUT); stored values when those are malformed."""
    from pydicom.pixels import apply_modality_lut

    try:
        out = np.asarray(apply_modality_lut(arr, ds), dtype=np.float64)
        if out.shape == arr.shape and np.isfinite(out).all():
            return out
        problem = "gives non-finite values or another shape"
    except Exception as exc:  # malformed slope/intercept or LUT: pydicom raises several types
        problem = one_line(exc, 120)
    warn.append(f"modality LUT / rescale values unusable ({problem}): stored values used")
    return arr.astype(np.float64)


def _apply_voi(ds: Any, rescaled: np.ndarray, warn: list[str]) -> tuple[np.ndarray, dict | None]:
    """Step 3: the file's first VOI LUT, else its first window (the default one, PS3.3 C.11.2.1.2).

    Malformed VOI values fall back to the full value range with a warning, never an error.
    """
    if "VOILUTSequence" in ds:
        try:
            out = _voi_lut(ds, rescaled)
            if out.max() > out.min():
                return out, {"type": "VOI LUT", "range": [float(out.min()), float(out.max())]}
            problem = "it maps the image to one value"
        except Exception as exc:  # a broken LUT is common in the wild: fall back
            problem = one_line(exc, 120)
        warn.append(f"VOI LUT Sequence unusable ({problem}): ignored")
    if "WindowCenter" in ds or "WindowWidth" in ds:
        window, problem = _first_window(ds)
        if window is not None:
            return rescaled, window
        warn.append(f"window centre/width unusable ({problem}): full value range used instead")
    return rescaled, None


def _voi_lut(ds: Any, rescaled: np.ndarray) -> np.ndarray:
    """The first VOI LUT of the sequence applied to the modality-LUT output."""
    from pydicom.pixels import apply_voi

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = np.rint(rescaled).astype(np.int64)  # LUT inputs are integers (PS3.3 C.11.2.1.1)
        return np.asarray(apply_voi(values, ds, index=0), dtype=np.float64)


def _values(v: Any) -> list[Any]:
    if v is None or isinstance(v, str | bytes):
        return [] if v in (None, "", b"") else [v]
    try:
        return list(v)  # MultiValue, list, tuple
    except TypeError:
        return [v]


def _first_window(ds: Any) -> tuple[dict | None, str]:
    """The first (default) window preset, or None and what is wrong with the values."""
    try:
        centres, widths = _values(ds.get("WindowCenter")), _values(ds.get("WindowWidth"))
    except Exception as exc:  # an undecodable DS value raises on access
        return None, one_line(exc, 120)
    if not centres or not widths:
        return None, "centre or width missing or empty"
    try:
        wc, ww = float(centres[0]), float(widths[0])
    except (TypeError, ValueError):
        return None, f"not numbers: {str(centres[0])[:20]!r} / {str(widths[0])[:20]!r}"
    if not (np.isfinite(wc) and np.isfinite(ww)) or ww <= 1:
        return None, f"centre {wc:g}, width {ww:g}: the width must be a finite number above 1"
    window = {"type": "window", "center": wc, "width": ww}
    if max(len(centres), len(widths)) > 1:
        window["presets"] = max(len(centres), len(widths))
    return window, ""


def _display_range(values: np.ndarray, window: dict | None) -> tuple[float, float]:
    if window is not None and window["type"] == "window":
        # Linear window (PS3.3 C.11.2.1.2), ignoring the 0.5 offsets that matter only for
        # integer output.
        c, w = window["center"], window["width"]
        return c - w / 2, c + w / 2
    if window is not None:  # VOI LUT output or a colour image's nominal range
        return window["range"][0], window["range"][1]
    # No window in the file: robust full range, so a few saturated pixels (text, markers)
    # do not compress the anatomy into a narrow grey band.
    sub = values[:: max(1, values.shape[0] // 512), :: max(1, values.shape[1] // 512)]
    lo, hi = np.percentile(sub, [0.5, 99.9])
    if hi <= lo:
        lo, hi = float(values.min()), float(values.max())
    return float(lo), float(hi)


def _pixel_spacing(ds: Any) -> tuple[list[float] | None, str | None]:
    """Pixel spacing in mm ([row, column]) and where it came from.

    PixelSpacing is in the patient plane. ImagerPixelSpacing is at the detector, larger than
    the anatomy by the geometric magnification; corrected when the file states the estimated
    magnification factor, otherwise returned as is and labelled "detector plane".
    """
    def _pair(v: Any) -> list[float] | None:
        try:
            vals = [float(x) for x in v]
        except (TypeError, ValueError):
            return None
        return vals[:2] if len(vals) >= 2 and all(x > 0 for x in vals[:2]) else None

    if "PixelSpacing" in ds and (ps := _pair(ds.PixelSpacing)):
        return ps, "PixelSpacing"
    if "ImagerPixelSpacing" in ds and (ips := _pair(ds.ImagerPixelSpacing)):
        emf = ds.get("EstimatedRadiographicMagnificationFactor")
        try:
            emf = float(emf) if emf is not None else None
        except (TypeError, ValueError):
            emf = None
        if emf and emf > 0:
            return [v / emf for v in ips], "ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor"
        return ips, "ImagerPixelSpacing (detector plane)"
    return None, None


def _view_position(ds: Any) -> str | None:
    view = str(ds.get("ViewPosition", "") or "").strip().upper()
    if not view:
        # Some modalities only describe the view in free text: look for whole words.
        words = set(" ".join(str(ds.get(k, "")) for k in ("SeriesDescription", "StudyDescription"))
                    .upper().replace("/", " ").replace("_", " ").split())
        for token, norm in (("LAT", "LATERAL"), ("LATERAL", "LATERAL"), ("PA", "PA"), ("AP", "AP")):
            if token in words:
                return norm
        return None
    if view in _LATERAL:
        return "LATERAL"
    return view
