"""``cardioclarity ecg analyze``: a recording (or a folder of them) -> findings.json + report."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

from cardioclarity import DISCLAIMER
from cardioclarity.ecg.records.methods import PIPELINE_PEAK_METHODS
from cardioclarity.errors import (
    EX_PARTIAL,
    CardioClarityError,
    InputFileNotFoundError,
    exception_summary,
)
from cardioclarity.reporting import progress

#: Files that start a record in batch mode (WFDB records by their header).
RECORD_SUFFIXES = (".hea", ".csv", ".txt", ".edf", ".dcm", ".xml")


def find_records(folder: Path) -> list[Path]:
    """Records in a folder: every ``.hea`` (WFDB), ``.csv``, ``.txt``, ``.edf``, ``.dcm`` (DICOM
    ECG) and ``.xml`` (HL7 aECG, Philips Sierra) file.

    The segment and layout headers of a multi-segment WFDB record in the folder are parts of
    that record, read through its master header, so they are not listed on their own.
    """
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and p.suffix.lower() in RECORD_SUFFIXES)
    parts: set[str] = set()
    for p in files:
        if p.suffix.lower() == ".hea":
            parts |= _segments_of(p)
    return [p for p in files if not (p.suffix.lower() == ".hea" and p.stem in parts)]


def _segments_of(hea: Path) -> set[str]:
    """Segment names a multi-segment master header lists (empty for any other header)."""
    try:
        with open(hea, encoding="utf-8", errors="replace") as fh:
            lines = [ln.split() for ln in fh.read(1 << 20).splitlines()
                     if ln.strip() and not ln.lstrip().startswith("#")]
    except OSError:
        return set()
    if not lines or "/" not in lines[0][0]:
        return set()
    return {ln[0] for ln in lines[1:] if ln and ln[0] != "~"}


def output_names(files: list[Path]) -> dict[Path, str]:
    """A distinct output folder name per input: the record's stem (``100`` for ``100.hea``),
    with the extension added where two inputs share a stem (``100.csv`` -> ``100_csv``)."""
    counts: dict[str, int] = {}
    for p in files:
        counts[p.stem] = counts.get(p.stem, 0) + 1
    names: dict[Path, str] = {}
    used: set[str] = set()
    for p in files:
        name = p.stem
        if counts[name] > 1 and p.suffix.lower() != ".hea":
            name = f"{name}_{p.suffix.lstrip('.').lower()}"
        base, i = name, 2
        while name in used:
            name, i = f"{base}_{i}", i + 1
        used.add(name)
        names[p] = name
    return names


def analyze_one(path: Path, out: Path, *, lead=None, fs=None, model=None, adaptive="auto",
                report: bool = True, beat_model=None, leads: str = "auto",
                peak_method: str | None = None) -> dict:
    """Analyse one record into ``out`` (findings.json [+ report.html]); return a summary row.

    ``leads``: "auto" analyses every lead of files that carry them all (DICOM, aECG, Philips:
    12-lead analysis, plus ``ecg12.png`` and ``report_12lead.html``), "all" also reads every
    lead of WFDB records, "one" analyses the chosen lead only. ``peak_method``: the R-peak
    detector (default: ``analyze_record``'s).
    """
    from cardioclarity.ecg.records.analyze import analyze_record
    from cardioclarity.ecg.records.io import read_record

    t0 = time.perf_counter()
    stages = ("read", "analyse", "write") if report else ("read", "analyse")
    html = None
    # A stage bar: the report's figures take a few seconds on a 30-min record.
    for stage in progress(stages, desc=path.name, unit="stage", total=len(stages)):
        if stage == "read":
            record = read_record(path, lead=lead, fs=fs, all_leads=leads == "all")
            multi = leads != "one" and record.signals is not None and len(record.leads) > 1
        elif stage == "analyse":
            kw = dict(detector=beat_model if beat_model is not None else model, adaptive=adaptive)
            if peak_method is not None:
                kw["peak_method"] = peak_method
            if multi:
                from cardioclarity.ecg.records.twelve_lead import analyze_12lead

                f12 = analyze_12lead(record, **kw)
                findings, d = f12.findings, f12.to_dict()
            else:
                findings = analyze_record(record, **kw)
                d = findings.to_dict()
            out.mkdir(parents=True, exist_ok=True)
            (out / "findings.json").write_text(json.dumps(d, indent=1))
        else:
            if multi:
                _write_12lead(out, record, d)
            from cardioclarity.ecg.records.report import record_report_figures, render_record_report
            from cardioclarity.reporting import save_report

            figures = record_report_figures(findings, record, detector=beat_model)
            html = save_report(out, render_record_report(findings, record, figures=figures),
                               figures)
    r = d["rhythm"]
    b = r["ectopic_burden"]
    return {"record": record.name, "status": "ok", "lead": record.lead,
            "duration_s": d["duration_s"], "n_beats": d["n_beats"],
            "flagged_beats": b.get("n_flagged"), "irregular": r["irregular"],
            "irregularity_score": round(r["irregularity_score"], 4),
            "mean_hr_bpm": None if r["heart_rate_bpm"]["mean"] is None
            else round(r["heart_rate_bpm"]["mean"], 1),
            "n_episodes": len(r["episodes"]),
            "usable_fraction": d["quality"]["usable_fraction"],
            "seconds": round(time.perf_counter() - t0, 2),
            "findings": str(out / "findings.json"), "report": str(html) if html else "", "error": ""}


def _write_12lead(out: Path, record, d: dict) -> None:
    """``ecg12.png`` and ``report_12lead.html`` for a record with the 12 standard leads."""
    from cardioclarity.ecg.records.record import STANDARD_12
    from cardioclarity.ecg.records.report_12lead import render_12lead_report, twelve_lead_png
    from cardioclarity.reporting import save_report

    if all(ld in record.leads for ld in STANDARD_12):
        png = twelve_lead_png(record)
        save_report(out, render_12lead_report(d, png), {"ecg12.png": png},
                    name="report_12lead.html")


def _load_beat_model(name):
    from cardioclarity.ecg.records.scoring import RecordBeatModel

    return RecordBeatModel.load(name)


def _cmd_analyze(args: argparse.Namespace) -> int:
    src = Path(args.record)
    out = Path(args.out)
    if not src.exists() and not Path(f"{src}.hea").exists():
        raise InputFileNotFoundError(f"Input '{src}' does not exist.",
                                     hint="give a record file (.hea/.csv/.txt/.edf/.dcm/.xml) or "
                                     "a folder.")
    beat_model = False if args.no_beats else _load_beat_model(args.model)
    adaptive = {"auto": "auto", "on": True, "off": False}[args.adaptive]
    kw = dict(lead=args.lead, fs=args.fs, adaptive=adaptive, report=not args.no_report,
              beat_model=beat_model, leads=args.leads, peak_method=args.peaks)
    if not src.is_dir():
        row = analyze_one(src, out, **kw)
        _print_row(row)
        print(DISCLAIMER)
        return 0
    files = find_records(src)
    if not files:
        raise InputFileNotFoundError(f"No records (.hea, .csv, .txt, .edf, .dcm, .xml) in folder "
                                     f"'{src}'.",
                                     hint="point at a folder of recordings or at one record.")
    rows, failed = [], 0
    names = output_names(files)
    for path in progress(files, desc="records", unit="rec"):
        row = _analyze_or_error_row(path, out / names[path], kw)
        failed += row["status"] != "ok"
        rows.append(row)
    out.mkdir(parents=True, exist_ok=True)
    cols = ["record", "status", "lead", "duration_s", "n_beats", "flagged_beats", "irregular",
            "irregularity_score", "mean_hr_bpm", "n_episodes", "usable_fraction", "seconds",
            "findings", "report", "error", "file"]
    with open(out / "summary.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    for r in rows:
        if r["status"] == "ok":
            _print_row(r)
    print(f"{len(rows) - failed} of {len(rows)} records analysed; summary: {out / 'summary.csv'}")
    print(DISCLAIMER)
    return EX_PARTIAL if failed else 0


def _analyze_or_error_row(path: Path, out: Path, kw: dict) -> dict:
    """``analyze_one``'s summary row, or an error row (also printed to stderr): one file never
    stops a batch, whatever goes wrong with it."""
    try:
        row = analyze_one(path, out, **kw)
    except CardioClarityError as exc:
        error = str(exc)
    except Exception as exc:  # noqa: BLE001 - a bug on one file must not end the batch
        error = (f"internal error ({exception_summary(exc)}); this is a bug in "
                 "CardioClarity, please report it")
    else:
        return {**row, "file": str(path)}
    print(f"cardioclarity: error: {path.name}: {error}", file=sys.stderr)
    return {"record": out.name, "status": "failed", "error": error, "file": str(path)}


def _print_row(r: dict) -> None:
    flagged = "n/a" if r["flagged_beats"] is None else r["flagged_beats"]
    print(f"{r['record']}: {r['n_beats']} beats, {flagged} flagged, mean HR {r['mean_hr_bpm']} bpm, "
          f"irregular rhythm: {'yes' if r['irregular'] else 'no'}, {r['n_episodes']} episode(s), "
          f"usable {100 * r['usable_fraction']:.0f}% -> {r['findings']}"
          + (f", {r['report']}" if r["report"] else ""))


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``analyze`` to the ``ecg`` group."""
    p = sub.add_parser(
        "analyze", help="analyse a recording (WFDB/CSV/EDF): beats, rhythm, quality, report",
        description="Read a recording, clean it, detect R-peaks, score each beat (autoencoder "
        "morphology + RR context), find rate/pause/irregular-rhythm episodes and unusable "
        "signal, and write OUT/findings.json plus an HTML report. Given a folder, analyses "
        "every record in it (one sub-folder each, named by the record, with the extension "
        "added where two files share a name; plus OUT/summary.csv); a record that fails for "
        "any reason is reported, listed in summary.csv with its error, and skipped (exit 1). " + DISCLAIMER,
        epilog="examples:\n  cardioclarity ecg analyze mitdb/100.hea --out results/100\n"
        "  cardioclarity ecg analyze strip.csv --fs 250 --lead II --out results/strip\n"
        "  cardioclarity ecg analyze recordings/ --out results/ --adaptive off\n"
        "  cardioclarity ecg analyze cart.dcm --out results/cart   # 12-lead analysis + page",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("record", metavar="RECORD|DIR",
                   help="WFDB record (.hea, or base name), .csv/.txt (needs --fs), .edf, a DICOM "
                   "ECG (.dcm), an HL7 aECG or Philips Sierra .xml, or a folder")
    p.add_argument("--out", required=True, help="output folder (findings.json, report.html, PNGs)")
    p.add_argument("--lead", default=None,
                   help="lead name (default: MLII, II, ECG, I... whichever exists)")
    p.add_argument("--fs", type=float, default=None,
                   help="sampling rate in Hz (required for CSV/TXT; WFDB/EDF carry their own, "
                   "and an --fs that disagrees with it is an error)")
    p.add_argument("--model", default=None,
                   help="beat model: bundled name or checkpoint (default: mitdb-conv1d)")
    p.add_argument("--adaptive", choices=("auto", "on", "off"), default="auto",
                   help="patient-adaptive beat scoring, calibrated on the record's own dominant "
                   "beats of the first 5 minutes; auto (default) = on when there are enough "
                   "regular beats, else the global model")
    p.add_argument("--leads", choices=("auto", "all", "one"), default="auto",
                   help="multi-lead analysis (R-peaks fused across leads, per-lead morphology, "
                   "PR/QRS/QT/QTc, 12-lead page): auto (default) = for files that carry every "
                   "lead (DICOM ECG, HL7 aECG, Philips XML), all = also WFDB records, one = the "
                   "chosen lead only")
    p.add_argument("--peaks", choices=PIPELINE_PEAK_METHODS, default=None,
                   help="R-peak detector: hybrid (default: the learned rpeak-net's beats, at the "
                   "energy detector's positions where both found them), cardioclarity (energy "
                   "envelope only, no model) or net (rpeak-net's own positions); "
                   "BENCHMARKS.md ecg-rpeaks, ecg-ec57")
    p.add_argument("--no-beats", action="store_true", help="skip beat scoring (rhythm only)")
    p.add_argument("--no-report", action="store_true", help="write findings.json only (fastest)")
    p.set_defaults(func=_cmd_analyze)
