"""parse_ninjs: ninjs 1.x and 2.x items, lists and composites."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.feeds import FeedParseError
from pipeline.ninjs import parse_ninjs
from pipeline.normalise import normalise_entry

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "agency"


def _parse(document: object):
    content = document if isinstance(document, bytes) else json.dumps(document).encode()
    return parse_ninjs(content, feed_id="ninjs", source_name=None, max_entries=500)


def _sample(name: str):
    return _parse((SAMPLES / name).read_bytes())


def test_ninjs_2_maps_every_field():
    parsed = _sample("baltic-storm.ninjs2.json")
    entry = parsed.entries[0]
    assert parsed.format == "ninjs2"
    assert entry.agency_guid == "urn:newsml:bws.example:20251203:BWS-20251203-0117-ninjs"
    assert (entry.agency, entry.agency_version, entry.urgency) == ("BWS", 1, 3)
    assert entry.title == "Storm closes Baltic ferry routes, strands 4,000 passengers"
    assert (entry.byline, entry.dateline, entry.slugline, entry.genre) == (
        "By Anna Kowalczyk, BWS correspondent",
        "Gdansk",
        "Baltic-Storm",
        "Current",
    )
    assert entry.subjects == ("medtop:17000000", "medtop:20000782")
    assert entry.subject_labels == ("weather", "sea transport")
    assert entry.authors == ("Anna Kowalczyk",)
    assert (
        entry.summary_html
        == "<p>Ferry crossings between Poland and Sweden are cancelled until Thursday.</p>"
    )
    assert entry.content_html.count("<p>") == 4


def test_ninjs_1_maps_every_field_and_the_ednote_flags_a_correction(fetched_at):
    parsed = _sample("novosibirsk-bridge.ninjs1.json")
    entry = parsed.entries[0]
    assert parsed.format == "ninjs1"
    assert (entry.agency, entry.agency_version, entry.urgency, entry.language_hint) == (
        "Восток-Пресс",
        2,
        4,
        "ru",
    )
    assert entry.is_correction
    assert entry.subjects == ("medtop:20000763", "geo:nsk")
    assert entry.keywords == ("мост", "Новосибирск", "транспорт")
    assert entry.published == "2025-12-02T21:10:00+00:00"
    article = normalise_entry(entry, fetched_at=fetched_at)
    assert article.body.count("\n\n") == 2  # one paragraph a line in body_text


def test_embargo_and_kill_status():
    entry = _parse(
        {
            "uri": "urn:x:1",
            "headline": "H",
            "body_text": "B",
            "pubstatus": "canceled",
            "embargoed": "2025-12-04T06:00:00+01:00",
        }
    ).entries[0]
    assert (entry.pubstatus, entry.embargo_until) == ("canceled", "2025-12-04T05:00:00+00:00")


def test_a_list_of_items_gives_an_entry_each():
    parsed = _parse([{"uri": "urn:x:1", "headline": "One"}, {"uri": "urn:x:2", "headline": "Two"}])
    assert [e.title for e in parsed.entries] == ["One", "Two"]


def test_a_composite_without_text_is_its_text_associations():
    composite = {
        "uri": "urn:x:pkg",
        "type": "composite",
        "associations": {
            "main": {
                "uri": "urn:x:story",
                "type": "text",
                "headline": "Story",
                "body_html": "<p>B</p>",
            },
            "photo": {"uri": "urn:x:photo", "type": "picture", "headline": "Photo"},
        },
    }
    assert [e.agency_guid for e in _parse(composite).entries] == ["urn:x:story"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"uri": "urn:x:1", "headline": ', "invalid ninjs JSON"),
        ({"headline": "no uri"}, "not a ninjs item"),
        ({"uri": "urn:x:1", "type": "text", "urgency": 2}, "neither headline nor body"),
    ],
)
def test_bad_ninjs_is_refused_with_why(content, reason):
    with pytest.raises(FeedParseError, match=reason):
        _parse(content)


def test_wrongly_typed_fields_are_ignored():
    entry = _parse(
        {
            "uri": "urn:x:1",
            "headline": "H",
            "version": 3.5,
            "urgency": "soon",
            "keywords": "not a list",
            "subjects": "nope",
            "bodies": [{"value": 7}, "x"],
        }
    ).entries[0]
    assert (entry.agency_version, entry.urgency, entry.keywords, entry.subjects) == (
        None,
        None,
        (),
        (),
    )
