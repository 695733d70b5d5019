"""Demo step: analyse 5 minutes of a real MIT-BIH record (bundled, offline) with bundled models."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np

SAMPLE = "mitdb219_5m"  # made by training/make_record_sample.py
SAMPLE_TITLE = "MIT-BIH 219, minutes 5-10"


def sample_path() -> Path:
    """Path of the bundled demo record's header (``samples/<SAMPLE>.hea``)."""
    return Path(str(resources.files("cardioclarity") / "samples" / f"{SAMPLE}.hea"))


def _reference_summary(record) -> str:
    """What the cardiologists' reference annotations say about the excerpt, for comparison."""
    from cardioclarity.ecg.records.datasets import aami_class

    ann = record.annotations
    if ann is None:
        return ""
    classes = [aami_class(s) for s in ann.symbol]
    n_abn = sum(c in ("S", "V", "F") for c in classes)
    n_beats = sum(c is not None for c in classes)
    rhythms = [(int(s) / record.fs, a) for s, sym, a in zip(ann.sample, ann.symbol, ann.aux_note,
                                                            strict=True) if sym == "+"]
    af = [f"{t:.0f} s" for t, a in rhythms if a.startswith("(AF")]
    return (f"Reference: {n_beats} beats, {n_abn} ectopic (S/V/F)"
            + (f", atrial fibrillation/flutter starting at {', '.join(af)}" if af else "") + ".")


def run_demo(out_dir: str | Path) -> dict:
    """Analyse the bundled record into ``out_dir`` (findings.json, report.html, PNGs)."""
    from cardioclarity.checkpoints import list_bundled
    from cardioclarity.ecg.records.analyze import analyze_record
    from cardioclarity.ecg.records.io import read_record
    from cardioclarity.ecg.records.report import record_report_figures, render_record_report
    from cardioclarity.ecg.records.scoring import DEFAULT_RECORD_MODEL, RecordBeatModel
    from cardioclarity.reporting import save_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    record = read_record(sample_path())
    model = RecordBeatModel.load() if DEFAULT_RECORD_MODEL in list_bundled() else False
    findings = analyze_record(record, detector=model)
    (out / "findings.json").write_text(json.dumps(findings.to_dict(), indent=1))
    figures = record_report_figures(findings, record, detector=model or None)
    report = save_report(out, render_record_report(findings, record, figures=figures), figures)
    r = findings.rhythm
    flagged = (int(np.sum(findings.beat_scores.is_anomaly)) if findings.beat_scores is not None
               else "n/a")
    irr = [e for e in r["episodes"] if e["type"] == "irregular_rhythm"]
    summary = (f"{SAMPLE_TITLE} ({findings.duration_s:.0f} s, {findings.n_beats} beats): "
               f"{flagged} beats flagged, irregular rhythm "
               + (", ".join(f"{e['start_s']:.0f}-{e['end_s']:.0f} s" for e in irr) if irr else "none")
               + f", mean HR {r['heart_rate_bpm']['mean']:.0f} bpm. " + _reference_summary(record))
    return {"title": f"ECG record analysis ({SAMPLE_TITLE})", "report": report,
            "summary": summary, "findings": out / "findings.json"}
