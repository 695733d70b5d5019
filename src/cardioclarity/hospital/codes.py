"""Coded concepts of the DICOM results, and the one private coding scheme.

Standard codes come from DICOM PS3.16 (DCM), SNOMED CT (SCT), LOINC (LN) and UCUM, as listed in
pydicom's code dictionary (``pydicom.sr.codedict.codes``). Where no standard concept exists, the
code is in the private scheme :data:`PRIVATE_SCHEME` (``99CCLRTY``), declared in every SR through
the Coding Scheme Identification Sequence (PS3.3 C.12.1.1.2). Private codes:

================  ===========================  =================================================
code              meaning                      why private
================  ===========================  =================================================
``CTR``           Cardiothoracic ratio         LOINC has only the cardiothoracic *area* ratio
                                               (59076-0) and *circumference* ratio (59074-5),
                                               both fetal ultrasound; neither SNOMED CT (in
                                               pydicom's dictionary) nor DCM has the linear
                                               ratio of a chest film.
================  ===========================  =================================================

Everything else is standard: heart (SCT 80891009), lung (SCT 39607008) with laterality right
(SCT 24028007) / left (SCT 7771000), thorax (SCT 816094009), cardiomegaly (SCT 287272002) present
(SCT 52101004) / absent (SCT 272519000), diameter (SCT 81827009), image quality (DCM 111101) good
(DCM 122741) / poor (DCM 122742), comment (DCM 121106), artificial intelligence (DCM 123110), the
procedure "XR Chest Single view" (LN 36554-4), units mm, ``1`` (no units) and ``{pixels}`` (UCUM).
"""

from __future__ import annotations

from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

#: Coding Scheme Designator of CardioClarity's private codes ("99" prefix: PS3.16 8.2).
PRIVATE_SCHEME = "99CCLRTY"
PRIVATE_SCHEME_NAME = "CardioClarity private codes"

CARDIOTHORACIC_RATIO = Code("CTR", PRIVATE_SCHEME, "Cardiothoracic ratio")

HEART = codes.SCT.Heart
LUNG = codes.SCT.Lung
THORAX = codes.SCT.Thorax
RIGHT = codes.SCT.Right
LEFT = codes.SCT.Left
ANATOMICAL_STRUCTURE = codes.SCT.AnatomicalStructure
CARDIOMEGALY = codes.SCT.Cardiomegaly
PRESENT = codes.SCT.Present
ABSENT = codes.SCT.Absent
DIAMETER = codes.SCT.Diameter
IMAGE_QUALITY = codes.DCM.ImageQuality
GOOD_QUALITY = codes.DCM.GoodImageQuality
POOR_QUALITY = codes.DCM.PoorImageQuality
COMMENT = codes.DCM.Comment
ARTIFICIAL_INTELLIGENCE = codes.DCM.ArtificialIntelligence
SOURCE = codes.SCT.Source
CHEST_XRAY = Code("36554-4", "LN", "XR Chest Single view")

MILLIMETRE = Code("mm", "UCUM", "millimeter")
PIXELS = Code("{pixels}", "UCUM", "Pixels")
NO_UNITS = Code("1", "UCUM", "no units")


def coding_scheme_identification():
    """The Coding Scheme Identification Sequence item that declares :data:`PRIVATE_SCHEME`."""
    from pydicom.dataset import Dataset

    item = Dataset()
    item.CodingSchemeDesignator = PRIVATE_SCHEME
    item.CodingSchemeName = PRIVATE_SCHEME_NAME
    item.CodingSchemeResponsibleOrganization = "CardioClarity developers"
    return item
