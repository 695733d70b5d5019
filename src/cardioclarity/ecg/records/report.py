"""Figures and the self-contained HTML report of a record analysis.

Every function here returns bytes or text; the caller decides where they go.

- :func:`strip_png` — an ECG strip with R-peaks and flagged beats coloured by finding (web page);
- :func:`record_report_figures` — the report's PNGs by file name: strips, HR trend with
  irregularity over time, RR tachogram and Poincare plot, flagged beats beside their
  reconstruction;
- :func:`render_record_report` — the ``findings.json``-companion HTML (figures embedded, findings
  table, research-use disclaimer).
"""

from __future__ import annotations

import numpy as np

from cardioclarity.ecg.records.analyze import Findings
from cardioclarity.ecg.records.io import Record
from cardioclarity.reporting import Section, figure_to_png, pyplot, render_html

plt = pyplot()  # Matplotlib on the headless Agg backend (imported with this module)

__all__ = ["findings_table", "r_apex", "record_report_figures", "render_record_report", "strip_png"]

#: Colours by finding, used consistently across figures.
FINDING_COLORS = {"normal": "#2b6cb0", "premature": "#dd6b20", "abnormal_morphology": "#c53030",
                  "not_scored": "#718096"}
EPISODE_COLORS = {"irregular_rhythm": "#9f7aea", "tachycardia": "#e53e3e", "bradycardia": "#3182ce",
                  "pause": "#2d3748", "ectopic_run": "#dd6b20",
                  "ventricular_tachycardia": "#9b2c2c", "ventricular_fibrillation": "#63171b"}


def _finding_of(f: Findings) -> np.ndarray:
    if f.beat_scores is None:
        return np.array(["not_scored"] * f.n_beats)
    return np.asarray(f.beat_scores.finding)


def _shade_unusable(ax, f: Findings, t0: float, t1: float) -> None:
    for s in f.quality.segments:
        if s["end_s"] > t0 and s["start_s"] < t1:
            ax.axvspan(max(s["start_s"], t0), min(s["end_s"], t1), color="#a0aec0", alpha=0.35,
                       lw=0, label=f"unusable ({s['reason']})")


def r_apex(clean: np.ndarray, peaks: np.ndarray, fs: float) -> np.ndarray:
    """Sample of each beat's R apex: the largest deflection from the local baseline within
    120 ms before to 60 ms after the detection (where a marker belongs). The energy-based
    detection of a wide ventricular beat can sit up to ~90 ms after its apex."""
    peaks = np.asarray(peaks, dtype=np.int64)
    if not peaks.size:
        return peaks
    offs = np.arange(-int(0.12 * fs), int(0.06 * fs) + 1)
    idx = np.clip(peaks[:, None] + offs[None, :], 0, clean.size - 1)
    seg = clean[idx]
    seg = seg - np.median(seg, axis=1, keepdims=True)
    return idx[np.arange(peaks.size), np.argmax(np.abs(seg), axis=1)]


def _draw_strip(ax, f: Findings, record: Record, start_s: float, length_s: float) -> None:
    fs = record.fs
    a = max(int(start_s * fs), 0)
    b = min(int((start_s + length_s) * fs), record.signal.size)
    t = np.arange(a, b) / fs
    y = f.prepared.clean[a:b]
    ax.plot(t, y, color="#1a202c", lw=0.8)
    sel = (f.peaks >= a) & (f.peaks < b)
    finding = _finding_of(f)
    for kind, color in FINDING_COLORS.items():
        m = sel & (finding == kind)
        if m.any():
            at = r_apex(f.prepared.clean, f.peaks[m], fs)
            ax.plot(at / fs, f.prepared.clean[at], "o",
                    ms=6 if kind != "normal" else 3.5, color=color, zorder=3,
                    label=kind.replace("_", " "))
    for ep in f.episodes():
        if ep["type"] == "irregular_rhythm" and ep["end_s"] > start_s and ep["start_s"] < start_s + length_s:
            ax.axvspan(max(ep["start_s"], start_s), min(ep["end_s"], start_s + length_s),
                       color=EPISODE_COLORS["irregular_rhythm"], alpha=0.12, lw=0,
                       label="irregular rhythm")
    _shade_unusable(ax, f, start_s, start_s + length_s)
    ax.set_xlim(start_s, start_s + length_s)
    ax.set_ylabel(f"{record.lead} ({record.units or 'a.u.'})")
    ax.grid(alpha=0.25)
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles, strict=True))
    if uniq:
        ax.legend(uniq.values(), uniq.keys(), loc="upper right", fontsize=7, ncol=4)


def _strip_starts(f: Findings, length_s: float, n: int) -> list[float]:
    """Start times of the most informative strips: the start, then around flagged beats."""
    starts = [0.0]
    fs = f.sampling_rate
    finding = _finding_of(f)
    for kind in ("abnormal_morphology", "premature"):
        idx = np.flatnonzero(finding == kind)
        if idx.size:
            # the 10-s stretch holding most beats of this kind
            t = f.peaks[idx] / fs
            counts = np.searchsorted(t, t + length_s * 0.8) - np.arange(t.size)
            starts.append(max(float(t[int(np.argmax(counts))]) - 1.0, 0.0))
    for ep in f.episodes():
        if ep["type"] in ("irregular_rhythm", "pause", "tachycardia", "bradycardia"):
            starts.append(max(ep["start_s"] - 1.0, 0.0))
    out: list[float] = []
    for s in starts:
        s = min(s, max(f.duration_s - length_s, 0.0))
        if all(abs(s - o) >= length_s for o in out):
            out.append(s)
        if len(out) >= n:
            break
    return out


def strip_png(findings: Findings, record: Record, *, start_s: float | None = None,
              length_s: float = 10.0) -> bytes:
    """PNG of one ECG strip with R-peaks and flagged beats highlighted by finding.

    Parameters
    ----------
    findings : Findings
    record : Record
        The record the findings came from.
    start_s : float, optional
        Strip start (s). Default: the stretch with the most flagged beats (else the start).
    length_s : float
        Strip length in seconds.
    """
    if start_s is None:
        starts = _strip_starts(findings, length_s, 2)
        start_s = starts[1] if len(starts) > 1 else starts[0]
    fig, ax = plt.subplots(figsize=(11, 2.6))
    _draw_strip(ax, findings, record, float(start_s), float(length_s))
    ax.set_xlabel("time (s)")
    ax.set_title(f"{record.name}: {start_s:.1f}-{start_s + length_s:.1f} s", fontsize=9)
    return figure_to_png(fig)


def _fig_hr(f: Findings) -> bytes:
    t, bpm = f.hr_trend
    fig, ax = plt.subplots(2, 1, figsize=(11, 4.2), sharex=True,
                           gridspec_kw={"height_ratios": [3, 1.3]})
    ax[0].plot(t, bpm, color="#2d3748", lw=0.8)
    for ep in f.episodes():
        c = EPISODE_COLORS.get(ep["type"])
        if c and ep["type"] != "pause":
            ax[0].axvspan(ep["start_s"], ep["end_s"], color=c, alpha=0.15, lw=0,
                          label=ep["type"].replace("_", " "))
        elif ep["type"] == "pause":
            ax[0].axvline(ep["start_s"], color=c, lw=1, ls="--", label="pause")
    _shade_unusable(ax[0], f, 0, f.duration_s)
    ax[0].axhline(50, color="#3182ce", lw=0.6, ls=":")
    ax[0].axhline(100, color="#e53e3e", lw=0.6, ls=":")
    ax[0].set_ylabel("heart rate (bpm)")
    handles, labels = ax[0].get_legend_handles_labels()
    uniq = dict(zip(labels, handles, strict=True))
    if uniq:
        ax[0].legend(uniq.values(), uniq.keys(), fontsize=7, ncol=5, loc="upper right")
    w = f.windows
    if len(w.get("start_s", [])):
        centers = np.asarray(w["start_s"]) + w["window_s"] / 2
        ax[1].plot(centers, w["probability"], color=EPISODE_COLORS["irregular_rhythm"], lw=1)
        ax[1].axhline(f.rhythm["threshold"], color="k", lw=0.6, ls="--")
    ax[1].set_ylim(-0.02, 1.02)
    ax[1].set_ylabel("irregularity")
    ax[1].set_xlabel("time (s)")
    for a in ax:
        a.grid(alpha=0.25)
    ax[0].set_title("Heart-rate trend (8-beat mean) and AF-like irregularity per 30-s window",
                    fontsize=9)
    return figure_to_png(fig)


def _fig_rr(f: Findings) -> bytes:
    fs = f.sampling_rate
    rr = np.diff(f.peaks) / fs
    valid = f.prepared.rr_valid
    t = f.peaks[1:] / fs
    finding = _finding_of(f)[1:]
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [2.2, 1]})
    for kind, color in FINDING_COLORS.items():
        m = valid & (finding == kind)
        if m.any():
            # plot() with markers renders ~10x faster than scatter() for thousands of points
            ax[0].plot(t[m], rr[m], ".", ms=2.5 if kind == "normal" else 4.5, color=color,
                       label=kind.replace("_", " "))
    ax[0].set_xlabel("time (s)")
    ax[0].set_ylabel("RR interval (s)")
    ax[0].set_title("RR tachogram (colour: finding of the closing beat)", fontsize=9)
    ax[0].legend(fontsize=7, markerscale=2)
    x1, x2 = rr[:-1], rr[1:]
    ok = valid[:-1] & valid[1:]
    fcol = finding[1:]
    for kind, color in FINDING_COLORS.items():
        m = ok & (fcol == kind)
        if m.any():
            ax[1].plot(x1[m], x2[m], ".", ms=2 if kind == "normal" else 4, color=color, alpha=0.6)
    if ok.any():
        lo, hi = np.percentile(np.r_[x1[ok], x2[ok]], [0.5, 99.5])
        ax[1].plot([lo, hi], [lo, hi], color="k", lw=0.5)
    ax[1].set_xlabel("RR$_n$ (s)")
    ax[1].set_ylabel("RR$_{n+1}$ (s)")
    ax[1].set_title("Poincare plot", fontsize=9)
    for a in ax:
        a.grid(alpha=0.25)
    return figure_to_png(fig)


def _fig_beats(f: Findings, detector, n: int = 6) -> bytes | None:
    bs = f.beat_scores
    if bs is None or not bs.is_anomaly.any() or bs.windows.shape[0] == 0:
        return None
    vidx = np.flatnonzero(bs.valid)  # window row i belongs to beat vidx[i]
    flagged_rows = np.flatnonzero(bs.is_anomaly[vidx])
    if flagged_rows.size == 0:
        return None
    # the most abnormal of each finding kind, then fill by score
    order = flagged_rows[np.argsort(-bs.score[vidx][flagged_rows])]
    chosen: list[int] = []
    for kind in ("abnormal_morphology", "premature"):
        chosen += [r for r in order if bs.finding[vidx[r]] == kind][: n // 2]
    chosen = (chosen + [r for r in order if r not in chosen])[:n]
    X = bs.windows[chosen]
    recon = detector.reconstruct(X) if detector is not None else None
    normal_rows = np.flatnonzero(~bs.is_anomaly[vidx])
    ref = np.median(bs.windows[normal_rows], axis=0) if normal_rows.size else None
    cols = min(3, len(chosen))
    rows = int(np.ceil(len(chosen) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.7 * cols, 2.4 * rows), squeeze=False)
    tt = np.linspace(-0.25, 0.45, X.shape[1])
    for k, r in enumerate(chosen):
        ax = axes[k // cols][k % cols]
        i = vidx[r]
        ax.plot(tt, X[k], color=FINDING_COLORS[bs.finding[i]], lw=1.2, label="beat")
        if recon is not None:
            ax.plot(tt, recon[k], color="#2d3748", lw=1, ls="--", label="reconstruction")
            ax.fill_between(tt, X[k], recon[k], color="#fc8181", alpha=0.35, lw=0)
        if ref is not None:
            ax.plot(tt, ref, color="#a0aec0", lw=0.8, label="record's typical beat")
        ax.set_title(f"t={f.peaks[i] / f.sampling_rate:.1f}s {bs.finding[i].replace('_', ' ')}\n"
                     f"score {bs.score[i]:.2f} (morph {bs.morphology[i]:.2f}, RR {bs.rr[i]:.2f})",
                     fontsize=8)
        ax.tick_params(labelsize=7)
        if k == 0:
            ax.legend(fontsize=6)
    for k in range(len(chosen), rows * cols):
        axes[k // cols][k % cols].axis("off")
    fig.suptitle("Flagged beats beside their autoencoder reconstruction (time from R, s)",
                 fontsize=9)
    fig.subplots_adjust(hspace=0.7, wspace=0.25, top=1 - 0.55 / (2.4 * rows))
    return figure_to_png(fig)


def findings_table(findings: Findings, max_rows: int = 200) -> list[dict]:
    """Rows of the findings table: episodes with times, then unusable stretches."""
    rows = []
    for ep in findings.episodes():
        extra = {k: v for k, v in ep.items() if k not in ("type", "start_s", "end_s")}
        rows.append({"finding": ep["type"].replace("_", " "),
                     "start": _hms(ep["start_s"]), "end": _hms(ep["end_s"]),
                     "duration_s": round(ep["end_s"] - ep["start_s"], 1),
                     "details": ", ".join(f"{k}={v}" for k, v in extra.items())})
    for s in findings.quality.segments:
        rows.append({"finding": f"unusable signal ({s['reason']})", "start": _hms(s["start_s"]),
                     "end": _hms(s["end_s"]), "duration_s": round(s["end_s"] - s["start_s"], 1),
                     "details": "not analysed"})
    rows.sort(key=lambda r: r["start"])
    return rows[:max_rows]


def _hms(t: float) -> str:
    t = float(t)
    h, rem = divmod(t, 3600)
    m, s = divmod(rem, 60)
    return f"{int(h):02d}:{int(m):02d}:{s:04.1f}"


def _summary(f: Findings) -> list[dict]:
    r = f.rhythm
    hr = r["heart_rate_bpm"]
    b = r["ectopic_burden"]

    def fmt(v, d=1):
        return "n/a" if v is None or (isinstance(v, float) and not np.isfinite(v)) else round(v, d)

    rows = [
        {"measure": "duration", "value": f"{f.duration_s:.1f} s ({f.n_beats} beats)"},
        {"measure": "lead / sampling rate", "value": f"{f.lead} / {f.sampling_rate:g} Hz"},
        {"measure": "usable signal", "value": f"{100 * f.quality.usable_fraction:.1f}%"},
        {"measure": "heart rate mean (min-max, 8-beat)",
         "value": f"{fmt(hr['mean'])} bpm ({fmt(hr['min'])}-{fmt(hr['max'])})"},
        {"measure": "SDNN / RMSSD / pNN50",
         "value": f"{fmt(r['rr']['sdnn_ms'])} ms / {fmt(r['rr']['rmssd_ms'])} ms / "
                  f"{fmt(r['rr']['pnn50'], 3)}"},
        {"measure": "irregular rhythm (AF-like)",
         "value": f"{'yes' if r['irregular'] else 'no'} (max window score "
                  f"{r['irregularity_score']:.3f}, threshold {r['threshold']:.3f}; "
                  f"{100 * r['irregular_fraction']:.1f}% of the record"
                  + ("; the irregular windows lay in stretches with sinus P waves"
                     if not r["irregular"] and r["irregularity_score"] >= r["threshold"] else "")
                  + ")"},
    ]
    if b.get("n_flagged") is not None:
        rows.append({"measure": "flagged beats (burden)",
                     "value": f"{b['n_flagged']} ({100 * b['fraction']:.2f}%): "
                              f"{b['abnormal_morphology']} abnormal morphology, "
                              f"{b['premature']} premature"})
    return rows


def _report_detector(findings: Findings, detector):
    """The beat detector whose reconstructions the report draws (default: the analysis's)."""
    det = getattr(detector, "detector", detector)
    if det is None and findings.beat_model is not None:
        det = findings.beat_model.detector
    return det


def record_report_figures(findings: Findings, record: Record, *, detector=None,
                          n_strips: int = 4) -> dict[str, bytes]:
    """The report's PNGs by file name.

    ``strip_1.png`` ... (10-s strips: the start of the record, then around findings),
    ``heart_rate.png``, ``rr_poincare.png`` and, when beats were flagged, ``flagged_beats.png``.
    Arguments as :func:`render_record_report`.
    """
    f = findings
    figures = {f"strip_{k + 1}.png": strip_png(f, record, start_s=s)
               for k, s in enumerate(_strip_starts(f, 10.0, n_strips))}
    figures["heart_rate.png"] = _fig_hr(f)
    figures["rr_poincare.png"] = _fig_rr(f)
    beats = _fig_beats(f, _report_detector(f, detector))
    if beats is not None:
        figures["flagged_beats.png"] = beats
    return figures


def render_record_report(findings: Findings, record: Record, *, detector=None,
                         n_strips: int = 4, figures: dict[str, bytes] | None = None) -> str:
    """The self-contained HTML report (figures embedded) of a record analysis.

    Parameters
    ----------
    findings : Findings
    record : Record
        The record the findings came from.
    detector : RecordBeatModel or beat detector, optional
        Draws the reconstructions of flagged beats; default: the model the analysis used.
    n_strips : int
        Number of 10-s strips (start of the record, then around findings).
    figures : dict, optional
        :func:`record_report_figures` output, when the caller already made it (to also save the
        PNGs without drawing them twice).
    """
    f = findings
    figs = figures if figures is not None else record_report_figures(
        f, record, detector=detector, n_strips=n_strips)
    starts = _strip_starts(f, 10.0, n_strips)
    strips = [(f"ECG strip {_hms(s)}: R-peaks coloured by finding", figs[f"strip_{k + 1}.png"])
              for k, s in enumerate(starts)]
    sections = [Section("Summary", table=_summary(f)),
                Section("ECG strips", images=strips,
                        text="Blue: normal beats; orange: premature (RR context); red: abnormal "
                             "morphology (autoencoder). Grey bands: unusable signal, never scored.")]
    table = findings_table(f)
    sections.append(Section("Findings", table=table) if table else
                    Section("Findings", text="No rhythm episode and no unusable stretch found."))
    sections.append(Section("Heart rate and rhythm", images=[
        ("Heart-rate trend, episodes and irregularity score", figs["heart_rate.png"]),
        ("RR tachogram and Poincare plot", figs["rr_poincare.png"])]))
    if "flagged_beats.png" in figs:
        sections.append(Section("Flagged beats",
                                images=[("Most abnormal flagged beats", figs["flagged_beats.png"])],
                                text="Each beat (coloured) beside the autoencoder's reconstruction "
                                     "(dashed) and the record's typical beat (grey); the shaded "
                                     "area is the reconstruction error."))
    m = f.model
    meta = {"record": f.record, "beat model": (m.get("beats") or {}).get("name", "none"),
            "patient-adaptive": m.get("adaptive"), "rhythm model": m["rhythm"]["name"],
            "R-peak detector": m.get("peak_method")}
    return render_html(f"ECG record analysis: {f.record}", sections, meta=meta)
