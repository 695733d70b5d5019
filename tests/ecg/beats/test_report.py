"""beats.report: scores.csv text and the HTML report, returned rather than written."""

from __future__ import annotations

import numpy as np

from cardioclarity.ecg.beats.classical import ClassicalDetector
from cardioclarity.ecg.beats.detector import score_table
from cardioclarity.ecg.beats.report import beat_report_figures, render_beat_report, scores_csv

from .beats_synth import synthetic_beats


def test_scores_csv_text():
    rows = [{"index": 0, "score": 0.123456789, "is_anomaly": False},
            {"index": 1, "score": 2.5, "is_anomaly": True}]
    text = scores_csv(rows, np.array([0, 1]))
    assert text == "index,score,is_anomaly,label\r\n0,0.123457,0,0\r\n1,2.5,1,1\r\n"
    assert scores_csv(rows).splitlines()[0] == "index,score,is_anomaly"


def test_render_beat_report_returns_self_contained_html():
    X, y = synthetic_beats(n_normal=80, n_anomaly=10, length=64)
    det = ClassicalDetector("knn").fit(X[y == 0])
    scores = np.array([r["score"] for r in score_table(det, X)])
    figures = beat_report_figures(det, X, scores, labels=y)
    assert set(figures) == {"reconstructions.png", "score_histogram.png", "roc.png"}
    assert all(png[:8] == b"\x89PNG\r\n\x1a\n" for png in figures.values())
    html = render_beat_report(det, X, scores, labels=y, figures=figures)
    assert html.startswith("<!doctype html>") and "Research use only" in html
    assert html.count("data:image/png;base64,") == 3
