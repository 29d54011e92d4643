"""parse_newsml and package_links: NewsML-G2 items, messages, packages and refused kinds."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.feeds import FeedParseError
from pipeline.newsml import parse_newsml
from pipeline.normalise import normalise_entry

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "agency"


def _parse(content: bytes, max_entries: int = 500):
    return parse_newsml(content, feed_id="g2", source_name=None, max_entries=max_entries)


def _sample(name: str):
    return _parse((SAMPLES / name).read_bytes())


def test_news_item_maps_every_field():
    entry = _sample("calabria-v1.newsml.xml").entries[0]
    assert entry.guid == entry.agency_guid == "urn:newsml:ast.example:20251203:calabria-sisma"
    assert (entry.agency, entry.source, entry.agency_version) == ("AST", "AST", 1)
    assert entry.title == "Scossa di magnitudo 4.2 nel Cosentino, nessun danno"
    assert (entry.slugline, entry.byline, entry.dateline) == (
        "Calabria-sisma",
        "di Giulia Ferraro",
        "COSENZA, 3 dicembre",
    )
    assert (entry.urgency, entry.genre, entry.language_hint) == (3, "Current", "it")
    assert entry.subjects == ("medtop:20000151", "medtop:03000000", "subj:03015000")
    # The Italian name is chosen for an Italian item; a bare top-level code gets its topic name.
    assert entry.subject_labels == (
        "terremoto",
        "disaster, accident and emergency incident",
        "earthquake",
    )
    assert entry.keywords == ("terremoto", "Calabria")
    assert entry.authors == ("Giulia Ferraro",)
    assert (entry.published, entry.updated) == (
        "2025-12-03T05:42:00+00:00",
        "2025-12-03T05:42:00+00:00",
    )
    assert (entry.pubstatus, entry.embargo_until, entry.is_correction) == ("usable", None, False)
    assert entry.summary_html == "Una scossa di magnitudo 4.2 avvertita in provincia di Cosenza."
    assert entry.content_html.startswith("<p>COSENZA (AST) - Una scossa di terremoto")


def test_inline_nitf_body_becomes_plain_text_and_sanitised_html(fetched_at):
    article = normalise_entry(_sample("calabria-v1.newsml.xml").entries[0], fetched_at=fetched_at)
    assert article.body.split("\n\n")[1].startswith("La scossa è stata avvertita")
    assert article.body_html.count("<p>") == 3


def test_correction_is_a_flagged_higher_version():
    entry = _sample("calabria-v2-correction.newsml.xml").entries[0]
    assert (entry.agency_version, entry.is_correction, entry.pubstatus) == (2, True, "usable")
    assert "magnitudo 4.0" in entry.content_html


def test_kill_is_a_canceled_version_of_the_same_guid():
    entry = _sample("calabria-v3-kill.newsml.xml").entries[0]
    assert entry.agency_guid == "urn:newsml:ast.example:20251203:calabria-sisma"
    assert (entry.agency_version, entry.pubstatus, entry.urgency) == (3, "canceled", 1)


def test_embargo_and_xhtml_body(fetched_at):
    entry = _sample("qualite-air-embargo.newsml.xml").entries[0]
    assert entry.embargo_until == "2025-12-04T05:00:00+00:00"
    assert (entry.agency, entry.genre, entry.dateline) == ("APL", "Exclusive", "Paris")
    assert entry.subject_labels == ("environment", "pollution atmosphérique")
    article = normalise_entry(entry, fetched_at=fetched_at)
    assert "<script" not in article.body_html
    assert "track()" not in article.body
    assert article.body.startswith("PARIS (APL) - La concentration moyenne")
    assert article.language_hint == "fr"


def test_message_items_come_lead_first_with_plain_text_bodies():
    parsed = _sample("morning-report.newsmessage.xml")
    assert [e.agency_guid for e in parsed.entries] == [
        "urn:newsml:bws.example:20251203:port-lead",
        "urn:newsml:bws.example:20251203:port-side",
    ]
    side = parsed.entries[1]
    assert side.language_hint == "es"
    assert side.content_html.count("<p>") == 2


def test_message_without_news_items_is_refused():
    message = b'<newsMessage xmlns="http://iptc.org/std/nar/2006-10-01/"><itemSet/></newsMessage>'
    with pytest.raises(FeedParseError, match="carries no newsItem"):
        _parse(message)


@pytest.mark.parametrize(
    ("root", "reason"),
    [
        ("planningItem", "coverage planning"),
        ("conceptItem", "controlled-vocabulary concept"),
        ("catalogItem", "scheme catalog"),
    ],
)
def test_items_that_are_not_news_are_refused_with_why(root, reason):
    document = f'<{root} xmlns="http://iptc.org/std/nar/2006-10-01/" guid="x" version="1"/>'
    with pytest.raises(FeedParseError, match=reason):
        _parse(document.encode())


def test_news_item_without_guid_or_text_is_refused():
    ns = 'xmlns="http://iptc.org/std/nar/2006-10-01/"'
    with pytest.raises(FeedParseError, match="no guid"):
        _parse(
            f"<newsItem {ns}><contentMeta><headline>H</headline></contentMeta></newsItem>".encode()
        )
    with pytest.raises(FeedParseError, match="neither headline nor text"):
        _parse(f'<newsItem {ns} guid="urn:x:1" version="1"/>'.encode())


def test_unreadable_version_and_urgency_are_left_empty():
    document = b"""<newsItem xmlns="http://iptc.org/std/nar/2006-10-01/"
      guid="urn:x:2" version="two"><contentMeta><urgency>12</urgency><headline>H</headline>
      </contentMeta></newsItem>"""
    entry = _parse(document).entries[0]
    assert (entry.agency_version, entry.urgency, entry.agency) == (None, None, None)
    assert entry.source == "g2"


def test_provider_qcode_names_the_agency():
    document = b"""<newsItem xmlns="http://iptc.org/std/nar/2006-10-01/" guid="urn:x:3" version="1">
      <itemMeta><provider qcode="nprov:REUTERS"/></itemMeta>
      <contentMeta><headline>H</headline></contentMeta></newsItem>"""
    assert _parse(document).entries[0].agency == "REUTERS"
