"""content_fingerprint and dedup_keys: exact-duplicate keys and the stable doc id."""

from __future__ import annotations

from pipeline.dedup import (
    MIN_FINGERPRINT_CHARS,
    agency_version_relation,
    content_fingerprint,
    dedup_keys,
)
from pipeline.feeds import parse_feed
from pipeline.models import Article
from pipeline.normalise import normalise_entry

LONG_BODY = "Russia has sent the United States a list of demands for ending the war in Ukraine."


def _article(**overrides: object) -> Article:
    values: dict[str, object] = {
        "feed_id": "wire",
        "source": "Wire",
        "guid": None,
        "url": None,
        "original_url": None,
        "title": "Kremlin sends terms",
        "summary": "",
        "body": LONG_BODY,
        "body_html": "",
        "published_at": "2025-03-12T19:25:00+00:00",
        "fetched_at": "2025-03-13T12:00:00+00:00",
    }
    values.update(overrides)
    return Article(**values)  # type: ignore[arg-type]


def test_fingerprint_ignores_case_punctuation_and_spacing():
    a = content_fingerprint("Kremlin sends terms", "Russia has sent demands, sources say.")
    b = content_fingerprint("KREMLIN  sends terms!", "Russia has sent demands — sources say")
    assert a == b


def test_fingerprint_ignores_compatibility_forms():
    assert content_fingerprint("ｆｕｌｌｗｉｄｔｈ", "") == content_fingerprint("fullwidth", "")


def test_fingerprint_changes_with_a_word():
    assert content_fingerprint("Kremlin sends terms", "demands") != content_fingerprint(
        "Kremlin sends terms", "requirements"
    )


def test_fingerprint_is_a_stable_literal():
    assert (
        content_fingerprint(
            "Kremlin sends terms", "Russia has sent the United States a list of demands."
        )
        == "fe4cc7c9474518556136fea9f3525f6e"
    )


def test_url_is_the_primary_key_and_names_the_doc():
    keys = dedup_keys(_article(url="https://example.com/story", guid="g-1"))
    assert keys.primary == "url:https://example.com/story"
    assert keys.keys == (
        "url:https://example.com/story",
        "guid:wire:g-1",
        f"text:{keys.content_hash}",
    )


def test_doc_id_is_stable_across_runs():
    assert dedup_keys(_article(url="https://example.com/story")).doc_id == (
        "352f0ca39cc67f5ddd15aab904849c2e"
    )


def test_guid_key_is_scoped_by_feed():
    one = dedup_keys(_article(feed_id="feed-a", guid="1234"))
    two = dedup_keys(_article(feed_id="feed-b", guid="1234"))
    assert one.primary == "guid:feed-a:1234"
    assert two.primary == "guid:feed-b:1234"
    assert one.doc_id != two.doc_id
    assert one.content_hash == two.content_hash


def test_text_key_names_the_doc_when_there_is_no_url_or_guid():
    keys = dedup_keys(_article())
    assert keys.keys == (f"text:{keys.content_hash}",)
    assert keys.primary == keys.keys[0]


def test_short_text_gets_no_text_key():
    article = _article(guid="g-1", title="Breaking news", body="Developing.")
    assert len(article.title) + len(article.body) < MIN_FINGERPRINT_CHARS
    assert dedup_keys(article).keys == ("guid:wire:g-1",)


def test_short_text_without_other_keys_still_gets_a_text_key():
    keys = dedup_keys(_article(title="Breaking news", body=""))
    assert keys.keys == (f"text:{content_fingerprint('Breaking news', '')}",)


def test_same_text_with_different_punctuation_shares_the_text_key():
    a = dedup_keys(_article(guid="a", title="Kremlin sends terms", body=LONG_BODY))
    b = dedup_keys(
        _article(guid="b", title="kremlin sends terms:", body=LONG_BODY.upper().replace(".", "!"))
    )
    assert a.keys[-1] == b.keys[-1]
    assert a.doc_id != b.doc_id


def test_seed_ecb_duplicate_has_the_reuters_doc_id(seed_bytes, fetched_at):
    atom = parse_feed(seed_bytes("reuters-world.atom"), feed_id="reuters-world").entries[3]
    rdf = parse_feed(seed_bytes("wire-aggregator.rdf"), feed_id="wire-aggregator").entries[1]
    original = dedup_keys(normalise_entry(atom, fetched_at=fetched_at))
    duplicate = dedup_keys(normalise_entry(rdf, fetched_at=fetched_at))
    assert original.primary == "url:https://reuters.com/markets/europe/ecb-holds-rates-2025-03-12"
    assert duplicate.doc_id == original.doc_id
    assert duplicate.content_hash == original.content_hash
    assert original.doc_id == "2eadf51b742119737135642c0dea4605"


def test_seed_edited_repost_is_not_an_exact_duplicate(seed_bytes, fetched_at):
    atom = parse_feed(seed_bytes("reuters-world.atom"), feed_id="reuters-world").entries[0]
    rdf = parse_feed(seed_bytes("wire-aggregator.rdf"), feed_id="wire-aggregator").entries[0]
    original = dedup_keys(normalise_entry(atom, fetched_at=fetched_at))
    repost = dedup_keys(normalise_entry(rdf, fetched_at=fetched_at))
    assert set(original.keys).isdisjoint(repost.keys)


def test_agency_id_is_the_primary_key_across_feeds():
    one = dedup_keys(_article(feed_id="http", url="https://a.example/1", agency_guid="urn:x:1"))
    two = dedup_keys(_article(feed_id="folder", agency_guid="urn:x:1", agency_version=2))
    assert one.primary == two.primary == "agency:urn:x:1"
    assert one.doc_id == two.doc_id
    assert one.keys[1] == "url:https://a.example/1"


def test_bare_agency_ids_are_scoped_by_agency():
    ansa = dedup_keys(_article(agency_guid="20251203-0412", agency="ANSA"))
    dpa = dedup_keys(_article(agency_guid="20251203-0412", agency="dpa"))
    assert ansa.primary == "agency:ansa:20251203-0412"
    assert ansa.doc_id != dpa.doc_id


def test_agency_version_relation():
    assert agency_version_relation(3, 2) == "newer"
    assert agency_version_relation(2, 2) == "same"
    assert agency_version_relation(1, 2) == "older"
    assert agency_version_relation(None, 2) == "unknown"
