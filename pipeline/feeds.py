"""Parse stage: feed bytes (RSS 0.9x/1.0/2.0, Atom, JSON Feed 1.x) -> FeedEntry records."""

from __future__ import annotations

import calendar
import json
import re
import time
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import ParseError

import defusedxml
import defusedxml.ElementTree
import feedparser

from pipeline.charset import to_utf8
from pipeline.models import FeedEntry, ParsedFeed


class FeedParseError(ValueError):
    """The document is not a usable feed; the message says why, for the feed's error record."""


def parse_feed(
    content: bytes,
    *,
    feed_id: str,
    source_name: str | None = None,
    max_entries: int = 500,
) -> ParsedFeed:
    """Parse one feed document; raise FeedParseError when it is unsafe or not a feed."""
    if not content.strip():
        raise FeedParseError("empty document")
    # Every parser below trusts the document's declared encoding and fails on a wrong or unknown
    # one (LookupError from encoding="bogus"); decoded by pipeline/charset.py's rules instead,
    # each gets UTF-8 that says so. Whitespace before <?xml hides the prolog from strict parsers.
    content = to_utf8(content).lstrip()
    if content[:1] == b"{":
        return _parse_json_feed(
            content, feed_id=feed_id, source_name=source_name, limit=max_entries
        )
    _refuse_xml_entities(content)
    content = _NUMERIC_REFERENCE.sub(_valid_reference, content)
    try:
        parsed = feedparser.parse(content, sanitize_html=False, resolve_relative_uris=True)
    except (ValueError, TypeError, RecursionError) as exc:  # a parser bug must not crash a batch
        raise FeedParseError(
            f"not a feed: the parser failed ({type(exc).__name__}: {exc})"
        ) from exc
    version = parsed.get("version") or ""
    if not version:
        reason = parsed.get("bozo_exception") or "no RSS, Atom or RDF root element"
        raise FeedParseError(f"not a feed: {reason}")
    meta = parsed.get("feed", {})
    title = _text(meta.get("title"))
    language = _text(meta.get("language")) or None
    source = source_name or title or feed_id
    entries = tuple(
        _entry_from_feedparser(raw, feed_id=feed_id, source=source, language=language)
        for raw in parsed.entries[:max_entries]
    )
    return ParsedFeed(
        title=title,
        link=_text(meta.get("link")) or None,
        language=language,
        entries=entries,
        format=version,
    )


# A character reference beyond Unicode (&#x110000;) or to a surrogate makes feedparser's lenient
# parser call chr() on it and raise; it becomes U+FFFD, as an HTML5 parser reads it.
_NUMERIC_REFERENCE = re.compile(rb"&#(?:[xX]([0-9A-Fa-f]{1,16})|([0-9]{1,20}));")


def _valid_reference(match: re.Match[bytes]) -> bytes:
    hex_digits, decimal = match.groups()
    code = int(hex_digits, 16) if hex_digits else int(decimal)
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF or code == 0:
        return b"&#xFFFD;"
    return match.group(0)


def _refuse_xml_entities(content: bytes) -> None:
    # feedparser hands the document to expat, which expands internal entities; a few kilobytes
    # of nested <!ENTITY> declarations can expand to gigabytes, so any declaration is refused.
    try:
        defusedxml.ElementTree.fromstring(content, forbid_dtd=False, forbid_entities=True)
    except (defusedxml.EntitiesForbidden, defusedxml.ExternalReferenceForbidden) as exc:
        raise FeedParseError(f"XML entity declarations are refused: {exc}") from exc
    except (ParseError, ValueError, LookupError):
        # Malformed XML, or an encoding expat does not know: feedparser's lenient parser, which
        # gets the document as UTF-8, decides what is recoverable.
        pass


def _iso(struct: time.struct_time | None) -> str | None:
    if struct is None:
        return None
    return datetime.fromtimestamp(calendar.timegm(struct), tz=UTC).isoformat()


def _text(value: Any) -> str:
    # feedparser's lenient parser can leave None (or a nested dict) where a broken document
    # lost an element's text; every field of an entry is a string, empty when absent.
    return value if isinstance(value, str) else ""


def _entry_from_feedparser(
    raw: Any, *, feed_id: str, source: str, language: str | None
) -> FeedEntry:
    content_html = ""
    if raw.get("content"):
        content_html = "\n".join(_text(part.get("value")) for part in raw["content"])
    authors = tuple(
        name
        for a in raw.get("authors", [])
        if isinstance(a, dict) and (name := _text(a.get("name")))
    )
    if not authors and _text(raw.get("author")):
        authors = (raw["author"],)
    categories = tuple(
        term for t in raw.get("tags", []) if isinstance(t, dict) and (term := _text(t.get("term")))
    )
    return FeedEntry(
        feed_id=feed_id,
        source=source,
        guid=_text(raw.get("id")) or None,
        link=_text(raw.get("link")) or None,
        title=_text(raw.get("title")),
        summary_html=_text(raw.get("summary")),
        content_html=content_html,
        # Plain dict lookups: feedparser's own get() silently substitutes updated for published.
        published=_iso(dict.get(raw, "published_parsed")),
        updated=_iso(dict.get(raw, "updated_parsed")),
        authors=authors,
        categories=categories,
        language_hint=language,
    )


def _json_text(value: Any) -> str | None:
    # JSON Feed fields are strings by the spec; a number is taken as written, anything else
    # (an object, a list, true) is treated as absent rather than turned into its repr.
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _json_date(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _parse_json_feed(
    content: bytes, *, feed_id: str, source_name: str | None, limit: int
) -> ParsedFeed:
    try:
        document = json.loads(content)
    # ValueError covers bad syntax, bad UTF-8 and a number beyond Python's digit limit.
    except ValueError as exc:
        raise FeedParseError(f"invalid JSON Feed: {exc}") from exc
    except RecursionError as exc:
        raise FeedParseError("invalid JSON Feed: nested too deeply") from exc
    if not isinstance(document, dict) or not str(document.get("version", "")).startswith(
        "https://jsonfeed.org/version/"
    ):
        raise FeedParseError("JSON document is not a JSON Feed (no jsonfeed.org version)")
    items = document.get("items")
    if not isinstance(items, list):
        raise FeedParseError("JSON Feed has no items list")
    title = _json_text(document.get("title")) or ""
    source = source_name or title or feed_id
    feed_language = _json_text(document.get("language"))
    entries = []
    for item in items[:limit]:
        if not isinstance(item, dict):
            continue
        # JSON Feed 1.1 has an `authors` list; 1.0 had a single `author` object.
        people = item.get("authors") or ([item["author"]] if item.get("author") else [])
        authors = tuple(
            name
            for a in _as_list(people)
            if isinstance(a, dict) and (name := _json_text(a.get("name")))
        )
        entries.append(
            FeedEntry(
                feed_id=feed_id,
                source=source,
                guid=_json_text(item.get("id")),
                link=_json_text(item.get("url")) or _json_text(item.get("external_url")),
                title=_json_text(item.get("title")) or "",
                summary_html=_json_text(item.get("summary")) or "",
                content_html=_json_text(item.get("content_html"))
                or _json_text(item.get("content_text"))
                or "",
                published=_json_date(item.get("date_published")),
                updated=_json_date(item.get("date_modified")),
                authors=authors,
                categories=tuple(tag for t in _as_list(item.get("tags")) if (tag := _json_text(t))),
                language_hint=_json_text(item.get("language")) or feed_language,
            )
        )
    return ParsedFeed(
        title=title,
        link=_json_text(document.get("home_page_url")),
        language=feed_language,
        entries=tuple(entries),
        format="json" + str(document["version"]).rsplit("/", 1)[-1],
    )
