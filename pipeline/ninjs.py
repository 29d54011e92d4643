"""IPTC ninjs (News in JSON) 1.x and 2.x -> FeedEntry.

1.x names fields singly (headline, body_html, subject, byline); 2.x uses arrays with roles and
content types (headlines, bodies, subjects) and renames a few (byline -> by). Both are read by
the same mapping, each field from whichever form is present.
"""

from __future__ import annotations

import html
import json
from typing import Any

from pipeline.agency import (
    concept_name,
    is_ninjs,
    iso_utc,
    mentions_correction,
    paragraphs_html,
    positive_int,
    pubstatus,
    subject_fields,
    urgency,
)
from pipeline.feeds import FeedParseError
from pipeline.models import FeedEntry, ParsedFeed

_MAIN_ROLES = {"", "main", "headline", "body"}


def parse_ninjs(
    content: bytes, *, feed_id: str, source_name: str | None, max_entries: int
) -> ParsedFeed:
    """Parse a ninjs item, or a list of items, into entries."""
    try:
        document = json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FeedParseError(f"invalid ninjs JSON: {exc}") from exc
    if not is_ninjs(document):
        raise FeedParseError("JSON document is not a ninjs item (no uri)")
    items: list[dict[str, Any]] = document if isinstance(document, list) else [document]
    entries: list[FeedEntry] = []
    for item in items[:max_entries]:
        entries.extend(_entries(item, feed_id=feed_id, source_name=source_name))
    if not entries:
        raise FeedParseError("ninjs item has neither headline nor body")
    major = "2" if any(_is_v2(item) for item in items) else "1"
    return ParsedFeed(
        title=entries[0].title if len(entries) == 1 else "",
        link=None,
        language=entries[0].language_hint,
        entries=tuple(entries[:max_entries]),
        format=f"ninjs{major}",
    )


def _is_v2(item: dict[str, Any]) -> bool:
    standard = item.get("standard")
    if isinstance(standard, dict) and str(standard.get("version", "")).startswith("2"):
        return True
    return any(key in item for key in ("headlines", "bodies", "subjects", "descriptions"))


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _objects(value: Any) -> list[dict[str, Any]]:
    # 1.x keys some collections by name ({"main": {...}}); 2.x lists them.
    if isinstance(value, dict):
        value = list(value.values())
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _pick(parts: list[dict[str, Any]], html_wanted: bool) -> dict[str, Any] | None:
    """The main part of a 2.x array (headlines, bodies, descriptions), HTML or plain text."""
    main = [p for p in parts if _text(p.get("role")).lower() in _MAIN_ROLES] or parts
    for part in main:
        is_html = "html" in _text(part.get("contenttype")).lower()
        if is_html == html_wanted and _text(part.get("value")):
            return part
    return None


def _rich_text(item: dict[str, Any], single: str, plural: str) -> str:
    """HTML of a text field: 1.x `<single>_html` / `<single>_text`, or 2.x `<plural>`."""
    markup = _text(item.get(f"{single}_html")) or _text(item.get(f"{single}_xhtml"))
    plain = _text(item.get(f"{single}_text"))
    parts = _objects(item.get(plural))
    markup = markup or _text((_pick(parts, html_wanted=True) or {}).get("value"))
    plain = plain or _text((_pick(parts, html_wanted=False) or {}).get("value"))
    if markup:
        return markup
    # Plain ninjs text puts one paragraph on each line.
    return paragraphs_html(plain.splitlines())


def _headline(item: dict[str, Any]) -> str:
    if _text(item.get("headline")):
        return _text(item["headline"])
    parts = _objects(item.get("headlines"))
    chosen = _pick(parts, html_wanted=False) or _pick(parts, html_wanted=True)
    return _text((chosen or {}).get("value")) or _text(item.get("title"))


def _concepts(item: dict[str, Any], single: str, plural: str) -> list[tuple[str | None, str]]:
    pairs: list[tuple[str | None, str]] = []
    for concept in _objects(item.get(plural)) + _objects(item.get(single)):
        scheme, code = _text(concept.get("scheme")), _text(concept.get("code"))
        identifier = _text(concept.get("uri")) or _text(concept.get("literal"))
        if scheme and code:
            identifier = scheme.rstrip("/") + "/" + code if "://" in scheme else f"{scheme}:{code}"
        pairs.append((identifier or code or None, _text(concept.get("name"))))
    return pairs


def _agency(item: dict[str, Any]) -> str | None:
    for source in _objects(item.get("infosources")) + _objects(item.get("infosource")):
        if _text(source.get("name")):
            return _text(source["name"])
    return _text(item.get("copyrightholder")) or None


def _entries(item: dict[str, Any], *, feed_id: str, source_name: str | None) -> list[FeedEntry]:
    headline, body = _headline(item), _rich_text(item, "body", "bodies")
    if not headline and not body:
        # A composite with no text of its own is its associations; each that is text counts.
        entries: list[FeedEntry] = []
        for associated in _objects(item.get("associations")):
            if associated.get("uri") and associated.get("type", "text") == "text":
                entries.extend(_entries(associated, feed_id=feed_id, source_name=source_name))
        return entries
    uri = _text(item.get("uri")) or None
    agency = _agency(item)
    subjects, labels = subject_fields(_concepts(item, "subject", "subjects"))
    genres = _concepts(item, "genre", "genres")
    ednote = _text(item.get("ednote"))
    keywords = item.get("keywords")
    byline = _text(item.get("byline")) or _text(item.get("by"))
    authors = [
        _text(person.get("name"))
        for person in _objects(item.get("people")) + _objects(item.get("person"))
        if _text(person.get("name")) and "author" in _text(person.get("rel")).lower()
    ]
    return [
        FeedEntry(
            feed_id=feed_id,
            source=source_name or agency or feed_id,
            guid=uri,
            link=None,
            title=headline,
            summary_html=_rich_text(item, "description", "descriptions"),
            content_html=body,
            published=iso_utc(_text(item.get("firstcreated")))
            or iso_utc(_text(item.get("versioncreated"))),
            updated=iso_utc(_text(item.get("versioncreated"))),
            authors=tuple(authors),
            language_hint=_text(item.get("language")) or None,
            slugline=_text(item.get("slugline")) or None,
            byline=html.unescape(byline) or None,
            dateline=_text(item.get("located")) or None,
            urgency=urgency(item.get("urgency")),
            subjects=subjects,
            subject_labels=labels,
            keywords=tuple(_text(k) for k in keywords if _text(k))
            if isinstance(keywords, list)
            else (),
            genre=next((concept_name(code, label) for code, label in genres), None),
            agency=agency,
            agency_guid=uri,
            agency_version=positive_int(item.get("version")),
            pubstatus=pubstatus(_text(item.get("pubstatus"))),
            embargo_until=iso_utc(_text(item.get("embargoed"))),
            # ninjs has no correction flag; agencies say it in the editor's note.
            is_correction=mentions_correction(ednote),
        )
    ]
