"""``cardioclarity batch xray|ecg INPUT --out OUT``: a thin door onto :func:`run_batch`."""

from __future__ import annotations

import argparse

from cardioclarity import DISCLAIMER
from cardioclarity.ecg.records.methods import DEFAULT_PEAK_METHOD, PIPELINE_PEAK_METHODS

_DESCRIPTION = (
    "Analyse an archive: every film (xray) or ECG record (ecg) of INPUT, in this process "
    "(--engine local, the default) or on Dask (--engine dask: a LocalCluster on 127.0.0.1, or "
    "--address of a running scheduler). INPUT: a folder (recursive), a glob in quotes, a "
    "manifest (.txt list or .csv with a 'path' column) or an fsspec URL (file://, memory://, "
    "s3:// with cardioclarity[s3]). Writes the single-file CLI's per-file JSON, "
    "OUT/results.parquet (schema in docs/ARCHITECTURE.md; needs pyarrow), OUT/summary.csv and "
    "OUT/errors.csv, each atomically. A rerun with the same OUT skips inputs with a complete "
    "result (same size + mtime, or --fingerprint hash) and redoes the rest; --force redoes all. "
    "A bad file is an error row; exit 1 if any input failed. ")


def _cmd_batch(args: argparse.Namespace) -> int:
    from cardioclarity.batch.core import BatchSpec
    from cardioclarity.batch.runner import run_batch

    if args.kind == "xray":
        spec = BatchSpec("xray", model=args.model, ctr_threshold=args.ctr_threshold,
                         threads=args.threads)
    else:
        spec = BatchSpec("ecg", model=args.model, lead=args.lead, fs=args.fs,
                         adaptive=args.adaptive, beats=not args.no_beats, peaks=args.peaks,
                         threads=args.threads)
    options = {}
    if args.engine == "dask":
        options = {"address": args.address, "workers": args.workers,
                   "threads_per_worker": args.threads_per_worker,
                   "memory_limit": args.memory_limit, "dashboard_address": args.dashboard_address,
                   "max_retries": args.max_retries}
    elif args.address or args.workers:
        from cardioclarity.errors import InvalidInputError

        raise InvalidInputError("--address and --workers are options of --engine dask.",
                                hint="add --engine dask.")
    report = run_batch(spec, args.input, args.out, engine=args.engine, force=args.force,
                       fingerprint=args.fingerprint, **options)
    print(report.summary())
    print(DISCLAIMER)
    return report.exit_code


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``batch`` command group (``xray`` and ``ecg``)."""
    p = sub.add_parser("batch", help="analyse an archive of films or ECG records (local or Dask), "
                       "resumable", description=_DESCRIPTION + DISCLAIMER)
    p.set_defaults(_parser=p)
    s = p.add_subparsers(dest="batch_kind", metavar="KIND")
    x = s.add_parser("xray", help="chest films -> <stem>.json, results.parquet, summary.csv",
                     description=_DESCRIPTION + DISCLAIMER)
    x.add_argument("--model", default=None,
                   help="bundled name (cxr-heart-seg [default], cxr-heart-box) or checkpoint path")
    x.add_argument("--ctr-threshold", type=float, default=0.5,
                   help="cardiomegaly cut-off on the CTR (default: %(default)s, PA films)")
    e = s.add_parser("ecg", help="ECG records -> <record>/findings.json, results.parquet, "
                     "summary.csv", description=_DESCRIPTION + DISCLAIMER)
    e.add_argument("--model", default=None,
                   help="beat model: bundled name or checkpoint (default: mitdb-conv1d)")
    e.add_argument("--lead", default=None, help="lead name (default: MLII, II, ECG, I...)")
    e.add_argument("--fs", type=float, default=None,
                   help="sampling rate in Hz (required for CSV/TXT records)")
    e.add_argument("--adaptive", choices=("auto", "on", "off"), default="auto",
                   help="patient-adaptive beat scoring (default: %(default)s)")
    e.add_argument("--peaks", choices=PIPELINE_PEAK_METHODS, default=DEFAULT_PEAK_METHOD,
                   help="R-peak detector, as `ecg analyze --peaks` (default: %(default)s)")
    e.add_argument("--no-beats", action="store_true", help="skip beat scoring (rhythm only)")
    for q, kind in ((x, "xray"), (e, "ecg")):
        q.set_defaults(func=_cmd_batch, kind=kind)
        _common_options(q)


def _common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", metavar="INPUT",
                   help="folder, glob (quoted), manifest (.txt/.csv) or fsspec URL")
    p.add_argument("--out", required=True, help="output folder (also the resume state)")
    p.add_argument("--engine", choices=("local", "dask"), default="local",
                   help="local: in this process (default); dask: Dask distributed "
                   "(pip install 'cardioclarity[dask]')")
    p.add_argument("--address", default=None, metavar="tcp://HOST:PORT",
                   help="dask: join this scheduler instead of starting a LocalCluster")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="dask: LocalCluster worker processes (default: 2)")
    p.add_argument("--threads-per-worker", type=int, default=1, metavar="N",
                   help="dask: LocalCluster threads per worker (default: %(default)s)")
    p.add_argument("--memory-limit", default="auto",
                   help="dask: LocalCluster memory per worker, e.g. 4GiB (default: %(default)s "
                   "= machine memory / workers); a worker above it is restarted")
    p.add_argument("--dashboard-address", default=None, metavar="HOST:PORT",
                   help="dask: serve the LocalCluster's HTTP endpoint (the dashboard, when "
                   "bokeh is installed) there, e.g. 127.0.0.1:8787 (default: a free 127.0.0.1 port)")
    p.add_argument("--max-retries", type=int, default=2, metavar="N",
                   help="dask: workers an item may take down before it is reported as an error "
                   "(default: %(default)s)")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="torch threads per process (default: %(default)s, fastest on shared "
                   "cores; use more workers, not more threads)")
    p.add_argument("--force", action="store_true", help="recompute inputs that have a result")
    p.add_argument("--fingerprint", choices=("stat", "hash"), default="stat",
                   help="how an unchanged input is recognised: stat = size + modification time "
                   "(or the store's ETag), hash = SHA-256 of the content (reads every file)")
