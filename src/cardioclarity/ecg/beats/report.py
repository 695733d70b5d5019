"""Explanations for beat anomaly scores: plots and a self-contained HTML report.

* :func:`plot_reconstructions` - each beat against its autoencoder reconstruction, with the region
  of large reconstruction error shaded (where the model "could not explain" the beat);
* :func:`plot_error_histogram` - score distributions of normal vs abnormal beats with the threshold;
* :func:`plot_roc` - ROC curves of one or several detectors;
* :func:`write_beats_report` - PNG files plus ``report.html`` for ``ecg score`` / ``ecg evaluate``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cardioclarity import DISCLAIMER
from cardioclarity.metrics import binary_report, roc_auc, roc_curve
from cardioclarity.reporting import Section, figure_to_png, pyplot, write_html_report

plt = pyplot()  # Matplotlib on the headless Agg backend (imported with this module)

__all__ = [
    "error_regions",
    "plot_error_histogram",
    "plot_reconstructions",
    "plot_roc",
    "write_beats_report",
]

_NORMAL_C, _ANOM_C, _RECON_C = "#2a7ab0", "#c8423b", "#f0a020"


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


def write_beats_report(out_dir: str | Path, detector: Any, X: np.ndarray, scores: np.ndarray, *,
                       labels: np.ndarray | None = None, source: str = "",
                       title: str = "ECG beat anomaly report",
                       extra_meta: Mapping[str, Any] | None = None) -> Path:
    """Write ``reconstructions.png``, ``score_histogram.png`` (+ ``roc.png``) and ``report.html``.

    Parameters
    ----------
    out_dir : path
        Output folder (created).
    detector : fitted detector
        Gives ``threshold_``, ``val_scores_``, ``describe()`` and (autoencoders) ``reconstruct``.
    X, scores : ndarray
        The beats scored and their anomaly scores.
    labels : ndarray, optional
        1 = anomaly; adds metrics, the ROC curve and per-class histograms.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    thr = float(detector.threshold_)
    flags = scores >= thr
    recon = detector.reconstruct(X) if hasattr(detector, "reconstruct") else None
    picks = _pick_examples(scores, thr, labels)
    png_rec = plot_reconstructions(X, recon, scores, thr, picks, labels=labels)
    (out / "reconstructions.png").write_bytes(png_rec)
    png_hist = plot_error_histogram(scores, thr, labels=labels,
                                    val_scores=getattr(detector, "val_scores_", None))
    (out / "score_histogram.png").write_bytes(png_hist)
    desc = detector.describe()
    summary = (f"{int(flags.sum())} of {len(scores)} beats flagged as anomalous "
               f"(score >= threshold {thr:.4g}, strategy '{desc['threshold_strategy']}').")
    sections = [Section("Summary", text=summary + "\n\nPositive class = anomaly. Scores: higher = "
                        "more abnormal. " + DISCLAIMER)]
    if labels is not None:
        rep = binary_report(labels, flags.astype(int), scores, positive_class="anomaly")
        png_roc = plot_roc(labels, {desc["name"]: scores})
        (out / "roc.png").write_bytes(png_roc)
        sections.append(Section("Metrics (positive class = anomaly)",
                                table=[{k: v for k, v in rep.to_dict().items()}],
                                images=[("ROC curve", png_roc)]))
    sections.append(Section(
        "Why beats were flagged",
        text="Each panel shows a beat (red = flagged, blue = not flagged) with the autoencoder's "
        "reconstruction (dashed). Shaded: where the reconstruction error is at least half the "
        "beat's largest error - the part of the beat the model of normal beats could not "
        "explain." if recon is not None else "This detector has no reconstruction to show.",
        images=[("Beats vs reconstruction", png_rec)]))
    sections.append(Section("Score distribution", images=[
        ("Anomaly scores with the decision threshold; the outline shows the validation-normal "
         "scores the threshold was chosen on", png_hist)]))
    sections.append(Section("Model", table=[{"field": k, "value": v} for k, v in desc.items()
                                            if k not in ("members", "label_convention")]))
    meta = {"source": source, "beats": len(scores), "beat length": X.shape[1],
            "detector": desc["name"], **(extra_meta or {})}
    return write_html_report(out / "report.html", title, sections, meta=meta)
