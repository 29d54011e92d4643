"""Agency wire documents: the format detected from content, and dispatch to its parser.

Formats: IPTC NewsML-G2 2.x (pipeline/newsml.py), NITF 3.x (pipeline/nitf.py), ninjs 1.x/2.x
(pipeline/ninjs.py), IPTC 7901 and ANPA 1312 (pipeline/iptc7901.py). Anything else goes to the
feed parser (pipeline/feeds.py). Every failure is a FeedParseError with the reason, so one bad
file never stops a batch. The parsers share the helpers of pipeline/agency.py; this module sits
above them, so nothing imports in a circle.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

import feedparser

from pipeline.agency import is_ninjs, parse_xml, xml_root_name
from pipeline.feeds import FeedParseError, parse_feed
from pipeline.feeds import _refuse_xml_entities as refuse_xml_entities
from pipeline.iptc7901 import parse_anpa1312, parse_iptc7901
from pipeline.models import ParsedFeed
from pipeline.newsml import parse_newsml
from pipeline.ninjs import parse_ninjs
from pipeline.nitf import parse_nitf

NEWSML = "newsml-g2"
NITF = "nitf"
NINJS = "ninjs"
IPTC7901 = "iptc7901"
ANPA1312 = "anpa1312"

# NewsML-G2 root elements; only news items become articles (see pipeline/newsml.py).
NEWSML_ROOTS = frozenset(
    {
        "newsItem",
        "packageItem",
        "newsMessage",
        "knowledgeItem",
        "conceptItem",
        "catalogItem",
        "planningItem",
    }
)
# ANPA 1312 opens with SYN SYN SOH, a service letter, a four-digit sequence and US (0x1f).
_ANPA_START = re.compile(rb"^\x16*\x01[A-Za-z]\d{4}\x1f")
# Media types under which agencies list their items in an Atom/RSS index.
AGENCY_MEDIA_TYPES = frozenset(
    {
        "application/vnd.iptc.g2.newsitem+xml",
        "application/vnd.iptc.g2.packageitem+xml",
        "application/vnd.iptc.g2.newsmessage+xml",
        "application/nitf+xml",
        "application/ninjs+json",
    }
)


def detect_format(content: bytes) -> str | None:
    """The agency format of a document, from its bytes alone; None means a feed or unknown."""
    head = _without_bom(content).lstrip(b" \t\r\n")[:4096]
    if _ANPA_START.match(head):
        return ANPA1312
    if head[:1] in {b"\x01", b"\x16"}:
        return IPTC7901
    if head[:1] in {b"{", b"["}:
        try:
            document = json.loads(_without_bom(content))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
        return NINJS if is_ninjs(document) else None
    root = xml_root_name(head)
    if root in NEWSML_ROOTS:
        return NEWSML
    return NITF if root == "nitf" else None


def parse_document(
    content: bytes,
    *,
    feed_id: str,
    source_name: str | None = None,
    max_entries: int = 500,
) -> ParsedFeed:
    """Parse an agency document, or a feed when it is none; raise FeedParseError with the reason."""
    if not content.strip():
        raise FeedParseError("empty document")
    document_format = detect_format(content)
    if document_format is None:
        return parse_feed(
            content, feed_id=feed_id, source_name=source_name, max_entries=max_entries
        )
    parser = _parsers()[document_format]
    try:
        return parser(
            _without_bom(content), feed_id=feed_id, source_name=source_name, max_entries=max_entries
        )
    except FeedParseError:
        raise
    except (ValueError, TypeError, LookupError, AttributeError, RecursionError) as exc:
        # A document no parser rule foresaw fails alone, with its reason, instead of the batch.
        raise FeedParseError(f"unreadable {document_format} document: {exc!r}") from exc


def item_links(content: bytes, *, base_url: str | None = None) -> list[str]:
    """Addresses of the items an index document lists (NewsML-G2 package, Atom/RSS, URI list)."""
    head = _without_bom(content).lstrip()
    try:
        if xml_root_name(head[:4096]) == "packageItem":
            from pipeline.newsml import package_links

            links = package_links(parse_xml(head, "NewsML-G2"))
        elif head[:1] == b"<":
            links = _feed_links(head)
        else:
            links = _uri_list(head)
    except (FeedParseError, UnicodeDecodeError):
        return []
    resolved = [urljoin(base_url, link) if base_url else link for link in links]
    return list(dict.fromkeys(resolved))


def _parsers() -> dict[str, Callable[..., ParsedFeed]]:
    return {
        NEWSML: parse_newsml,
        NITF: parse_nitf,
        NINJS: parse_ninjs,
        IPTC7901: parse_iptc7901,
        ANPA1312: parse_anpa1312,
    }


def _without_bom(content: bytes) -> bytes:
    return content[len(codecs.BOM_UTF8) :] if content.startswith(codecs.BOM_UTF8) else content


def _feed_links(content: bytes) -> list[str]:
    refuse_xml_entities(content)
    parsed = feedparser.parse(content, sanitize_html=False, resolve_relative_uris=False)
    links: list[str] = []
    for entry in parsed.entries:
        for link in entry.get("links", []):
            media_type = str(link.get("type", "")).split(";")[0].strip().lower()
            if link.get("href") and media_type in AGENCY_MEDIA_TYPES:
                links.append(str(link["href"]))
    return links


def _uri_list(content: bytes) -> list[str]:
    # text/uri-list (RFC 2483): one URI a line, "#" lines are comments; anything else is no list.
    lines = [line.strip() for line in content.decode("utf-8").splitlines()]
    uris = [line for line in lines if line and not line.startswith("#")]
    if not uris or any(urlsplit(uri).scheme not in {"http", "https"} for uri in uris):
        return []
    return uris


# -- XML --------------------------------------------------------------------------------------
