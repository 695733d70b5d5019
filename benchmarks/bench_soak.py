"""Server memory soak: 1,000+ mixed requests to one live server, its resident memory sampled.

Starts ``cardioclarity serve`` on a free 127.0.0.1 port with ``CARDIOCLARITY_DEBUG_MEMORY=1``
(tracemalloc on, ``/debug/memory`` served), then sends a fixed, shuffled mix of requests from a
few concurrent clients: 100-beat tables, 30-s and 30-min MIT-BIH records, 2k x 2k DICOMs and bad
inputs (a PNG sent as an ECG, a truncated DICOM, NaN beats, an empty body, a zip with ``..``).
Every ``--sample-every`` requests it reads the server's RSS from ``/proc/PID/status``; at the
start, the middle and the end it takes a tracemalloc snapshot of the largest allocation sites.
Reports RSS at start (after one request of each kind), at the plateau (median of the second
half) and at the end, the growth over the second half (target <= 5 %), the answers by status
(any 5xx is an error), and where traced Python memory grew. Rewrites the ``serve-soak`` section
of BENCHMARKS.md.

    python benchmarks/bench_soak.py [--requests 1000] [--concurrency 2] [--env MALLOC_ARENA_MAX=2]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import statistics
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path

import httpx
from _common import REPO, default_data_dir, machine, md_table, write_section
from bench_serve import _free_port, _rss_mb, _start_server

SAMPLES = REPO / "src" / "cardioclarity" / "samples"
_TOP = 400  # allocation sites per snapshot: enough that a site growing later is already listed


def _mix(data: Path) -> dict[str, tuple[str, dict, int]]:
    """Request kinds: ``{name: (route, httpx kwargs, weight)}``."""
    import wfdb

    beats = (SAMPLES / "ecg5000_test_sample.csv").read_bytes()
    mit = data / "mitdb"
    sig = wfdb.rdrecord(str(mit / "100"), channels=[0], sampto=30 * 360).p_signal[:, 0]
    strip = ("\n".join(f"{v:.3f}" for v in sig) + "\n").encode()
    record = {"files": [("file", (f"100.{e}", (mit / f"100.{e}").read_bytes())) for e in ("hea", "dat")]}
    dcm = (data / "dicom" / "RG1_UNCR.dcm").read_bytes()
    png = (SAMPLES / "cxr_nih_00000001_000.png").read_bytes()
    bad_zip = io.BytesIO()
    with zipfile.ZipFile(bad_zip, "w") as zf:
        zf.writestr("../../etc/100.hea", "100 1 360 10\n")
    nan_beats = ("\n".join([",".join(["nan"] * 140)] * 10) + "\n").encode()
    return {
        "beats (100 x 140, CSV)": ("/v1/ecg/beats", {"content": beats}, 35),
        "record 30 s (CSV, 360 Hz)": ("/v1/ecg/records?fs=360", {"content": strip}, 25),
        "record 30 min (MIT-BIH 100)": ("/v1/ecg/records", record, 6),
        "X-ray 1955 x 1841 DICOM": ("/v1/xray/heart", {"content": dcm}, 10),
        "bad: PNG as ECG": ("/v1/ecg/records", {"content": png}, 4),
        "bad: truncated DICOM": ("/v1/xray/heart", {"content": dcm[: len(dcm) // 3]}, 4),
        "bad: NaN beats": ("/v1/ecg/beats", {"content": nan_beats}, 4),
        "bad: empty body": ("/v1/ecg/beats", {"content": b""}, 4),
        "bad: zip with ..": ("/v1/ecg/records", {"content": bad_zip.getvalue()}, 4),
    }


def _plan(kinds: dict, n: int, seed: int) -> list[str]:
    """``n`` request kinds in their weights' proportions, shuffled with ``seed``."""
    total = sum(w for _, _, w in kinds.values())
    plan = [k for k, (_, _, w) in kinds.items() for _ in range(round(n * w / total))]
    plan = (plan + [next(iter(kinds))] * n)[:n]  # exactly n: rounding fills with beats
    random.Random(seed).shuffle(plan)
    return plan


async def _run(base: str, pid: int, kinds: dict, plan: list[str], concurrency: int,
               sample_every: int, max_seconds: float = float("inf")) -> dict:
    statuses: Counter = Counter()
    by_kind: dict[str, Counter] = {k: Counter() for k in kinds}
    samples: list[tuple[int, float]] = []
    snapshots: dict[str, dict] = {}
    done = 0
    queue = list(enumerate(plan))
    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=300) as client:
        snapshots["start"] = (await client.get(f"/debug/memory?top={_TOP}")).json()
        samples.append((0, _rss_mb(pid)))

        async def worker() -> None:
            nonlocal done
            while queue and time.perf_counter() - t0 < max_seconds:
                _, kind = queue.pop(0)
                route, kwargs, _ = kinds[kind]
                try:
                    r = await client.post(route, **kwargs)
                    key = r.status_code
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                statuses[key] += 1
                by_kind[kind][key] += 1
                done += 1
                if done % sample_every == 0:
                    samples.append((done, _rss_mb(pid)))
                if done == len(plan) // 2 and "middle" not in snapshots:
                    snapshots["middle"] = (await client.get(f"/debug/memory?top={_TOP}")).json()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
        samples.append((done, _rss_mb(pid)))
        snapshots["end"] = (await client.get(f"/debug/memory?top={_TOP}")).json()
        trim = (await client.post("/debug/memory/trim")).json()
    return {"statuses": statuses, "by_kind": by_kind, "samples": samples, "wall": wall,
            "snapshots": snapshots, "trim": trim}


def _growth(before: dict, after: dict, n: int = 8) -> list[dict]:
    """Allocation sites whose traced size grew most between two ``/debug/memory`` snapshots."""
    old = {t["where"]: t["size_kb"] for t in before.get("top", [])}
    rows = [{"where": t["where"].replace(str(REPO) + "/", ""), "KB then": old.get(t["where"], 0.0),
             "KB now": t["size_kb"], "growth KB": round(t["size_kb"] - old.get(t["where"], 0.0), 1)}
            for t in after.get("top", [])]
    return sorted(rows, key=lambda r: -r["growth KB"])[:n]


def _report(args, kinds: dict, res: dict, env_note: str) -> str:
    # Long but flat: the section's text, table by table.
    rss = res["samples"]
    half = len(rss) // 2
    second = [m for _, m in rss[half:]]
    start, mid, end = rss[0][1], rss[half][1], rss[-1][1]
    plateau = statistics.median(second)
    growth = 100 * (end - mid) / mid
    n = sum(res["statuses"].values())
    n5xx = sum(v for k, v in res["statuses"].items() if isinstance(k, int) and k >= 500)
    kinds_rows = [{"request": k, "route": kinds[k][0].split("?")[0], "sent": sum(c.values()),
                   "answers": ", ".join(f"{s}: {v}" for s, v in sorted(c.items(), key=str))}
                  for k, c in res["by_kind"].items()]
    curve = ", ".join(f"{i}: {m:.0f}" for i, m in rss)
    snaps = res["snapshots"]
    traced = {k: v.get("traced_mb", {}).get("current") for k, v in snaps.items()}
    verdict = "met" if growth <= 5 else "**missed**"
    lines = [
        "## Server memory soak (`benchmarks/bench_soak.py`)",
        "",
        f"`python benchmarks/bench_soak.py --requests {args.requests} --concurrency "
        f"{args.concurrency}{' --env ' + ' --env '.join(args.env) if args.env else ''}`; "
        f"{machine()}. {n} requests in {res['wall']:.0f} s from {args.concurrency} clients over "
        f"loopback, one server process (`cardioclarity serve`, tracemalloc on{env_note}).",
        "",
        f"- **RSS**: {start:.0f} MB after the warm-up (one request of each kind), {mid:.0f} MB "
        f"at the middle, plateau "
        f"(median of the second half) {plateau:.0f} MB, {end:.0f} MB at the end; peak "
        f"{snaps['end']['memory_mb'].get('VmHWM', float('nan')):.0f} MB (VmHWM).",
        f"- **Growth over the second half**: {growth:+.1f} % (target <= 5 %: {verdict}).",
        f"- **malloc_trim(0) at the end**: {res['trim'].get('before_mb', {}).get('VmRSS')} -> "
        f"{res['trim'].get('after_mb', {}).get('VmRSS')} MB (memory glibc held but no object used).",
        f"- **Traced Python memory** (tracemalloc, numpy buffers included, torch tensors not): "
        f"{traced.get('start')} MB at start, {traced.get('middle')} MB at the middle, "
        f"{traced.get('end')} MB at the end.",
        f"- **Answers**: {dict(sorted(res['statuses'].items(), key=str))}; 5xx: {n5xx}.",
        "",
        md_table(kinds_rows),
        "",
        f"RSS (MB) by requests answered: {curve}.",
        "",
        "Largest growth of traced allocation sites, middle -> end:",
        "",
        md_table(_growth(snaps["middle"], snaps["end"]) or [{"where": "-", "growth KB": 0}], ".1f"),
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=default_data_dir())
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--sample-every", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-minutes", type=float, default=9.0,
                    help="stop sending after this long (the report gives the requests sent)")
    ap.add_argument("--env", action="append", default=[],
                    help="extra server environment, e.g. MALLOC_ARENA_MAX=2 (repeatable)")
    ap.add_argument("--no-write", action="store_true", help="print, do not touch BENCHMARKS.md")
    args = ap.parse_args()

    kinds = _mix(args.data_dir)
    plan = _plan(kinds, args.requests, args.seed)
    extra = dict(e.split("=", 1) for e in args.env)
    os.environ.update({"CARDIOCLARITY_DEBUG_MEMORY": "1", **extra})
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = _start_server(port, Path(tmp) / "server.log")
        try:
            # One request of each kind first: models warm, buffers at their working size.
            warm = list(kinds)
            asyncio.run(_run(f"http://127.0.0.1:{port}", proc.pid, kinds, warm, 1, 10**9))
            res = asyncio.run(_run(f"http://127.0.0.1:{port}", proc.pid, kinds, plan,
                                   args.concurrency, args.sample_every, 60 * args.max_minutes))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    env_note = (", " + ", ".join(args.env)) if args.env else ""
    text = _report(args, kinds, res, env_note)
    print(text)
    if not args.no_write:
        write_section("serve-soak", text)


if __name__ == "__main__":
    main()
