"""Signal quality on real records: the usable fraction `assess_quality` gives clean, noisy and
VT/VF recordings. Writes the ``ecg-quality`` section of BENCHMARKS.md.

    python benchmarks/bench_ecg_quality.py [--data-dir ../shared/data]

Clean MIT-BIH records should stay near 1.0; the noise-only nstdb recordings (``em``, ``ma``: no
ECG at all) should be near 0; the figures say how far the rules are from that.
"""

from __future__ import annotations

import argparse
import time

from _common import default_data_dir, machine, md_table, write_section

from cardioclarity.ecg.records.io import read_record
from cardioclarity.ecg.records.processing import assess_quality

#: (record, what it is) — default lead of each (MLII/II first).
RECORDS = [
    ("wfdb/v102s", "fast rate (~130 bpm), plain QRS"),
    ("wfdb/a103l", "CinC 2015 false asystole alarm"),
    ("mitdb/100", "clean"), ("mitdb/203", "multiform ventricular ectopy"), ("mitdb/118", "clean"),
    ("nstdb/118e12", "118 + electrode motion, 12 dB"), ("nstdb/118e06", "6 dB"),
    ("nstdb/118e00", "0 dB"), ("nstdb/118e_6", "-6 dB"),
    ("nstdb/em", "electrode-motion noise only"), ("nstdb/ma", "muscle-artefact noise only"),
    ("cudb/cu01", "VT/VF"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=str(default_data_dir()), help="the shared data folder")
    args = ap.parse_args()
    rows = []
    for rec_name, what in RECORDS:
        try:
            rec = read_record(f"{args.data_dir}/{rec_name}")
        except Exception as exc:  # noqa: BLE001 - a missing record is a row, not a stop
            rows.append({"record": rec_name, "what": what, "lead": "", "usable fraction": "",
                         "seconds": "", "note": str(exc)[:80]})
            continue
        t0 = time.perf_counter()
        q = assess_quality(rec.signal, rec.fs)
        rows.append({"record": rec_name, "what": what, "lead": rec.lead,
                     "usable fraction": round(float(q.usable_fraction), 3),
                     "seconds": round(time.perf_counter() - t0, 2), "note": ""})
        print(rows[-1])
    body = ("## ECG signal quality on real records (`benchmarks/bench_ecg_quality.py`)\n\n"
            f"Machine: {machine()}. `read_record` (default lead) then `assess_quality`; one run "
            "per record (the result is deterministic).\n\n" + md_table(rows, ".3f"))
    write_section("ecg-quality", body)


if __name__ == "__main__":
    main()
