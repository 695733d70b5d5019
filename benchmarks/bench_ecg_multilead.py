"""Multi-lead R-peak fusion against single-lead detection, and intervals against reference
fiducials.

R-peaks. Protocol as ``bench_ecg_rpeaks.py``: reference = MIT-BIH beat annotations (VF/VFL
episodes excluded), a detection matches within 150 ms (``wfdb.processing.compare_annotations``),
pooled Se/PPV/F1. Detectors: the record pipeline's single-lead detector (``DEFAULT_PEAK_METHOD``,
``hybrid``) on lead 1 (MLII, V5 on 102/104) and on lead 2 (V1/V2/V4/V5), and ``multilead_peaks``
fusing the two with that same detector (with two usable leads a beat needs both,
or must fill a gap in the rhythm of the beats both found). Records: every available MIT-BIH
record (DS1, DS2 and paced apart) and the noise stress test records 118e/119e at SNR 12, 6, 0,
-6 dB, scored over the whole record and over the noisy 2-min blocks only (5-7, 9-11, ... min).
Not a held-out figure: the gap rule was added after a first run of this benchmark (plain union
and plain intersection of the two leads) on these same records.

Intervals. ``measure_intervals`` on each reference record (the median of its per-beat values,
rhythm lead II, beats from ``multilead_peaks``), per delineation method, against (a) the HL7 aECG example's annotated fiducials
(one record, 12 beats: PR, QRS, QT per beat) and (b) the Philips Sierra files' own global
measurements (4 records: a cart algorithm's numbers, not a human reading). Absolute errors in ms; n = the
records a value was given for. The default method was chosen on these same 5 records: there is
no held-out set of reference fiducials here.

Usage::

    python benchmarks/bench_ecg_multilead.py [--data-dir ../shared/data] [--records N]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
from _common import default_data_dir, machine, md_table, write_section
from bench_ecg_rpeaks import _drop
from wfdb.processing import compare_annotations

from cardioclarity.ecg.records.datasets import BEAT_SYMBOLS, DS1, DS2, PACED, excluded_spans
from cardioclarity.ecg.records.io import read_record
from cardioclarity.ecg.records.methods import DEFAULT_PEAK_METHOD
from cardioclarity.ecg.records.multilead import multilead_peaks
from cardioclarity.ecg.records.processing import assess_quality, ecg_peaks
from cardioclarity.reporting import progress

DETECTORS = ("lead 1", "lead 2", "fused")


def _keep(x: np.ndarray, spans) -> np.ndarray:
    m = np.zeros(x.size, dtype=bool)
    for a, b in spans:
        m |= (x >= a) & (x < b)
    return x[m]


def _detect(rec) -> dict[str, np.ndarray]:
    out = {}
    for k, name in ((0, "lead 1"), (1, "lead 2")):
        x = rec.signals[k]
        u = assess_quality(x, rec.fs).usable_mask(x.size, rec.fs)
        p = ecg_peaks(x, rec.fs, method=DEFAULT_PEAK_METHOD)
        out[name] = p[u[p]]
    out["fused"] = multilead_peaks(rec.signals[:2], rec.fs, rec.leads[:2],
                                   reference=rec.leads[0]).peaks
    return out


def _score(ref, det, spans, fs, keep=None) -> np.ndarray:
    ref, det = _drop(ref, spans), _drop(det, spans)
    if keep is not None:
        ref, det = _keep(ref, keep), _keep(det, keep)
    c = compare_annotations(ref, det, int(0.15 * fs))
    return np.array([c.tp, c.fp, c.fn], dtype=float)


def _prf(c) -> dict:
    tp, fp, fn = c
    se, ppv = tp / max(tp + fn, 1), tp / max(tp + fp, 1)
    return {"beats": int(tp + fn), "FP": int(fp), "FN": int(fn), "sensitivity": se, "PPV": ppv,
            "F1": 2 * se * ppv / max(se + ppv, 1e-12)}


def rpeak_rows(data: Path, limit: int) -> tuple[list[dict], list[str]]:
    groups: dict[str, list[Path]] = {"DS1": [], "DS2": [], "paced": []}
    for p in sorted((data / "mitdb").glob("*.hea")):
        g = "DS1" if p.stem in DS1 else "DS2" if p.stem in DS2 else "paced" if p.stem in PACED else None
        if g:
            groups[g].append(p)
    for snr in ("12", "06", "00", "_6"):
        groups[f"nstdb {snr.replace('_', '-')} dB"] = sorted((data / "nstdb").glob(f"11[89]e{snr}.hea"))
    rows, used = [], []
    for g, paths in groups.items():
        paths = paths[:limit] if limit else paths
        counts = {d: np.zeros(3) for d in DETECTORS}
        noisy = {d: np.zeros(3) for d in DETECTORS}
        for p in progress(paths, desc=g, unit="rec"):
            rec = read_record(p, all_leads=True)
            ann = rec.annotations
            spans = excluded_spans(ann)
            ref = np.array([s for s, y in zip(ann.sample, ann.symbol, strict=True)
                            if y in BEAT_SYMBOLS])
            blocks = [(int(m * 60 * rec.fs), int((m + 2) * 60 * rec.fs)) for m in range(5, 30, 4)]
            for d, det in _detect(rec).items():
                counts[d] += _score(ref, det, spans, rec.fs)
                if g.startswith("nstdb"):
                    noisy[d] += _score(ref, det, spans, rec.fs, keep=blocks)
            used.append(p.stem)
        for d in DETECTORS:
            rows.append({"records": g, "n_records": len(paths), "detector": d, **_prf(counts[d])})
            if g.startswith("nstdb"):
                rows.append({"records": g + " (noisy blocks)", "n_records": len(paths),
                             "detector": d, **_prf(noisy[d])})
    return rows, used


def interval_rows(data: Path) -> list[dict]:
    from cardioclarity.ecg.records.intervals import DELINEATION_METHODS, measure_intervals

    refs = []
    aecg = data / "ecg_formats" / "hl7_aecg" / "HL7_2003-12_Example_aECG.xml"
    if aecg.exists():
        rec = read_record(aecg)
        r = [x for x in rec.meta.get("reference_intervals", []) if "lead" not in x]
        refs.append((rec, "aECG annotations", {k: float(np.median([x[k] for x in r if k in x]))
                                                for k in ("pr_ms", "qrs_ms", "qt_ms")}))
    for p in sorted((data / "ecg_formats" / "philips_sierra_xml").glob("*")):
        rec = read_record(p)
        dm = rec.meta.get("device_measurements", {})
        refs.append((rec, "Philips cart", {k: dm.get(k) for k in ("pr_ms", "qrs_ms", "qt_ms")}))
    rows = []
    for method in DELINEATION_METHODS:
        err: dict[str, list[float]] = {"pr_ms": [], "qrs_ms": [], "qt_ms": []}
        withheld = 0
        for rec, _, ref in refs:
            peaks = multilead_peaks(rec.signals, rec.fs, rec.leads, reference=rec.lead).peaks
            iv = measure_intervals(rec.signal, rec.fs, peaks, method=method)
            for k in err:
                got = iv.get(k.replace("_ms", ""), {}).get("value_ms")
                if ref.get(k) is None:
                    continue
                if got is None:
                    withheld += 1
                else:
                    err[k].append(abs(got - ref[k]))
        rows.append({"method": method, "n_records": len(refs), "withheld": withheld,
                     **{f"{k[:-3]} MAE ms (n)": (f"{np.mean(v):.1f} ({len(v)})" if v else "n/a")
                        for k, v in err.items()}})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=str, default=str(default_data_dir()))
    ap.add_argument("--records", type=int, default=0, help="first N records per group (0 = all)")
    ap.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md")
    args = ap.parse_args(argv)
    logging.getLogger("wfdb").setLevel(logging.ERROR)
    data = Path(args.data_dir)
    t0 = time.perf_counter()
    irows = interval_rows(data)
    rows, used = rpeak_rows(data, args.records)
    body = "\n\n".join([
        "## Multi-lead R-peak fusion and 12-lead intervals",
        f"Machine: {machine()}; run took {time.perf_counter() - t0:.0f} s.",
        "Command: `python benchmarks/bench_ecg_multilead.py" + (
            f" --records {args.records}`" if args.records else "`"),
        __doc__.split("\n\n")[1].replace("\n", " "),
        "Records: " + ", ".join(used) + ".",
        md_table(rows),
        __doc__.split("\n\n")[2].replace("\n", " "),
        md_table(irows),
    ])
    print(body)
    if not args.no_write:
        write_section("ecg-multilead", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
