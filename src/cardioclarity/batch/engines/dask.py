"""The Dask engine: the same task on Dask distributed workers.

Without ``address`` it starts a ``LocalCluster`` of worker *processes* bound to 127.0.0.1 (its
HTTP endpoint on a free 127.0.0.1 port unless ``dashboard_address`` is given; worker
dashboards off, the workers' statistical profiler off); with ``address`` it joins that scheduler
and leaves it running. A :class:`PipelinePlugin` loads the models once per worker, in its
set-up, with torch on one thread (``spec.threads``): on shared cores, torch's default of one
thread per core in every worker made batches several times slower.

Fault handling is Dask's own: a worker that dies mid-task is replaced (its nanny restarts it)
and its tasks are rescheduled; a task that has taken down ``max_retries + 1`` workers (the
scheduler's ``allowed-failures``, set for a LocalCluster; an existing scheduler keeps its own)
comes back as ``KilledWorker`` and is reported as an error row ``worker-lost``, retried by the
next run. At most ``2 x threads`` items are in flight, so the client never holds a million
futures and a killed client loses only those.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import dask
import distributed
from distributed import Client, KilledWorker, LocalCluster, WorkerPlugin, as_completed

from cardioclarity.batch.core import BatchSpec, error_row, pipeline_for, spec_key
from cardioclarity.batch.engines import EngineUnavailableError, process_item
from cardioclarity.batch.sources import Item, read_item
from cardioclarity.errors import (
    EX_SOFTWARE,
    CardioClarityError,
    InvalidInputError,
    exception_summary,
)

__all__ = ["DaskEngine", "PipelinePlugin"]


#: Environment of LocalCluster worker processes: Dask's defaults less ``MALLOC_TRIM_THRESHOLD_``.
#: Setting that variable switches off glibc's adaptive mmap threshold, so every large array of the
#: pipeline is mmap-ed and unmapped again: read + detect of a 512 px film ran 1.7x slower (0.29 s
#: against 0.17 s per film, measured in one process with and without the variable).
_WORKER_ENV = {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1}


class PipelinePlugin(WorkerPlugin):
    """Loads the pipeline of ``spec`` when a worker starts (and when a replacement starts)."""

    def __init__(self, spec: BatchSpec) -> None:
        self.spec = spec

    def setup(self, worker: Any) -> None:
        try:
            pipeline_for(self.spec)
        except CardioClarityError:
            pass  # a bad model: DaskEngine.map asks again and shows the user one line, no traceback


class DaskEngine:
    """Run the items on Dask distributed.

    Parameters
    ----------
    address : str, optional
        ``tcp://HOST:PORT`` of a running scheduler to join; None starts a LocalCluster.
    workers : int, optional
        LocalCluster worker processes (default 2).
    threads_per_worker : int
        LocalCluster threads per worker (default 1: one item at a time per process).
    memory_limit : str or int
        LocalCluster memory per worker (``"auto"``: the machine's memory / workers; ``"4GiB"``);
        a worker over 95 % of it is restarted by its nanny, its items retried.
    dashboard_address : str, optional
        Serve the LocalCluster's HTTP endpoint (the dashboard when bokeh is installed) there
        (``127.0.0.1:8787``); None: a free port on 127.0.0.1.
    max_retries : int
        Workers a task may take down before it is reported (LocalCluster only).
    connect_timeout : float
        Seconds to wait for the scheduler at ``address`` and for a first worker.
    """

    name = "dask"

    def __init__(self, address: str | None = None, workers: int | None = None,
                 threads_per_worker: int = 1, memory_limit: str | int = "auto",
                 dashboard_address: str | None = None, max_retries: int = 2,
                 connect_timeout: float = 30.0) -> None:
        if address is not None and workers is not None:
            raise InvalidInputError("--workers starts a LocalCluster; it cannot be combined "
                                    "with --address (the cluster there has its own workers).",
                                    hint="drop one of the two options.")
        if (workers is not None and workers < 1) or threads_per_worker < 1 or max_retries < 0:
            raise InvalidInputError(
                f"--workers and --threads-per-worker must be >= 1 and --max-retries >= 0, got "
                f"{workers}, {threads_per_worker}, {max_retries}.")
        self.address = address
        self.workers = workers or 2
        self.threads_per_worker = threads_per_worker
        self.memory_limit = memory_limit
        self.dashboard_address = dashboard_address
        self.max_retries = max_retries
        self.connect_timeout = connect_timeout
        self.cluster: LocalCluster | None = None
        self.client: Client | None = None

    # ------------------------------------------------------------------------------ lifecycle
    def __enter__(self) -> DaskEngine:
        try:
            if self.address:
                self.client = Client(self.address, timeout=self.connect_timeout)
            else:
                with dask.config.set({"distributed.scheduler.allowed-failures": self.max_retries,
                                      "distributed.nanny.pre-spawn-environ": _WORKER_ENV,
                                      "distributed.worker.profile.enabled": False}):
                    self.cluster = LocalCluster(
                        n_workers=self.workers, threads_per_worker=self.threads_per_worker,
                        processes=True, host="127.0.0.1",
                        dashboard_address=self.dashboard_address or "127.0.0.1:0",
                        worker_dashboard_address=None, memory_limit=self.memory_limit,
                        silence_logs=logging.ERROR)
                self.client = Client(self.cluster, timeout=self.connect_timeout)
            self.client.wait_for_workers(1, timeout=self.connect_timeout)
        except (OSError, TimeoutError, distributed.TimeoutError) as exc:
            self.__exit__(None, None, None)
            where = self.address or "a LocalCluster on 127.0.0.1"
            raise EngineUnavailableError(
                f"cannot start the Dask engine on {where} ({exception_summary(exc)}).",
                hint="check that the scheduler runs and has workers (`dask scheduler`, "
                "`dask worker ADDRESS`), or drop --address to start a LocalCluster.") from exc
        return self

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None

    def describe(self) -> str:
        info = self.client.scheduler_info() if self.client else {}
        workers = info.get("workers", {})
        threads = sum(w.get("nthreads", 0) for w in workers.values())
        what = f"scheduler {self.address}" if self.address else "LocalCluster on 127.0.0.1"
        return (f"dask engine ({what}: {len(workers)} worker(s), {threads} thread(s), "
                f"distributed {distributed.__version__})")

    # ------------------------------------------------------------------------------------ work
    def map(self, spec: BatchSpec, items: Iterable[Item]) -> Iterator[dict[str, Any]]:
        """Rows as they finish; each item once (a result, or a ``worker-lost`` error row)."""
        client = self.client
        if client is None:
            raise RuntimeError("DaskEngine.map outside `with DaskEngine(...):`")
        name = f"cardioclarity-pipeline-{uuid.uuid5(uuid.NAMESPACE_OID, spec_key(spec))}"
        client.register_plugin(PipelinePlugin(spec), name=name)
        # The plugin loaded the models; a bad model name raises here, once, not on every item.
        client.run(_loaded, spec)
        threads = sum(client.nthreads().values()) or 1
        window = max(2, 2 * threads)
        run = uuid.uuid4().hex[:8]
        pending: dict[str, tuple[Any, Item]] = {}
        done = as_completed()
        source = iter(items)
        counter = itertools.count()

        def submit(n: int) -> None:
            for item in itertools.islice(source, n):
                files = read_item(item) if item.inline else None
                fut = client.submit(process_item, spec, item, files, pure=False,
                                    key=f"cardioclarity-{spec.kind}-{run}-{next(counter)}")
                pending[fut.key] = (fut, item)
                done.add(fut)

        try:
            submit(window)
            for fut in done:
                _, item = pending.pop(fut.key)
                yield _row_of(fut, item)
                fut.release()
                submit(1)
        finally:
            if pending:  # interrupted: the in-flight items are lost, nothing else
                client.cancel([f for f, _ in pending.values()])


def _loaded(spec: BatchSpec) -> str | None:
    return pipeline_for(spec)["model_name"]


def _row_of(fut: Any, item: Item) -> dict[str, Any]:
    """The row a finished future stands for (an error row when the task did not return)."""
    if fut.status == "finished":
        return fut.result()
    if fut.status == "error":
        exc = fut.exception()
        if isinstance(exc, KilledWorker):
            return error_row(item.name, f"{item.name}: the worker processing it died (tried on "
                             "several workers); rerun to retry, or check the file (too large "
                             "for --memory-limit?).", "worker-lost", EX_SOFTWARE)
        return error_row(item.name, f"{item.name}: the task failed ({exception_summary(exc)}); "
                         "this is a bug in CardioClarity, please report it.", "internal",
                         EX_SOFTWARE)
    return error_row(item.name, f"{item.name}: the task was {fut.status} (scheduler lost?); "
                     "rerun to retry.", "worker-lost", EX_SOFTWARE)
