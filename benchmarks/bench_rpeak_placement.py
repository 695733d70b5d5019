"""Where ``rpeak-net`` puts its beats, and what ``hybrid`` changes: the figures behind its model card.

1. **Placement** on the validation records of ``training/train_rpeaks.py`` (never trained on):
   the network's maxima as they are (the bundled choice), or moved to the largest deflection of
   the 0.5-40 Hz band within +-40 / +-80 ms (as the energy detector moves its own). Reported:
   reference beats with no detection within 150 ms, and the median distance to the reference.
2. **Hybrid vs the energy detector** (``cardioclarity``) on MIT-BIH DS1: the share of ``hybrid``
   beats that sit exactly where the energy detector put them, and the beats only one of the two
   has.
3. **Feature shift** (``--features``): for the DS1 records whose beat sets differ, how far the
   beat features of the beats both have move between the two feature tables
   (``datasets.beat_feature_table``, cached in ``--cache-dir``), in SDs of each feature.

Usage::

    python benchmarks/bench_rpeak_placement.py [--data-dir ../shared/data] [--features]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from _common import REPO, default_data_dir, machine, md_table, write_section

from cardioclarity.ecg.records.datasets import (
    BEAT_SYMBOLS,
    DS1,
    available_records,
    beat_feature_table,
)
from cardioclarity.ecg.records.ec57 import nearest
from cardioclarity.ecg.records.features import FEATURE_NAMES
from cardioclarity.ecg.records.io import read_record
from cardioclarity.ecg.records.peaks_net import (
    NET_FS,
    RPeakDetector,
    net_input,
    peak_probability,
    probability_peaks,
    refine_peaks,
)
from cardioclarity.ecg.records.processing import _wide_band, ecg_peaks

sys.path.insert(0, str(REPO / "training"))
from train_rpeaks import N_VAL_SVDB, VAL_MITDB  # noqa: E402  (the validation records)


def _moved(peaks: np.ndarray, wide: np.ndarray, fs: float, half_s: float) -> np.ndarray:
    """Each beat moved to the largest absolute deflection of ``wide`` within +-half_s."""
    w = max(int(half_s * fs), 1)
    idx = np.clip(peaks[:, None] + np.arange(-w, w + 1)[None, :], 0, wide.size - 1)
    seg = wide[idx] - np.median(wide[idx], axis=1, keepdims=True)
    return np.unique(idx[np.arange(idx.shape[0]), np.argmax(np.abs(seg), axis=1)])


def placement(data_dir: Path) -> list[dict]:
    det = RPeakDetector.load()
    sv = sorted(p.stem for p in (data_dir / "svdb").glob("*.hea"))
    names = [("mitdb", n) for n in VAL_MITDB] + [("svdb", n) for n in sv[-N_VAL_SVDB:]]
    rows = {k: {"placement": k, "records": len(names), "reference beats": 0, "missed (> 150 ms)": 0,
                "_d": []} for k in ("network maxima (bundled)", "moved within +-40 ms",
                                    "moved within +-80 ms")}
    for db, name in names:
        rec = read_record(data_dir / db / name)
        ann, fs = rec.annotations, rec.fs
        ref = np.array([s for s, y in zip(ann.sample, ann.symbol, strict=True) if y in BEAT_SYMBOLS])
        p = peak_probability(det.net, net_input(rec.signal, fs))
        at = refine_peaks(p, probability_peaks(p, det.threshold_))
        raw = np.unique(np.round(at * fs / NET_FS).astype(np.int64))
        wide = _wide_band(rec.signal - np.median(rec.signal), fs)
        for key, pk in zip(rows, (raw, _moved(raw, wide, fs, 0.04), _moved(raw, wide, fs, 0.08)),
                           strict=True):
            d = np.abs(pk[nearest(pk, ref)] - ref) / fs * 1000
            rows[key]["reference beats"] += int(ref.size)
            rows[key]["missed (> 150 ms)"] += int((d > 150).sum())
            rows[key]["_d"].append(np.median(d[d <= 150]))
    out = []
    for r in rows.values():
        d = r.pop("_d")
        r["median offset, record median (ms)"] = float(np.median(d))
        r["offset range over records (ms)"] = f"{min(d):.1f}-{max(d):.1f}"
        out.append(r)
    return out


def hybrid_vs_energy(data_dir: Path) -> list[dict]:
    rows = []
    for name in available_records(data_dir / "mitdb", DS1):
        rec = read_record(data_dir / "mitdb" / name)
        e = ecg_peaks(rec.signal, rec.fs, method="cardioclarity")
        h = ecg_peaks(rec.signal, rec.fs, method="hybrid")
        rows.append({"record": name, "energy beats": int(e.size), "hybrid beats": int(h.size),
                     "hybrid at the energy detector's position": float(np.isin(h, e).mean()),
                     "energy only": int((~np.isin(e, h)).sum()),
                     "hybrid only": int((~np.isin(h, e)).sum())})
    return rows


def feature_shift(data_dir: Path, cache: Path) -> list[dict]:
    a = beat_feature_table(data_dir, "mitdb", cache_dir=cache, peak_method="cardioclarity")
    b = beat_feature_table(data_dir, "mitdb", cache_dir=cache, peak_method="hybrid")
    rows = []
    for name in DS1:
        sa, sb = a["sample"][a["record"] == name], b["sample"][b["record"] == name]
        if sa.size == 0 or (sa.size == sb.size and np.array_equal(sa, sb)):
            continue
        common = np.intersect1d(sa, sb)
        fa = a["F"][a["record"] == name][np.isin(sa, common)]
        fb = b["F"][b["record"] == name][np.isin(sb, common)]
        d = np.abs(fa - fb) / (fa.std(axis=0) + 1e-12)
        moved = (np.abs(fa - fb).max(axis=1) > 1e-9).mean()
        top = np.argsort(-np.median(d, axis=0))[:3]
        rows.append({"record": name, "beats only in one table": int(sa.size + sb.size - 2 * common.size),
                     "common beats whose features change": float(moved),
                     "largest median shifts (SD; max)": "; ".join(
                         f"{FEATURE_NAMES[i]} {np.median(d[:, i]):.3f} ({d[:, i].max():.2f})"
                         for i in top)})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=default_data_dir())
    ap.add_argument("--cache-dir", type=Path, default=Path("/tmp/cc-beat-features"))
    ap.add_argument("--features", action="store_true", help="also part 3 (feature tables: "
                    "minutes without a cache)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    missing = [d for d in ("mitdb", "svdb") if not (args.data_dir / d).is_dir()]
    if missing:
        raise SystemExit(f"error: {args.data_dir} lacks {', '.join(missing)}/: point --data-dir "
                         "at the folder holding mitdb/ and svdb/.")
    parts = ["## Learned R-peaks: placement and the hybrid detector "
             "(`benchmarks/bench_rpeak_placement.py`)", f"Machine: {machine()}",
             "Command: `python benchmarks/bench_rpeak_placement.py"
             + (" --features`" if args.features else "`"),
             " ".join(__doc__.split("\n\n")[1:2]).replace("\n", " "),
             "### Placement on the validation records", md_table(placement(args.data_dir),
                                                                 floatfmt=".1f"),
             "### Hybrid vs the energy detector on MIT-BIH DS1",
             md_table(hybrid_vs_energy(args.data_dir), floatfmt=".4f")]
    if args.features:
        parts += ["### Feature shift where the beat sets differ (DS1)",
                  md_table(feature_shift(args.data_dir, args.cache_dir), floatfmt=".3f")]
    body = "\n\n".join(parts)
    print(body)
    if not args.no_write:
        write_section("rpeak-placement", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
