"""R-peak detection on MIT-BIH: ours beside NeuroKit2's default and wfdb's XQRS, in one run.

Protocol: every available MIT-BIH record, lead MLII (V5 where absent), reference = beat annotations (wfdb's beat
symbols; ventricular flutter waves ``!`` and the VF/VFL episodes excluded for every detector, as
EC57 does); a detection matches a reference beat within 150 ms
(``wfdb.processing.compare_annotations``). Pooled sensitivity, PPV and F1 per record group:
DS1 (the records the detector's thresholds were tuned on, and most of those the learned
detector ``net`` was trained on), DS2 (held out: never looked at while tuning or training), and
the paced records (reported apart; never trained on). Time = median over records of the detector
call on the raw lead (cleaning included), each record timed once after a warm-up.

Usage::

    python benchmarks/bench_ecg_rpeaks.py [--data-dir ../shared/data] [--xqrs-records N]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
from _common import default_data_dir, machine, md_table, write_section
from wfdb.processing import compare_annotations

from cardioclarity.ecg.records.datasets import BEAT_SYMBOLS, DS1, DS2, PACED, excluded_spans
from cardioclarity.ecg.records.io import read_record
from cardioclarity.ecg.records.processing import ecg_peaks
from cardioclarity.reporting import progress

METHODS = ("cardioclarity", "net", "hybrid", "neurokit", "xqrs")


def _drop(x: np.ndarray, spans) -> np.ndarray:
    for a, b in spans:
        x = x[(x < a) | (x > b)]
    return x


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=str, default=str(default_data_dir()))
    ap.add_argument("--xqrs-records", type=int, default=0,
                    help="run XQRS on only the first N records of each group (0 = all)")
    ap.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md")
    args = ap.parse_args(argv)
    logging.getLogger("wfdb").setLevel(logging.ERROR)
    mitdb = Path(args.data_dir) / "mitdb"
    names = sorted(p.stem for p in mitdb.glob("*.hea"))
    group = {n: "DS1" if n in DS1 else "DS2" if n in DS2 else "paced" if n in PACED else "other"
             for n in names}
    counts = {(g, m): np.zeros(3) for g in ("DS1", "DS2", "paced", "other") for m in METHODS}
    times = {m: [] for m in METHODS}
    n_rec = {(g, m): 0 for g in ("DS1", "DS2", "paced", "other") for m in METHODS}
    per_record = []
    ecg_peaks(read_record(mitdb / names[0]).signal[:36000], 360)  # warm-up (imports, caches)
    for name in progress(names, desc="records", unit="rec"):
        rec = read_record(mitdb / name)  # MLII, or V5 on the two records without it
        ann = rec.annotations
        spans = excluded_spans(ann)
        ref = _drop(np.array([s for s, y in zip(ann.sample, ann.symbol, strict=True)
                              if y in BEAT_SYMBOLS]), spans)
        row = {"record": name, "group": group[name], "beats": int(ref.size)}
        for m in METHODS:
            g = group[name]
            if m == "xqrs" and args.xqrs_records and n_rec[(g, m)] >= args.xqrs_records:
                continue
            t0 = time.perf_counter()
            det = ecg_peaks(rec.signal, rec.fs, method=m)
            times[m].append(time.perf_counter() - t0)
            det = _drop(det, spans)
            c = compare_annotations(ref, det, int(0.15 * rec.fs))
            counts[(g, m)] += (c.tp, c.fp, c.fn)
            n_rec[(g, m)] += 1
            row[f"{m}_fp"], row[f"{m}_fn"] = int(c.fp), int(c.fn)
        per_record.append(row)

    def prf(tp, fp, fn):
        se, ppv = tp / max(tp + fn, 1), tp / max(tp + fp, 1)
        return se, ppv, 2 * se * ppv / max(se + ppv, 1e-12)

    rows = []
    for g in ("DS1", "DS2", "non-paced (DS1+DS2)", "paced"):
        for m in METHODS:
            if g.startswith("non-paced"):
                tp, fp, fn = counts[("DS1", m)] + counts[("DS2", m)]
                nr = n_rec[("DS1", m)] + n_rec[("DS2", m)]
            else:
                tp, fp, fn = counts[(g, m)]
                nr = n_rec[(g, m)]
            if nr == 0:
                continue
            se, ppv, f1 = prf(tp, fp, fn)
            rows.append({"records": g, "detector": m, "n_records": nr, "beats": int(tp + fn),
                         "FP": int(fp), "FN": int(fn), "sensitivity": se, "PPV": ppv, "F1": f1})
    trows = [{"detector": m, "median s / 30-min record": float(np.median(times[m])),
              "records timed": len(times[m]),
              "x NeuroKit2": float(np.median(times[m]) / np.median(times["neurokit"]))}
             for m in METHODS if times[m]]
    worst = sorted(per_record, key=lambda r: -(r["cardioclarity_fp"] + r["cardioclarity_fn"]))[:6]
    body = "\n\n".join([
        "## R-peak detection (MIT-BIH, 150 ms tolerance)",
        f"Machine: {machine()}",
        "Command: `python benchmarks/bench_ecg_rpeaks.py" + (
            f" --xqrs-records {args.xqrs_records}`" if args.xqrs_records else "`"),
        __doc__.split("\n\n")[1].replace("\n", " "),
        "Records: " + ", ".join(f"{n} ({group[n]})" for n in names) + ".",
        md_table(rows),
        md_table(trows, floatfmt=".3f"),
        "Records with most errors for our detector (FP/FN per detector):",
        md_table(worst),
    ])
    print(body)
    if not args.no_write:
        write_section("ecg-rpeaks", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
