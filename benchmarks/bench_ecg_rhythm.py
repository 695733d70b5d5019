"""Rhythm irregularity (AF-like): CinC 2017 test split and MIT-BIH AF episodes, window by window.

CinC 2017: the bundled ``rhythm-cinc2017`` was trained, and its threshold chosen, on the train part of
``cinc2017_split(seed=2017)`` (70% of each class); every figure here is on the 30% test part.
Positive class = AF (A). Beside it, the one-line RMSSD / mean-RR score (threshold: best F1 on the
same train part). Each record goes through the package's own pipeline (quality, R-peaks, features
over the whole record). Noisy (~) records: how many the quality check reports as mostly unusable
(< 50% usable), and how the rest are called.

MIT-BIH: every available record through the full ``analyze_record`` pipeline (bundled beat model
included: intervals touching beats of abnormal morphology are left out of the rhythm features;
30-s windows every 10 s). A window is
AF when more than half of it lies in an ``(AFIB``/``(AFL`` reference episode; windows with 0-50%
AF are left out as ambiguous. MIT-BIH was never used to train or tune the rhythm model.

Usage::

    python benchmarks/bench_ecg_rhythm.py [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _common import default_data_dir, machine, md_table, write_section

from cardioclarity.ecg.records.analyze import analyze_record
from cardioclarity.ecg.records.datasets import (
    af_reference_mask,
    cinc2017_features,
    cinc2017_reference,
    cinc2017_split,
)
from cardioclarity.ecg.records.io import read_record
from cardioclarity.ecg.records.rhythm import FEATURE_NAMES, RhythmModel
from cardioclarity.metrics import best_f1_threshold, binary_report
from cardioclarity.reporting import progress


def cinc_section(cdir: Path, model) -> tuple[list[dict], list[dict], dict]:
    ref = cinc2017_reference(cdir)
    train, test = cinc2017_split(ref, seed=2017)
    names = train + test
    F, usable = cinc2017_features(cdir, names)
    lab = np.array([ref[n] for n in names])
    is_test = np.r_[np.zeros(len(train), bool), np.ones(len(test), bool)]
    p = model.predict_proba(F)
    one = F[:, FEATURE_NAMES.index("rmssd_over_mean")]
    one = np.where(np.isfinite(one), one, np.nanmedian(one))
    tr_an = ~is_test & np.isin(lab, ["A", "N"])
    thr_one, _ = best_f1_threshold((lab[tr_an] == "A").astype(int), one[tr_an])
    rows = []
    for negs, desc in ((["N"], "A vs N"), (["N", "O"], "A vs N+O")):
        m = is_test & np.isin(lab, ["A", *negs])
        y = (lab[m] == "A").astype(int)
        for name, s, thr in (("rhythm-cinc2017 (ours)", p[m], model.threshold_),
                             ("RMSSD / mean RR (one line)", one[m], thr_one)):
            rep = binary_report(y, (s >= thr).astype(int), s, positive_class="AF")
            rows.append({"task": desc, "model": name, "n": rep.n, "n_AF": rep.n_positive,
                         "AUROC": rep.auroc, "F1": rep.f1, "sensitivity": rep.recall,
                         "specificity": rep.specificity, "threshold": float(thr)})
    noisy = []
    for c in ("N", "A", "O", "~"):
        m = is_test & (lab == c)
        unusable = usable[m] < 0.5
        called = (p[m] >= model.threshold_) & ~unusable
        noisy.append({"class": c, "test records": int(m.sum()),
                      "reported < 50% usable": int(unusable.sum()),
                      "share unusable": float(unusable.mean()),
                      "called irregular (usable ones)": int(called.sum()),
                      "share called irregular": float(called.sum() / max((~unusable).sum(), 1))})
    info = {"n_train": len(train), "n_test": len(test)}
    return rows, noisy, info


def _af_fraction(starts, window_s, fs, ann, n) -> np.ndarray:
    af = af_reference_mask(ann, n)
    cum = np.r_[0, np.cumsum(af)]
    a = (np.asarray(starts) * fs).astype(int)
    b = np.minimum(a + int(window_s * fs), n)
    return (cum[b] - cum[a]) / np.maximum(b - a, 1)


def mitdb_section(mitdb: Path, model) -> tuple[list[dict], list[dict]]:
    names = sorted(p.stem for p in mitdb.glob("*.hea"))
    ys, ps, per = [], [], []
    for name in progress(names, desc="mitdb", unit="rec"):
        rec = read_record(mitdb / name)
        f = analyze_record(rec, rhythm_model=model)
        w = f.windows
        frac = _af_fraction(w["start_s"], w["window_s"], rec.fs, rec.annotations, rec.signal.size)
        keep = (frac == 0) | (frac > 0.5)
        y, p = frac[keep] > 0.5, np.asarray(w["probability"])[keep]
        ys.append(y)
        ps.append(p)
        if y.any() or (p >= model.threshold_).any():
            called = p >= model.threshold_
            per.append({"record": name, "AF windows": int(y.sum()), "non-AF windows": int((~y).sum()),
                        "AF called": int((called & y).sum()),
                        "non-AF called": int((called & ~y).sum())})
    y, p = np.concatenate(ys), np.concatenate(ps)
    rep = binary_report(y.astype(int), (p >= model.threshold_).astype(int), p, positive_class="AF")
    rows = [{"windows": rep.n, "AF windows": rep.n_positive, "AUROC": rep.auroc,
             "sensitivity": rep.recall, "specificity": rep.specificity, "PPV": rep.precision,
             "F1": rep.f1}]
    return rows, per


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=str, default=str(default_data_dir()))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    data = Path(args.data_dir)
    model = RhythmModel.load()
    rows, noisy, info = cinc_section(data / "cinc2017", model)
    mrows, per = mitdb_section(data / "mitdb", model)
    body = "\n\n".join([
        "## Rhythm irregularity (AF-like)",
        f"Machine: {machine()}",
        "Command: `python benchmarks/bench_ecg_rhythm.py`",
        __doc__.split("\n\n")[1].replace("\n", " "),
        f"CinC 2017 split: {info['n_train']} train / {info['n_test']} test records.",
        md_table(rows),
        "Noisy (~) and other records of the test part: quality check and calls.",
        md_table(noisy, floatfmt=".3f"),
        __doc__.split("\n\n")[2].replace("\n", " "),
        md_table(mrows),
        "Records with AF windows or irregular calls:",
        md_table(per),
    ])
    print(body)
    if not args.no_write:
        write_section("ecg-rhythm", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
