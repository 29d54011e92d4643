"""Story documents: sources of exact copies, versions of an article, a story's members."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.models import Article
from pipeline.stories import (
    MAX_PREVIOUS_VERSIONS,
    apply_version,
    known_texts,
    merge_sources,
    representative,
    source_key,
    source_record,
    story_view,
)

NOW = datetime(2025, 3, 13, 12, 0, tzinfo=UTC)


def _article(**changes) -> Article:
    values = {
        "feed_id": "reuters",
        "source": "Reuters",
        "guid": "g1",
        "url": "https://example.com/a",
        "original_url": "https://example.com/a?utm_source=x",
        "title": "Title",
        "summary": "",
        "body": "Body.",
        "body_html": "<p>Body.</p>",
        "published_at": "2025-03-12T10:00:00+00:00",
        "fetched_at": "2025-03-12T10:05:00+00:00",
    }
    return Article(**{**values, **changes})


def _doc(content_hash: str, body: str, fetched_at: str, **extra) -> dict:
    return {
        "doc_id": "d1",
        "story_id": "s1",
        "story_join": {"method": "new"},
        "content_hash": content_hash,
        "title": f"Title {content_hash}",
        "summary": "",
        "body": body,
        "url": "https://example.com/a",
        "published_at": "2025-03-12T10:00:00+00:00",
        "fetched_at": fetched_at,
        "indexed_at": "2025-03-12T10:06:00+00:00",
        "dedup_keys": [f"text:{content_hash}"],
        "sources": [{"source": "Reuters", "feed_id": "reuters", "url": "u1"}],
        "version": 1,
        **extra,
    }


def test_source_record_keeps_the_link_as_published():
    record = source_record(_article(), NOW)
    assert record == {
        "source": "Reuters",
        "feed_id": "reuters",
        "url": "https://example.com/a?utm_source=x",
        "published_at": "2025-03-12T10:00:00+00:00",
        "seen_at": NOW.isoformat(),
    }
    assert source_key(record) == "reuters|https://example.com/a?utm_source=x"


def test_merge_sources_adds_new_feeds_once():
    document = _doc("h1", "Body.", "2025-03-12T10:05:00+00:00")
    other = {"source": "Aggregator", "feed_id": "agg", "url": "u2", "published_at": "2025-03-12"}
    merged = merge_sources(document, [other, dict(other)])
    assert merged is not None
    assert [s["source"] for s in merged["sources"]] == ["Reuters", "Aggregator"]
    assert merge_sources(merged, [other]) is None
    assert document["sources"] == [{"source": "Reuters", "feed_id": "reuters", "url": "u1"}]


def test_a_newer_text_becomes_current_and_the_old_one_a_previous_version():
    current = _doc("h1", "Old body.", "2025-03-12T10:05:00+00:00")
    incoming = _doc(
        "h2",
        "New body.",
        "2025-03-12T11:05:00+00:00",
        story_id="d1",
        story_join={"method": "x"},
        indexed_at="2025-03-12T11:06:00+00:00",
        sources=[{"source": "Reuters", "feed_id": "reuters", "url": "u1"}],
        dedup_keys=["text:h2"],
    )
    updated = apply_version(current, incoming, NOW)
    assert updated is not None
    assert updated["body"] == "New body."
    assert updated["version"] == 2
    assert updated["story_id"] == "s1"
    assert updated["story_join"] == {"method": "new"}
    assert updated["indexed_at"] == "2025-03-12T10:06:00+00:00"
    assert updated["updated_at"] == NOW.isoformat()
    assert updated["dedup_keys"] == ["text:h1", "text:h2"]
    [previous] = updated["previous_versions"]
    assert previous["body"] == "Old body."
    assert previous["version"] == 1
    assert known_texts(updated) == {"h1", "h2"}
    # The same text again changes nothing; so does the old one.
    assert apply_version(updated, incoming, NOW) is None
    assert apply_version(updated, current, NOW) is None


def test_a_late_old_text_is_recorded_as_history_without_replacing_the_update():
    current = _doc("h2", "Update.", "2025-03-12T11:05:00+00:00")
    late = _doc("h1", "Original.", "2025-03-12T10:05:00+00:00")
    updated = apply_version(current, late, NOW)
    assert updated is not None
    assert updated["body"] == "Update."
    assert updated["version"] == 2
    assert updated["previous_versions"][0]["body"] == "Original."


def test_previous_versions_are_capped():
    document = _doc("h0", "v0", "2025-03-12T00:00:00+00:00")
    for n in range(1, MAX_PREVIOUS_VERSIONS + 5):
        incoming = _doc(f"h{n}", f"v{n}", f"2025-03-12T{n:02d}:00:00+00:00")
        document = apply_version(document, incoming, NOW) or document
    assert len(document["previous_versions"]) == MAX_PREVIOUS_VERSIONS
    assert document["version"] == MAX_PREVIOUS_VERSIONS + 5
    assert document["body"] == f"v{MAX_PREVIOUS_VERSIONS + 4}"
    numbers = [v["version"] for v in document["previous_versions"]]
    assert numbers == list(range(5, MAX_PREVIOUS_VERSIONS + 5))


def _member(doc_id: str, published: str, body: str, language: str = "en", **extra) -> dict:
    return {
        "doc_id": doc_id,
        "title": doc_id,
        "source": f"src-{doc_id}",
        "language": language,
        "published_at": published,
        "body": body,
        "sources": [{"source": f"src-{doc_id}"}],
        **extra,
    }


def test_the_representative_is_the_first_published_then_the_longest():
    a = _member("a", "2025-03-12T10:00", "short")
    b = _member("b", "2025-03-12T09:00", "short")
    c = _member("c", "2025-03-12T09:00", "much longer text")
    assert representative([a, b, c])["doc_id"] == "c"


@pytest.mark.parametrize("changes", [True, False])
def test_story_view(changes):
    members = [
        _member("copy", "2025-03-12T11:00", "Rates held. Inserted remark. Lagarde spoke."),
        _member("orig", "2025-03-12T10:00", "Rates held. Lagarde spoke."),
        _member("ru", "2025-03-12T12:00", "Ставки сохранены.", language="ru"),
        _member("dup", "2025-03-12T12:30", "x", sources=[{"source": "src-orig"}, {}]),
    ]
    view = story_view("s1", members, changes=changes)
    assert view["representative"] == "orig"
    assert view["articles"] == 4
    assert view["sources"] == ["src-orig", "src-copy", "src-ru"]
    assert view["languages"] == ["en", "ru"]
    assert view["members"][0]["doc_id"] == "orig"
    copy = next(m for m in view["members"] if m["doc_id"] == "copy")
    russian = next(m for m in view["members"] if m["doc_id"] == "ru")
    if changes:
        assert copy["changes"]["added"] == ["Inserted remark."]
        assert russian["changes"] is None
    else:
        assert "changes" not in copy
    assert story_view("s2", [], changes=True) == {"story_id": "s2", "articles": 0, "members": []}
