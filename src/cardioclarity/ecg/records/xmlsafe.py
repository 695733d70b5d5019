"""Hardened XML parsing for the XML ECG formats (HL7 aECG, Philips Sierra).

Uploads are untrusted, and XML can carry entity-expansion bombs ("billion laughs"), external
entities and DTD tricks: :func:`parse_xml` parses with :mod:`defusedxml`, which refuses a DTD
altogether, so no entity is ever expanded.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

from cardioclarity.errors import InvalidInputError, UnsupportedFormatError, one_line

__all__ = ["parse_ecg_xml", "parse_xml", "xml_root_name"]


def parse_xml(data: bytes, source: str) -> Element:
    """The root element of the XML document ``data`` (any encoding its declaration names).

    Raises
    ------
    InvalidInputError
        Malformed XML (the message gives the parser's line and column), or a document that
        declares a DTD or entities (refused whatever they hold, ``kind="xml-entities"``).
    """
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    try:
        return fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise InvalidInputError(
            f"{source} declares a DTD or entities ({type(exc).__name__}); XML ECGs never need "
            "them, and expanding them is how XML bombs work, so the file is refused.",
            hint="export the ECG again without a DOCTYPE declaration.", kind="xml-entities") from None
    except ParseError as exc:
        raise InvalidInputError(f"{source} is not well-formed XML ({one_line(exc, 160)}).",
                                hint="check that the file is complete and was not edited by hand."
                                ) from None


def xml_root_name(root: Element) -> tuple[str, str]:
    """``(namespace, local name)`` of an element's tag (``"{urn:hl7-org:v3}AnnotatedECG"``)."""
    tag = root.tag if isinstance(root.tag, str) else ""
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def parse_ecg_xml(data: bytes, source: str, namespace: str, root: str, what: str) -> Element:
    """:func:`parse_xml`, then check the root element is ``{namespace}root``.

    Raises
    ------
    UnsupportedFormatError
        Well-formed XML of another kind (the message names its root element and ``what`` was
        expected).
    """
    el = parse_xml(data, source)
    ns, local = xml_root_name(el)
    if local != root or ns != namespace:
        raise UnsupportedFormatError(f"{source} is XML with root element {local!r}, not {what} "
                                     f"({root}).",
                                     hint="send an HL7 aECG, a Philips Sierra XML or a DICOM ECG.")
    return el
