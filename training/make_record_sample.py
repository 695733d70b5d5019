"""Cut the bundled demo record (``samples/mitdb219_5m``) out of MIT-BIH record 219.

Minutes 5:00-10:00 of record 219 (inter-patient test set DS2, so the bundled beat model never saw
it): atrial fibrillation with ventricular ectopic beats and pauses. Both leads, format 212, with
the reference annotations shifted to the excerpt; the rhythm in force at the cut is restated at
sample 0 so the excerpt's annotations stand on their own.

Usage: ``python training/make_record_sample.py [--data-dir ../shared/data]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import wfdb

RECORD, START_S, LENGTH_S, NAME = "219", 300, 300, "mitdb219_5m"
OUT = Path(__file__).resolve().parents[1] / "src" / "cardioclarity" / "samples"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = ap.parse_args()
    src = str(args.data_dir / "mitdb" / RECORD)
    hdr = wfdb.rdheader(src)
    a, b = int(START_S * hdr.fs), int((START_S + LENGTH_S) * hdr.fs)
    rec = wfdb.rdrecord(src, sampfrom=a, sampto=b, physical=False)
    ann = wfdb.rdann(src, "atr")
    # The rhythm in force at the cut: the last rhythm label before it.
    rhythm_before = [n.rstrip("\x00") for s, n in zip(ann.sample, ann.aux_note, strict=True) if s < a and n.startswith("(")]
    keep = (ann.sample >= a) & (ann.sample < b)
    sample = ann.sample[keep] - a
    symbol = [s for s, k in zip(ann.symbol, keep, strict=True) if k]
    aux = [n.rstrip("\x00") for n, k in zip(ann.aux_note, keep, strict=True) if k]
    if rhythm_before:
        sample = np.r_[0, sample]
        symbol = ["+", *symbol]
        aux = [rhythm_before[-1], *aux]
    OUT.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(NAME, fs=hdr.fs, units=rec.units, sig_name=rec.sig_name, d_signal=rec.d_signal,
                fmt=rec.fmt, adc_gain=rec.adc_gain, baseline=rec.baseline,
                comments=[f"MIT-BIH Arrhythmia Database record {RECORD}, "
                          f"{START_S // 60}:00-{(START_S + LENGTH_S) // 60}:00 (ODC-By 1.0, PhysioNet)"],
                write_dir=str(OUT))
    wfdb.wrann(NAME, "atr", np.asarray(sample, dtype=np.int64), symbol=symbol, aux_note=aux,
               fs=hdr.fs, write_dir=str(OUT))
    print(f"wrote {OUT / NAME}.hea/.dat/.atr: {len(symbol)} annotations")


if __name__ == "__main__":
    main()
