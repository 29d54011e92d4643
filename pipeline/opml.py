"""OPML 1.0/2.0 import and export of the feed list (the format every feed reader speaks)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from xml.etree.ElementTree import Element, ParseError, SubElement, tostring

import defusedxml
import defusedxml.ElementTree

from pipeline.feedlist import FeedConfig, FeedListError, validate_feed

_SLUG = re.compile(r"[^a-z0-9_.-]+")


class OpmlError(ValueError):
    """The document is not usable OPML; the message says why."""


def slug(text: str, taken: set[str]) -> str:
    """A feed id made from a title or URL, unique among `taken` (which it is added to)."""
    base = _SLUG.sub("-", text.lower()).strip("-.")[:56] or "feed"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    taken.add(candidate)
    return candidate


def parse_opml(
    content: bytes,
    *,
    existing_ids: set[str] | None = None,
    known_urls: Mapping[str, str] | None = None,
) -> list[FeedConfig]:
    """Every outline with an xmlUrl, at any depth; enclosing outlines' titles become tags.

    An outline whose URL is already managed (`known_urls`: URL -> id) keeps that feed's id, so
    importing the same file twice updates the feeds instead of adding copies.
    """
    known = dict(known_urls or {})
    try:
        root = defusedxml.ElementTree.fromstring(content, forbid_dtd=True)
    except (defusedxml.DTDForbidden, defusedxml.EntitiesForbidden) as exc:
        raise OpmlError(f"DTDs and entity declarations are refused: {exc}") from exc
    except ParseError as exc:
        raise OpmlError(f"not well-formed XML: {exc}") from exc
    if root.tag != "opml" or root.find("body") is None:
        raise OpmlError("not an OPML document (no <opml><body>)")
    taken = set(existing_ids or ())
    feeds: list[FeedConfig] = []
    seen_urls: set[str] = set()

    def walk(element: Element, tags: tuple[str, ...]) -> None:
        for outline in element.findall("outline"):
            url = outline.get("xmlUrl") or outline.get("xmlurl")
            title = outline.get("title") or outline.get("text") or ""
            if not url:
                walk(outline, (*tags, title) if title else tags)
                continue
            if url in seen_urls:
                continue
            seen_urls.add(url)
            own = tuple(c.strip() for c in (outline.get("category") or "").split(",") if c.strip())
            feed_id = (
                outline.get("newswireId")
                or known.get(url)
                or slug(title or url.split("//", 1)[-1], taken)
            )
            taken.add(feed_id)
            try:
                feeds.append(
                    validate_feed(
                        {
                            "id": feed_id,
                            "url": url,
                            "source": title or None,
                            "language": outline.get("language") or None,
                            "tags": sorted({*(t.lower() for t in tags), *own}),
                        },
                        where=f"outline {title or url!r}",
                    )
                )
            except FeedListError as exc:
                raise OpmlError(str(exc)) from exc

    walk(root.find("body"), ())
    return feeds


def export_opml(feeds: list[FeedConfig], *, title: str = "newswire feeds") -> bytes:
    """OPML 2.0 with one outline per feed; tags go to `category`, the id to `newswireId`."""
    root = Element("opml", version="2.0")
    head = SubElement(root, "head")
    SubElement(head, "title").text = title
    body = SubElement(root, "body")
    for feed in feeds:
        attributes = {
            "type": "rss",
            "text": feed.source or feed.id,
            "title": feed.source or feed.id,
            "xmlUrl": feed.url,
            "newswireId": feed.id,
        }
        if feed.tags:
            attributes["category"] = ",".join(feed.tags)
        if feed.language:
            attributes["language"] = feed.language
        SubElement(body, "outline", attributes)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + tostring(root, encoding="unicode").encode()
