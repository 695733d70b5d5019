"""The 12-lead report page: the layout a cardiologist reads, as PNG bytes and an HTML page.

Standard layout: 3 rows x 4 columns of 2.5-s segments (I, aVR, V1, V4 / II, aVL, V2, V5 / III,
aVF, V3, V6, each column the same 2.5 s of time, as a cart prints them), then a 10-s lead II
rhythm strip; a 1-mV calibration pulse starts each row. Paper speed 25 mm/s and gain 10 mm/mV
on a grid of 1-mm minor and 5-mm major squares: the figure is drawn at true scale (1 s is
25 mm of paper, 1 mV is 10 mm), so that printed at 100 % it measures like a cart's printout.

Functions return bytes/str; the caller decides where they go.
"""

from __future__ import annotations

import numpy as np

from cardioclarity import DISCLAIMER
from cardioclarity.ecg.records.record import STANDARD_12, Record
from cardioclarity.errors import InvalidInputError
from cardioclarity.reporting import Section, pyplot, render_html

__all__ = ["LAYOUT", "MM_PER_MV", "MM_PER_S", "render_12lead_report", "twelve_lead_png"]

#: Paper speed and gain of the page.
MM_PER_S = 25.0
MM_PER_MV = 10.0
#: Rows of the page (columns left to right).
LAYOUT = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
_SEGMENT_S = 2.5
_PAGE_S = 10.0
_ROW_MV = 3.5  # vertical space per row
_CAL_S = 0.4  # space left of each row for the calibration pulse
_MM_PER_IN = 25.4


def _segment(x: np.ndarray, fs: float, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
    a, b = int(round(t0 * fs)), min(int(round(t1 * fs)), x.size)
    seg = x[a:b]
    return np.arange(a, a + seg.size) / fs - t0, seg


def twelve_lead_png(record: Record, *, start_s: float = 0.0, rhythm_lead: str = "II",
                    title: str | None = None, dpi: int = 150) -> bytes:
    """PNG of the 12-lead page (3 x 4 + rhythm strip, 25 mm/s, 10 mm/mV).

    Parameters
    ----------
    record : Record
        With ``signals`` holding the 12 standard leads (any order, more allowed), in mV.
    start_s : float
        Start of the 10 s shown.
    rhythm_lead : str
        Lead of the rhythm strip.
    title : str, optional
        Header line (default: record name, rate, duration).

    Raises
    ------
    InvalidInputError
        The record lacks one of the 12 standard leads, or its amplitudes are not in mV.
    """
    if record.signals is None:
        raise InvalidInputError("The 12-lead page needs every lead (Record.signals).",
                                hint="read WFDB records with all_leads=True.")
    missing = [ld for ld in STANDARD_12 if ld not in record.leads]
    if missing:
        raise InvalidInputError(f"The 12-lead page needs the 12 standard leads; record "
                                f"'{record.name}' lacks {', '.join(missing)}.",
                                hint="the rhythm-lead report (report.html) covers other records.")
    if record.units and record.units.lower() != "mv":
        raise InvalidInputError(f"The 12-lead page draws millivolts; record '{record.name}' is in "
                                f"{record.units!r}.")
    plt = pyplot()
    fs = record.fs
    sig = {ld: np.nan_to_num(record.lead_signal(ld)) for ld in record.leads}
    sig = {ld: x - np.median(x) for ld, x in sig.items()}  # baseline on the grid lines
    rows = len(LAYOUT) + 1
    width_s = _CAL_S + _PAGE_S
    height_mv = rows * _ROW_MV
    w_mm, h_mm = width_s * MM_PER_S, height_mv * MM_PER_MV
    fig = plt.figure(figsize=((w_mm + 20) / _MM_PER_IN, (h_mm + 22) / _MM_PER_IN))
    ax = fig.add_axes([10 / (w_mm + 20), 8 / (h_mm + 22), w_mm / (w_mm + 20), h_mm / (h_mm + 22)])
    ax.set_xlim(0, width_s)
    ax.set_ylim(0, height_mv)
    _grid(ax, width_s, height_mv)
    for r in range(rows):
        base = height_mv - (r + 0.6) * _ROW_MV
        ax.plot([0.05, 0.1, 0.1, 0.3, 0.3, 0.35], [base, base, base + 1, base + 1, base, base],
                color="k", lw=0.8)
        if r < len(LAYOUT):
            for c, ld in enumerate(LAYOUT[r]):
                t, y = _segment(sig[ld], fs, start_s + c * _SEGMENT_S, start_s + (c + 1) * _SEGMENT_S)
                ax.plot(_CAL_S + c * _SEGMENT_S + t, base + y, color="k", lw=0.6)
                ax.text(_CAL_S + c * _SEGMENT_S + 0.05, base + 1.1, ld, fontsize=8)
                if c:
                    ax.plot([_CAL_S + c * _SEGMENT_S] * 2, [base - 0.3, base + 0.3], color="k",
                            lw=0.8)
        else:
            t, y = _segment(sig[rhythm_lead], fs, start_s, start_s + _PAGE_S)
            ax.plot(_CAL_S + t, base + y, color="k", lw=0.6)
            ax.text(_CAL_S + 0.05, base + 1.1, rhythm_lead, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    head = title or (f"{record.name}  |  {fs:g} Hz  |  {record.duration_s:.1f} s recorded, "
                     f"{start_s:g}-{start_s + _PAGE_S:g} s shown")
    fig.text(10 / (w_mm + 20), 1 - 6 / (h_mm + 22), head, fontsize=8, va="top")
    fig.text(10 / (w_mm + 20), 2 / (h_mm + 22),
             f"{MM_PER_S:g} mm/s   {MM_PER_MV:g} mm/mV   grid 1 mm (0.04 s, 0.1 mV), 5 mm   "
             f"|   {DISCLAIMER}", fontsize=6, va="bottom")
    return _png_true_scale(fig, dpi)


def _png_true_scale(fig, dpi: int) -> bytes:
    """PNG without ``bbox_inches="tight"``, which would crop the page and break the scale."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    pyplot().close(fig)
    return buf.getvalue()


def _grid(ax, width_s: float, height_mv: float) -> None:
    minor_x, minor_y = 1 / MM_PER_S, 1 / MM_PER_MV  # 1 mm: 0.04 s, 0.1 mV
    for k in range(int(round(width_s / minor_x)) + 1):
        ax.axvline(k * minor_x, color="#f4b6b6" if k % 5 else "#e06666",
                   lw=0.25 if k % 5 else 0.6, zorder=0)
    for k in range(int(round(height_mv / minor_y)) + 1):
        ax.axhline(k * minor_y, color="#f4b6b6" if k % 5 else "#e06666",
                   lw=0.25 if k % 5 else 0.6, zorder=0)


def _interval_rows(d: dict) -> list[dict]:
    iv = d.get("intervals", {})
    rows = []
    for key, label in (("pr", "PR"), ("qrs", "QRS duration"), ("qt", "QT"),
                       ("qtc_bazett", "QTc (Bazett)"), ("qtc_fridericia", "QTc (Fridericia)"),
                       ("rr", "RR")):
        v = iv.get(key, {})
        rows.append({"interval": label,
                     "value (ms)": "withheld" if v.get("value_ms") is None else v["value_ms"],
                     "beats": v.get("n_beats", 0), "note": v.get("withheld", "")})
    return rows


def render_12lead_report(findings12: dict, page_png: bytes, *, title: str | None = None) -> str:
    """The 12-lead HTML page: the 12-lead figure, rate, intervals (method named), lead
    agreement; ``findings12`` is :meth:`TwelveLeadFindings.to_dict` output."""
    d = findings12
    ml = d.get("multilead", {})
    per_lead = [{"lead": k, **v} for k, v in ml.get("per_lead", {}).items()]
    ref = []
    for key in ("device_measurements",):
        if key in d:
            ref.append({"source": d[key].get("source", key),
                        **{k: v for k, v in d[key].items() if k != "source"}})
    sections = [
        Section("12-lead ECG", images=[("3 x 4 leads + lead II rhythm strip, 25 mm/s, 10 mm/mV",
                                        page_png)]),
        Section("Rate and beats",
                text=f"{ml.get('n_peaks', 0)} beats fused across {len(ml.get('leads', []))} leads "
                     f"({', '.join(ml.get('leads', []))}); heart rate "
                     f"{ml.get('heart_rate_bpm')} bpm; rhythm lead {d.get('rhythm_lead')}: "
                     f"{d.get('n_beats')} beats, "
                     f"{100 * (ml.get('rhythm_lead_beats_confirmed') or 0):.0f}% confirmed by "
                     f"the other leads; {d.get('morphology', {}).get('n_different', 0)} beat(s) "
                     f"of different shape across leads."),
        Section("Intervals", text=f"Method: {d.get('intervals', {}).get('method', '?')}, on lead "
                f"{d.get('intervals', {}).get('lead', '?')}. Values that cannot be measured "
                "honestly are withheld, with the reason.", table=_interval_rows(d)),
        Section("Leads", table=per_lead) if per_lead else Section("Leads", text="none"),
    ]
    if ref:
        sections.append(Section("The device's own measurements (for comparison)", table=ref))
    return render_html(title or f"12-lead ECG: {d.get('record', '')}", sections,
                       meta={"record": d.get("record"), "sampling rate (Hz)": d.get("sampling_rate"),
                             "duration (s)": d.get("duration_s")})
