"""IPTC NITF 3.x (News Industry Text Format) -> FeedEntry; also NITF bodies inside NewsML-G2."""

from __future__ import annotations

from xml.etree.ElementTree import Element

from pipeline.agency import (
    attribute,
    child,
    children,
    descendants,
    inner_html,
    iso_utc,
    local_name,
    parse_xml,
    positive_int,
    pubstatus,
    subject_fields,
    text_of,
    urgency,
)
from pipeline.feeds import FeedParseError
from pipeline.models import FeedEntry, ParsedFeed

# NITF's own block elements that have an HTML counterpart the sanitiser keeps. Media go: the
# page shows no images, and a caption without its picture would read as part of the story.
_HTML_NAMES = {"hl2": "h3", "block": "div", "bq": "blockquote", "credit": "cite", "media": ""}


def parse_nitf(
    content: bytes, *, feed_id: str, source_name: str | None, max_entries: int
) -> ParsedFeed:
    """Parse one NITF document into a single entry."""
    root = parse_xml(content, "NITF")
    if local_name(root) != "nitf":
        raise FeedParseError(f"not a NITF document: root element <{local_name(root)}>")
    entries = (_entry(root, feed_id=feed_id, source_name=source_name),)[:max_entries]
    return ParsedFeed(
        title=entries[0].title if entries else "",
        link=None,
        language=attribute(root, "baselang"),
        entries=entries,
        format="nitf",
    )


def nitf_body_html(nitf: Element) -> str:
    """The story text of a NITF document as HTML (before sanitising)."""
    return inner_html(child(nitf, "body", "body.content"), _HTML_NAMES)


def _release_embargo(docdata: Element | None) -> str | None:
    released = iso_utc(attribute(child(docdata, "date.release"), "norm"))
    issued = iso_utc(attribute(child(docdata, "date.issue"), "norm"))
    status = (attribute(docdata, "management-status") or "").lower()
    # Most agencies set date.release on every item; it is an embargo only when the item says so
    # or when release comes after issue.
    if released and (status == "embargoed" or (issued is not None and released > issued)):
        return released
    return None


def _entry(root: Element, *, feed_id: str, source_name: str | None) -> FeedEntry:
    head = child(root, "head")
    docdata = child(head, "docdata")
    body_head = child(root, "body", "body.head")
    doc_id = child(docdata, "doc-id")
    guid = attribute(doc_id, "id-string")
    title = text_of(child(body_head, "hedline", "hl1")) or text_of(child(head, "title"))
    body = nitf_body_html(root)
    if not title and not body:
        raise FeedParseError("NITF document has neither headline nor body text")
    agency = (
        attribute(doc_id, "regsrc")
        or text_of(child(body_head, "distributor"))
        or attribute(child(docdata, "doc.copyright"), "holder")
    )
    du_key = child(docdata, "du-key")
    tobject = child(head, "tobject")
    subjects, labels = subject_fields(
        (
            f"subj:{refnum}" if (refnum := attribute(subject, "tobject.subject.refnum")) else None,
            attribute(subject, "tobject.subject.detail")
            or attribute(subject, "tobject.subject.matter")
            or attribute(subject, "tobject.subject.type"),
        )
        for subject in children(tobject, "tobject.subject")
    )
    byline = child(body_head, "byline")
    abstract = child(body_head, "abstract")
    evloc = child(docdata, "evloc")
    status = attribute(docdata, "management-status")
    language = attribute(root, "baselang") or attribute(head, "lang") or attribute(root, "lang")
    return FeedEntry(
        feed_id=feed_id,
        source=source_name or agency or feed_id,
        guid=guid,
        link=None,
        title=title,
        summary_html=inner_html(abstract) if abstract is not None else "",
        content_html=body,
        published=iso_utc(attribute(child(docdata, "date.issue"), "norm")),
        updated=None,
        authors=tuple(name for node in descendants(byline, "person") if (name := text_of(node))),
        language_hint=language,
        slugline=attribute(du_key, "key"),
        byline=text_of(byline) or None,
        dateline=text_of(child(body_head, "dateline")) or attribute(evloc, "city"),
        urgency=urgency(attribute(child(docdata, "urgency"), "ed-urg")),
        subjects=subjects,
        subject_labels=labels,
        keywords=tuple(
            key
            for keyword in descendants(child(docdata, "key-list"), "keyword")
            if (key := attribute(keyword, "key"))
        ),
        genre=attribute(child(tobject, "tobject.property"), "tobject.property.type")
        or attribute(tobject, "tobject.type"),
        agency=agency,
        agency_guid=guid,
        agency_version=positive_int(attribute(du_key, "version")),
        pubstatus=pubstatus(status),
        embargo_until=_release_embargo(docdata),
        is_correction=child(docdata, "correction") is not None,
    )
