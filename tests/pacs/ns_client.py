"""Client steps the end-to-end tests run inside the sandbox's network namespace.

``python ns_client.py upload URL_ROOT FILE...`` stores files through Orthanc's REST API;
``python ns_client.py results DICOMWEB_URL STUDY_UID...`` finds CardioClarity's objects in a study
through QIDO-RS, retrieves them through WADO-RS, reads them with pydicom/highdicom and prints
what they say as JSON. Credentials come from the environment, as for ``cardioclarity pacs``.
"""

from __future__ import annotations

import base64
import io
import json
import os
import sys
import urllib.request


def _auth_header() -> dict[str, str]:
    user, password = os.environ.get("CARDIOCLARITY_PACS_USER"), os.environ.get("CARDIOCLARITY_PACS_PASSWORD")
    if not user:
        return {}
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def upload(root: str, files: list[str]) -> None:
    for f in files:
        req = urllib.request.Request(f"{root}/instances", data=open(f, "rb").read(), method="POST",
                                     headers={"Content-Type": "application/dicom", **_auth_header()})
        with urllib.request.urlopen(req, timeout=30) as r:
            json.loads(r.read())
    print(json.dumps({"uploaded": len(files)}))


def results(url: str, studies: list[str]) -> None:
    from cardioclarity.pacs.client import PacsClient, PacsConfig

    client = PacsClient(PacsConfig.from_env(url))
    print(json.dumps({study: _objects(client, study) for study in studies}))


def _objects(client, study: str) -> list[dict]:
    import highdicom as hd
    import pydicom

    out = []
    for inst in client.search_instances(study):
        if inst.get("SeriesNumber") not in (9901, 9902, 9903):
            continue
        data = client.retrieve_instance(study, inst["SeriesInstanceUID"], inst["SOPInstanceUID"])
        ds = pydicom.dcmread(io.BytesIO(data))
        row = {"modality": ds.Modality, "sop_class": ds.SOPClassUID, "study": ds.StudyInstanceUID,
               "patient_id": str(ds.get("PatientID", "")), "patient_name": str(ds.get("PatientName", "")),
               "series": ds.SeriesInstanceUID, "sop": ds.SOPInstanceUID}
        if ds.Modality == "SR":
            sr = hd.sr.srread(io.BytesIO(data))
            groups = sr.content.get_planar_roi_measurement_groups()
            ctrs = [float(m.value) for g in groups for m in g.get_measurements()
                    if m.name.value == "CTR"]
            evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
            row.update(ctr=ctrs[0] if ctrs else None, title=sr.ConceptNameCodeSequence[0].CodeMeaning,
                       source=str(evidence.ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
                                  .ReferencedSOPInstanceUID))
        elif ds.Modality == "SEG":
            seg = hd.seg.segread(io.BytesIO(data))
            row.update(segments=[d.SegmentLabel for d in seg.SegmentSequence],
                       source=str(seg.SourceImageSequence[0].ReferencedSOPInstanceUID)
                       if "SourceImageSequence" in seg else None)
        else:
            row.update(burned_in=ds.get("BurnedInAnnotation"), size=[ds.Rows, ds.Columns])
        out.append(row)
    return out


if __name__ == "__main__":
    if sys.argv[1] == "upload":
        upload(sys.argv[2], sys.argv[3:])
    else:
        results(sys.argv[2], sys.argv[3:])
