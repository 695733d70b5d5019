"""The learned R-peak detector: window stitching, the bundled weights, noise, bad checkpoints."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch

from cardioclarity.checkpoints import save_checkpoint
from cardioclarity.ecg.records.io import read_record
from cardioclarity.ecg.records.peaks_net import (
    KIND_RPEAK,
    MARGIN,
    NET_FS,
    WINDOW,
    RPeakDetector,
    net_input,
    net_peaks,
    peak_probability,
    place_like,
    probability_peaks,
    refine_peaks,
    scale_windows,
)
from cardioclarity.ecg.records.processing import ecg_peaks, resample_sig
from cardioclarity.errors import CheckpointError

from ._records_synth import synth_ecg

SAMPLE = Path(str(resources.files("cardioclarity") / "samples")) / "mitdb219_5m"
#: 60 s of nstdb's electrode-motion noise record ``em`` (channel 1, minutes 5-6, mV x 200): a
#: stretch the nstdb 118e/119e records carry, so the bundled network never trained on it.
EM_CLIP = Path(__file__).resolve().parents[2] / "data" / "nstdb_em_5min_60s.npy"


def _f1(ref: np.ndarray, det: np.ndarray, tol: int) -> float:
    if not ref.size or not det.size:
        return 0.0
    d_ref = np.abs(ref[:, None] - det[None, :]).min(axis=1) <= tol
    d_det = np.abs(det[:, None] - ref[None, :]).min(axis=1) <= tol
    se, ppv = d_ref.mean(), d_det.mean()
    return float(2 * se * ppv / max(se + ppv, 1e-12))


def _beats(rec) -> np.ndarray:
    ann = rec.annotations
    return np.array([s for s, y in zip(ann.sample, ann.symbol, strict=True) if y in "NLRejAaJSVEF/fQ"])


class _Echo(torch.nn.Module):
    """A stand-in network whose logit is its (scaled) input: its probability peaks where the
    input does, so any seam between inference windows would show."""

    def forward(self, x):
        return 4 * x[:, 0]


def test_probability_is_stitched_without_seams():
    m = 5 * WINDOW + 77
    y = np.zeros(m, dtype=np.float32)
    step = WINDOW - 2 * MARGIN
    spikes = np.array([3, MARGIN - 1, MARGIN, step - 1, step, step + 1, 2 * step + MARGIN, m - 2])
    y[spikes] = 1.0
    p = peak_probability(_Echo(), y)
    assert p.shape == (m,)
    assert np.all((p >= 0) & (p <= 1))
    np.testing.assert_array_equal(np.flatnonzero(p > 0.9), spikes)


def test_scale_windows_is_per_window():
    w = np.stack([np.arange(100.0), 1000 * np.arange(100.0) + 5])
    s = scale_windows(w)
    np.testing.assert_allclose(s[0], s[1], atol=1e-4)
    assert s.dtype == np.float32


def test_scale_windows_leaves_the_padding_out():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, 300)
    w = np.full((2, 512), np.nan)
    w[0, 100:400] = x
    s = scale_windows(w)
    np.testing.assert_allclose(s[0, 100:400], scale_windows(x[None])[0], atol=1e-5)
    at_zero = -np.median(x) / (x.std() + 1e-3)  # the padding is a raw 0 on the signal's scale
    np.testing.assert_allclose(s[0, :100], at_zero, atol=1e-5)
    np.testing.assert_allclose(s[0, 400:], at_zero, atol=1e-5)
    assert np.all(s[1] == 0)  # a window of padding only


def test_no_beat_made_of_the_last_t_wave():
    from pydicom.data import get_testdata_file

    rec = read_record(Path(get_testdata_file("waveform_ecg.dcm")))  # 10 s, 12 leads, 1 kHz
    energy = ecg_peaks(rec.signal, rec.fs)  # lead II: 10 beats, the last 0.63 s before the end
    net = net_peaks(rec.signal, rec.fs)
    assert net.size == energy.size and np.abs(net - energy).max() <= 0.05 * rec.fs


def test_bundled_network_on_a_held_out_patient():
    rec = read_record(SAMPLE)  # MIT-BIH 219 (DS2, AF with PVCs): never trained on
    det = ecg_peaks(rec.signal, rec.fs, method="net")
    np.testing.assert_array_equal(det, net_peaks(rec.signal, rec.fs))
    assert _f1(_beats(rec), det, int(0.15 * rec.fs)) >= 0.995
    assert np.all(np.diff(det) >= int(0.2 * rec.fs))


@pytest.mark.parametrize("fs", [128.0, 250.0, 500.0, 1000.0])
def test_any_sampling_rate(fs):
    x, true = synth_ecg(fs=fs, duration=30, hr=75, noise=0.03)
    det = net_peaks(x, fs)
    assert _f1(true, det, int(0.05 * fs)) >= 0.98


def test_shorter_than_one_window():
    x, true = synth_ecg(fs=360, duration=6, hr=80, noise=0.02)
    assert _f1(true, net_peaks(x, 360), 18) >= 0.9


def test_motion_noise_the_energy_detector_takes_for_beats():
    rec = read_record(SAMPLE)
    n = 60 * 360
    x = rec.signal[:n] - np.median(rec.signal[:n])
    noise = np.load(EM_CLIP).astype(np.float64) / 200
    ref = _beats(rec)
    ref = ref[ref < n]
    # 0 dB in nst's sense: QRS peak-to-peak amplitude S, signal power S^2 / 8.
    w = int(0.05 * 360)
    b = ref[(ref > w) & (ref < n - w)]
    seg = x[b[:, None] + np.arange(-w, w + 1)]
    s2 = np.median(seg.max(axis=1) - seg.min(axis=1)) ** 2 / 8
    noisy = x + noise * np.sqrt(s2 / np.mean(noise ** 2))
    f_net = _f1(ref, net_peaks(noisy, 360), 54)
    f_energy = _f1(ref, ecg_peaks(noisy, 360), 54)
    assert f_net >= 0.97
    assert f_net > f_energy + 0.05


def test_net_input_rate_and_band():
    x, _ = synth_ecg(fs=360, duration=10)
    y = net_input(x + 5.0, 360)
    assert y.dtype == np.float32 and y.size == resample_sig(x, 360, NET_FS).size
    np.testing.assert_allclose(y, net_input(x, 360), atol=1e-4)  # an offset is no input


def test_probability_peaks_refractory():
    p = np.zeros(500)
    p[[100, 110, 300]] = [0.9, 0.95, 0.2]
    np.testing.assert_array_equal(probability_peaks(p, 0.5), [110])


def test_refine_peaks_finds_the_vertex():
    t = np.arange(50.0)
    p = np.exp(-0.5 * ((t - 20.3) / 2.0) ** 2)
    np.testing.assert_allclose(refine_peaks(p, np.array([20])), [20.3], atol=0.05)
    flat = np.r_[np.zeros(10), np.ones(5), np.zeros(10)]
    np.testing.assert_allclose(refine_peaks(flat, np.array([0, 12, 24])), [0.0, 12.0, 24.0])


def test_place_like_keeps_the_network_beats_at_the_energy_positions():
    fs = 360.0
    net = np.array([100, 500, 900])
    energy = np.array([95, 300, 905, 910])  # 300: an artefact the network did not take
    np.testing.assert_array_equal(place_like(net, energy, fs), [95, 500, 905])
    # Two network beats near one energy beat: the nearer takes its position.
    np.testing.assert_array_equal(place_like(np.array([100, 130]), np.array([110]), fs), [110, 130])
    np.testing.assert_array_equal(place_like(net, np.zeros(0, np.int64), fs), net)
    assert place_like(np.zeros(0, np.int64), energy, fs).size == 0


def test_hybrid_method_on_a_held_out_patient():
    rec = read_record(SAMPLE)
    energy = ecg_peaks(rec.signal, rec.fs)
    hybrid = ecg_peaks(rec.signal, rec.fs, method="hybrid")
    # On a clean record the two agree on almost every beat, and then sit at the same sample.
    assert np.isin(hybrid, energy).mean() >= 0.99
    assert _f1(_beats(rec), hybrid, int(0.15 * rec.fs)) >= 0.995


def test_checkpoint_of_another_window_is_refused(tmp_path):
    det = RPeakDetector.load()
    ck = det.to_checkpoint()
    ck["config"]["window"] = WINDOW // 2
    path = save_checkpoint(tmp_path / "w.pt", kind=KIND_RPEAK, model="rpeak-unet1d",
                           config=ck["config"], state_dict=ck["state_dict"], threshold=0.5)
    with pytest.raises(CheckpointError, match="another rate or window"):
        RPeakDetector.load(path)
    with pytest.raises(CheckpointError, match="expected ecg-rpeak-detector"):
        RPeakDetector.load("vf-cudb")
