"""Beat scoring outputs: ``scores.csv``, plots and a self-contained HTML report.

Every function here returns text or PNG bytes; the caller decides where they go (the CLI writes
them into ``--out``, the REST backend sends them).

* :func:`scores_csv` - the ``scores.csv`` text (``index,score,is_anomaly[,label]``);
* :func:`plot_reconstructions` - each beat against its autoencoder reconstruction, with the region
  of large reconstruction error shaded (where the model "could not explain" the beat);
* :func:`plot_error_histogram` - score distributions of normal vs abnormal beats with the threshold;
* :func:`plot_roc` - ROC curves of one or several detectors;
* :func:`beat_report_figures` - the report's PNGs by file name;
* :func:`render_beat_report` - the HTML report for ``ecg score`` / ``ecg evaluate``;
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cardioclarity import DISCLAIMER
from cardioclarity.metrics import binary_report, roc_auc, roc_curve
from cardioclarity.reporting import Section, figure_to_png, pyplot, render_html

__all__ = [
    "beat_report_figures",
    "error_regions",
    "plot_error_histogram",
    "plot_reconstructions",
    "plot_roc",
    "render_beat_report",
    "scores_csv",
]

_NORMAL_C, _ANOM_C, _RECON_C = "#2a7ab0", "#c8423b", "#f0a020"


def scores_csv(rows: Sequence[Mapping[str, Any]], labels: Sequence[int] | None = None) -> str:
    """The ``scores.csv`` text: ``index,score,is_anomaly[,label]``.

    ``rows`` are :func:`~cardioclarity.ecg.beats.detector.score_table` rows; ``is_anomaly`` and
    ``label`` are written as 0/1 (label 1 = anomaly), scores with 6 significant digits. Lines end
    in CRLF, as the :mod:`csv` module writes them (RFC 4180); write the text with
    ``newline=""`` to keep the bytes.
    """
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(["index", "score", "is_anomaly", *(["label"] if labels is not None else [])])
    for r in rows:
        extra = [int(labels[r["index"]])] if labels is not None else []
        w.writerow([r["index"], f"{r['score']:.6g}", int(r["is_anomaly"]), *extra])
    return buf.getvalue()


def error_regions(err: np.ndarray, fraction: float = 0.5) -> list[tuple[int, int]]:
    """Runs ``[start, stop)`` of samples whose error is >= ``fraction`` x the beat's largest error.

    Relative to the beat's own maximum, so each plot shades where *this* beat departs most from
    normal, whatever the overall score scale.
    """
    e = np.asarray(err, dtype=float)
    if e.size == 0 or e.max() <= 0:
        return []
    mask = np.r_[False, e >= fraction * e.max(), False]
    edges = np.flatnonzero(np.diff(mask.astype(int)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def plot_reconstructions(X: np.ndarray, recon: np.ndarray | None, scores: np.ndarray,
                         threshold: float, indices: Sequence[int], *,
                         labels: np.ndarray | None = None, ncols: int = 4) -> bytes:
    """Grid of beats (input vs reconstruction, large-error region shaded). Returns PNG bytes."""
    indices = list(indices)
    n = max(len(indices), 1)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    plt = pyplot()  # imported on first plot: scores_csv alone needs no Matplotlib
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.5 * nrows), squeeze=False,
                             sharex=True)
    t = np.arange(X.shape[1])
    for ax, i in zip(axes.flat, indices, strict=False):
        flagged = scores[i] >= threshold
        ax.plot(t, X[i], color=_ANOM_C if flagged else _NORMAL_C, lw=1.4, label="beat")
        if recon is not None:
            ax.plot(t, recon[i], color=_RECON_C, lw=1.2, ls="--", label="reconstruction")
            ax.fill_between(t, X[i], recon[i], color=_RECON_C, alpha=0.15, lw=0)
            for a, b in error_regions(np.abs(X[i] - recon[i])):
                ax.axvspan(a - 0.5, b - 0.5, color=_ANOM_C, alpha=0.12, lw=0)
        truth = "" if labels is None else (" | true: anomaly" if labels[i] else " | true: normal")
        ax.set_title(f"#{i}  score {scores[i]:.3g} {'FLAG' if flagged else 'ok'}{truth}",
                     fontsize=8, color=_ANOM_C if flagged else "black")
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(indices):]:
        ax.axis("off")
    handles, names = axes.flat[0].get_legend_handles_labels()
    if recon is not None:
        handles.append(plt.Rectangle((0, 0), 1, 1, color=_ANOM_C, alpha=0.12))
        names.append("largest reconstruction error")
    fig.legend(handles, names, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.supxlabel("sample", fontsize=8, y=0.04)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return figure_to_png(fig)


def plot_error_histogram(scores: np.ndarray, threshold: float, *, labels: np.ndarray | None = None,
                         val_scores: np.ndarray | None = None) -> bytes:
    """Histogram of anomaly scores (normal vs abnormal when labelled) with the threshold line."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.4))
    s = np.asarray(scores, float)
    hi = np.percentile(s, 99.5)
    bins = np.linspace(min(s.min(), threshold), max(hi, threshold) * 1.05, 60)
    if labels is None:
        ax.hist(np.clip(s, None, bins[-1]), bins=bins, color=_NORMAL_C, alpha=0.7, label="beats")
    else:
        ax.hist(np.clip(s[labels == 0], None, bins[-1]), bins=bins, color=_NORMAL_C, alpha=0.6,
                label=f"normal (n={int((labels == 0).sum())})")
        ax.hist(np.clip(s[labels == 1], None, bins[-1]), bins=bins, color=_ANOM_C, alpha=0.6,
                label=f"anomaly (n={int((labels == 1).sum())})")
    if val_scores is not None and len(val_scores):
        ax.hist(np.clip(val_scores, None, bins[-1]), bins=bins, histtype="step", color="k",
                lw=1, label="validation normals (threshold set on these)")
    ax.axvline(threshold, color="k", ls="--", lw=1.2, label=f"threshold {threshold:.3g}")
    ax.set_xlabel("anomaly score (higher = more abnormal; top 0.5% clipped)")
    ax.set_ylabel("beats")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return figure_to_png(fig)


def plot_roc(y: np.ndarray, scores_by_model: Mapping[str, np.ndarray]) -> bytes:
    """ROC curves (positive class = anomaly) with the AUROC in the legend."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    for name, s in scores_by_model.items():
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, lw=1.5, label=f"{name} (AUROC {roc_auc(y, s):.4f})")
    ax.plot([0, 1], [0, 1], color="#999", ls=":", lw=1)
    ax.set_xlabel("false-positive rate (normal beats flagged)")
    ax.set_ylabel("true-positive rate (anomalies flagged)")
    ax.set_title("ROC, positive class = anomaly", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return figure_to_png(fig)


def _pick_examples(scores: np.ndarray, threshold: float, labels: np.ndarray | None,
                   n: int = 8) -> list[int]:
    """Most abnormal flagged beats, then the most typical normal ones, then misclassified ones."""
    order = np.argsort(-scores)
    flagged = [int(i) for i in order if scores[i] >= threshold][: n // 2]
    normal = [int(i) for i in order[::-1] if scores[i] < threshold][: n // 4]
    picks = flagged + normal
    if labels is not None:
        wrong = [int(i) for i in order if (scores[i] >= threshold) != bool(labels[i])]
        picks += [i for i in wrong if i not in picks][: n - len(picks)]
    else:
        picks += [int(i) for i in order if int(i) not in picks][: n - len(picks)]
    return picks[:n]


def beat_report_figures(detector: Any, X: np.ndarray, scores: np.ndarray, *,
                        labels: np.ndarray | None = None) -> dict[str, bytes]:
    """The report's PNGs by file name.

    ``reconstructions.png`` and ``score_histogram.png``, plus ``roc.png`` when ``labels`` are
    given. Arguments as :func:`render_beat_report`.
    """
    thr = float(detector.threshold_)
    recon = detector.reconstruct(X) if hasattr(detector, "reconstruct") else None
    picks = _pick_examples(scores, thr, labels)
    figures = {
        "reconstructions.png": plot_reconstructions(X, recon, scores, thr, picks, labels=labels),
        "score_histogram.png": plot_error_histogram(
            scores, thr, labels=labels, val_scores=getattr(detector, "val_scores_", None)),
    }
    if labels is not None:
        figures["roc.png"] = plot_roc(labels, {detector.describe()["name"]: scores})
    return figures


def render_beat_report(detector: Any, X: np.ndarray, scores: np.ndarray, *,
                       labels: np.ndarray | None = None, source: str = "",
                       title: str = "ECG beat anomaly report",
                       extra_meta: Mapping[str, Any] | None = None,
                       figures: Mapping[str, bytes] | None = None) -> str:
    """The self-contained HTML report (figures embedded) of scored beats.

    Parameters
    ----------
    detector : fitted detector
        Gives ``threshold_``, ``val_scores_``, ``describe()`` and (autoencoders) ``reconstruct``.
    X, scores : ndarray
        The beats scored and their anomaly scores.
    labels : ndarray, optional
        1 = anomaly; adds metrics, the ROC curve and per-class histograms.
    source, title, extra_meta
        Shown in the report's header table.
    figures : mapping, optional
        :func:`beat_report_figures` output, when the caller already made it (to also save the
        PNGs without drawing them twice).
    """
    figs = dict(figures) if figures is not None else beat_report_figures(detector, X, scores,
                                                                         labels=labels)
    thr = float(detector.threshold_)
    flags = scores >= thr
    has_recon = hasattr(detector, "reconstruct")
    desc = detector.describe()
    summary = (f"{int(flags.sum())} of {len(scores)} beats flagged as anomalous "
               f"(score >= threshold {thr:.4g}, strategy '{desc['threshold_strategy']}').")
    sections = [Section("Summary", text=summary + "\n\nPositive class = anomaly. Scores: higher = "
                        "more abnormal. " + DISCLAIMER)]
    if labels is not None:
        rep = binary_report(labels, flags.astype(int), scores, positive_class="anomaly")
        sections.append(Section("Metrics (positive class = anomaly)",
                                table=[{k: v for k, v in rep.to_dict().items()}],
                                images=[("ROC curve", figs["roc.png"])]))
    sections.append(Section(
        "Why beats were flagged",
        text="Each panel shows a beat (red = flagged, blue = not flagged) with the autoencoder's "
        "reconstruction (dashed). Shaded: where the reconstruction error is at least half the "
        "beat's largest error - the part of the beat the model of normal beats could not "
        "explain." if has_recon else "This detector has no reconstruction to show.",
        images=[("Beats vs reconstruction", figs["reconstructions.png"])]))
    sections.append(Section("Score distribution", images=[
        ("Anomaly scores with the decision threshold; the outline shows the validation-normal "
         "scores the threshold was chosen on", figs["score_histogram.png"])]))
    sections.append(Section("Model", table=[{"field": k, "value": v} for k, v in desc.items()
                                            if k not in ("members", "label_convention")]))
    meta = {"source": source, "beats": len(scores), "beat length": X.shape[1],
            "detector": desc["name"], **(extra_meta or {})}
    return render_html(title, sections, meta=meta)
