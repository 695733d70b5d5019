"""Batch analysis of archives: many chest films or ECG records, in-process or on Dask, resumable.

>>> from cardioclarity.batch import BatchSpec, run_batch
>>> report = run_batch(BatchSpec(kind="xray"), "films/", "results/")          # in-process
>>> report = run_batch(BatchSpec(kind="ecg"), "s3://bucket/holter/", "results/",
...                    engine="dask", workers=4)                              # Dask LocalCluster

Modules, one stage each:

* :mod:`~cardioclarity.batch.sources` — INPUT (folder, glob, manifest, fsspec URL) → :class:`Item`
* :mod:`~cardioclarity.batch.core` — ``(name, bytes) -> row``: the engine-neutral unit of work,
  calling the same pipeline functions as ``cardioclarity xray detect`` / ``ecg analyze``
* :mod:`~cardioclarity.batch.ledger` — what is already done (resume state, append-only)
* :mod:`~cardioclarity.batch.outputs` — per-file JSON, ``results.parquet`` (its schema),
  ``summary.csv``, ``errors.csv``; every file written atomically
* :mod:`~cardioclarity.batch.engines` — ``local`` (a loop) and ``dask`` (distributed) adapters
* :mod:`~cardioclarity.batch.runner` — :func:`run_batch`: list → skip done → engine → write
* :mod:`~cardioclarity.batch.cli` — ``cardioclarity batch xray|ecg``

Research use only, not a medical device.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cardioclarity._lazy import lazy_exports

if TYPE_CHECKING:
    from cardioclarity.batch.core import BatchSpec, run_item
    from cardioclarity.batch.outputs import results_schema
    from cardioclarity.batch.runner import BatchReport, run_batch
    from cardioclarity.batch.sources import Item, list_items

__all__ = ["BatchReport", "BatchSpec", "Item", "list_items", "results_schema", "run_batch",
           "run_item"]

__getattr__, __dir__ = lazy_exports(__name__, {
    "BatchSpec": "cardioclarity.batch.core",
    "run_item": "cardioclarity.batch.core",
    "results_schema": "cardioclarity.batch.outputs",
    "BatchReport": "cardioclarity.batch.runner",
    "run_batch": "cardioclarity.batch.runner",
    "Item": "cardioclarity.batch.sources",
    "list_items": "cardioclarity.batch.sources",
})
