"""DICOMweb PACS: QIDO-RS / WADO-RS / STOW-RS client, one-study processing, a restart-safe watch.

>>> from cardioclarity.pacs import PacsClient, PacsConfig, process_study
>>> client = PacsClient(PacsConfig.from_env("https://pacs/dicom-web"))
>>> process_study(client, "1.2.3...", HeartDetector.load()).summary()

Modules: :mod:`~cardioclarity.pacs.client` (HTTP, auth, errors), :mod:`~cardioclarity.pacs.study`
(retrieve → analyse → store one study), :mod:`~cardioclarity.pacs.watch` (polling with a
checkpoint), :mod:`~cardioclarity.pacs.sandbox` (a throwaway Orthanc in its own network namespace,
for tests and benchmarks), :mod:`~cardioclarity.pacs.cli` (``cardioclarity pacs``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cardioclarity._lazy import lazy_exports

if TYPE_CHECKING:
    from cardioclarity.pacs.client import (
        PacsAuthError,
        PacsClient,
        PacsConfig,
        PacsError,
        PacsUnavailableError,
        StowRejectedError,
    )
    from cardioclarity.pacs.study import StudyOutcome, chest_films, process_study
    from cardioclarity.pacs.watch import Checkpoint, poll_once, watch

_EXPORTS: dict[str, str] = {
    "PacsAuthError": "client", "PacsClient": "client", "PacsConfig": "client", "PacsError": "client",
    "PacsUnavailableError": "client", "StowRejectedError": "client", "StudyOutcome": "study",
    "chest_films": "study", "process_study": "study", "Checkpoint": "watch", "poll_once": "watch",
    "watch": "watch",
}

__all__ = [
    "Checkpoint", "PacsAuthError", "PacsClient", "PacsConfig", "PacsError", "PacsUnavailableError",
    "StowRejectedError", "StudyOutcome", "chest_films", "poll_once", "process_study", "watch",
]

__getattr__, __dir__ = lazy_exports(
    __name__, {name: f"{__name__}.{module}" for name, module in _EXPORTS.items()})
