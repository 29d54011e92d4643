"""Pipeline records survive the JSON round trip Celery puts them through."""

from __future__ import annotations

import json

from pipeline.models import Article, FeedEntry


def _json_round_trip(data: dict) -> dict:
    return json.loads(json.dumps(data))


def test_feed_entry_round_trips_through_json():
    entry = FeedEntry(
        feed_id="wire",
        source="Wire",
        guid="g-1",
        link="https://wire.example/1",
        title="Title",
        summary_html="<p>s</p>",
        content_html="",
        published="2025-03-12T08:00:00+00:00",
        updated=None,
        authors=("Ann", "Bob"),
        categories=("World",),
        language_hint="en",
    )
    data = _json_round_trip(entry.to_dict())
    assert data["authors"] == ["Ann", "Bob"]
    restored = FeedEntry.from_dict(data)
    assert restored == entry
    assert restored.authors == ("Ann", "Bob")


def test_article_round_trips_and_ignores_unknown_keys():
    article = Article(
        feed_id="wire",
        source="Wire",
        guid=None,
        url="https://wire.example/1",
        original_url="https://wire.example/1?utm_source=x",
        title="Title",
        summary="",
        body="Body",
        body_html="<p>Body</p>",
        published_at="2025-03-12T08:00:00+00:00",
        fetched_at="2025-03-13T12:00:00+00:00",
        categories=("World", "Europe"),
    )
    data = _json_round_trip(article.to_dict())
    data["added_by_a_newer_producer"] = [1, 2]
    restored = Article.from_dict(data)
    assert restored == article
    assert hash(restored) == hash(article)


def test_defaults_fill_keys_an_older_producer_did_not_send():
    data = {
        "feed_id": "wire",
        "source": "Wire",
        "guid": None,
        "link": None,
        "title": "t",
        "summary_html": "",
        "content_html": "",
        "published": None,
        "updated": None,
    }
    entry = FeedEntry.from_dict(data)
    assert (entry.authors, entry.categories, entry.language_hint) == ((), (), None)


def test_wire_metadata_round_trips_and_stays_keyword_only():
    entry = FeedEntry(
        "wire", "Wire", "g", None, "T", "", "", None, None,
        subjects=("medtop:20000151",), subject_labels=("earthquake",), urgency=2,
        pubstatus="canceled", agency_version=3, is_correction=True,
    )  # fmt: skip
    restored = FeedEntry.from_dict(_json_round_trip(entry.to_dict()))
    assert restored == entry
    assert restored.subjects == ("medtop:20000151",)
    assert (restored.pubstatus, restored.agency_version, restored.is_correction) == (
        "canceled",
        3,
        True,
    )
