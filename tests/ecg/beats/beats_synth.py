"""Synthetic heartbeats for the ECG beat tests (no real data needed, fast to train on)."""

from __future__ import annotations

import numpy as np


def synthetic_beats(n_normal: int = 160, n_anomaly: int = 40, length: int = 96,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Normal beats: a QRS-like bump + T wave with jitter; anomalies: a wide, inverted complex.

    Returns ``(X float32 (n, length), y int (1 = anomaly))``, normals first.
    """
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, length)

    def beat(center: float, width: float, amp: float) -> np.ndarray:
        return amp * np.exp(-0.5 * ((t - center) / width) ** 2)

    normal = [beat(0.35 + rng.normal(0, 0.01), 0.03, 2.5) + beat(0.7, 0.06, 0.6)
              + rng.normal(0, 0.05, length) for _ in range(n_normal)]
    abnormal = [beat(0.45 + rng.normal(0, 0.03), 0.09, -1.8) + beat(0.8, 0.05, 0.9)
                + rng.normal(0, 0.05, length) for _ in range(n_anomaly)]
    X = np.asarray(normal + abnormal, dtype=np.float32)
    y = np.r_[np.zeros(n_normal, int), np.ones(n_anomaly, int)]
    return X, y


def write_tutorial_csv(path, X: np.ndarray, y: np.ndarray) -> None:
    """Tutorial layout: samples then label with 1 = normal (so anomaly y=1 is written as 0)."""
    with open(path, "w") as f:
        for row, lab in zip(X, y, strict=True):
            f.write(",".join(f"{v:.5f}" for v in row) + f",{1 - int(lab)}\n")
