"""Irregular-rhythm episode edges on MIT-BIH: the 30-s windows' union against edges cut to the beats.

Every available MIT-BIH record goes through ``analyze_record`` twice, with
``episode_edges="windows"`` (the union of the irregular 30-s windows) and ``"beats"`` (the
default: stretches of >= 10 s whose beats carry consistent P waves cut out,
``rhythm.trim_irregular_episodes``). Scored against the reference rhythm annotations
(``(AFIB``/``(AFL`` = AF): seconds of AF inside irregular episodes (duration sensitivity) and
seconds of episodes that are AF (duration PPV), pooled over records; and the beats: reference S
beats called S, and N beats called S (the beats an episode no longer covers are judged one by
one again). The rhythm model was never tuned on MIT-BIH. The trimming's 10 s and 8 beats were
set before this run; its 3-beat margin was chosen on the bundled sample (minutes 5-10 of record
219, DS2), whose AF beat at 1.1 s no margin left outside the episode (a piece too short to be
reported keeps its beats covered). The beat classifier (whose
P-wave gate threshold marks the sinus beats) was trained on DS1, so DS2 holds the held-out
patients, 219 with a 5-minute excerpt looked at.
One other sinus criterion was run on these records and dropped: P windows also alike from beat
to beat (running median of ``p_prev_corr``), which kept synthetic fast AF whole but gave less
on every row but AF duration Se (all records: 788/1046 S called S, duration Se 0.967, PPV
0.504, against 905/1046, 0.961, 0.628; both measured when pieces of under 5 beats at an
episode's edge were still reported as episodes). ``all`` includes the four paced records. Atrial flutter's regular F waves pass for P
waves: a flutter stretch is cut out like sinus rhythm (record 202).

Usage::

    python benchmarks/bench_ecg_episodes.py [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _common import default_data_dir, machine, md_table, write_section

from cardioclarity.ecg.records.analyze import EPISODE_EDGES, analyze_record
from cardioclarity.ecg.records.datasets import DS1, DS2, af_reference_mask, label_detected_beats
from cardioclarity.ecg.records.io import read_record
from cardioclarity.reporting import progress


def record_rows(path: Path) -> dict[str, dict]:
    """:func:`record_row` of one record (read once) for each ``episode_edges`` option."""
    rec = read_record(path)
    ref = af_reference_mask(rec.annotations, rec.signal.size)
    return {e: record_row(rec, ref, e) for e in EPISODE_EDGES}


def record_row(rec, ref: np.ndarray, edges: str) -> dict:
    """Seconds of AF (``ref``, per sample) / episodes / both, and S/N beat calls, of one record."""
    f = analyze_record(rec, episode_edges=edges)
    fs, n = rec.fs, rec.signal.size
    called = np.zeros(n, bool)
    for e in f.episodes():
        if e["type"] == "irregular_rhythm":
            called[int(e["start_s"] * fs):int(e["end_s"] * fs)] = True
    lab = label_detected_beats(f.peaks, rec.annotations, fs)
    cls = f.beat_classes.aami_class
    return {"af_s": ref.sum() / fs, "episode_s": called.sum() / fs, "both_s": (ref & called).sum() / fs,
            "n_episodes": sum(e["type"] == "irregular_rhythm" for e in f.episodes()),
            "S": int((lab == "S").sum()), "S_called_S": int(((lab == "S") & (cls == "S")).sum()),
            "N": int((lab == "N").sum()), "N_called_S": int(((lab == "N") & (cls == "S")).sum())}


def pooled(rows: list[dict], edges: str, group: str) -> dict:
    tot = {k: sum(r[k] for r in rows) for k in rows[0]}
    return {"records": group, "episode_edges": edges, "n": len(rows),
            "AF min": tot["af_s"] / 60, "episode min": tot["episode_s"] / 60,
            "duration Se": tot["both_s"] / max(tot["af_s"], 1e-9),
            "duration PPV": tot["both_s"] / max(tot["episode_s"], 1e-9),
            "episodes": tot["n_episodes"],
            "S beats called S": f"{tot['S_called_S']}/{tot['S']}",
            "N beats called S": f"{tot['N_called_S']}/{tot['N']}"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=str, default=str(default_data_dir()))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    mitdb = Path(args.data_dir) / "mitdb"
    names = sorted(p.stem for p in mitdb.glob("*.hea"))
    rows = {nm: record_rows(mitdb / nm) for nm in progress(names, desc="mitdb", unit="rec")}
    res = {e: {nm: rows[nm][e] for nm in names} for e in EPISODE_EDGES}
    table, changed = [], []
    for group, members in (("all", names), ("DS1", [n for n in names if n in DS1]),
                           ("DS2", [n for n in names if n in DS2])):
        if members:
            table += [pooled([res[e][n] for n in members], e, group) for e in EPISODE_EDGES]
    for nm in names:
        w, b = res["windows"][nm], res["beats"][nm]
        if abs(w["episode_s"] - b["episode_s"]) > 1 or w["S_called_S"] != b["S_called_S"]:
            changed.append({"record": nm, "AF s": w["af_s"],
                            "episode s (windows / beats)": f"{w['episode_s']:.0f} / {b['episode_s']:.0f}",
                            "AF s covered (windows / beats)": f"{w['both_s']:.0f} / {b['both_s']:.0f}",
                            "S called S (windows / beats)": f"{w['S_called_S']} / {b['S_called_S']} of {w['S']}",
                            "N called S (windows / beats)": f"{w['N_called_S']} / {b['N_called_S']}"})
    body = "\n\n".join([
        "## Irregular-rhythm episode edges (`benchmarks/bench_ecg_episodes.py`)",
        f"Machine: {machine()}. Command: `python benchmarks/bench_ecg_episodes.py`.",
        __doc__.split("\n\n")[1].replace("\n", " "),
        md_table(table, floatfmt=".3f"),
        "Records where the edges changed the episodes by more than 1 s or the S calls:",
        md_table(changed, floatfmt=".0f") if changed else "(none)",
    ])
    print(body)
    if not args.no_write:
        write_section("ecg-episodes", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
