"""Synthetic ECG with known R-peaks for the record tests (no data files needed)."""

from __future__ import annotations

import numpy as np

# (offset from R in s, amplitude in mV, width in s): P, Q, R, S, T
_WAVES = ((-0.20, 0.15, 0.025), (-0.03, -0.10, 0.010), (0.0, 1.0, 0.012), (0.03, -0.25, 0.010),
          (0.25, 0.30, 0.050))


def synth_ecg(fs: float = 360.0, duration: float = 30.0, hr: float = 70.0, rr=None, seed: int = 0,
              noise: float = 0.01, p_wave: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Sum-of-Gaussians ECG; returns (signal in mV, true R-peak sample indices).

    ``rr`` (seconds) overrides the constant rate ``hr``; it is cycled to fill ``duration``.
    """
    rng = np.random.default_rng(seed)
    n = int(duration * fs)
    t = np.arange(n) / fs
    rr_seq = np.full(1, 60.0 / hr) if rr is None else np.asarray(rr, dtype=float)
    times, cur, k = [], 0.6, 0
    while cur < duration - 0.6:
        times.append(cur)
        cur += rr_seq[k % rr_seq.size]
        k += 1
    x = np.zeros(n)
    for tr in times:
        for off, amp, w in _WAVES:
            if off == -0.20 and not p_wave:
                continue
            a, b = int((tr + off - 5 * w) * fs), int((tr + off + 5 * w) * fs) + 1
            sl = slice(max(a, 0), min(b, n))
            x[sl] += amp * np.exp(-0.5 * ((t[sl] - tr - off) / w) ** 2)
    x += noise * rng.standard_normal(n)
    return x, np.round(np.asarray(times) * fs).astype(np.int64)


def af_like_rr(n: int = 200, mean: float = 0.7, seed: int = 0) -> np.ndarray:
    """Irregularly irregular RR intervals (AF-like): independent, wide spread."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(mean, 0.18 * mean, n), 0.35, 1.6)


def write_wfdb(folder, name: str, signal: np.ndarray, fs: float, sig_names=("MLII",)) -> None:
    """Write a WFDB record (format 16) with the given leads (columns of ``signal``)."""
    import wfdb

    sig = np.atleast_2d(np.asarray(signal, dtype=float))
    if sig.shape[0] != len(sig_names):
        sig = sig.T
    wfdb.wrsamp(name, fs=fs, units=["mV"] * len(sig_names), sig_name=list(sig_names),
                p_signal=sig.T, fmt=["16"] * len(sig_names), write_dir=str(folder))


def write_edf(path, signals, fs, labels, record_s: int = 1, annotations: bool = False) -> None:
    """Minimal EDF(+) writer (16-bit, one data record per ``record_s`` seconds), per the EDF spec.

    ``signals``: a 2-D array (one row per signal) or a list of 1-D arrays; ``fs``: one rate or
    one per signal (mixed rates). ``annotations`` adds an "EDF Annotations" channel (EDF+).
    """
    sigs = [np.asarray(s, dtype=float) for s in (signals if isinstance(signals, list)
                                                   else np.atleast_2d(signals))]
    rates = [fs] * len(sigs) if np.isscalar(fs) else list(fs)
    spr = [int(r * record_s) for r in rates]
    nrec = int(np.ceil(len(sigs[0]) / spr[0]))
    rows = []
    for sig, k in zip(sigs, spr, strict=True):
        sig = np.pad(sig, (0, nrec * k - sig.size))
        pmin, pmax = sig.min() - 1e-3, sig.max() + 1e-3
        rows.append((np.round((sig - pmin) / (pmax - pmin) * 65535 - 32768), pmin, pmax, k))
    labels = list(labels)
    if annotations:
        # each data record starts with its time-stamp annotation "+<onset>\x14\x14\0"
        tal = [f"+{i * record_s}\x14\x14\x00".encode().ljust(60, b"\x00") for i in range(nrec)]
        ann = np.frombuffer(b"".join(tal), dtype="<i2").astype(float)
        rows.append((ann, -1.0, 1.0, 30))
        labels.append("EDF Annotations")
    ns = len(rows)

    def f(v, w):
        return str(v)[:w].ljust(w).encode("ascii")

    hdr = (f("0", 8) + f("X X X X", 80) + f("Startdate X X X X", 80) + f("01.01.00", 8)
           + f("00.00.00", 8) + f(256 * (ns + 1), 8) + f("EDF+C" if annotations else "", 44)
           + f(nrec, 8) + f(record_s, 8) + f(ns, 4))
    fields = [[f(lb, 16) for lb in labels], [f("", 80)] * ns, [f("mV", 8)] * ns,
              [f(f"{r[1]:.4f}", 8) for r in rows], [f(f"{r[2]:.4f}", 8) for r in rows],
              [f(-32768, 8)] * ns, [f(32767, 8)] * ns, [f("", 80)] * ns,
              [f(r[3], 8) for r in rows], [f("", 32)] * ns]
    for col in fields:
        hdr += b"".join(col)
    body = b"".join(r[0].astype("<i2")[i * r[3]:(i + 1) * r[3]].tobytes()
                    for i in range(nrec) for r in rows)
    with open(path, "wb") as fh:
        fh.write(hdr + body)
