"""Lifecycle of agency items: visibility, versions, corrections, kills and embargo release."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.dedup import dedup_keys
from pipeline.document import build_document
from pipeline.lifecycle import (
    EMBARGOED,
    IGNORE,
    PUBLIC,
    UPDATE,
    WITHDRAW,
    WITHDRAWN,
    embargo_pending,
    is_hidden,
    lifecycle_action,
    release_embargo,
    revise,
    visibility,
    withdraw,
)
from pipeline.models import Entities, LanguageGuess
from pipeline.normalise import normalise_entry
from pipeline.wire_formats import parse_document

AGENCY = Path(__file__).resolve().parents[2] / "data" / "agency"
NOW = datetime(2025, 12, 3, 12, 0, tzinfo=UTC)


def _document(name: str, at: datetime = NOW) -> dict:
    parsed = parse_document((AGENCY / name).read_bytes(), feed_id="drop")
    article = normalise_entry(parsed.entries[0], fetched_at=at)
    return build_document(
        article,
        keys=dedup_keys(article),
        language=LanguageGuess("it", 0.99),
        entities=Entities(),
        working_languages=frozenset({"en"}),
        indexed_at=at,
    )


@pytest.fixture
def v1() -> dict:
    return _document("calabria-v1.newsml.xml")


@pytest.mark.parametrize(
    ("pubstatus", "embargo", "expected"),
    [
        ("usable", None, PUBLIC),
        ("usable", "2025-12-03T12:00:01+00:00", EMBARGOED),
        ("usable", "2025-12-03T12:00:00+00:00", PUBLIC),
        ("usable", "2025-12-03T11:59:59Z", PUBLIC),
        ("usable", "not a time", PUBLIC),
        ("canceled", None, WITHDRAWN),
        ("withheld", "2030-01-01T00:00:00+00:00", WITHDRAWN),
    ],
)
def test_visibility(pubstatus, embargo, expected):
    assert visibility(pubstatus, embargo, NOW) == expected


def test_embargo_pending_needs_a_time():
    assert not embargo_pending(None, NOW)
    assert not embargo_pending("", NOW)
    assert embargo_pending((NOW + timedelta(seconds=1)).isoformat(), NOW)


def test_documents_before_visibility_count_as_public():
    assert not is_hidden({"doc_id": "old"})
    assert not is_hidden({"visibility": PUBLIC})
    assert is_hidden({"visibility": EMBARGOED})
    assert is_hidden({"visibility": WITHDRAWN})


@pytest.mark.parametrize(
    ("current", "version", "pubstatus", "expected"),
    [
        ({"agency_version": 1}, 2, "usable", UPDATE),
        ({"agency_version": 2}, 2, "usable", IGNORE),
        ({"agency_version": 3}, 2, "usable", IGNORE),
        ({}, None, "usable", UPDATE),  # feeds: every new text is a version
        ({"agency_version": 2}, None, "canceled", WITHDRAW),  # kills carry no version
        ({"agency_version": 5}, 1, "canceled", WITHDRAW),
        ({"agency_version": 1}, 2, "withheld", WITHDRAW),
        ({"pubstatus": "canceled", "visibility": WITHDRAWN}, 9, "usable", IGNORE),
        ({"pubstatus": "canceled", "visibility": WITHDRAWN}, None, "canceled", IGNORE),
        (
            {"pubstatus": "withheld", "visibility": WITHDRAWN, "agency_version": 2},
            3,
            "usable",
            UPDATE,
        ),
        ({"pubstatus": "withheld", "visibility": WITHDRAWN}, None, "withheld", IGNORE),
        ({"pubstatus": "withheld", "visibility": WITHDRAWN}, None, "canceled", WITHDRAW),
    ],
)
def test_lifecycle_action(current, version, pubstatus, expected):
    assert lifecycle_action(current, agency_version=version, pubstatus=pubstatus) == expected


def test_a_correction_updates_in_place_and_keeps_the_first_text(v1):
    later = NOW + timedelta(hours=1)
    v2 = _document("calabria-v2-correction.newsml.xml", later)
    assert v2["doc_id"] == v1["doc_id"]
    revised = revise({**v1, "story_id": "story-1"}, v2, later)
    assert revised is not None
    assert revised["title"].startswith("Scossa di magnitudo 4.0")
    assert (revised["version"], revised["agency_version"]) == (2, 2)
    assert revised["is_correction"] is True
    assert revised["corrected"] is True
    assert revised["story_id"] == "story-1"
    assert revised["indexed_at"] == v1["indexed_at"]
    [first] = revised["previous_versions"]
    assert first["title"].startswith("Scossa di magnitudo 4.2")
    assert (first["version"], first["agency_version"], first["is_correction"]) == (1, 1, False)
    assert revised["visibility"] == PUBLIC


def test_the_agency_number_orders_versions_not_the_fetch_time(v1):
    # The correction was fetched before the first version (another source), yet it wins.
    earlier = NOW - timedelta(hours=1)
    v2 = _document("calabria-v2-correction.newsml.xml", earlier)
    revised = revise(v1, v2, NOW)
    assert revised is not None
    assert revised["agency_version"] == 2


def test_an_older_or_equal_version_changes_nothing(v1):
    v2 = _document("calabria-v2-correction.newsml.xml")
    current = revise(v1, v2, NOW)
    assert current is not None
    assert revise(current, v1, NOW) is None
    assert revise(current, {**v1, "agency_version": 2}, NOW) is None


def test_a_later_version_keeps_the_correction_in_the_history(v1):
    v2 = _document("calabria-v2-correction.newsml.xml")
    current = revise(v1, v2, NOW)
    assert current is not None
    v3 = {**v2, "agency_version": 3, "content_hash": "other", "is_correction": False}
    latest = revise(current, v3, NOW)
    assert latest is not None
    assert latest["is_correction"] is False
    assert latest["corrected"] is True
    assert [v["is_correction"] for v in latest["previous_versions"]] == [False, True]
    assert [v["version"] for v in latest["previous_versions"]] == [1, 2]


def test_a_kill_withdraws_and_keeps_the_withdrawn_text(v1):
    kill = _document("calabria-v3-kill.newsml.xml")
    assert kill["visibility"] == WITHDRAWN
    withdrawn = revise(v1, kill, NOW)
    assert withdrawn is not None
    assert (withdrawn["visibility"], withdrawn["pubstatus"]) == (WITHDRAWN, "canceled")
    assert withdrawn["title"] == v1["title"]
    assert withdrawn["withdrawal"]["title"] == "ANNULLATA: Scossa nel Cosentino"
    assert withdrawn["withdrawal"]["agency_version"] == 3
    # Idempotent, and final: a second kill or a later version change nothing.
    assert revise(withdrawn, kill, NOW) is None
    assert revise(withdrawn, {**v1, "agency_version": 9, "content_hash": "x"}, NOW) is None


def test_a_withheld_item_comes_back_with_a_later_usable_version(v1):
    withheld = withdraw(v1, {"pubstatus": "withheld", "title": "Withheld"}, NOW)
    assert withheld is not None
    assert withheld["visibility"] == WITHDRAWN
    assert withdraw(withheld, {"pubstatus": "withheld"}, NOW) is None
    v2 = _document("calabria-v2-correction.newsml.xml")
    back = revise(withheld, v2, NOW)
    assert back is not None
    assert (back["visibility"], back["pubstatus"]) == (PUBLIC, "usable")


def test_feed_versions_still_follow_the_fetch_time():
    current = {
        "doc_id": "d",
        "content_hash": "a",
        "title": "Old",
        "fetched_at": "2025-12-03T10:00:00+00:00",
        "version": 1,
    }
    incoming = {
        **current,
        "content_hash": "b",
        "title": "New",
        "fetched_at": "2025-12-03T11:00:00+00:00",
    }
    revised = revise(current, incoming, NOW)
    assert revised is not None
    assert (revised["title"], revised["version"], revised["corrected"]) == ("New", 2, False)
    assert revise(revised, incoming, NOW) is None  # the same text again only merges sources


def test_release_embargo_once_due():
    embargoed = {"doc_id": "d", "visibility": EMBARGOED, "embargo_until": "2025-12-03T12:00:00Z"}
    assert release_embargo(embargoed, NOW - timedelta(seconds=1)) is None
    released = release_embargo(embargoed, NOW)
    assert released is not None
    assert released["visibility"] == PUBLIC
    assert released["released_at"] == NOW.isoformat()
    assert release_embargo(released, NOW) is None
    assert release_embargo({"visibility": WITHDRAWN, "embargo_until": None}, NOW) is None


def test_an_embargoed_item_is_indexed_embargoed():
    before = datetime(2025, 12, 4, 4, 59, tzinfo=UTC)
    document = _document("qualite-air-embargo.newsml.xml", before)
    assert document["visibility"] == EMBARGOED
    assert release_embargo(document, before) is None
    assert release_embargo(document, before + timedelta(minutes=1)) is not None
