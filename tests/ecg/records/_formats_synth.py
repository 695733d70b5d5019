"""Small synthetic files of the hospital ECG formats, written in code for the reader tests.

``aecg_xml`` writes an HL7 aECG, ``sierra_xml`` a Philips Sierra XML (plain or XLI-compressed;
the XLI *encoder* here is written from the format's public description, independently of the
reader's decoder), ``dicom_waveform`` a DICOM 12-lead ECG built with pydicom.
"""

from __future__ import annotations

import base64
import io
import struct

import numpy as np

LEADS12 = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


def synthetic_leads(n: int = 2500, fs: float = 250.0, seed: int = 0) -> np.ndarray:
    """12 leads (mV) of a regular 75-bpm ECG-like signal: Gaussian P, QRS and T waves, with
    III, aVR, aVL, aVF derived from I and II as a real cart derives them."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    beat = np.zeros(n)
    for r in np.arange(0.4, t[-1], 0.8):
        beat += 0.15 * np.exp(-((t - r + 0.16) / 0.025) ** 2)   # P
        beat += 1.0 * np.exp(-((t - r) / 0.012) ** 2)           # R
        beat -= 0.2 * np.exp(-((t - r - 0.03) / 0.01) ** 2)     # S
        beat += 0.3 * np.exp(-((t - r - 0.28) / 0.05) ** 2)     # T
    i = 0.6 * beat + 0.01 * rng.standard_normal(n)
    ii = 1.0 * beat + 0.01 * rng.standard_normal(n)
    iii = ii - i
    out = [i, ii, iii, -(i + ii) / 2, (i - iii) / 2, (ii + iii) / 2]
    out += [(0.5 + 0.2 * k) * beat + 0.01 * rng.standard_normal(n) for k in range(6)]
    return np.vstack(out)


# --------------------------------------------------------------------------------------------
# HL7 aECG
# --------------------------------------------------------------------------------------------
def aecg_xml(signals: np.ndarray | None = None, *, fs: float = 250.0, scale_uv: float = 5.0,
             unit: str = "uV", series_code: str = "RHYTHM", with_time: bool = True,
             doctype: str = "", leads=LEADS12) -> bytes:
    """An HL7 aECG document holding ``signals`` (mV) as digits of ``scale_uv`` ``unit``."""
    signals = synthetic_leads(fs=fs) if signals is None else signals
    seqs = []
    if with_time:
        seqs.append(f"""<component><sequence><code code="TIME_ABSOLUTE"/>
<value xsi:type="GLIST_TS"><head value="20240101120000.000"/><increment value="{1 / fs:g}" unit="s"/></value>
</sequence></component>""")
    for name, x in zip(leads, signals, strict=False):
        per_mv = {"uV": 1000.0, "mV": 1.0}.get(unit, 1000.0)  # unknown units: written as uV
        digits = " ".join(str(int(v)) for v in np.round(x * per_mv / scale_uv))
        seqs.append(f"""<component><sequence><code code="MDC_ECG_LEAD_{name.upper()}"/>
<value xsi:type="SLIST_PQ"><origin value="0" unit="{unit}"/><scale value="{scale_uv:g}" unit="{unit}"/>
<digits>{digits}</digits></value></sequence></component>""")
    return (f"""<?xml version="1.0" encoding="utf-8"?>{doctype}
<AnnotatedECG xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<component><series><code code="{series_code}"/>
<component><sequenceSet>{''.join(seqs)}</sequenceSet></component>
</series></component></AnnotatedECG>""").encode()


XML_BOMB = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
            + b"".join(b'<!ENTITY lol%d "%s">' % (k, (b"&lol%d;" % (k - 1) if k > 1 else b"&lol;") * 10)
                       for k in range(1, 10))
            + b']>\n<AnnotatedECG xmlns="urn:hl7-org:v3">&lol9;</AnnotatedECG>')


# --------------------------------------------------------------------------------------------
# Philips Sierra, XLI
# --------------------------------------------------------------------------------------------
def lzw_encode(data: bytes, bits: int = 10) -> bytes:
    """Fixed-width LZW (256 literals, no clear code, dictionary capped at 2**bits - 1 entries),
    codes packed MSB first, the last byte zero-padded."""
    max_code = (1 << bits) - 2
    table = {bytes([i]): i for i in range(256)}
    codes, w = [], b""
    for c in data:
        wc = w + bytes([c])
        if wc in table:
            w = wc
            continue
        codes.append(table[w])
        if len(table) <= max_code:
            table[wc] = len(table)
        w = bytes([c])
    if w:
        codes.append(table[w])
    acc = n_acc = 0
    out = bytearray()
    for code in codes:
        acc = (acc << bits) | code
        n_acc += bits
        while n_acc >= 8:
            n_acc -= 8
            out.append((acc >> n_acc) & 0xFF)
    if n_acc:
        out.append((acc << (8 - n_acc)) & 0xFF)
    return bytes(out)


def xli_encode(leads: list[np.ndarray]) -> bytes:
    """XLI chunks of integer leads: second-order delta codes (bias 64), high bytes then low
    bytes, LZW-compressed."""
    out = bytearray()
    for s in leads:
        s = np.asarray(s, dtype=np.int64)
        codes = np.zeros(s.size, dtype=np.int64)
        codes[:2] = s[:2]
        first = int(2 * s[1] - s[0] - s[2])
        # sample i (i >= 3) = 2 s[i-1] - s[i-2] - (codes[i-1] - 64)
        codes[2:-1] = 2 * s[2:-1] - s[1:-2] - s[3:] + 64
        u = codes.astype(np.int16).view(np.uint16)
        packed = bytes((u >> 8).astype(np.uint8)) + bytes((u & 0xFF).astype(np.uint8))
        body = lzw_encode(packed)
        out += struct.pack("<iHh", len(body), 1, first) + body
    return bytes(out)


def sierra_xml(signals: np.ndarray | None = None, *, fs: float = 500.0, resolution: float = 5.0,
               compress: bool = True, extra_s: float = 0.0) -> bytes:
    """A Philips Sierra 1.04 XML file of ``signals`` (mV); with ``compress``, XLI as carts write
    it (leads III, aVR, aVL, aVF stored as residuals against I and II)."""
    signals = synthetic_leads(n=int(10 * fs), fs=fs) if signals is None else signals
    units = np.round(signals * 1000 / resolution).astype(np.int64)
    if extra_s:  # the cart's calibration pulse after the ECG: 1 mV for 0.2 s in every lead
        pad = np.zeros((units.shape[0], int(extra_s * fs)), dtype=np.int64)
        pad[:, int(0.3 * fs):int(0.5 * fs)] = int(round(1000 / resolution))
        units = np.hstack([units, pad])
    n = units.shape[1]
    if compress:
        i, ii = units[0], units[1]
        stored = [i, ii, ii - i - units[2], -units[3] - np.trunc((i + ii) / 2).astype(np.int64)]
        iii = units[2]
        stored += [np.trunc((i - iii) / 2).astype(np.int64) - units[4],
                   np.trunc((ii + iii) / 2).astype(np.int64) - units[5], *units[6:]]
        payload = xli_encode(stored)
        attrs = 'compression="XLI"'
    else:
        payload = units.astype("<i2").tobytes()
        attrs = 'compression="None"'
    b64 = base64.b64encode(payload).decode()
    return f"""<?xml version="1.0" encoding="utf-8"?>
<restingecgdata xmlns="http://www3.medical.philips.com">
<documentinfo><documentversion>1.04</documentversion></documentinfo>
<dataacquisition><signalcharacteristics><samplingrate>{fs:g}</samplingrate>
<signalresolution>{resolution:g}</signalresolution><numberchannelsvalid>12</numberchannelsvalid>
</signalcharacteristics></dataacquisition>
<waveforms><parsedwaveforms dataencoding="Base64" {attrs} numberofleads="12"
 leadlabels="{' '.join(LEADS12)}" durationperchannel="{round(n * 1000 / fs)}" samplespersecond="{fs:g}"
 resolution="{resolution:g}" signaloffset="0">{b64}</parsedwaveforms></waveforms>
</restingecgdata>""".encode()


# --------------------------------------------------------------------------------------------
# DICOM
# --------------------------------------------------------------------------------------------
def edit_dicom(data: bytes, edit) -> bytes:
    """``data`` (a DICOM file) after ``edit(ds)`` changed the dataset."""
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(data))
    edit(ds)
    buf = io.BytesIO()
    ds.save_as(buf)
    return buf.getvalue()
