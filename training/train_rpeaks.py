"""Train the bundled learned R-peak detector (``rpeak-net``) with real-noise augmentation.

Protocol (seeded, reproducible):

1. Signals: both leads of the MIT-BIH DS1 records **except 118 and 119** (the two records the
   nstdb noise-stress records are made of) and of the SVDB records in ``../shared/data/svdb``
   (128 Hz), resampled to 128 Hz. Reference: the beat annotations (wfdb's beat symbols); the
   loss ignores ventricular flutter/fibrillation spans (``datasets.excluded_spans``).
2. Validation records (never trained on): DS1 106, 208, 223 and the last six SVDB records by name.
3. Augmentation per 16-s crop: gain 0.3-3x, polarity flip (p = 0.2), and with p = 0.75 real
   noise from nstdb's noise records -- ``ma`` and ``bw`` whole, ``em`` only outside the blocks
   that the 118e/119e records carry (minutes 5-7, 9-11, ..., 29-30), so no test noise sample is
   seen -- over a random 40-100 % stretch of the crop, at an SNR drawn from -6 to 18 dB (nst's
   definition: QRS peak-to-peak amplitude S, signal power S^2/8 over the noise's mean square).
4. Loss: binary cross-entropy against a +-2-sample (+-16 ms) mark at each reference beat.
5. Model choice: every ``--eval-every`` steps the validation records are run clean and with
   ``em`` training-block noise at 6 dB; the checkpoint and threshold (0.3-0.8) with the best mean
   F1 (150 ms) over both are kept. Records 118/119, DS2 and the paced records are never seen.

Usage::

    nice -n 10 python training/train_rpeaks.py --data-dir ../shared/data --minutes 30
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy import signal as sps

from cardioclarity.checkpoints import save_checkpoint
from cardioclarity.ecg.records.datasets import BEAT_SYMBOLS, DS1, available_records, excluded_spans
from cardioclarity.ecg.records.ec57 import matched_counts
from cardioclarity.ecg.records.io import read_record
from cardioclarity.ecg.records.peaks_net import (
    KIND_RPEAK,
    NET_BAND_SOS,
    NET_FS,
    WINDOW,
    RPeakDetector,
    RPeakNet,
    RPeakNetConfig,
    peak_probability,
    probability_peaks,
    scale_windows,
)
from cardioclarity.ecg.records.processing import resample_sig

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "src" / "cardioclarity" / "weights" / "rpeak-net.pt"
HELD_OUT = ("118", "119")
VAL_MITDB = ("106", "208", "223")
N_VAL_SVDB = 6
#: em minutes carried by nstdb's 118e*/119e* records (noise on in 2-min blocks from minute 5).
EM_TEST_MINUTES = [(m, m + 2) for m in range(5, 30, 4)]
THRESHOLDS = np.round(np.arange(0.3, 0.81, 0.05), 2)
PAD = 128  # raw samples filtered beyond each side of a crop (filter edge effects)


def _load(folder: Path, name: str) -> list[dict]:
    """Both leads of a record at NET_FS (median removed), its beats and ignored spans."""
    rec = read_record(folder / name, all_leads=True)
    ann = rec.annotations
    k = NET_FS / rec.fs
    beats = np.array([s for s, y in zip(ann.sample, ann.symbol, strict=True) if y in BEAT_SYMBOLS])
    spans = [(int(a * k), int(b * k)) for a, b in excluded_spans(ann)]
    out = []
    for i in range(rec.signals.shape[0]):
        x = resample_sig(rec.signals[i], rec.fs, NET_FS)
        out.append({"name": f"{name}:{i}", "x": (x - np.median(x)).astype(np.float32),
                    "beats": np.round(beats * k).astype(np.int64), "spans": spans})
    return out


def _noise_bank(nstdb: Path) -> dict[str, list[np.ndarray]]:
    """Stretches of the nstdb noise records at NET_FS, both channels, by record name."""
    bank = {}
    for name in ("em", "ma", "bw"):
        bank[name] = []
        rec = read_record(nstdb / name, all_leads=True)
        keep = np.ones(rec.signals.shape[1], dtype=bool)
        if name == "em":
            for a, b in EM_TEST_MINUTES:
                keep[int(a * 60 * rec.fs):int(b * 60 * rec.fs)] = False
        # Each kept stretch separately, so no crop joins two stretches.
        edges = np.flatnonzero(np.diff(np.r_[0, keep.astype(int), 0]))
        for i in range(rec.signals.shape[0]):
            for a, b in zip(edges[::2], edges[1::2], strict=True):
                seg = resample_sig(rec.signals[i, a:b], rec.fs, NET_FS)
                bank[name].append((seg - seg.mean()).astype(np.float32))
    return bank


def _qrs_power(x: np.ndarray, beats: np.ndarray) -> float:
    """nst's signal power: (median QRS peak-to-peak amplitude)^2 / 8."""
    w = int(0.05 * NET_FS)
    b = beats[(beats >= w) & (beats < x.size - w)]
    if b.size == 0:
        return float(np.mean(x ** 2))
    seg = x[b[:, None] + np.arange(-w, w + 1)[None, :]]
    return float(np.median(seg.max(axis=1) - seg.min(axis=1)) ** 2 / 8)


def add_noise(x: np.ndarray, beats: np.ndarray, noise: np.ndarray, snr_db: float,
              rng: np.random.Generator, part: tuple[int, int] | None = None) -> np.ndarray:
    """``x`` with ``noise`` (tiled to its length) at ``snr_db`` over ``part`` (all by default)."""
    a, b = part or (0, x.size)
    start = int(rng.integers(0, max(noise.size - (b - a), 1)))
    n = np.resize(noise[start:], b - a)
    gain = np.sqrt(_qrs_power(x, beats) / 10 ** (snr_db / 10) / max(float(np.mean(n ** 2)), 1e-12))
    y = x.copy()
    y[a:b] += gain * n
    return y


def _target(beats: np.ndarray, spans, a: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.zeros(n, dtype=np.float32)
    w = np.ones(n, dtype=np.float32)
    rel = beats[(beats >= a - 2) & (beats < a + n + 2)] - a
    for d in range(-2, 3):
        j = rel + d
        t[j[(j >= 0) & (j < n)]] = 1.0
    for s0, s1 in spans:
        w[max(s0 - a, 0):max(min(s1 - a, n), 0)] = 0.0
    return t, w


def batch(signals: list[dict], noise: list[np.ndarray], size: int, rng: np.random.Generator):
    xs, ts, ws = [], [], []
    L = WINDOW + 2 * PAD
    for _ in range(size):
        s = signals[int(rng.integers(len(signals)))]
        a = int(rng.integers(0, s["x"].size - L))
        x = s["x"][a:a + L] * rng.uniform(0.3, 3.0) * (-1 if rng.random() < 0.2 else 1)
        beats = s["beats"][(s["beats"] >= a) & (s["beats"] < a + L)] - a
        if rng.random() < 0.75:
            lo = int(rng.integers(0, int(0.6 * L)))
            hi = int(min(L, lo + rng.integers(int(0.4 * L), L + 1)))
            x = add_noise(x, beats, noise[int(rng.integers(len(noise)))],
                          float(rng.uniform(-6, 18)), rng, (lo, hi))
        x = sps.sosfiltfilt(NET_BAND_SOS, x)[PAD:PAD + WINDOW]
        t, w = _target(s["beats"], s["spans"], a + PAD, WINDOW)
        xs.append(x)
        ts.append(t)
        ws.append(w)
    return (torch.from_numpy(scale_windows(np.stack(xs))[:, None, :]),
            torch.from_numpy(np.stack(ts)), torch.from_numpy(np.stack(ws)))


def evaluate(net, val: list[dict]) -> dict[float, float]:
    """Mean F1 over the (clean, 6 dB) validation signals, per threshold."""
    tol = int(0.15 * NET_FS)
    acc = {t: np.zeros(4) for t in THRESHOLDS}  # n_ref, ref hit, n_det, det hit
    for v in val:
        for x in (v["clean"], v["noisy"]):
            y = sps.sosfiltfilt(NET_BAND_SOS, x).astype(np.float32)
            p = peak_probability(net, y)
            ref = v["ref"]
            for t in THRESHOLDS:
                det = probability_peaks(p, t)
                for a, b in v["spans"]:
                    det = det[(det < a) | (det > b)]
                ref_hit, det_hit = matched_counts(ref, det, tol)
                acc[t] += (ref.size, ref_hit, det.size, det_hit)
    out = {}
    for t, (nr, h, nd, hd) in acc.items():
        se, ppv = h / max(nr, 1), hd / max(nd, 1)
        out[float(t)] = float(2 * se * ppv / max(se + ppv, 1e-12))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--minutes", type=float, default=30.0, help="training time budget")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--eval-every", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    missing = [d for d in ("mitdb", "svdb", "nstdb") if not (args.data_dir / d).is_dir()]
    if missing:
        raise SystemExit(f"error: {args.data_dir} lacks {', '.join(missing)}/: point --data-dir "
                         "at the folder holding mitdb/, svdb/ and nstdb/.")
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    mit = [n for n in available_records(args.data_dir / "mitdb", DS1) if n not in HELD_OUT]
    sv = sorted(p.stem for p in (args.data_dir / "svdb").glob("*.hea"))
    val_names = [("mitdb", n) for n in VAL_MITDB if n in mit] + [("svdb", n) for n in sv[-N_VAL_SVDB:]]
    train_names = [("mitdb", n) for n in mit if n not in VAL_MITDB] + [("svdb", n) for n in sv[:-N_VAL_SVDB]]
    train = [s for db, n in train_names for s in _load(args.data_dir / db, n)]
    bank = _noise_bank(args.data_dir / "nstdb")
    noise, em = [n for v in bank.values() for n in v], bank["em"]
    val = []
    vrng = np.random.default_rng(1234)
    for db, n in val_names:
        s = _load(args.data_dir / db, n)[0]  # the first lead: the one the pipeline reads
        ref = s["beats"]
        for a, b in s["spans"]:
            ref = ref[(ref < a) | (ref > b)]
        noisy = add_noise(s["x"], s["beats"], em[int(vrng.integers(len(em)))], 6.0, vrng)
        val.append({"clean": s["x"], "noisy": noisy, "ref": ref, "spans": s["spans"]})
    print(f"train signals {len(train)} ({len(train_names)} records), val records {len(val)}, "
          f"noise stretches {len(noise)}", flush=True)
    cfg = RPeakNetConfig()
    net = RPeakNet(cfg)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    lossf = torch.nn.BCEWithLogitsLoss(reduction="none", pos_weight=torch.tensor(3.0))
    best = (-1.0, 0.5, None, 0)
    t0, step, history = time.time(), 0, []
    while time.time() - t0 < args.minutes * 60:
        net.train()
        xb, tb, wb = batch(train, noise, args.batch, rng)
        loss = (lossf(net(xb), tb) * wb).sum() / wb.sum().clamp(min=1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % args.eval_every == 0:
            f1 = evaluate(net, val)
            thr = max(f1, key=f1.get)
            history.append({"step": step, "loss": round(loss.item(), 4), "f1": round(float(f1[thr]), 5),
                            "threshold": thr, "min": round((time.time() - t0) / 60, 1)})
            print(json.dumps(history[-1]), flush=True)
            if f1[thr] > best[0]:
                best = (f1[thr], thr, {k: v.clone() for k, v in net.state_dict().items()}, step)
            for g in opt.param_groups:  # step decay over the budget
                g["lr"] = 2e-3 * max(0.05, 1 - (time.time() - t0) / (args.minutes * 60))
    if best[2] is None:
        raise SystemExit("no evaluation ran: raise --minutes or lower --eval-every")
    net.load_state_dict(best[2])
    det = RPeakDetector(net=net, threshold_=best[1], config=cfg)
    ck = det.to_checkpoint()
    save_checkpoint(args.out, kind=KIND_RPEAK, model="rpeak-unet1d", config=ck["config"],
                    state_dict=ck["state_dict"], threshold=ck["threshold"], name="rpeak-net",
                    training_data=(f"both leads of MIT-BIH DS1 less 118/119 and val "
                                   f"({len(mit) - len(VAL_MITDB)} records) and SVDB "
                                   f"({len(sv) - N_VAL_SVDB} records), 128 Hz"),
                    augmentation="gain, polarity, nstdb ma/bw and em outside the 118e/119e blocks, "
                                 "-6..18 dB",
                    protocol=f"model and threshold by mean F1 (clean + 6 dB em) on validation "
                             f"records {', '.join(n for _, n in val_names)}",
                    metrics={"val_f1": round(best[0], 5), "step": best[3], "steps": step},
                    history=history)
    print(json.dumps({"val_f1": best[0], "threshold": best[1], "step": best[3], "steps": step}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
