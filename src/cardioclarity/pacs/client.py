"""DICOMweb client: QIDO-RS search, WADO-RS retrieve, STOW-RS store (on ``dicomweb-client``).

Authentication comes from the environment, never from the command line (where other users of
the machine could read it in the process list):

* ``CARDIOCLARITY_PACS_TOKEN``: a bearer token (``Authorization: Bearer ...``), or
* ``CARDIOCLARITY_PACS_USER`` and ``CARDIOCLARITY_PACS_PASSWORD``: HTTP basic authentication.

TLS certificates are verified; ``CARDIOCLARITY_PACS_CA_BUNDLE`` (or ``ca_bundle``) names the CA
file of a hospital's own certificate authority. Every failure a PACS can cause is a
:class:`PacsError` with a message that names the server and what it said: unreachable
(:class:`PacsUnavailableError`), 401/403 (:class:`PacsAuthError`), a STOW that stored nothing or
not everything (:class:`StowRejectedError`).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any

from cardioclarity.errors import CardioClarityError

__all__ = ["EX_NOPERM", "EX_UNAVAILABLE", "PacsAuthError", "PacsClient", "PacsConfig",
           "PacsError", "PacsUnavailableError", "StowRejectedError"]

EX_UNAVAILABLE = 69  # sysexits.h: a service is unavailable
EX_NOPERM = 77  # sysexits.h: permission denied


class PacsError(CardioClarityError):
    """The PACS answered with an error, or a study cannot be processed (exit 69, HTTP 502)."""

    exit_code = EX_UNAVAILABLE
    http_status = 502


class PacsUnavailableError(PacsError):
    """The PACS cannot be reached (connection refused, DNS, timeout, TLS failure)."""


class PacsAuthError(PacsError):
    """The PACS refused the credentials (401) or the access (403) (exit 77)."""

    exit_code = EX_NOPERM


class StowRejectedError(PacsError):
    """A STOW-RS request stored nothing, or not every instance it carried."""


@dataclass
class PacsConfig:
    """Where the PACS is and how to log in.

    Attributes
    ----------
    url : str
        DICOMweb root, e.g. ``https://pacs.example.org/dicom-web``.
    token, user, password : str or None
        Bearer token, or basic-auth user and password.
    ca_bundle : str or None
        CA certificate file for TLS verification (None: the system's CAs). Verification is
        always on.
    timeout : float
        Seconds per HTTP request.
    attempts : int
        Tries per request: a refused connection, a timeout or a busy answer (429/408/503/504)
        is tried again after 2 s, then 4 s, ...
    """

    url: str
    token: str | None = None
    user: str | None = None
    password: str | None = None
    ca_bundle: str | None = None
    timeout: float = 30.0
    attempts: int = 3

    @classmethod
    def from_env(cls, url: str | None = None, *, timeout: float = 30.0) -> PacsConfig:
        """A config from ``url`` (else ``$CARDIOCLARITY_PACS_URL``) and the environment."""
        from cardioclarity.errors import InvalidInputError

        url = url or os.environ.get("CARDIOCLARITY_PACS_URL")
        if not url:
            raise InvalidInputError("no PACS URL given.",
                                    hint="pass --url https://host/dicom-web or set CARDIOCLARITY_PACS_URL.")
        if not url.startswith(("http://", "https://")):
            raise InvalidInputError(f"PACS URL must start with http:// or https://, got {url!r}.",
                                    hint="give the DICOMweb root, e.g. https://pacs/dicom-web.")
        env = os.environ
        user, password = env.get("CARDIOCLARITY_PACS_USER"), env.get("CARDIOCLARITY_PACS_PASSWORD")
        if bool(user) != bool(password):
            raise InvalidInputError(
                "CARDIOCLARITY_PACS_USER and CARDIOCLARITY_PACS_PASSWORD must be set together.",
                hint="set both for basic authentication, or CARDIOCLARITY_PACS_TOKEN for a bearer token.")
        return cls(url=url.rstrip("/"), token=env.get("CARDIOCLARITY_PACS_TOKEN") or None,
                   user=user or None, password=password or None,
                   ca_bundle=env.get("CARDIOCLARITY_PACS_CA_BUNDLE") or None, timeout=timeout)


class PacsClient:
    """QIDO-RS / WADO-RS / STOW-RS against one DICOMweb server.

    Parameters
    ----------
    config : PacsConfig
    """

    def __init__(self, config: PacsConfig) -> None:
        from cardioclarity.hospital.results import require_extra

        require_extra("dicomweb_client")
        import requests
        from dicomweb_client.api import DICOMwebClient

        self.config = config
        session = requests.Session()
        session.verify = config.ca_bundle or True
        if config.token:
            session.headers["Authorization"] = f"Bearer {config.token}"
        elif config.user:
            session.auth = (config.user, config.password or "")
        self._web = DICOMwebClient(url=config.url, session=session, timeout=config.timeout)
        self._web.set_http_retry_params(max_attempts=max(1, int(config.attempts)))

    # ------------------------------------------------------------------------------ QIDO-RS
    def search_studies(self, filters: dict[str, str] | None = None, *, page: int = 100
                       ) -> list[dict[str, Any]]:
        """Studies matching ``filters`` (QIDO-RS attribute matching, e.g. ``{"ModalitiesInStudy":
        "CR"}``), each as a keyword → value dict (``StudyInstanceUID``, ``StudyDate``,
        ``ModalitiesInStudy``, ...). Pages of ``page`` studies are fetched until one is short."""
        out: list[dict[str, Any]] = []
        while True:
            rows = self._call("search for studies", self._web.search_for_studies,
                              search_filters=dict(filters or {}), limit=page, offset=len(out),
                              fields=["StudyDate", "ModalitiesInStudy", "NumberOfStudyRelatedInstances"])
            out += [_flat(r) for r in rows]
            if len(rows) < page:
                return out

    def search_instances(self, study_uid: str) -> list[dict[str, Any]]:
        """The instances of one study (SOP class and instance, series, modality, series number)."""
        rows = self._call(f"search the instances of study {study_uid}", self._web.search_for_instances,
                          study_instance_uid=study_uid, fields=["Modality", "SeriesNumber"])
        return [_flat(r) for r in rows]

    # ------------------------------------------------------------------------------ WADO-RS
    def retrieve_instance(self, study_uid: str, series_uid: str, sop_uid: str) -> bytes:
        """One instance as a DICOM Part 10 file, in the transfer syntax it is stored in."""
        from cardioclarity.hospital.encode import to_bytes

        ds = self._call(f"retrieve instance {sop_uid}", self._web.retrieve_instance,
                        study_instance_uid=study_uid, series_instance_uid=series_uid,
                        sop_instance_uid=sop_uid, media_types=(("application/dicom", "*"),))
        return to_bytes(ds)

    # ------------------------------------------------------------------------------ STOW-RS
    def store(self, objects: list[bytes], study_uid: str) -> int:
        """Store DICOM Part 10 files in study ``study_uid``; returns how many were stored.

        Raises
        ------
        StowRejectedError
            The server refused some or all of them (its Failed SOP Sequence, an HTTP error), or
            answered success but a QIDO-RS search afterwards does not find them all.
        """
        import pydicom

        datasets = [pydicom.dcmread(io.BytesIO(b)) for b in objects]
        answer = self._call(f"store {len(datasets)} object(s) in study {study_uid}",
                            self._web.store_instances, datasets=datasets,
                            study_instance_uid=study_uid)
        failed = list(answer.get("FailedSOPSequence", []) or []) if answer is not None else []
        if failed:
            reasons = ", ".join(f"{f.get('ReferencedSOPInstanceUID', '?')} (failure reason "
                                f"{f.get('FailureReason', '?')})" for f in failed)
            raise StowRejectedError(
                f"{self.config.url}: STOW-RS refused {len(failed)} of {len(datasets)} object(s) for "
                f"study {study_uid}: {reasons}.",
                hint="the PACS log says why; check that it accepts Comprehensive SR, "
                "Segmentation and Secondary Capture storage.")
        # Some servers answer success for instances a filter dropped (Orthanc's DICOMweb plugin
        # does): look them up, so a study is never reported as stored when it is not.
        sent = [str(ds.SOPInstanceUID) for ds in datasets]
        present = {str(i.get("SOPInstanceUID")) for i in self.search_instances(study_uid)}
        missing = [uid for uid in sent if uid not in present]
        if missing:
            raise StowRejectedError(
                f"{self.config.url}: STOW-RS answered success for study {study_uid}, but "
                f"{len(missing)} of {len(sent)} object(s) are not in the study afterwards "
                f"({', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}): the PACS "
                "dropped them (a filter or storage rule).",
                hint="the PACS log says why; check its filters and that it accepts Comprehensive "
                "SR, Segmentation and Secondary Capture storage.")
        return len(datasets)

    # --------------------------------------------------------------------------- internals
    def _call(self, what: str, fn, **kwargs):
        """``fn(**kwargs)`` with every requests failure turned into a :class:`PacsError`."""
        import requests

        try:
            return fn(**kwargs)
        except requests.exceptions.SSLError as exc:
            raise PacsUnavailableError(
                f"{self.config.url}: TLS certificate check failed while trying to {what}.",
                hint="set CARDIOCLARITY_PACS_CA_BUNDLE to the hospital's CA certificate file; "
                "verification cannot be switched off.") from exc
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise PacsUnavailableError(
                f"{self.config.url}: PACS unreachable while trying to {what} "
                f"({type(exc).__name__}).",
                hint="check the URL, the network and that the server is running.") from exc
        except requests.exceptions.HTTPError as exc:
            raise _http_error(self.config.url, what, exc.response) from exc


def _http_error(url: str, what: str, response) -> PacsError:
    status = getattr(response, "status_code", None)
    body = (getattr(response, "text", "") or "").strip().replace("\n", " ")[:200]
    said = f"HTTP {status}" + (f": {body}" if body else "")
    if status in (401, 403):
        return PacsAuthError(
            f"{url}: the PACS refused access ({said}) while trying to {what}.",
            hint="set CARDIOCLARITY_PACS_TOKEN (bearer) or CARDIOCLARITY_PACS_USER and "
            "CARDIOCLARITY_PACS_PASSWORD (basic) to credentials it accepts.")
    if status == 404:
        return PacsError(f"{url}: not found ({said}) while trying to {what}.",
                         hint="check the DICOMweb root in --url and the study UID.")
    cls = StowRejectedError if what.startswith("store") else PacsError
    return cls(f"{url}: the PACS answered {said} while trying to {what}.",
               hint="the PACS log says why.")


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """A DICOM JSON row (``{"0020000D": {"vr": "UI", "Value": [...]}}``) as keyword → value."""
    from pydicom.datadict import keyword_for_tag

    out = {}
    for tag, elem in row.items():
        key = keyword_for_tag(int(tag, 16)) or tag
        values = elem.get("Value") or []
        out[key] = values[0] if len(values) == 1 else (values or None)
    return out
