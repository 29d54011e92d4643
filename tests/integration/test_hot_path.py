"""The batch hot path against the real Redis and Elasticsearch: fresh dedup claims (no look-up
for articles nobody had seen), stories decided within one batch, and the alert records written
in the batch's single bulk request."""

from __future__ import annotations

import dataclasses
import secrets
from datetime import UTC, datetime
from typing import Any

from newswire.alerts.rule_store import rule_store_for
from newswire.ingest.service import process_batch
from newswire.ingest.store import RedisStore
from newswire.search.store import SearchStore
from newswire.settings import Settings
from newswire.stories import service as stories
from newswire.stories.store import StoryStore
from pipeline.cluster import ClusterConfig, Fingerprint, fingerprint
from pipeline.dedup import dedup_keys
from pipeline.models import Article
from pipeline.rules import AlertRule, alert_id
from pipeline.stories import merge_sources, source_record
from tests.integration.conftest import RUN_ID
from tests.integration.test_stories import _article, _variants


def test_a_claim_is_fresh_only_when_no_key_of_the_article_was_claimed_before(
    redis_store: RedisStore,
) -> None:
    token = secrets.token_hex(4)
    original = _article("ferry", url=f"https://fresh.test/{token}", fetched_at="2025-03-14")
    # A text of its own: the text key claimed here must not make other tests' ferry articles
    # duplicates (test_stories.py ingests the same base text).
    original = dataclasses.replace(original, body=f"{original.body}\n\nReference {token}.")
    copy = dataclasses.replace(
        original, url=f"https://fresh.test/{token}/copy", original_url=None, guid=None
    )
    first = redis_store.claim([dedup_keys(original)], ttl_seconds=600)[0]
    assert first.fresh
    assert not first.is_duplicate
    # A retry of the owner re-owns its claim, but is no longer fresh: it may have been indexed.
    retry = redis_store.claim([dedup_keys(original)], ttl_seconds=600)[0]
    assert (retry.fresh, retry.is_duplicate) == (False, False)
    duplicate = redis_store.claim([dedup_keys(copy)], ttl_seconds=600)[0]
    assert duplicate.is_duplicate
    assert not duplicate.fresh


def test_near_duplicates_in_one_batch_join_one_story(redis_store: RedisStore) -> None:
    # Every variant shares bands and evidence with the others: each commit in the batch would
    # break every later one's fence if the batch's own writes were not accounted for.
    prefix = f"batch-{RUN_ID}-{secrets.token_hex(2)}"
    variants = _variants()
    store = StoryStore(redis_store.client, prefix)
    assignments = store.assign(variants, ClusterConfig())
    assert len({a.story_id for a in assignments}) == 1
    assert sum(a.method == "new" for a in assignments) == 1
    again = StoryStore(redis_store.client, prefix).assign(list(reversed(variants)), ClusterConfig())
    assert [a.story_id for a in again] == [assignments[0].story_id] * len(variants)


def test_unrelated_texts_sharing_names_in_one_batch_each_start_a_story(
    redis_store: RedisStore,
) -> None:
    prefix = f"names-{RUN_ID}-{secrets.token_hex(2)}"
    cast = "Valery Gerasimov met Marco Rubio and Kaja Kallas in Vilnius on Tuesday."
    fingerprints = [
        fingerprint(
            doc_id=f"names-{i}",
            content_hash=f"n{i}",
            title=f"Report {i}",
            body=f"{cast} " + " ".join(f"topic{i}word{j} detail{j}x{i}" for j in range(120)),
            language="en",
            published_at="2025-03-14T05:00:00+00:00",
        )
        for i in range(16)
    ]
    assignments = StoryStore(redis_store.client, prefix).assign(fingerprints, ClusterConfig())
    assert [a.story_id for a in assignments] == [fp.doc_id for fp in fingerprints]


def test_a_batch_writes_its_alert_records_with_its_articles(
    settings: Settings, search_store: SearchStore, redis_store: RedisStore
) -> None:
    token = secrets.token_hex(4)
    rules = rule_store_for(redis_store.client, settings)
    rule = AlertRule(id=f"ferry-{token}", name="Ferry", query="ferry")
    rules.create(rule)
    article = _article("ferry", url=f"https://alerts.test/{token}", fetched_at="2025-03-14")
    # A text of its own: neither a duplicate of nor a near-duplicate for another test's ferry
    # article (test_stories.py expects its ferry story to start with its own article).
    words = " ".join(f"w{token}{i}" for i in range(80))
    article = dataclasses.replace(
        article, title=f"Ferry {token} held in port", body=f"The ferry {token} stayed. {words}."
    )
    try:
        report = process_batch(
            [article], store=search_store, redis_store=redis_store, settings=settings
        )
        doc_id = dedup_keys(article).doc_id
        assert report.indexed == [doc_id]
        document = search_store.get_article(doc_id)
        assert document is not None
        record = _alert(search_store, alert_id(rule.id, document["story_id"]))
        assert record is not None
        assert record["doc_ids"] == [doc_id]
        # The batch again (a retry): nothing new, the record stays as it was.
        again = process_batch(
            [article], store=search_store, redis_store=redis_store, settings=settings
        )
        assert again.existing == [doc_id]
        assert again.alerts == 0
        assert _alert(search_store, alert_id(rule.id, document["story_id"])) == record
    finally:
        rules.delete(rule.id)


def _alert(store: SearchStore, alert: str) -> dict[str, Any] | None:
    found = store.es.mget(index=store.settings.alerts_index, ids=[alert])["docs"][0]
    source: dict[str, Any] | None = found.get("_source") if found.get("found") else None
    return source


def _own_text(token: str, feed_id: str) -> Article:
    article = _article(
        "ferry",
        url=f"https://copies.test/{token}/{feed_id}",
        fetched_at="2025-03-14",
        feed_id=feed_id,
    )
    words = " ".join(f"c{token}{i}" for i in range(80))
    return dataclasses.replace(
        article, title=f"Ferry {token} towed", body=f"The ferry {token} was towed. {words}."
    )


def _indexed_with_a_copy(
    feed: str, settings: Settings, search_store: SearchStore, redis_store: RedisStore
) -> tuple[str, Article, str]:
    """Index an article of its own text from feed `<feed>-a`; give back its token, an exact
    copy of it from `<feed>-b` (not processed yet) and the indexed article's id."""
    token = secrets.token_hex(4)
    original, copy = _own_text(token, f"{feed}-a"), _own_text(token, f"{feed}-b")
    process_batch([original], store=search_store, redis_store=redis_store, settings=settings)
    return token, copy, dedup_keys(original).doc_id


def test_an_exact_copy_adds_its_source_in_the_batch_bulk_request(
    settings: Settings, search_store: SearchStore, redis_store: RedisStore
) -> None:
    _, copy, doc_id = _indexed_with_a_copy("copies", settings, search_store, redis_store)
    single_writes: list[str] = []
    real_index = search_store.es.index

    def counted_index(**kwargs: Any) -> Any:
        single_writes.append(kwargs["id"])
        return real_index(**kwargs)

    search_store.es.index = counted_index  # type: ignore[method-assign]
    try:
        report = process_batch(
            [copy], store=search_store, redis_store=redis_store, settings=settings
        )
    finally:
        search_store.es.index = real_index  # type: ignore[method-assign]
    assert report.duplicates == {dedup_keys(copy).doc_id: doc_id}
    assert single_writes == []  # the source rode in the bulk request
    document = search_store.get_article(doc_id)
    assert document is not None
    assert sorted(s["feed_id"] for s in document["sources"]) == ["copies-a", "copies-b"]


def test_a_source_write_that_meets_a_changed_article_merges_into_the_change(
    settings: Settings, search_store: SearchStore, redis_store: RedisStore
) -> None:
    token, copy, doc_id = _indexed_with_a_copy("race", settings, search_store, redis_store)
    story_store = stories.story_store_for(redis_store, settings)
    keys = [dedup_keys(copy)]
    claims = redis_store.claim(keys, ttl_seconds=3600)
    triage = stories.triage(
        [copy],
        keys,
        claims,
        store=search_store,
        redis_store=redis_store,
        story_store=story_store,
        now=datetime.now(UTC),
    )
    [write] = triage.source_writes
    assert write.action is not None
    # Another worker changes the article between this batch's read and its bulk write.
    third = source_record(_own_text(token, "race-c"), datetime.now(UTC))
    stories.update_article(search_store, doc_id, lambda doc: merge_sources(doc, [third]))
    result = stories.create_articles(search_store, story_store, [], sources=triage.source_writes)
    assert result.also == {}  # the source write's outcome is not reported as an alert's
    document = search_store.get_article(doc_id)
    assert document is not None
    assert sorted(s["feed_id"] for s in document["sources"]) == ["race-a", "race-b", "race-c"]
    assert story_store.parked_sources([doc_id]) == {}


class _Overtaken(StoryStore):
    """A story store whose batch is overtaken: another worker records `rival` between this
    batch's read and its commit."""

    def __init__(self, client: Any, prefix: str, rival: Fingerprint) -> None:
        super().__init__(client, prefix)
        self.rival = rival
        self.modes: list[str] = []

    def _call(self, pipe: Any, mode: str, *args: Any, **kwargs: Any) -> None:
        self.modes.append(mode)
        if mode == "commit" and self.modes.count("commit") == 1:
            StoryStore(self.client, self.prefix.removesuffix(":story")).assign(
                [self.rival], ClusterConfig()
            )
        super()._call(pipe, mode, *args, **kwargs)


def _names_text(doc_id: str, topic: int) -> Fingerprint:
    cast = "Valery Gerasimov met Marco Rubio and Kaja Kallas in Vilnius on Tuesday."
    return fingerprint(
        doc_id=doc_id,
        content_hash=f"h-{doc_id}",
        title=f"Report {topic}",
        body=f"{cast} " + " ".join(f"topic{topic}word{j} detail{j}x{topic}" for j in range(120)),
        language="en",
        published_at="2025-03-14T05:00:00+00:00",
    )


def test_a_story_commit_overtaken_by_another_worker_is_decided_again(
    redis_store: RedisStore,
) -> None:
    prefix = f"overtaken-{RUN_ID}-{secrets.token_hex(2)}"
    # `earlier` shares names with ours (a candidate, another story); the rival is our text's
    # re-post, recorded by another worker after our read and before our commit.
    earlier, ours, rival = (
        _names_text("earlier", 1),
        _names_text("ours", 2),
        _names_text("rival", 2),
    )
    StoryStore(redis_store.client, prefix).assign([earlier], ClusterConfig())
    store = _Overtaken(redis_store.client, prefix, rival)
    [assignment] = store.assign([ours], ClusterConfig())
    # The write sequence moved by a write not ours: the fence is checked, breaks, and the text
    # is decided again on what is there now: it joins the rival's story.
    assert store.modes == ["query", "commit", "commit"]
    assert (assignment.story_id, assignment.method) != ("ours", "new")
    assert assignment.story_id == "rival"


def test_a_story_commit_nobody_overtook_is_written_on_its_first_decision(
    redis_store: RedisStore,
) -> None:
    prefix = f"plain-{RUN_ID}-{secrets.token_hex(2)}"
    earlier, ours = _names_text("earlier", 1), _names_text("ours", 2)
    StoryStore(redis_store.client, prefix).assign([earlier], ClusterConfig())
    store = _Overtaken(redis_store.client, prefix, _names_text("elsewhere", 3))
    store.rival = earlier  # recorded already: the rival's run writes nothing
    [assignment] = store.assign([ours], ClusterConfig())
    assert store.modes == ["query", "commit"]
    assert assignment.story_id == "ours"
