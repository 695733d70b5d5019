"""Beats on records, inter-patient (MIT-BIH DS2), and speed from file to findings.json.

Protocol: the bundled ``mitdb-conv1d`` record model (autoencoder trained on DS1 normal beats only;
thresholds from DS1 normal beats only, see its model card) analyses every available DS2 record
end to end (``read_record`` -> ``analyze_record``: our R-peaks, quality, windows, RR context).
Each detected beat takes the AAMI class of the reference beat within 150 ms; Q beats and
detections without a reference beat are left out of the beat metrics (counted below).
Positive class = abnormal beat. Scores: the combined beat score (max of morphology and RR, 1.0 =
threshold), and each part alone as an ablation; then the patient-adaptive variant (calibrated on
the sinus-consistent beats of each record's first 5 minutes). No DS2 beat influenced any choice.

Speed: median over 3 runs of a full 30-min record (100: 650,000 samples, ~2,270 beats) from the
file on disk to findings.json written, without and with the HTML report (figures included).

Usage::

    python benchmarks/bench_ecg_records.py [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import default_data_dir, machine, md_table, median_time, write_section

from cardioclarity.ecg.records.analyze import analyze_record
from cardioclarity.ecg.records.datasets import DS2, available_records, label_detected_beats
from cardioclarity.ecg.records.io import read_record
from cardioclarity.ecg.records.report import record_report_figures, render_record_report
from cardioclarity.ecg.records.scoring import RecordBeatModel
from cardioclarity.metrics import binary_report, roc_auc
from cardioclarity.reporting import progress, save_report


def collect(mitdb: Path, names: list[str], model: RecordBeatModel, adaptive: bool) -> dict:
    out = {"label": [], "score": [], "morph": [], "rr": [], "flag": [], "record": []}
    extra = {"unmatched_detections": 0, "missed_reference_beats": 0}
    for name in progress(names, desc=f"DS2 {'adaptive' if adaptive else 'global'}", unit="rec"):
        rec = read_record(mitdb / name, lead="MLII")
        f = analyze_record(rec, detector=model, adaptive=adaptive)
        lab = label_detected_beats(f.peaks, rec.annotations, rec.fs)
        n_ref = sum(1 for s in rec.annotations.symbol if s in "NLRejAaJSVEF/fQ")
        extra["unmatched_detections"] += int((lab == "").sum())
        extra["missed_reference_beats"] += max(n_ref - int((lab != "").sum()), 0)
        keep = np.isin(lab, ["N", "S", "V", "F"])
        bs = f.beat_scores
        out["label"] += lab[keep].tolist()
        out["score"] += bs.score[keep].tolist()
        out["morph"] += bs.morphology[keep].tolist()
        out["rr"] += bs.rr[keep].tolist()
        out["flag"] += bs.is_anomaly[keep].tolist()
        out["record"] += [name] * int(keep.sum())
    res = {k: np.asarray(v) for k, v in out.items()}
    res.update(extra)
    return res


def metrics_rows(res: dict, variant: str) -> list[dict]:
    lab = res["label"]
    rows = []
    for part in ("score", "morph", "rr"):
        s = res[part]
        row = {"variant": variant, "score": {"score": "combined", "morph": "morphology only",
                                             "rr": "RR context only"}[part]}
        abn = lab != "N"
        row["AUROC S+V+F"] = roc_auc(abn.astype(int), s)
        for c in ("V", "S", "F"):
            m = np.isin(lab, ["N", c])
            row[f"AUROC {c}"] = roc_auc((lab[m] == c).astype(int), s[m])
        pred = (s >= 1.0).astype(int)
        rep = binary_report(abn.astype(int), pred, positive_class="abnormal beat (S+V+F)")
        row.update({"F1": rep.f1, "precision": rep.precision, "recall": rep.recall,
                    "specificity": rep.specificity})
        rows.append(row)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=str, default=str(default_data_dir()))
    ap.add_argument("--model", default=None, help="record model (default: bundled mitdb-conv1d)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    mitdb = Path(args.data_dir) / "mitdb"
    names = available_records(mitdb, DS2)
    model = RecordBeatModel.load(args.model)
    rows, counts = [], []
    for adaptive in (False, True):
        res = collect(mitdb, names, model, adaptive)
        variant = "patient-adaptive (default)" if adaptive else "global"
        rows += metrics_rows(res, variant)
        lab = res["label"]
        counts += [{"variant": variant, "class": c, "beats": int((lab == c).sum()),
                    "flagged": int(res["flag"][lab == c].sum()),
                    "flagged %": 100 * float(res["flag"][lab == c].mean()) if (lab == c).any()
                    else 0.0} for c in ("N", "S", "V", "F")]
        extra = (f"Detections without a reference beat: {res['unmatched_detections']}; "
                 f"reference beats not detected: {res['missed_reference_beats']}.")
    # speed
    path = mitdb / "100.hea"
    tmp = Path(tempfile.mkdtemp(prefix="cc-bench-"))

    def to_json(report: bool):
        rec = read_record(path)
        f = analyze_record(rec, detector=model)  # default: adaptive="auto"
        (tmp / "findings.json").write_text(json.dumps(f.to_dict()))
        if report:
            figures = record_report_figures(f, rec, detector=model)
            save_report(tmp, render_record_report(f, rec, figures=figures), figures)

    t_json = median_time(lambda: to_json(False), repeats=3)
    t_html = median_time(lambda: to_json(True), repeats=3)
    t0 = time.perf_counter()
    f = analyze_record(read_record(path), detector=model)
    stages = {k: round(v, 3) for k, v in f.timings.items()}
    _ = time.perf_counter() - t0
    speed = [{"task": "30-min record 100 -> findings.json", "median s": t_json, "target s": 2.0},
             {"task": "... + HTML report with figures", "median s": t_html, "target s": 7.0}]
    body = "\n\n".join([
        "## Beats on records, inter-patient (MIT-BIH DS2) and speed",
        f"Machine: {machine()}",
        "Command: `python benchmarks/bench_ecg_records.py`",
        " ".join(__doc__.split("\n\n")[1:3]).replace("\n", " "),
        f"DS2 records available and used: {', '.join(names)} (the other DS2 records are held "
        "back by the data provider). " + extra,
        md_table(rows, floatfmt=".4f"),
        "Flagged beats per AAMI class (threshold 1.0):",
        md_table(counts, floatfmt=".1f"),
        md_table(speed, floatfmt=".2f"),
        f"Stage times of one analysis (s): {stages}.",
    ])
    print(body)
    if not args.no_write:
        write_section("ecg-records", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
