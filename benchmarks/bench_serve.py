"""Load benchmark of the REST backend: latency percentiles, throughput, errors, server memory.

Starts ``cardioclarity serve`` on a free 127.0.0.1 port (loopback only), then for each route sends a
bounded number of requests (default 300) from a fixed number of concurrent clients (default 8), and
once more from a single client to separate service time from queueing. Reports p50/p95/p99 latency
of successful answers, throughput, answers by status (any 5xx is an error against the targets) and
the server's resident memory before and after each run. Rewrites the ``serve`` section of
BENCHMARKS.md.

Targets: ``/v1/ecg/beats`` with 100 beats p95 <= 50 ms; ``/v1/xray/heart`` with a 2k x 2k
DICOM p95 <= 1.5 s; zero 5xx; flat memory.

    python benchmarks/bench_serve.py [--data-dir ../shared/data] [--requests 300] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
from _common import default_data_dir, machine, md_table, write_section

# (label, route, what is sent, how to build the request body from the data dir)
Payload = tuple[str, str, str, dict]


def _payloads(data: Path, n_beats: int) -> list[Payload]:
    rows = (data / "ecg5000" / "ecg.csv").read_text().splitlines()[:n_beats]
    beats_csv = ("\n".join(rows) + "\n").encode()
    cinc = data / "cinc2017"
    rec = {"files": [("file", ("A00001.hea", (cinc / "A00001.hea").read_bytes())),
                     ("file", ("A00001.mat", (cinc / "A00001.mat").read_bytes()))]}
    mit = {"files": [("file", (f"100.{ext}", (data / "mitdb" / f"100.{ext}").read_bytes()))
                     for ext in ("hea", "dat")]}
    dcm = data / "dicom" / "RG1_UNCR.dcm"
    jpeg_dcm = next((data / "dicom").glob("1.2.276*.dcm"))
    return [
        ("health check", "/healthz", "-", {}),
        ("ECG beats", "/v1/ecg/beats", f"{n_beats} ECG5000 beats (CSV, 140 samples)",
         {"content": beats_csv, "headers": {"content-type": "text/csv"}}),
        ("ECG record", "/v1/ecg/records", "CinC 2017 A00001 (30 s, 300 Hz, .hea+.mat)", rec),
        ("ECG record (30 min)", "/v1/ecg/records", "MIT-BIH 100 (30 min, 360 Hz, .hea+.dat)", mit),
        ("chest X-ray", "/v1/xray/heart", "RG1_UNCR.dcm (1955 x 1841, 16-bit, MONOCHROME1)",
         {"content": dcm.read_bytes()}),
        ("chest X-ray (JPEG DICOM)", "/v1/xray/heart", "SIIM 1024 x 1024 JPEG-baseline DICOM",
         {"content": jpeg_dcm.read_bytes()}),
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _start_server(port: int, log: Path, workers: int = 1) -> subprocess.Popen:
    env = dict(os.environ, CARDIOCLARITY_LOG_REQUESTS="0", CARDIOCLARITY_PROGRESS="0")
    cmd = [sys.executable, "-m", "cardioclarity", "serve"]
    if workers > 1:
        # `cardioclarity serve` runs one process; several need uvicorn's own launcher and the app
        # factory (each worker loads its own models).
        cmd = [sys.executable, "-m", "uvicorn", "cardioclarity.serve.app:create_app", "--factory",
               "--workers", str(workers)]
    proc = subprocess.Popen([*cmd, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                            env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text()[-2000:]}")
        try:
            models = httpx.get(base + "/readyz", timeout=2).json()["models"]
            if "not-loaded" not in models.values():
                return proc
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("server did not become ready in 300 s")


async def _load(base: str, route: str, kwargs: dict, n: int, concurrency: int,
                max_seconds: float) -> dict:
    latencies: list[float] = []
    statuses: Counter = Counter()
    sent = 0
    t_end = time.perf_counter() + max_seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        method = client.get if route == "/healthz" else client.post

        async def worker() -> None:
            nonlocal sent
            while sent < n and time.perf_counter() < t_end:
                sent += 1
                t0 = time.perf_counter()
                try:
                    r = await method(route, **kwargs)
                    statuses[r.status_code] += 1
                    if r.status_code < 400:
                        latencies.append(time.perf_counter() - t0)
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    lat = np.array(latencies) * 1000
    pct = (lambda q: float(np.percentile(lat, q))) if lat.size else (lambda q: float("nan"))
    return {"sent": sent, "ok": len(latencies), "wall_s": wall, "p50_ms": pct(50), "p95_ms": pct(95),
            "p99_ms": pct(99), "rps": len(latencies) / wall if wall else 0.0, "statuses": statuses}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=default_data_dir())
    ap.add_argument("--requests", type=int, default=300, help="requests per route (default 300)")
    ap.add_argument("--concurrency", type=int, default=8, help="concurrent clients (default 8)")
    ap.add_argument("--single-requests", type=int, default=30,
                    help="requests from one client, for service time without queueing")
    ap.add_argument("--max-seconds", type=float, default=150,
                    help="time budget per route and run; fewer requests are sent if it runs out")
    ap.add_argument("--beats", type=int, default=100, help="beats per /v1/ecg/beats request")
    ap.add_argument("--only", nargs="*", help="labels to run (default: all)")
    ap.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md")
    ap.add_argument("--workers", type=int, default=1,
                    help="server processes (default 1 = `cardioclarity serve`); > 1 starts uvicorn "
                    "--workers, prints only, and measures no RSS (the workers are child processes)")
    args = ap.parse_args()
    if args.workers < 1:
        ap.error(f"--workers must be at least 1, got {args.workers}")
    if args.workers > 1:
        args.no_write = True

    payloads = _payloads(args.data_dir, args.beats)
    if args.only:
        payloads = [p for p in payloads if p[0] in args.only]
    port = _free_port()
    log = Path(tempfile.mkdtemp(prefix="bench-serve-")) / "server.log"
    proc = _start_server(port, log, args.workers)
    base = f"http://127.0.0.1:{port}"
    models = {m["pipeline"]: m["status"] for m in httpx.get(base + "/v1/models").json()["models"]}
    rows, total_5xx = [], 0
    # With several workers the server's memory is spread over child processes: not measured.
    rss = _rss_mb if args.workers == 1 else (lambda pid: float("nan"))
    rss_start = rss(proc.pid)
    try:
        for label, route, what, kwargs in payloads:
            probe = (httpx.get if route == "/healthz" else httpx.post)(base + route, timeout=120, **kwargs)
            if probe.status_code >= 400:
                problem = probe.json() if probe.headers.get("content-type", "").endswith("json") else {}
                detail = ("model not available in this build"
                          if problem.get("type", "").endswith("model-unavailable")
                          else problem.get("detail", "")[:90])
                rows.append({"route": route, "input": what, "clients": "-", "requests": 0,
                             "p50 ms": "-", "p95 ms": "-", "p99 ms": "-", "req/s": "-",
                             "answers": f"{probe.status_code}: {detail}", "RSS MB before→after": "-"})
                print(f"{label}: skipped ({probe.status_code} {detail})", file=sys.stderr)
                continue
            for clients, n in ((1, args.single_requests), (args.concurrency, args.requests)):
                before = rss(proc.pid)
                res = asyncio.run(_load(base, route, kwargs, n, clients, args.max_seconds))
                after = rss(proc.pid)
                n5xx = sum(v for k, v in res["statuses"].items() if isinstance(k, int) and k >= 500)
                total_5xx += n5xx
                answers = ", ".join(f"{k}: {v}" for k, v in sorted(res["statuses"].items(), key=str))
                rows.append({"route": route, "input": what, "clients": clients,
                             "requests": res["sent"], "p50 ms": res["p50_ms"],
                             "p95 ms": res["p95_ms"], "p99 ms": res["p99_ms"],
                             "req/s": res["rps"], "answers": answers,
                             "RSS MB before→after": f"{before:.0f}→{after:.0f}"})
                print(f"{label} x{clients}: p50 {res['p50_ms']:.1f} ms, p95 {res['p95_ms']:.1f} ms, "
                      f"{res['rps']:.1f} req/s, {answers}, RSS {before:.0f}->{after:.0f} MB",
                      file=sys.stderr)
        rss_end = rss(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    table = md_table(rows, floatfmt=".1f")
    print(table)
    cmd = "python benchmarks/bench_serve.py " + " ".join(sys.argv[1:])
    body = f"""## REST backend (`benchmarks/bench_serve.py`)

`cardioclarity serve` on 127.0.0.1 (default settings: 2 inference jobs at once, queue 32, torch
threads = CPUs / 2), driven over loopback by httpx clients on the same machine. Latency is client-side wall
time of successful answers (queueing included); "1 client" rows give the service time alone.
Pipelines in this build: {", ".join(f"{k} {v}" for k, v in models.items())}.

Machine: {machine()}
Command: `{cmd.strip()}`

{table}

5xx answers over the whole run: **{total_5xx}**. Server RSS: {rss_start:.0f} MB after start-up,
{rss_end:.0f} MB at the end.

Targets: `/v1/ecg/beats` (100 beats) p95 <= 50 ms; `/v1/xray/heart` (2k x 2k DICOM) p95 <= 1.5 s;
zero 5xx; flat memory. The machine is shared (see the load average above): timings are noisy.
"""
    if not args.no_write:
        write_section("serve", body)
    print(body)


if __name__ == "__main__":
    main()
