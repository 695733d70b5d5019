"""One study from the PACS through the pipeline and back: retrieve, analyse, store.

:func:`process_study` is the stage both ``pacs pull`` and ``pacs watch`` run on each study:

1. QIDO-RS: the study's instances; the chest films among them are the CR/DX images and the
   secondary captures of modality CR/DX that CardioClarity did not write itself;
2. WADO-RS: each film, as stored;
3. the X-ray pipeline on each film (``read_xray`` → ``HeartDetector.detect``) and its DICOM
   results (SR, SEG, Secondary Capture, :func:`cardioclarity.hospital.dicom_results`);
4. STOW-RS: every object of the study in one request, only once all films are analysed, so a
   study is never left with half its results because analysis failed midway.

A film that cannot be analysed is reported and skipped; the others still go back. Results have
UIDs derived from the source instance (:func:`cardioclarity.hospital.source.derived_uid`), so
storing them a second time replaces, never duplicates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from cardioclarity.errors import CardioClarityError
from cardioclarity.hospital.source import SC_SERIES_NUMBER, SEG_SERIES_NUMBER, SR_SERIES_NUMBER
from cardioclarity.pacs.client import PacsClient, PacsError

__all__ = ["FILM_MODALITIES", "OWN_SERIES", "StudyOutcome", "chest_films", "process_study"]

#: Modalities of projection radiographs the heart detector reads.
FILM_MODALITIES = {"CR", "DX"}
#: Series numbers of CardioClarity's SR, SEG and Secondary Capture series.
OWN_SERIES = {SR_SERIES_NUMBER, SEG_SERIES_NUMBER, SC_SERIES_NUMBER}
_IMAGE_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.1",  # Computed Radiography Image Storage
    "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray Image Storage - For Presentation
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image Storage
}


@dataclass
class StudyOutcome:
    """What happened to one study.

    Attributes
    ----------
    study_uid : str
    films : list of dict
        Per film: ``sop_instance_uid``, ``result`` (the ``<stem>.json`` object) and ``objects``
        (kinds made), or ``error``.
    stored : int
        Objects stored back (0 with ``store=False``).
    timings : dict
        Seconds spent in ``search``, ``retrieve``, ``analysis`` and ``store``.
    objects : dict
        ``<sop uid>_<kind>.dcm`` → bytes, every object made (for a local copy).
    """

    study_uid: str
    films: list[dict[str, Any]] = field(default_factory=list)
    stored: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    objects: dict[str, bytes] = field(default_factory=dict, repr=False)

    def summary(self) -> str:
        ok = sum("error" not in f for f in self.films)
        return (f"study {self.study_uid}: {ok}/{len(self.films)} film(s) analysed, "
                f"{self.stored} object(s) stored")


def chest_films(instances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The instances that are chest films to analyse (CR/DX images; not CardioClarity's own)."""
    out = []
    for inst in instances:
        # CardioClarity's own SR and SEG are no image classes; its Secondary Capture has
        # modality OT; the series numbers say it once more (PACS QIDO often omits Manufacturer).
        if str(inst.get("Manufacturer") or "") == "CardioClarity" or _int(inst.get("SeriesNumber")) in OWN_SERIES:
            continue
        if inst.get("SOPClassUID") in _IMAGE_CLASSES and str(inst.get("Modality") or "") in FILM_MODALITIES:
            out.append(inst)
    return out


def _int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def process_study(client: PacsClient, study_uid: str, detector, *, store: bool = True,
                  log=None) -> StudyOutcome:
    """Retrieve, analyse and (with ``store``) STOW back the chest films of one study.

    Raises
    ------
    PacsError
        The study has no instances or no chest film, no film could be analysed, or the PACS
        failed (unreachable, 401, STOW refused).
    """
    from cardioclarity.hospital import dicom_results
    from cardioclarity.xray.io import read_xray

    say = log or (lambda _m: None)
    out = StudyOutcome(study_uid)
    t0 = time.perf_counter()
    instances = client.search_instances(study_uid)
    films = chest_films(instances)
    out.timings["search"] = time.perf_counter() - t0
    if not instances:
        raise PacsError(f"study {study_uid} has no instances in the PACS.",
                        hint="check the study UID; the study may be empty or still arriving.")
    if not films:
        found = sorted({str(i.get("Modality") or "?") for i in instances})
        raise PacsError(f"study {study_uid} holds no chest film to analyse (modalities found: "
                        f"{', '.join(found)}; CardioClarity reads CR and DX images).",
                        hint="pick a study with a CR/DX chest radiograph.")
    retrieve = analysis = 0.0
    for inst in films:
        sop = str(inst["SOPInstanceUID"])
        t1 = time.perf_counter()
        data = client.retrieve_instance(study_uid, str(inst["SeriesInstanceUID"]), sop)
        t2 = time.perf_counter()
        retrieve += t2 - t1
        try:
            image = read_xray(data, name=sop)
            result = detector.detect(image)
            made = dicom_results(data, image, result)
        except CardioClarityError as exc:
            out.films.append({"sop_instance_uid": sop, "error": str(exc)})
            say(f"cardioclarity: error: {sop}: {exc}")
            continue
        finally:
            analysis += time.perf_counter() - t2
        for kind, why in made.skipped.items():
            say(f"cardioclarity: warning: {sop}: no DICOM {kind.upper()}: {why}")
        out.films.append({"sop_instance_uid": sop, "result": result.to_dict(),
                          "objects": sorted(made.objects)})
        out.objects.update({f"{sop}_{k}.dcm": v for k, v in made.objects.items()})
    out.timings.update(retrieve=retrieve, analysis=analysis)
    if not out.objects:
        raise PacsError(f"study {study_uid}: none of its {len(films)} film(s) could be analysed: "
                        + "; ".join(f["error"] for f in out.films), hint="see the errors above.")
    if store:
        t3 = time.perf_counter()
        out.stored = client.store(list(out.objects.values()), study_uid)
        out.timings["store"] = time.perf_counter() - t3
    return out
