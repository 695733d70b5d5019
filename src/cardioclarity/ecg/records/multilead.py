"""R-peaks fused across leads: one beat list for a multi-lead recording.

A beat shows in every lead at nearly the same time, noise and artefact rarely do: each lead's
detections vote. A beat is well supported when at least ``min_agreement`` of the leads that are
usable at that moment (by :func:`~cardioclarity.ecg.records.processing.assess_quality`), and at
least two when two are usable, found it; a beat fewer leads found is kept only where the
well-supported beats leave a gap in the rhythm (a search-back across leads). Leads that are
unusable at a moment neither vote nor count, so one noisy lead cannot delete beats and one clean
lead can carry a stretch where the others are noisy. Two kept beats closer than the
refractory period are one beat: the better-supported survives. Each fused beat sits where the
rhythm lead put it when that lead found it (reference annotations and beat windows are aligned
on that lead), else at the median of the leads that did.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cardioclarity.ecg.records.methods import DEFAULT_PEAK_METHOD
from cardioclarity.ecg.records.processing import assess_quality, ecg_peaks
from cardioclarity.ecg.records.record import _NON_ECG
from cardioclarity.errors import InvalidInputError
from cardioclarity.validation import check_fs

__all__ = ["FusedPeaks", "ecg_leads", "fuse_peaks", "multilead_peaks"]

#: Detections of one beat in different leads lie within this of each other (QRS duration).
MATCH_S = 0.10
#: No two beats closer than this (absolute refractory period, with margin).
REFRACTORY_S = 0.20
#: An interval this many local RRs long is missing a beat (a weakly supported one may fill it).
GAP_RR = 1.5
#: A beat that fills a gap leaves at least this fraction of the local RR on either side.
MIN_RR_FRACTION = 0.4


@dataclass
class FusedPeaks:
    """R-peaks of a multi-lead record and how the leads agreed on them.

    Attributes
    ----------
    peaks : ndarray of int
        Fused R-peak sample indices.
    votes : ndarray of int
        For each fused peak, how many leads detected it.
    eligible : ndarray of int
        For each fused peak, how many leads were usable there (could have voted).
    leads : list of str
        The leads that voted.
    per_lead : dict
        ``{lead: {"n_peaks": int, "usable_fraction": float, "agreement": float}}``:
        ``agreement`` is the fraction of that lead's detections kept in the fused list.
    """

    peaks: np.ndarray
    votes: np.ndarray
    eligible: np.ndarray
    leads: list[str]
    per_lead: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The ``multilead`` object of the 12-lead findings (plain JSON types)."""
        return {"method": "vote", "leads": list(self.leads), "n_peaks": int(self.peaks.size),
                "match_s": MATCH_S, "refractory_s": REFRACTORY_S,
                "mean_votes": round(float(self.votes.mean()), 3) if self.votes.size else None,
                "per_lead": self.per_lead}


def ecg_leads(leads: list[str]) -> list[int]:
    """Indices of the channels that are ECG leads (not ABP, PLETH, RESP...)."""
    return [i for i, s in enumerate(leads) if not _NON_ECG.match(s.strip())]


def fuse_peaks(peaks: list[np.ndarray], usable: list[np.ndarray], fs: float, *,
               reference: int = 0, min_agreement: float = 0.5) -> tuple[np.ndarray, np.ndarray,
                                                                           np.ndarray]:
    """Fuse per-lead R-peak lists by voting.

    Parameters
    ----------
    peaks : list of ndarray of int
        Detections per lead (sample indices).
    usable : list of ndarray of bool
        Per-sample usability per lead (same length for every lead).
    fs : float
        Sampling rate in Hz.
    reference : int
        Index of the rhythm lead, whose positions win when it found the beat.
    min_agreement : float
        Fraction (0, 1] of the usable leads that must have found a beat for it to be well
        supported (never fewer than two leads when two are usable).

    Returns
    -------
    peaks, votes, eligible : ndarray of int
    """
    fs = check_fs(fs)
    if not peaks or len(peaks) != len(usable):
        raise InvalidInputError("fuse_peaks needs one peak list and one usability mask per lead.")
    if not 0 < min_agreement <= 1:
        raise InvalidInputError(f"min_agreement must be in (0, 1], got {min_agreement!r}.")
    n = usable[0].size
    tol = int(round(MATCH_S * fs))
    allp = np.concatenate([np.asarray(p, dtype=np.int64) for p in peaks])
    owner = np.concatenate([np.full(len(p), k) for k, p in enumerate(peaks)])
    order = np.argsort(allp, kind="stable")
    allp, owner = allp[order], owner[order]
    ok = np.vstack([np.asarray(u, dtype=bool) for u in usable])  # (n_leads, n)
    pos_l, votes_l, elig_l, strong_l = [], [], [], []
    i = 0
    while i < allp.size:
        j = i
        members: dict[int, int] = {}
        while j < allp.size and allp[j] - allp[i] <= tol:
            members.setdefault(int(owner[j]), int(allp[j]))
            j += 1
        pos = members.get(reference, int(np.median(list(members.values()))))
        n_ok = int(ok[:, min(pos, n - 1)].sum())
        voters = sum(1 for k in members if ok[k, min(members[k], n - 1)])
        if n_ok and voters:
            need = max(min(2, n_ok), int(np.ceil(min_agreement * n_ok - 1e-9)))
            pos_l.append(pos)
            votes_l.append(len(members))
            elig_l.append(n_ok)
            strong_l.append(voters >= need)
        i = j
    pos_a, votes_a, elig_a = (np.array(x, dtype=np.int64) for x in (pos_l, votes_l, elig_l))
    keep = _fill_gaps(pos_a, votes_a, np.array(strong_l, dtype=bool))
    return _refractory(pos_a[keep], votes_a[keep], elig_a[keep], fs)


def _fill_gaps(pos: np.ndarray, votes: np.ndarray, strong: np.ndarray) -> np.ndarray:
    """Which beats to keep: every well-supported beat, plus a weakly supported one (found by
    fewer leads than ``min_agreement`` asks) only where the rhythm misses a beat.

    That is, where the interval between the well-supported beats around it exceeds
    :data:`GAP_RR` times the local RR (median of the 16 nearest intervals), and the beat
    leaves at least :data:`MIN_RR_FRACTION` of it on either side. Several candidates in one gap
    are taken by votes, then by position, while they still fit.
    """
    keep = strong.copy()
    s = pos[strong]
    if s.size < 3 or strong.all():
        return keep if s.size >= 3 else np.ones(pos.size, dtype=bool)
    rr = np.diff(s).astype(np.float64)
    local = np.array([np.median(rr[max(0, k - 8):k + 8]) for k in range(rr.size)])
    weak = np.flatnonzero(~strong)
    gap_of = np.searchsorted(s, pos[weak]) - 1  # index of the strong beat before
    for g in np.unique(gap_of):
        if g < 0 or g >= rr.size or rr[g] <= GAP_RR * local[g]:
            continue
        cands = weak[gap_of == g]
        placed = [int(s[g]), int(s[g + 1])]
        for c in sorted(cands, key=lambda c: (-votes[c], pos[c])):
            p = int(pos[c])
            k = int(np.searchsorted(placed, p))
            if min(p - placed[k - 1], placed[k] - p) >= MIN_RR_FRACTION * local[g]:
                placed.insert(k, p)
                keep[c] = True
    return keep


def _refractory(p: np.ndarray, v: np.ndarray, e: np.ndarray, fs: float):
    """Merge beats closer than :data:`REFRACTORY_S`, keeping the one more leads found."""
    if p.size < 2:
        return p, v, e
    keep = np.ones(p.size, dtype=bool)
    last = 0
    gap = REFRACTORY_S * fs
    for k in range(1, p.size):
        if p[k] - p[last] < gap:
            loser = k if v[k] <= v[last] else last
            keep[loser] = False
            if loser == last:
                last = k
        else:
            last = k
    return p[keep], v[keep], e[keep]


def multilead_peaks(signals: np.ndarray, fs: float, leads: list[str], *, reference: str | None = None,
                    method: str = DEFAULT_PEAK_METHOD, min_agreement: float = 0.5) -> FusedPeaks:
    """Detect R-peaks in every ECG lead of ``signals`` and fuse them.

    Parameters
    ----------
    signals : ndarray, shape (n_leads, n_samples)
        All leads, raw.
    fs : float
        Sampling rate in Hz.
    leads : list of str
        Lead names (non-ECG channels such as ABP or PLETH are left out).
    reference : str, optional
        The rhythm lead (default: the first ECG lead).
    method : str
        Single-lead detector (see :func:`~cardioclarity.ecg.records.processing.ecg_peaks`);
        default that of the record pipeline (``hybrid``).
    min_agreement : float
        See :func:`fuse_peaks`.
    """
    idx = ecg_leads(leads)
    if not idx:
        raise InvalidInputError(f"No ECG lead among {', '.join(leads)}.",
                                hint="multi-lead R-peaks need ECG channels.")
    peaks, usable, names, fractions = [], [], [], []
    n = signals.shape[1]
    for i in idx:
        x = signals[i]
        if not np.isfinite(x).any() or np.nanstd(x) == 0:
            continue  # a missing or flat lead has no say
        q = assess_quality(x, fs)
        u = q.usable_mask(n, fs)
        p = ecg_peaks(x, fs, method=method)
        peaks.append(p[u[p]] if p.size else p)
        usable.append(u)
        names.append(leads[i])
        fractions.append(q.usable_fraction)
    if not names:
        raise InvalidInputError("Every ECG lead of the record is flat or missing.",
                                hint="check the export.")
    ref = names.index(reference) if reference in names else 0
    fused, votes, elig = fuse_peaks(peaks, usable, fs, reference=ref, min_agreement=min_agreement)
    tol = MATCH_S * fs
    per_lead = {}
    for name, p, frac in zip(names, peaks, fractions, strict=True):
        if fused.size and p.size:
            d = np.abs(p[:, None] - fused[None, :]).min(axis=1) if p.size * fused.size < 4e7 else \
                np.array([np.abs(fused - x).min() for x in p])
            agree = float((d <= tol).mean())
        else:
            agree = 0.0
        per_lead[name] = {"n_peaks": int(p.size), "usable_fraction": round(float(frac), 4),
                          "agreement": round(agree, 4)}
    return FusedPeaks(peaks=fused, votes=votes, eligible=elig, leads=names, per_lead=per_lead)
