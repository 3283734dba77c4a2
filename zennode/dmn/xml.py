"""Safe reading of DMN XML: defusedxml with size and depth limits, namespace-free access.

DMN 1.1 to 1.5 differ in their namespace URI and in small details (1.1 writes type references
as QNames such as `feel:string`); elements are addressed here by local name, and the root must
be a `definitions` element of one of the five DMN namespaces.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from zennode.errors import BadRequest, TooLarge

XML_BYTES_MAX = 10 * 1024 * 1024
XML_DEPTH_MAX = 200

DMN_NAMESPACES = {
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd": "1.1",
    "http://www.omg.org/spec/DMN/20180521/MODEL/": "1.2",
    "https://www.omg.org/spec/DMN/20191111/MODEL/": "1.3",
    "https://www.omg.org/spec/DMN/20211108/MODEL/": "1.4",
    "https://www.omg.org/spec/DMN/20230324/MODEL/": "1.5",
}
#: extension attributes and elements that carry engine settings (Camunda 7 and 8, ZenBPM)
EXTENSION_NAMESPACES = (
    "http://camunda.org/schema/1.0/dmn",
    "http://camunda.org/schema/zeebe/1.0",
    "http://zenbpm.pbinitiative.org/1.0",
)


def local(el: Element) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def namespace(el: Element) -> str:
    tag = el.tag
    if isinstance(tag, str) and tag.startswith("{"):
        return tag[1:].partition("}")[0]
    return ""


def children(el: Element, name: str) -> Iterator[Element]:
    for c in el:
        if local(c) == name:
            yield c


def child(el: Element, name: str) -> Element | None:
    for c in el:
        if local(c) == name:
            return c
    return None


def text_of(el: Element | None, name: str = "text") -> str | None:
    """The text of the `<text>` (or `name`) child, or None when there is none."""
    if el is None:
        return None
    t = child(el, name)
    if t is None:
        return None
    return t.text or ""


def extension_attr(el: Element, name: str) -> str | None:
    """An attribute in one of the engine extension namespaces (`camunda:inputVariable`)."""
    for ns in EXTENSION_NAMESPACES:
        v = el.get(f"{{{ns}}}{name}")
        if v is not None:
            return v
    return None


def parse_xml(data: bytes) -> Element:
    """Parse untrusted XML with size, depth, DTD and entity limits; the root element."""
    if not isinstance(data, (bytes, bytearray)):
        raise BadRequest("a DMN document must be bytes")
    if len(data) > XML_BYTES_MAX:
        raise TooLarge(f"DMN document is {len(data)} bytes, over the limit of {XML_BYTES_MAX}")
    depth = 0
    root: Element | None = None
    try:
        for event, el in iterparse(
            io.BytesIO(data),
            events=("start", "end"),
            forbid_dtd=True,
            forbid_entities=True,
            forbid_external=True,
        ):
            if event == "start":
                depth += 1
                if depth > XML_DEPTH_MAX:
                    raise BadRequest(f"DMN document nests deeper than {XML_DEPTH_MAX} elements")
                if root is None:
                    root = el
            else:
                depth -= 1
    except DefusedXmlException as exc:
        raise BadRequest(f"DMN document refused: {type(exc).__name__}") from None
    except ParseError as exc:
        raise BadRequest(f"DMN document is not well-formed XML: {exc}") from None
    if root is None:
        raise BadRequest("DMN document is empty")
    if local(root) != "definitions" or namespace(root) not in DMN_NAMESPACES:
        raise BadRequest(
            f"not a DMN document: the root element is {root.tag!r}, expected "
            "'definitions' in a DMN 1.1-1.5 namespace"
        )
    return root
