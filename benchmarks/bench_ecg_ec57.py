"""AAMI beat classes on patients no model saw (EC57 tables), VT/VF episodes, noise stress, speed.

Protocols (every figure comes from a model that never saw the tested patient):

- **DS1 -> DS2**: trained on MIT-BIH DS1 (de Chazal 2004; the decision rule, which holds
  normal beats flagged to <= 1 %, chosen on out-of-fold probabilities of a 5-fold CV grouped by
  record on DS1 only), tested on the available DS2 records. The bundled ``aami-beats``
  (DS1 + SVDB, DS2 never used) is tested on DS2 too.
- **Leave-records-out CV** over DS1 + SVDB: 5 folds grouped by record; the decision rule of
  each fold chosen on the out-of-fold probabilities of the other four folds' records (the
  held-out fold's labels never choose it); figures per database of the held-out records, and
  the plain arg-max of the same probabilities (no control of the normal beats flagged) beside.
  The last LRO row is the range of the pooled figures over three assignments of the records to
  the folds (GroupKFold's, which the rows above use, and two seeded ones, ``record_folds``), each
  a rerun of the whole protocol: two setups whose figures differ by less than that range are
  not told apart by this benchmark.
- **Cross-database**: trained on MIT-BIH only (DS1 + available DS2; decision rule by CV on
  MIT-BIH), tested on the SVDB records (128 Hz, another hospital).
- **Noise stress** (nstdb 118e/119e at 12, 6, 0, -6 dB): R-peak Se/PPV of the single-lead
  pipeline (MLII) and of ``--leads all`` (MLII and V1, R-peaks fused), each with the energy
  detector (``peak_method="cardioclarity"``), with the learned ``rpeak-net`` (``"net"``;
  trained without 118, 119 and the noise minutes those records carry) and with ``"hybrid"``
  (the default: its beats at the energy detector's positions where both found them), and V
  Se/+P of a model trained on DS1 + SVDB without records 118 and 119 (single lead; fused
  peaks carry no class).
- **VT/VF**: VF window probabilities out of fold (5-fold CV grouped by record over cudb,
  MIT-BIH and the nstdb noise records; threshold of the bundled ``vf-cudb``, which was chosen on
  those same out-of-fold probabilities); VT runs from the out-of-fold/held-out beat classes.
- **Speed**: 30-min record 100 -> findings.json, median of 5 runs.

Every detected beat takes the AAMI class of the reference beat within 150 ms; Q beats and
detections without a reference beat are left out; F beats are scored apart (an F beat called V
is not a V false positive). "rec avg" = mean over the records holding that class (Se) or
predicting it (+P). AUROC rows: abnormal = 1 - P(N) of the classifier, and the unsupervised
autoencoder morphology score kept for comparison.

Usage::

    nice -n 10 python benchmarks/bench_ecg_ec57.py [--data-dir ../shared/data] [--part beats|noise]

``--part beats`` reruns the beat-classification protocols only and replaces their tables (and
their rows of the targets table) in the section, leaving the noise, VT/VF and speed parts as
they stand. ``--part noise`` likewise reruns the noise-stress table only (single-lead and
``--leads all`` fused R-peaks) and replaces it and its 6 dB target row; ``--part speed`` the
speed figures and their two target rows (timings want a machine with nothing else running).
``--peaks net`` (or
``hybrid``) runs the beat protocols on that detector's beats and prints their tables only.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import (
    default_data_dir,
    machine,
    md_table,
    median_time,
    read_section,
    write_section,
)

from cardioclarity.ecg.records.analyze import analyze_record
from cardioclarity.ecg.records.classify import (
    AAMI_LABELS,
    BeatClassifier,
    DecisionRule,
    choose_decision,
    cross_val_proba,
    fit_beat_classifier,
    record_folds,
)
from cardioclarity.ecg.records.datasets import (
    DS1,
    DS2,
    beat_feature_table,
    labelled_beat_features,
    vf_window_table,
)
from cardioclarity.ecg.records.ec57 import beat_class_stats, matched_counts
from cardioclarity.ecg.records.features import FEATURE_NAMES
from cardioclarity.ecg.records.io import read_record
from cardioclarity.ecg.records.methods import (
    DEFAULT_PEAK_METHOD,
    PEAK_METHODS,
    PIPELINE_PEAK_METHODS,
)
from cardioclarity.ecg.records.ventricular import (
    VFDetector,
    cross_val_vf_proba,
    vf_episodes,
    vt_episodes,
)
from cardioclarity.metrics import roc_auc

AE = FEATURE_NAMES.index("ae_score")
CLS = np.asarray(AAMI_LABELS)


def _sub(t: dict, m: np.ndarray) -> dict:
    return {k: v[m] for k, v in t.items() if isinstance(v, np.ndarray) and v.shape[:1] == m.shape}


def _cat(*ts: dict) -> dict:
    return {k: np.concatenate([t[k] for t in ts]) for k in ("F", "y", "record", "sample", "fs")}


def tuned_model(train: dict) -> tuple[BeatClassifier, str]:
    """Fit on ``train`` with the decision rule chosen by grouped CV on ``train`` alone; and a
    line saying which rule was chosen and how many candidates met the normal-beat bound (when
    only one does, the choice sits on the bound and a small change of the features can move
    it)."""
    proba, _ = cross_val_proba(train["F"], train["y"], train["record"], n_splits=5)
    rule, info = choose_decision(proba, train["F"], train["y"])
    clf = fit_beat_classifier(train["F"], train["y"], groups=train["record"])
    clf.decision_ = rule
    line = (f"S >= {rule.s_threshold}, V >= {rule.v_threshold} "
            f"({info['candidates_meeting_target']} candidate(s) held N flagged <= "
            f"{100 * info['max_n_flagged']:.0f} % out of fold; chosen: "
            f"{100 * info['n_flagged']:.2f} %)")
    return clf, line


def _proba_aami(clf: BeatClassifier, F: np.ndarray) -> np.ndarray:
    """Probabilities in AAMI_LABELS column order (with the model's decision weights applied
    separately by :func:`_decide`)."""
    p = clf.predict_proba(F)
    out = np.zeros((F.shape[0], len(AAMI_LABELS)))
    for j, c in enumerate(clf.classes_):
        out[:, AAMI_LABELS.index(c)] = p[:, j]
    return out


def _fold_rules(proba: np.ndarray, F: np.ndarray, y: np.ndarray, records: np.ndarray,
                n_splits: int = 5, fold_seed: int | None = None) -> np.ndarray:
    """Classes from out-of-fold probabilities, each fold's decision rule chosen on the other
    folds' records (the same grouping as :func:`cross_val_proba` with ``fold_seed``)."""
    pred = np.full(y.size, "", dtype="<U1")
    ok = np.all(np.isfinite(proba), axis=1)
    for tr, te in record_folds(records, n_splits, fold_seed=fold_seed):
        rule, _ = choose_decision(proba[tr], F[tr], y[tr])
        te = te[ok[te]]
        pred[te] = CLS[rule.apply(proba[te], F[te])]
    return pred


def ec57_rows(name: str, test: dict, proba: np.ndarray, pred: np.ndarray) -> tuple[dict, dict]:
    """One EC57 row and one AUROC row for a protocol."""
    st = beat_class_stats(test["y"], pred, test["record"])
    n_rec = len(set(test["record"].tolist()))
    row = {"protocol": name, "records": n_rec}
    for c in ("V", "S"):
        row[f"{c} beats"] = st[c]["n"]
        for k, lab in (("Se", "Se"), ("+P", "+P"), ("Se_rec", "Se rec avg"),
                       ("+P_rec", "+P rec avg")):
            row[f"{c} {lab}"] = st[c][k]
    row.update({"F beats": st["F"]["n"], "F Se": st["F"]["Se"], "F +P": st["F"]["+P"],
                "N called S/V/F %": 100 * st["N"]["flagged_fraction"]})
    y = test["y"]
    abn = 1 - proba[:, 0]
    ae = test["F"][:, AE]
    auc = {"protocol": name}
    for label, score in (("classifier", abn), ("autoencoder (unsupervised)", ae)):
        keep = np.isin(y, ["N", "S", "V", "F"]) & np.isfinite(score)
        yy, ss = y[keep], score[keep]
        auc[f"{label}: S+V+F"] = roc_auc((yy != "N").astype(int), ss)
        for c in ("V", "S"):
            m = np.isin(yy, ["N", c])
            auc[f"{label}: {c}"] = roc_auc((yy[m] == c).astype(int), ss[m])
    return row, auc


#: Other assignments of records to the LRO folds (:func:`record_folds`), besides GroupKFold's.
LRO_FOLD_SEEDS = (1, 2)


def _fold_spread(both: dict, pooled: dict) -> dict:
    """Range of the pooled LRO figures over GroupKFold's folds and :data:`LRO_FOLD_SEEDS`'s:
    how much they depend on which patients share a fold (and so how far apart two figures must
    be to differ). Each assignment repeats the whole protocol: fits, fold rules, figures."""
    runs = [pooled]
    for fs in LRO_FOLD_SEEDS:
        p, _ = cross_val_proba(both["F"], both["y"], both["record"], n_splits=5, fold_seed=fs)
        ok = np.all(np.isfinite(p), axis=1)
        pred = _fold_rules(p, both["F"], both["y"], both["record"], fold_seed=fs)
        runs.append(ec57_rows("", _sub(both, ok), p[ok], pred[ok])[0])
    seeds = ", ".join(map(str, LRO_FOLD_SEEDS))
    out = {"protocol": f"LRO CV pooled: range over {len(runs)} fold assignments (GroupKFold; seeds {seeds})"}
    for k, v in pooled.items():
        if k == "protocol":
            continue
        vals = [r[k] for r in runs]
        if isinstance(v, float) and len({round(x, 3) for x in vals}) > 1:
            out[k] = f"{min(vals):.3f}-{max(vals):.3f}" if "%" not in k else f"{min(vals):.2f}-{max(vals):.2f}"
        else:
            out[k] = v
    return out


def beat_protocols(data_dir: Path, cache: Path, peak_method: str = DEFAULT_PEAK_METHOD
                   ) -> tuple[list, list, dict, dict, dict]:
    mit = beat_feature_table(data_dir, "mitdb", cache_dir=cache, peak_method=peak_method)
    sv = beat_feature_table(data_dir, "svdb", cache_dir=cache, peak_method=peak_method)
    ds1, ds2 = _sub(mit, np.isin(mit["record"], DS1)), _sub(mit, np.isin(mit["record"], DS2))
    rows, aucs, preds = [], [], {}
    # DS1 -> DS2
    clf, rule_ds1 = tuned_model(ds1)
    p = _proba_aami(clf, ds2["F"])
    pred = clf.predict(ds2["F"])[0]
    preds["ds2"] = (ds2, pred)
    for r, a in [ec57_rows("DS1 -> DS2 (available records)", ds2, p, pred)]:
        rows.append(r)
        aucs.append(a)
    bundled = BeatClassifier.load()
    pb = _proba_aami(bundled, ds2["F"])
    r, a = ec57_rows("bundled aami-beats (DS1+SVDB) -> DS2", ds2, pb, bundled.predict(ds2["F"])[0])
    rows.append(r)
    aucs.append(a)
    # leave-records-out CV over DS1 + SVDB
    both = _cat(ds1, sv)
    p, _ = cross_val_proba(both["F"], both["y"], both["record"], n_splits=5)
    ok = np.all(np.isfinite(p), axis=1)
    pred = _fold_rules(p, both["F"], both["y"], both["record"])
    argmax = np.where(ok, CLS[DecisionRule().apply(np.nan_to_num(p), both["F"])], "")
    in_ds1 = np.isin(both["record"], DS1)
    preds["cv_ds1"] = (_sub(both, in_ds1), pred[in_ds1])
    for name, m, pr in (("LRO CV: DS1 records", in_ds1, pred),
                        ("LRO CV: SVDB records", ~in_ds1, pred),
                        ("LRO CV: DS1 + SVDB pooled", np.ones_like(in_ds1), pred),
                        ("LRO CV pooled, plain arg-max (N flagged not controlled)",
                         np.ones_like(in_ds1), argmax)):
        m = m & ok
        r, a = ec57_rows(name, _sub(both, m), p[m], pr[m])
        rows.append(r)
        if pr is pred:
            aucs.append(a)
    rows.append(_fold_spread(both, rows[-2]))
    # cross-database: MIT-BIH only -> SVDB
    clf, rule_mit = tuned_model(_cat(ds1, ds2))
    p = _proba_aami(clf, sv["F"])
    pred = clf.predict(sv["F"])[0]
    r, a = ec57_rows("MIT-BIH (DS1+DS2) -> SVDB (cross-database)", sv, p, pred)
    rows.append(r)
    aucs.append(a)
    rules = {"DS1 -> DS2": rule_ds1, "MIT-BIH -> SVDB": rule_mit}
    return rows, aucs, preds, {"ds1": ds1, "sv": sv}, rules


_NSTDB_SNR = (("12 dB", "12"), ("6 dB", "06"), ("0 dB", "00"), ("-6 dB", "_6"))
SINGLE, FUSED = "MLII (single lead)", "--leads all (MLII + V1 fused)"
#: R-peak detector -> (single-lead, fused) row names of the noise-stress table.
PIPELINES = {m: (f"{SINGLE}, peak_method='{m}'", f"{FUSED}, peak_method='{m}'")
             for m in PIPELINE_PEAK_METHODS}


def _reference_beats(ann) -> np.ndarray:
    return np.array([s for s, sym in zip(ann.sample, ann.symbol, strict=True)
                     if sym in "NLRejAaJSVEF/fQ"], dtype=np.int64)


def noise_stress(data_dir: Path, tables: dict) -> list[dict]:
    """R-peak Se/PPV and V Se/+P on nstdb 118e/119e per SNR, for the single-lead pipeline and
    for the multi-lead one (``cardioclarity ecg analyze --leads all``: both leads read, R-peaks
    fused by :func:`~cardioclarity.ecg.records.multilead.multilead_peaks`), each with the
    energy detector (``peak_method="cardioclarity"``), the learned one (``"net"``) and
    ``"hybrid"`` (the default).

    The fused R-peaks carry no beat class (the classes of the ``--leads all`` findings are those
    of the rhythm-lead beats, the single-lead rows), so the fused rows have R-peak figures only.
    """
    from cardioclarity.ecg.records.twelve_lead import analyze_12lead

    tr = _cat(tables["ds1"], tables["sv"])
    tr = _sub(tr, ~np.isin(tr["record"], ["118", "119"]))
    clf = fit_beat_classifier(tr["F"], tr["y"], groups=tr["record"])
    folder = data_dir / "nstdb"
    rows = []
    for snr, tag in _NSTDB_SNR:
        names = [f"{r}e{tag}" for r in ("118", "119") if (folder / f"{r}e{tag}.hea").exists()]
        if not names:
            continue
        for method, (single_name, fused_name) in PIPELINES.items():
            t = labelled_beat_features(folder, names, lead="MLII", peak_method=method)
            single = np.zeros(4, dtype=np.int64)  # n_ref, n_ref_hit, n_det, n_det_hit
            fused = np.zeros(4, dtype=np.int64)
            for name in names:
                rec = read_record(folder / name, lead="MLII", all_leads=True)
                ref = _reference_beats(rec.annotations)
                tol = int(0.15 * rec.fs)
                det = np.sort(t["sample"][t["record"] == name])
                a, b = matched_counts(ref, det, tol)
                single += (ref.size, a, det.size, b)
                # The user's path: analyze_one(..., leads="all") with its defaults, this detector.
                fp = np.sort(analyze_12lead(rec, detector=None, adaptive="auto",
                                            peak_method=method).fused.peaks)
                a, b = matched_counts(ref, fp, tol)
                fused += (ref.size, a, fp.size, b)
            st = beat_class_stats(t["y"], clf.predict(t["F"])[0], t["record"])
            rows.append({"SNR": snr, "pipeline": single_name, "records": " ".join(names),
                         "reference beats": int(single[0]), "R-peak Se": single[1] / single[0],
                         "R-peak PPV": single[3] / single[2], "V beats": st["V"]["n"],
                         "V Se": st["V"]["Se"], "V +P": st["V"]["+P"]})
            rows.append({"SNR": snr, "pipeline": fused_name, "records": " ".join(names),
                         "reference beats": int(fused[0]), "R-peak Se": fused[1] / fused[0],
                         "R-peak PPV": fused[3] / fused[2], "V beats": "-", "V Se": "-",
                         "V +P": "-"})
    return rows


NOISE_NOTE = (
    "Single lead: the record pipeline on MLII; V classes from a model trained on DS1 + SVDB "
    "without records 118 and 119. Fused: `cardioclarity ecg analyze --leads all` (both "
    "leads read, `analyze_12lead` defaults; R-peaks = its `multilead.peaks`, the MLII + V1 vote "
    "over the leads usable at each moment). The fused R-peaks carry no beat class (the classes "
    "of the `--leads all` findings are those of the MLII beats), so V figures exist for the "
    "single-lead pipeline only. `peak_method='net'`: the same pipelines with the learned R-peak "
    "detector `rpeak-net` (trained on MIT-BIH DS1 less 118 and 119, and SVDB, with nstdb `ma`, "
    "`bw` and only those minutes of `em` that the 118e/119e records do not carry); "
    "`peak_method='hybrid'`: its beats, at the energy detector's positions where that detector "
    "found the same beat. A detection "
    "matches a reference beat within 150 ms; each SNR row pools the two 30-min records (noise "
    "in alternating 2-min blocks from minute 5).")


def noise_part(noise: list[dict], command: str | None = None, seconds: float | None = None) -> str:
    """The ``### Noise stress`` part of the section (heading, note, table); ``command`` and
    ``seconds`` name the run of this part alone (``--part noise``)."""
    lines = ["### Noise stress (nstdb, electrode-motion noise)"]
    if command:
        lines.append(f"This part alone: machine {machine()}; command `{command}`; run took "
                     f"{seconds:.0f} s.")
    lines += [NOISE_NOTE, md_table(noise, floatfmt=".3f")]
    return "\n\n".join(lines)


def _overlaps(a0, a1, spans) -> bool:
    return any(a0 < b1 and b0 < a1 for b0, b1 in spans)


def vf_figures(data_dir: Path, cache: Path) -> tuple[list[dict], dict[str, list]]:
    """VF episode sensitivity (reference episodes >= 10 s) and false VF calls per hour, and
    the out-of-fold VF episodes called on each record (``db/name``)."""
    t = vf_window_table(data_dir, cache_dir=cache)
    p = cross_val_vf_proba(t["F"], t["y"], t["record"])
    thr = VFDetector.load().threshold_
    spans: dict[str, list] = {}
    for s in t["spans"].tolist():
        r, a, b = s.rsplit(",", 2)
        spans.setdefault(r, []).append((float(a), float(b)))
    out, all_called = [], {}
    for db in ("cudb", "mitdb", "nstdb-noise"):
        recs = sorted({r for r in set(t["record"].tolist()) if r.startswith(db + "/")})
        n_ep = n_hit = n_false = 0
        hours = 0.0
        for r in recs:
            m = t["record"] == r
            called = vf_episodes(t["start_s"][m], p[m], thr)
            all_called[r] = called
            ref = spans.get(r, [])
            long_ref = [(a, b) for a, b in ref if b - a >= 10]
            n_ep += len(long_ref)
            n_hit += sum(_overlaps(a, b, [(e["start_s"], e["end_s"]) for e in called])
                         for a, b in long_ref)
            n_false += sum(not _overlaps(e["start_s"], e["end_s"], ref) for e in called)
            hours += float(t["duration_s"][m][0]) / 3600
        out.append({"database": db, "records": len(recs), "hours": hours,
                    "VF episodes >= 10 s": n_ep,
                    "episode Se": n_hit / n_ep if n_ep else float("nan"),
                    "false VF calls": n_false, "false VF calls / h": n_false / hours})
    return out, all_called


def _vt_reference(data_dir: Path, name: str) -> tuple[list, float]:
    """Reference VT episodes ``(start_s, end_s)`` of a MIT-BIH record and its duration (s)."""
    rec = read_record(data_dir / "mitdb" / name, lead="MLII")
    ann = rec.annotations
    out, start = [], None
    for s, sym, note in zip(ann.sample, ann.symbol, ann.aux_note, strict=True):
        if sym != "+":
            continue
        if start is not None:
            out.append((start / rec.fs, s / rec.fs))
            start = None
        if note.startswith("(VT"):
            start = s
    if start is not None:
        out.append((start / rec.fs, rec.signal.size / rec.fs))
    return out, rec.signal.size / rec.fs


def _ref_rate(data_dir: Path, name: str, a: float, b: float) -> float:
    """Mean rate (bpm) of the reference beats of one reference VT episode."""
    rec = read_record(data_dir / "mitdb" / name, lead="MLII")
    t = np.array([s for s, sym in zip(rec.annotations.sample, rec.annotations.symbol,
                                      strict=True) if sym in "NLRejAaJSVEF/fQ"]) / rec.fs
    t = t[(t >= a - 0.01) & (t <= b)]
    return 60.0 * (t.size - 1) / (t[-1] - t[0]) if t.size > 1 and t[-1] > t[0] else 0.0


def _f1(se: float, ppv: float) -> float:
    return 2 * se * ppv / (se + ppv) if se + ppv > 0 else 0.0


def vt_figures(data_dir: Path, preds: dict, vf_called: dict) -> tuple[list[dict], str]:
    """VT runs found on held-out classes by each ``vt_runs`` method of ``analyze_record``, on
    DS1 (out-of-fold classes: the method is chosen here) and DS2 (DS1 model; no choice saw it).

    Two references: the annotators' VT rhythm episodes (``(VT``; found when a call overlaps
    one; calls overlapping neither reference count as false per hour), and the EC57-style runs
    of >= 3 reference V beats above 100 bpm (run Se / +P, a call being right when it overlaps
    a beat-label run or a VT episode). Runs inside a VF episode called by the out-of-fold VF
    detector are left to that episode, as in the pipeline. Returns the rows and the method
    with the highest beat-label run F1 on DS1.
    """
    from cardioclarity.ecg.records.processing import ecg_clean
    from cardioclarity.ecg.records.ventricular import VT_RUN_METHODS

    rows, cleans = [], {}
    for part, (tab, pred) in (("DS1 (LRO CV; the method is chosen here)", preds["cv_ds1"]),
                              ("DS2 (held out)", preds["ds2"])):
        for method in VT_RUN_METHODS:
            n_ep = n_hit = n_false = n_fast = n_fast_hit = n_run = n_run_hit = n_call_ok = 0
            n_call = 0
            hours = 0.0
            for name in sorted(set(tab["record"].tolist())):
                m = tab["record"] == name
                fs = float(tab["fs"][m][0])
                clean = None
                if method == "shape":
                    if name not in cleans:
                        rec = read_record(data_dir / "mitdb" / name, lead="MLII")
                        cleans[name] = ecg_clean(rec.signal, fs)
                    clean = cleans[name]
                called = vt_episodes(tab["sample"][m], fs, pred[m], clean=clean)
                vf = [(e["start_s"], e["end_s"]) for e in vf_called.get(f"mitdb/{name}", [])]
                called = [e for e in called if not _overlaps(e["start_s"], e["end_s"], vf)]
                spans = [(e["start_s"], e["end_s"] + 0.01) for e in called]
                ref, dur = _vt_reference(data_dir, name)
                beat_runs = [(e["start_s"], e["end_s"] + 0.01)
                             for e in vt_episodes(tab["sample"][m], fs, tab["y"][m])]
                for a, b in ref:
                    hit = _overlaps(a, b, spans)
                    n_ep, n_hit = n_ep + 1, n_hit + hit
                    if _ref_rate(data_dir, name, a, b) > 100:
                        n_fast, n_fast_hit = n_fast + 1, n_fast_hit + hit
                n_false += sum(not _overlaps(a, b, ref) and not _overlaps(a, b, beat_runs)
                               for a, b in spans)
                n_run += len(beat_runs)
                n_run_hit += sum(_overlaps(a, b, spans) for a, b in beat_runs)
                n_call += len(spans)
                n_call_ok += sum(_overlaps(a, b, beat_runs) or _overlaps(a, b, ref)
                                 for a, b in spans)
                hours += dur / 3600
            se, ppv = n_run_hit / max(n_run, 1), n_call_ok / max(n_call, 1)
            rows.append({"records": part, "vt_runs": method, "hours": hours,
                         "reference VT episodes": n_ep,
                         "episode Se": n_hit / n_ep if n_ep else float("nan"),
                         "of them > 100 bpm": n_fast,
                         "Se on those": n_fast_hit / n_fast if n_fast else float("nan"),
                         "beat-label runs": n_run, "run Se": se, "VT calls": n_call,
                         "run +P": ppv, "run F1": _f1(se, ppv),
                         "false calls per hour": n_false / hours})
    ds1 = [r for r in rows if r["records"].startswith("DS1")]
    chosen = max(ds1, key=lambda r: r["run F1"])["vt_runs"]
    return rows, chosen


def speed(data_dir: Path) -> tuple[float, float, dict]:
    """Median seconds to findings.json with all models, and without the beat classifier and
    VF detector (the pipeline as it was before them), measured in the same run; the stage
    times of one more run, the median time with the energy detector alone
    (``peak_method="cardioclarity"``, no network), the median CPU seconds of the full runs and
    the load average while they ran (wall time on a shared machine grows with its load, CPU
    time much less)."""
    path = data_dir / "mitdb" / "100.hea"
    out = Path(tempfile.mkdtemp(prefix="cc-ec57-")) / "findings.json"
    cpu: list[float] = []

    def run(**kw):
        c0 = time.process_time()
        f = analyze_record(read_record(path), **kw)
        out.write_text(json.dumps(f.to_dict()))
        if not kw:
            cpu.append(time.process_time() - c0)
        return f

    t = median_time(run, repeats=5)
    t_base = median_time(lambda: run(classifier=False, vf_model=False), repeats=5)
    t_energy = median_time(lambda: run(peak_method="cardioclarity"), repeats=5)
    stages = {k: round(v, 3) for k, v in run().timings.items()}
    stages["total_s_with_peaks_cardioclarity"] = round(t_energy, 3)
    stages["cpu_s_median"] = round(float(np.median(cpu)), 3)
    stages["load_avg_1min"] = round(os.getloadavg()[0], 1)
    return t, t_base, stages


def _row(a: str, b: str, c: bool) -> dict:
    return {"target": a, "measured": b, "met": "yes" if c else "no"}


def beat_targets(rows: list, aucs: list) -> list[dict]:
    """Targets on the beat classes (EC57 rows and the all-abnormal AUROC)."""
    by = {r["protocol"]: r for r in rows}
    au = {r["protocol"]: r for r in aucs}
    d2n, cvn = "DS1 -> DS2 (available records)", "LRO CV: DS1 + SVDB pooled"
    d2, cv = by[d2n], by[cvn]
    cross = by["MIT-BIH (DS1+DS2) -> SVDB (cross-database)"]
    a2, acv = au[d2n]["classifier: S+V+F"], au[cvn]["classifier: S+V+F"]
    return [
        _row("V Se >= 0.92 (DS2 / LRO CV)", f"{d2['V Se']:.3f} / {cv['V Se']:.3f}",
             min(d2["V Se"], cv["V Se"]) >= 0.92),
        _row("V +P >= 0.92 (DS2 / LRO CV)", f"{d2['V +P']:.3f} / {cv['V +P']:.3f}",
             min(d2["V +P"], cv["V +P"]) >= 0.92),
        _row("S Se >= 0.80 (DS2 / LRO CV)", f"{d2['S Se']:.3f} / {cv['S Se']:.3f}",
             min(d2["S Se"], cv["S Se"]) >= 0.80),
        _row("S +P >= 0.60 (DS2 / LRO CV)", f"{d2['S +P']:.3f} / {cv['S +P']:.3f}",
             min(d2["S +P"], cv["S +P"]) >= 0.60),
        _row("all-abnormal (S+V+F) AUROC >= 0.97 (DS2 / LRO CV)", f"{a2:.3f} / {acv:.3f}",
             min(a2, acv) >= 0.97),
        _row("normal beats flagged <= 1 % (DS2 / LRO CV)",
             f"{d2['N called S/V/F %']:.2f} % / {cv['N called S/V/F %']:.2f} %",
             max(d2["N called S/V/F %"], cv["N called S/V/F %"]) <= 1.0),
        _row("cross-database SVDB S Se >= 0.75", f"{cross['S Se']:.3f}", cross["S Se"] >= 0.75),
    ]


def other_targets(vf: list, noise: list, t_json: float, t_base: float) -> list[dict]:
    """Targets on R-peaks under noise, VF episodes and speed."""
    fa = [r for r in vf if r["database"] in ("mitdb", "nstdb-noise")]
    fa_h = sum(r["false VF calls"] for r in fa) / sum(r["hours"] for r in fa)
    cu = next(r for r in vf if r["database"] == "cudb")
    return noise_targets(noise) + [
        _row("VF episodes >= 10 s: Se >= 0.95 (cudb)", f"{cu['episode Se']:.3f}",
             cu["episode Se"] >= 0.95),
        _row("<= 1 false VF call / h (MIT-BIH + nstdb noise)", f"{fa_h:.2f}", fa_h <= 1.0),
    ] + speed_targets(t_json, t_base)


SPEED_TARGET = "30-min record -> findings.json <= 1 s"


def speed_targets(t_json: float, t_base: float) -> list[dict]:
    """The two speed rows of the targets table."""
    return [_row(SPEED_TARGET, f"{t_json:.2f} s", t_json <= 1.0),
            _row("... and <= 2.5x the pipeline without classes/VF (same run)",
                 f"{t_json / t_base:.1f}x", t_json <= 2.5 * t_base)]


def speed_part(t_json: float, t_base: float, stages: dict, alone: bool) -> str:
    """The ``### Speed`` part of the section."""
    return "\n\n".join([
        "### Speed",
        f"30-min record 100 -> findings.json (all models: beats, classes, rhythm, VF): median "
        f"{t_json:.2f} s of 5 runs; without the classifier and the VF detector, same run: "
        f"{t_base:.2f} s ({t_json / t_base:.1f}x). Stage times of one run (s), the median with "
        f"the energy R-peak detector instead of the default, median CPU seconds of the full runs "
        f"and the load while they ran: {stages}. "
        + ("Rerun alone (`--part speed`) on the machine above, nothing else running."
           if alone else "Only this part: `python benchmarks/bench_ecg_ec57.py --part speed`.")])


def noise_targets(noise: list[dict]) -> list[dict]:
    """The 6 dB R-peak target row: Se / PPV of every pipeline; met when the default detector
    (``analyze_record``'s ``peak_method``) meets it on both the single lead and the fused leads."""
    six = {r["pipeline"]: r for r in noise if r["SNR"] == "6 dB"}
    default = inspect.signature(analyze_record).parameters["peak_method"].default
    if not six or default not in PIPELINES:
        return [_row(NOISE_TARGET + f" (default detector {default!r})", "n/a", False)]
    parts = [f"{k}: {r['R-peak Se']:.3f} / {r['R-peak PPV']:.3f}" for k, r in six.items()]
    met = all(min(six[k]["R-peak Se"], six[k]["R-peak PPV"]) >= 0.99
              for k in PIPELINES[default] if k in six)
    return [_row(NOISE_TARGET + f" (default detector {default!r})", "; ".join(parts), met)]


NOISE_TARGET = "nstdb 6 dB R-peak Se and PPV >= 0.99"
_BEAT_TARGETS = ("V Se", "V +P", "S Se", "S +P", "all-abnormal", "normal beats flagged",
                 "cross-database SVDB")


def _replace_part(section: str, heading: str, body: str, before: tuple[str, ...] = ()) -> str:
    """``section`` with the part under the ``### <heading>...`` line (up to the next ``### ``
    heading) replaced by ``body``; where the section has no such part, ``body`` goes before the
    first of the ``before`` headings found (else at the end)."""
    lines = section.splitlines(keepends=True)
    starts = [i for i, ln in enumerate(lines) if ln.startswith("### ")]
    mine = [i for i in starts if lines[i].startswith("### " + heading)]
    if mine:
        a = mine[0]
        b = next((i for i in starts if i > a), len(lines))
    else:
        a = b = next((i for h in before for i in starts if lines[i].startswith("### " + h)),
                     len(lines))
    return "".join(lines[:a]) + body.strip() + "\n\n" + "".join(lines[b:])


def _replace_targets(section: str, rows: list[dict], prefixes: tuple[str, ...],
                     first: bool = True) -> str:
    """``section`` with the ``### Targets`` table rows whose target starts with one of
    ``prefixes`` replaced by ``rows`` (placed first, or where the first replaced row stood)."""
    t = section.index("### Targets")
    tail = section[t:].splitlines()
    table = [ln for ln in tail[1:] if ln.startswith("|")][2:]  # past header and rule
    rest = [ln for ln in tail[1:] if ln.strip() and not ln.startswith("|")]
    ours = [k for k, ln in enumerate(table) if ln.strip("| ").startswith(prefixes)]
    kept = [ln for k, ln in enumerate(table) if k not in ours]
    at = 0 if first or not ours else ours[0]
    new = md_table(rows).splitlines()
    out = new[:2] + kept[:at] + new[2:] + kept[at:]
    return (section[:t] + "### Targets\n\n" + "\n".join(out) + "\n"
            + ("\n" + "\n\n".join(rest) + "\n" if rest else ""))


def _splice_beats(section: str, beat_body: str, beat_rows: list[dict], header: str) -> str:
    """The existing section with its beat tables and beat target rows replaced."""
    a = section.index("### EC57 beat statistics")
    b = section.index("### Noise stress")
    head = header + "\n\n" + section[section.index("DS2 records available"):a]
    out = head + beat_body.strip() + "\n\n" + section[b:]
    return _replace_targets(out, beat_rows, _BEAT_TARGETS)


def _splice_noise(section: str, noise: list[dict], command: str, seconds: float) -> str:
    """The existing section with its noise-stress part and 6 dB target row replaced."""
    out = _replace_part(section, "Noise stress", noise_part(noise, command, seconds),
                        before=("Ventricular", "Speed", "Targets"))
    if "### Targets" not in out:
        out = out.rstrip() + "\n\n### Targets\n\n" + md_table(noise_targets(noise)) + "\n"
        return out
    return _replace_targets(out, noise_targets(noise), (NOISE_TARGET,), first=False)


def _emit(body: str, no_write: bool) -> int:
    """Print the section and, unless ``no_write``, write it into BENCHMARKS.md."""
    print(body)
    if not no_write:
        write_section("ecg-ec57", body)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=default_data_dir())
    ap.add_argument("--cache-dir", type=Path, default=Path("/tmp/cc-beat-features"),
                    help="feature cache (delete it after changing features)")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--part", choices=("all", "beats", "noise", "speed"), default="all",
                    help="beats / noise / speed: rerun the beat-class protocols / the "
                    "noise-stress table / the speed figures only (see module docstring)")
    ap.add_argument("--peaks", choices=PEAK_METHODS, default=DEFAULT_PEAK_METHOD,
                    help="R-peak detector of the beat protocols; another than the default only "
                    "prints its tables (BENCHMARKS.md keeps the default pipeline's)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.part == "speed":
        t_json, t_base, stages = speed(args.data_dir)
        old = read_section("ecg-ec57")
        body = _replace_part(old, "Speed", speed_part(t_json, t_base, stages, alone=True),
                             before=("Targets",))
        body = _replace_targets(body, speed_targets(t_json, t_base), (SPEED_TARGET, "... and"),
                                first=False)
        return _emit(body, args.no_write)
    if args.part == "noise":
        t0 = time.perf_counter()
        mit = beat_feature_table(args.data_dir, "mitdb", cache_dir=args.cache_dir)
        sv = beat_feature_table(args.data_dir, "svdb", cache_dir=args.cache_dir)
        noise = noise_stress(args.data_dir, {"ds1": _sub(mit, np.isin(mit["record"], DS1)),
                                             "sv": sv})
        old = read_section("ecg-ec57")
        body = _splice_noise(old, noise, "nice -n 10 python benchmarks/bench_ecg_ec57.py "
                             "--part noise", time.perf_counter() - t0)
        return _emit(body, args.no_write)
    if args.peaks != DEFAULT_PEAK_METHOD:
        # The section's figures are those of the default pipeline: another detector's run is
        # printed beside them, never written over them.
        rows, aucs, _, _, rules = beat_protocols(args.data_dir, args.cache_dir, args.peaks)
        print(f"EC57 beat statistics with peak_method={args.peaks!r} (not written):")
        print(md_table(rows, floatfmt=".3f"))
        print("; ".join(f"{k}: {v}" for k, v in rules.items()))
        print(md_table(aucs, floatfmt=".3f"))
        return 0
    rows, aucs, preds, tables, rules = beat_protocols(args.data_dir, args.cache_dir)
    beat_body = "\n\n".join([
        "### EC57 beat statistics (gross and per-record average)",
        md_table(rows, floatfmt=".3f"),
        "Decision rules chosen by grouped CV on the training records alone: "
        + "; ".join(f"{k}: {v}" for k, v in rules.items()) + ".",
        "### AUROC (abnormal vs N)",
        md_table(aucs, floatfmt=".3f")])
    header = "\n\n".join([
        "## AAMI beat classes on unseen patients (EC57), VT/VF, noise stress, speed",
        f"Machine: {machine()}",
        f"Command: `nice -n 10 python benchmarks/bench_ecg_ec57.py"
        f"{' --part beats' if args.part == 'beats' else ''}`",
        " ".join(__doc__.split("\n\n")[1:3]).replace("\n", " ")])
    if args.part == "beats":
        old = read_section("ecg-ec57")
        header += ("\n\nThe noise-stress, VT/VF and speed parts below come from an earlier "
                   "full run of this script (not rerun with ``--part beats``).")
        body = _splice_beats(old, beat_body, beat_targets(rows, aucs), header)
        return _emit(body, args.no_write)
    noise = noise_stress(args.data_dir, tables)
    vf, vf_called = vf_figures(args.data_dir, args.cache_dir)
    vt, vt_chosen = vt_figures(args.data_dir, preds, vf_called)
    t_json, t_base, stages = speed(args.data_dir)
    ds2 = sorted(set(preds["ds2"][0]["record"].tolist()))
    body = "\n\n".join([
        header,
        f"DS2 records available and used: {', '.join(ds2)}; SVDB: "
        f"{len(set(tables['sv']['record'].tolist()))} records.",
        beat_body,
        noise_part(noise),
        "### Ventricular fibrillation / flutter episodes (out-of-fold windows)",
        md_table(vf, floatfmt=".3f"),
        "### Ventricular tachycardia runs (>= 3 V beats > 100 bpm) on MIT-BIH",
        "Held-out classes (DS2: DS1 model; DS1: LRO CV). `vt_runs` is the option of "
        "`analyze_record`: `classes` makes runs of the beats classified V, `shape` also takes "
        "in the fast beats shaped like a neighbouring V beat or unlike any sinus beat "
        "(`extend_ventricular_runs`). The method with the highest run F1 on DS1 is "
        f"`{vt_chosen}`; the pipeline's default is "
        f"`{inspect.signature(analyze_record).parameters['vt_runs'].default}`. "
        "Episode Se: the annotators' VT rhythm episodes found (a call overlaps one); those "
        "slower than 100 bpm (the annotators' VT, not the rule's) are counted apart. Run "
        "Se/+P: EC57-style runs of >= 3 reference V beats above 100 bpm; a call is right when "
        "it overlaps such a run or a VT episode, and false calls per hour are those that "
        "overlap neither.",
        md_table(vt, floatfmt=".3f"),
        speed_part(t_json, t_base, stages, alone=False),
        "### Targets",
        md_table(beat_targets(rows, aucs) + other_targets(vf, noise, t_json, t_base)),
    ])
    return _emit(body, args.no_write)


if __name__ == "__main__":
    raise SystemExit(main())
