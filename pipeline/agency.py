"""Agency wire documents: the helpers the format parsers share (XML navigation, dates, urgency,
pubstatus, subjects, correction and kill signals); detection and dispatch are in
pipeline/wire_formats.py.

Formats: IPTC NewsML-G2 2.x (pipeline/newsml.py), NITF 3.x (pipeline/nitf.py), ninjs 1.x/2.x
(pipeline/ninjs.py), IPTC 7901 and ANPA 1312 (pipeline/iptc7901.py). Anything else goes to the
feed parser (pipeline/feeds.py). Every failure is a FeedParseError with the reason, so one bad
file never stops a batch.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree

# The feed parser's entity refusal is reused, not copied; it is private in pipeline/feeds.py.
from pipeline.feeds import FeedParseError
from pipeline.feeds import _refuse_xml_entities as refuse_xml_entities

_FIRST_TAG = re.compile(rb"<([^?!/\s>][^\s>/]*)")
_JSON_FEED_VERSION = "https://jsonfeed.org/version/"
# Keys only ninjs uses (1.x singular forms, 2.x plural arrays); a JSON Feed has none of them.
_NINJS_KEYS = frozenset(
    {
        "headline",
        "headlines",
        "body_text",
        "body_html",
        "bodies",
        "versioncreated",
        "pubstatus",
        "byline",
        "by",
        "located",
        "urgency",
        "representationtype",
        "associations",
        "renditions",
        "firstcreated",
        "subject",
        "subjects",
    }
)
# The IPTC schemes whose QCode prefixes are fixed by the IPTC catalog.
_IPTC_SCHEMES = {
    "http://cv.iptc.org/newscodes/mediatopic/": "medtop",
    "http://cv.iptc.org/newscodes/subjectcode/": "subj",
    "http://cv.iptc.org/newscodes/genre/": "genre",
    "http://cv.iptc.org/newscodes/ninature/": "ninat",
    "http://cv.iptc.org/newscodes/pubstatusg2/": "stat",
    "http://cv.iptc.org/newscodes/signal/": "sig",
    "http://cv.iptc.org/newscodes/urgency/": "urgency",
}
# Names of the 17 top-level IPTC Media Topics, which share their codes with the top-level
# Subject Codes: the label of a code a document sends without one.
TOP_LEVEL_TOPICS = {
    "01000000": "arts, culture, entertainment and media",
    "02000000": "crime, law and justice",
    "03000000": "disaster, accident and emergency incident",
    "04000000": "economy, business and finance",
    "05000000": "education",
    "06000000": "environment",
    "07000000": "health",
    "08000000": "human interest",
    "09000000": "labour",
    "10000000": "lifestyle and leisure",
    "11000000": "politics",
    "12000000": "religion",
    "13000000": "science and technology",
    "14000000": "society",
    "15000000": "sport",
    "16000000": "conflict, war and peace",
    "17000000": "weather",
}
# Corrections and kills are flagged in words in the line formats, in the agencies' languages.
_CORRECTION = re.compile(
    r"\b(correction|corrects|corrected|correctif|rectificatif|berichtigung|korrektur"
    r"|rettifica|correcci[oó]n|corrige|исправление|поправка|виправлення)\b",
    re.IGNORECASE,
)
_KILL = re.compile(
    r"\b(kill|mandatory kill|elimination|eliminate|withdrawn|withdrawal|withdraws|annulation"
    r"|annul[ée]|storno|zur[üu]ckgezogen|anulaci[oó]n|anulado|annullamento|annullato"
    r"|отзыв|отозвано)\b",
    re.IGNORECASE,
)
# "ROME (ANSA) - …", "Washington (dpa) - …", "ATLANTA (AP) _ …": place, agency, dash.
_DATELINE = re.compile(
    r"^\s*(?P<place>[^\s(][^()\n]{0,60}?)\s*\((?P<agency>[^\W\d_][\w&.-]{1,15}(?:/[\w.-]+)?)\)"
    r"\s*[-–—_]+\s"
)
_SPACES = re.compile(r"\s+")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def xml_root_name(head: bytes) -> str | None:
    """Local name of a document's first element (after prolog, comments and doctype), if any."""
    if head[:1] != b"<":
        return None
    found = _FIRST_TAG.search(head)
    if not found:
        return None
    return found.group(1).decode("ascii", "replace").rsplit(":", 1)[-1]


def parse_xml(content: bytes, name: str = "XML") -> Element:
    """The root element of a well-formed document; entity declarations are refused."""
    refuse_xml_entities(content)
    try:
        root: Element = defusedxml.ElementTree.fromstring(content, forbid_dtd=False)
    except (defusedxml.EntitiesForbidden, defusedxml.ExternalReferenceForbidden) as exc:
        raise FeedParseError(f"XML entity declarations are refused: {exc}") from exc
    except ParseError as exc:
        raise FeedParseError(f"{name} document is not well-formed XML: {exc}") from exc
    return root


def local_name(element: Element) -> str:
    """An element's tag without its namespace."""
    return element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""


def children(element: Element | None, name: str) -> list[Element]:
    """Direct children with this local name, in any namespace (agencies mix prefixes freely)."""
    if element is None:
        return []
    return [child for child in element if local_name(child) == name]


def child(element: Element | None, *path: str) -> Element | None:
    """The first element down a path of local names, or None."""
    for name in path:
        found = children(element, name)
        element = found[0] if found else None
    return element


def descendants(element: Element | None, name: str) -> list[Element]:
    """Every element below with this local name, in document order."""
    if element is None:
        return []
    return [node for node in element.iter() if node is not element and local_name(node) == name]


def text_of(element: Element | None) -> str:
    """All the text inside an element, whitespace collapsed."""
    if element is None:
        return ""
    return _SPACES.sub(" ", "".join(element.itertext())).strip()


def attribute(element: Element | None, name: str) -> str | None:
    """An attribute by local name (so xml:lang is "lang"), stripped; None when absent or empty."""
    if element is None:
        return None
    for key, value in element.attrib.items():
        if key.rsplit("}", 1)[-1] == name and value.strip():
            return value.strip()
    return None


def inner_html(element: Element | None, renames: dict[str, str] | None = None) -> str:
    """The markup inside an element, namespaces dropped, tags renamed ("" drops an element)."""
    if element is None:
        return ""
    parts = [html.escape(element.text or "", quote=False)]
    for node in element:
        parts.append(_outer_html(node, renames or {}))
    return "".join(parts).strip()


def _outer_html(element: Element, renames: dict[str, str]) -> str:
    name = local_name(element)
    if not name:  # comments and processing instructions
        return html.escape(element.tail or "", quote=False)
    tag = renames.get(name, name)
    if not tag:  # renamed to nothing: left out with its content
        return html.escape(element.tail or "", quote=False)
    attributes = "".join(
        f' {key.rsplit("}", 1)[-1]}="{html.escape(value)}"' for key, value in element.attrib.items()
    )
    inner = inner_html(element, renames)
    tail = html.escape(element.tail or "", quote=False)
    return f"<{tag}{attributes}>{inner}</{tag}>{tail}"


# -- values -----------------------------------------------------------------------------------


def paragraphs_html(paragraphs: Iterable[str]) -> str:
    """Plain-text paragraphs as escaped HTML paragraphs, inner whitespace (line wraps) collapsed."""
    cleaned = (_SPACES.sub(" ", paragraph).strip() for paragraph in paragraphs)
    return "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in cleaned if p)


def blank_line_paragraphs(text: str) -> list[str]:
    """Paragraphs of a text whose paragraphs are separated by blank lines."""
    return _PARAGRAPH_BREAK.split(text.replace("\r\n", "\n"))


def iso_utc(value: str | None) -> str | None:
    """An ISO 8601 time (extended or NITF's basic form) as ISO UTC; None when unreadable."""
    if not value or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def positive_int(value: Any) -> int | None:
    """A version or sequence number as a positive int; None when absent or not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
        return number if number > 0 else None
    return None


def urgency(value: Any) -> int | None:
    """An IPTC urgency (1 most urgent to 9 least); None outside that scale."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    number = positive_int(value)
    return number if number is not None and number <= 9 else None


def pubstatus(value: str | None) -> str:
    """The publishing status from a QCode ("stat:canceled"), URI or word; usable by default."""
    word = (value or "").rsplit(":", 1)[-1].rsplit("/", 1)[-1].strip().lower()
    if word in {"canceled", "cancelled", "kill", "killed"}:
        return "canceled"
    return "withheld" if word == "withheld" else "usable"


def qcode(identifier: str | None) -> str | None:
    """A concept id as "scheme:code": IPTC URIs become their catalog QCodes, QCodes stay."""
    if not identifier or not identifier.strip():
        return None
    identifier = identifier.strip()
    for prefix, scheme in _IPTC_SCHEMES.items():
        for variant in (prefix, prefix.replace("http://", "https://", 1)):
            if identifier.startswith(variant) and identifier[len(variant) :].strip("/"):
                return f"{scheme}:{identifier[len(variant) :].strip('/')}"
    return identifier


def subject_label(subject_id: str, label: str | None) -> str:
    """A subject's readable label: the document's, a top-level topic's name, or the id itself."""
    if label and label.strip():
        return _SPACES.sub(" ", label).strip()
    scheme, _, code = subject_id.partition(":")
    if scheme in {"medtop", "subj"} and code in TOP_LEVEL_TOPICS:
        return TOP_LEVEL_TOPICS[code]
    return subject_id


def concept_name(identifier: str | None, label: str | None) -> str | None:
    """A concept's readable name: its label, else the code of its QCode ("genre:Analysis")."""
    if label and label.strip():
        return _SPACES.sub(" ", label).strip()
    return (qcode(identifier) or "").rsplit(":", 1)[-1] or None


def subject_fields(
    pairs: Iterable[tuple[str | None, str | None]],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(ids, labels) from (id or URI, label) pairs: QCodes, first label wins, ids unique."""
    labels: dict[str, str] = {}
    for identifier, label in pairs:
        subject_id = qcode(identifier)
        if subject_id and subject_id not in labels:
            labels[subject_id] = subject_label(subject_id, label)
    return tuple(labels), tuple(labels.values())


def mentions_correction(*texts: str | None) -> bool:
    """Whether an advisory line or editor's note says the item corrects an earlier one."""
    return any(_CORRECTION.search(text) for text in texts if text)


def is_kill_advisory(*texts: str | None) -> bool:
    """Whether a slug, version field or advisory line says the item is killed or withdrawn."""
    return any(_KILL.search(text) for text in texts if text)


def split_dateline(text: str) -> tuple[str | None, str | None]:
    """(place, agency) of a lead paragraph's dateline ("ROME (ANSA) - …"), if it has one."""
    found = _DATELINE.match(text)
    if not found:
        return None, None
    place = found.group("place").strip(" ,")
    # A place is a few capitalised words ("KYIV, Ukraine"), not a clause ("The minister (right)").
    words = place.replace(",", " ").split()
    if len(words) > 4 or not all(word[0].isupper() for word in words):
        return None, None
    return place, found.group("agency")


def is_ninjs(document: Any) -> bool:
    """Whether decoded JSON is a ninjs item (or a list of them) rather than a JSON Feed."""
    if isinstance(document, list):
        return bool(document) and all(is_ninjs(item) for item in document)
    if not isinstance(document, dict) or "uri" not in document:
        return False
    if str(document.get("version", "")).startswith(_JSON_FEED_VERSION):
        return False
    standard = document.get("standard")
    named = isinstance(standard, dict) and str(standard.get("name", "")).lower() == "ninjs"
    schema = "ninjs" in str(document.get("$schema", "")).lower()
    return named or schema or bool(_NINJS_KEYS & document.keys())
