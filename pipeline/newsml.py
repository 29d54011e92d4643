"""IPTC NewsML-G2 2.x: newsItem and newsMessage -> FeedEntry; packageItem -> its item links.

A knowledgeItem (or conceptItem, catalogItem) holds controlled-vocabulary concepts and a
planningItem holds coverage plans: neither is news, and this project keeps no concept store,
so they are refused with that reason rather than passed as empty successes. A file that lands
in the wrong feed or folder then shows up in its error record instead of vanishing.
"""

from __future__ import annotations

import html
from xml.etree.ElementTree import Element

from pipeline.agency import (
    attribute,
    blank_line_paragraphs,
    child,
    children,
    concept_name,
    descendants,
    inner_html,
    iso_utc,
    local_name,
    paragraphs_html,
    parse_xml,
    positive_int,
    pubstatus,
    subject_fields,
    text_of,
    urgency,
)
from pipeline.feeds import FeedParseError
from pipeline.models import FeedEntry, ParsedFeed
from pipeline.nitf import nitf_body_html

_NOT_NEWS = {
    "knowledgeItem": "holds controlled-vocabulary concepts, not news",
    "conceptItem": "holds a controlled-vocabulary concept, not news",
    "catalogItem": "holds a scheme catalog, not news",
    "planningItem": "holds coverage planning, not news",
}
_XHTML_TYPES = {"application/xhtml+xml", "text/html"}


def parse_newsml(
    content: bytes, *, feed_id: str, source_name: str | None, max_entries: int
) -> ParsedFeed:
    """Parse a NewsML-G2 document; news items become entries, a package lists its items."""
    root = parse_xml(content, "NewsML-G2")
    kind = local_name(root)
    if kind in _NOT_NEWS:
        raise FeedParseError(f"NewsML-G2 {kind} {_NOT_NEWS[kind]}: not ingested")
    if kind == "packageItem":
        # A package only points at its items; item_links() gives them to the fetcher.
        return ParsedFeed(
            title=_headline(root) or "",
            link=None,
            language=attribute(root, "lang"),
            entries=(),
            format="newsml-g2-package",
        )
    if kind == "newsItem":
        items = [root]
    elif kind == "newsMessage":
        items = _message_items(root)
        if not items:
            raise FeedParseError("NewsML-G2 newsMessage carries no newsItem")
    else:
        raise FeedParseError(f"not a NewsML-G2 item: root element <{kind}>")
    entries = tuple(
        _entry(item, feed_id=feed_id, source_name=source_name) for item in items[:max_entries]
    )
    return ParsedFeed(
        title=entries[0].title if len(entries) == 1 else "",
        link=None,
        language=entries[0].language_hint if entries else None,
        entries=entries,
        format="newsml-g2",
    )


def package_links(package: Element) -> list[str]:
    """The hrefs a packageItem's groups refer to, from the root group down, leads first."""
    groups = {attribute(group, "id"): group for group in descendants(package, "group")}
    root_id = attribute(child(package, "groupSet"), "root")
    start = groups.get(root_id) if root_id else next(iter(groups.values()), None)
    links: list[str] = []
    visited: set[str | None] = set()

    def leads(node: Element) -> bool:
        # A lead group ("group:lead", "grole:lead") is what a page shows first.
        target = groups.get(attribute(node, "idref")) if local_name(node) == "groupRef" else node
        return "lead" in (attribute(target, "role") or "")

    def walk(group: Element) -> None:
        visited.add(attribute(group, "id"))
        for node in sorted(group, key=lambda node: not leads(node)):
            name = local_name(node)
            if name == "itemRef" and attribute(node, "href"):
                links.append(str(attribute(node, "href")))
            elif name == "groupRef":
                target = groups.get(attribute(node, "idref"))
                if target is not None and attribute(target, "id") not in visited:
                    walk(target)

    if start is not None:
        walk(start)
    return links


def _message_items(message: Element) -> list[Element]:
    items = descendants(message, "newsItem")
    # A package in the same message says which item leads; the lead then comes first.
    lead_refs: list[str] = []
    for package in descendants(message, "packageItem"):
        for group in descendants(package, "group"):
            if "lead" in (attribute(group, "role") or ""):
                lead_refs += [attribute(r, "residref") or "" for r in children(group, "itemRef")]
    return sorted(items, key=lambda item: attribute(item, "guid") not in lead_refs)


def _headline(item: Element) -> str | None:
    content_meta = child(item, "contentMeta")
    headlines = children(content_meta, "headline")
    main = [h for h in headlines if (attribute(h, "role") or "main").endswith("main")]
    if not headlines:
        return text_of(child(item, "itemMeta", "title"))
    return text_of((main or headlines)[0])


def _name(concept: Element | None, language: str | None) -> str | None:
    names = children(concept, "name")
    if not names:
        return None
    preferred = [n for n in names if (attribute(n, "lang") or "").split("-")[0] == language]
    return text_of((preferred or names)[0]) or None


def _concept_id(concept: Element | None) -> str | None:
    return attribute(concept, "qcode") or attribute(concept, "uri") or attribute(concept, "literal")


def _provider(item_meta: Element | None) -> str | None:
    provider = child(item_meta, "provider")
    if provider is None:
        return None
    name = _name(provider, None) or attribute(provider, "literal")
    if name:
        return name
    code = attribute(provider, "qcode") or attribute(provider, "uri") or ""
    return code.rsplit(":", 1)[-1].rsplit("/", 1)[-1] or None


def _body_html(item: Element) -> str:
    content_set = child(item, "contentSet")
    for node in content_set if content_set is not None else ():
        content_type = (attribute(node, "contenttype") or "").split(";")[0].lower()
        name = local_name(node)
        if name == "inlineXML":
            nitf = child(node, "nitf")
            if nitf is not None:
                return nitf_body_html(nitf)
            if content_type in _XHTML_TYPES or child(node, "html") is not None:
                return inner_html(child(node, "html", "body") or node)
        elif name == "inlineData" and content_type in {"", "text/plain"}:
            return paragraphs_html(blank_line_paragraphs(node.text or ""))
    return ""


def _entry(item: Element, *, feed_id: str, source_name: str | None) -> FeedEntry:
    item_meta = child(item, "itemMeta")
    content_meta = child(item, "contentMeta")
    guid = attribute(item, "guid")
    if not guid:
        raise FeedParseError("NewsML-G2 newsItem has no guid")
    language = attribute(child(content_meta, "language"), "tag") or attribute(item, "lang")
    short_language = (language or "").split("-")[0] or None
    headline = _headline(item) or ""
    body = _body_html(item)
    if not headline and not body:
        raise FeedParseError(f"NewsML-G2 newsItem {guid} has neither headline nor text")
    signals = [_concept_id(s) or "" for s in children(item_meta, "signal")]
    subjects, labels = subject_fields(
        (_concept_id(subject), _name(subject, short_language))
        for subject in children(content_meta, "subject")
    )
    genre = child(content_meta, "genre")
    located = child(content_meta, "located")
    descriptions = children(content_meta, "description")
    summary = next(
        (d for d in descriptions if "summary" in (attribute(d, "role") or "summary")), None
    )
    agency = _provider(item_meta)
    created = iso_utc(text_of(child(item_meta, "firstCreated"))) or iso_utc(
        text_of(child(content_meta, "contentCreated"))
    )
    return FeedEntry(
        feed_id=feed_id,
        source=source_name or agency or feed_id,
        guid=guid,
        link=None,
        title=headline,
        summary_html=html.escape(text_of(summary), quote=False) if summary is not None else "",
        content_html=body,
        published=created or iso_utc(text_of(child(item_meta, "versionCreated"))),
        updated=iso_utc(text_of(child(item_meta, "versionCreated"))),
        authors=tuple(
            name
            for creator in children(content_meta, "creator")
            if (name := _name(creator, short_language) or attribute(creator, "literal"))
        ),
        language_hint=language,
        slugline=text_of(child(content_meta, "slugline")) or None,
        byline=text_of(child(content_meta, "by")) or None,
        dateline=text_of(child(content_meta, "dateline")) or _name(located, short_language),
        urgency=urgency(text_of(child(content_meta, "urgency"))),
        subjects=subjects,
        subject_labels=labels,
        keywords=tuple(
            text for keyword in children(content_meta, "keyword") if (text := text_of(keyword))
        ),
        genre=concept_name(_concept_id(genre), _name(genre, short_language)),
        agency=agency,
        agency_guid=guid,
        agency_version=positive_int(attribute(item, "version")),
        pubstatus=pubstatus(_concept_id(child(item_meta, "pubStatus"))),
        embargo_until=iso_utc(text_of(child(item_meta, "embargoed"))),
        is_correction=any(signal.rsplit(":", 1)[-1] == "correction" for signal in signals),
    )
