"""Events through the real Redis: the seed story and the other outlets' reports of the Kremlin
demands form one event, the same-actors story of the next day stays apart, workers racing on
the same articles reach the same events, retries keep them, and a bridging article merges two
events with the merge recorded."""

from __future__ import annotations

import random
import secrets
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from newswire.events import service as events
from newswire.events.store import EventStore
from newswire.feeds.polling import articles_from_feed
from newswire.ingest.store import RedisStore
from newswire.settings import Settings
from newswire.stories.store import StoryStore
from pipeline.alerts import parse_actors
from pipeline.cluster import ClusterConfig
from pipeline.cluster import fingerprint as story_fingerprint
from pipeline.dedup import dedup_keys
from pipeline.events import EventConfig, EventFingerprint
from pipeline.gazetteer import build_gazetteer
from pipeline.language import detect_language
from tests.integration.conftest import RUN_ID
from tests.integration.helpers import SEEDS

pytestmark = pytest.mark.integration

COVERAGE = SEEDS.parent / "coverage"
DEMANDS = {
    "Russia hands US list of demands for ending Ukraine war, sources say",
    "Reuters: Россия передала США требования для переговоров по Украине",
    "Reuters: Russia has handed over demands to the United States for negotiations on Ukraine",
    "Kremlin sends Washington its terms for a ceasefire – sources",
    "Kremlin weighs US truce plan as Moscow sends Washington its conditions for peace",
    "Russia lays out its terms to US as Putin tours Kursk front in uniform",
    "Waffenruhe-Vorschlag: Moskau schickt Washington seine Bedingungen – Putin besucht Kursk",
}
PRESSER = 'Putin says he backs idea of truce but has "serious questions"; thanks Trump'


def _documents(settings: Settings) -> list[dict[str, Any]]:
    """Every seed and coverage article as the batch has it before the event step: language,
    tracked actors, and its story from the real story store (re-posts and the InoSMI
    translation join the Reuters story)."""
    gazetteer = build_gazetteer(parse_actors(settings.actors_file.read_text(encoding="utf-8")))
    documents: dict[str, dict[str, Any]] = {}
    for path in [*sorted(SEEDS.iterdir()), *sorted(COVERAGE.iterdir())]:
        for article in articles_from_feed(
            path.read_bytes(), feed_id=path.stem, source=None, settings=settings
        ):
            keys = dedup_keys(article)
            language = detect_language(article.title, article.body).code
            documents.setdefault(
                keys.doc_id,
                {
                    "doc_id": keys.doc_id,
                    "content_hash": keys.content_hash,
                    "title": article.title,
                    "summary": article.summary,
                    "body": article.body,
                    "language": language,
                    "published_at": article.published_at,
                    "source": article.source,
                    "actors": gazetteer.find(f"{article.title}\n{article.body}", lang=language),
                },
            )
    return sorted(documents.values(), key=lambda d: (d["published_at"], d["doc_id"]))


@pytest.fixture(scope="module")
def documents(settings: Settings, redis_store: RedisStore) -> list[dict[str, Any]]:
    found = _documents(settings)
    story_store = StoryStore(redis_store.client, f"events-stories-{RUN_ID}")
    assignments = story_store.assign(
        [
            story_fingerprint(
                doc_id=d["doc_id"],
                content_hash=d["content_hash"],
                title=d["title"],
                body=d["body"],
                language=d["language"],
                published_at=d["published_at"],
                extra_entity_keys=(f"@{a}" for a in d["actors"]),
            )
            for d in found
        ],
        ClusterConfig(),
    )
    for document, assignment in zip(found, assignments, strict=True):
        document["story_id"] = assignment.story_id
    return found


def _fresh_store(redis_store: RedisStore) -> EventStore:
    return EventStore(redis_store.client, f"events-{RUN_ID}-{secrets.token_hex(3)}")


def _assign(store: EventStore, documents: Sequence[dict[str, Any]]) -> dict[str, str]:
    copies = [dict(d) for d in documents]
    events.assign_events(store, copies, EventConfig())
    # A later merge moves earlier articles: read every event back as it is now.
    return {d["title"]: store.resolve(d["event_id"]) for d in copies}


def _partition(assigned: dict[str, str]) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for title, event_id in assigned.items():
        groups.setdefault(event_id, set()).add(title)
    return {frozenset(g) for g in groups.values()}


def test_the_seed_story_and_the_other_outlets_reports_form_one_event(
    redis_store: RedisStore, documents: list[dict[str, Any]]
) -> None:
    assert DEMANDS | {PRESSER} <= {d["title"] for d in documents}
    store = _fresh_store(redis_store)
    assigned = _assign(store, documents)
    demands = {assigned[t] for t in DEMANDS}
    assert len(demands) == 1, {t: assigned[t] for t in DEMANDS}
    event_id = demands.pop()
    assert assigned[PRESSER] != event_id
    # Nothing else (ECB, copper, Hokkaido, snow in Moscow, Lufthansa …) joins it.
    assert {t for t, e in assigned.items() if e == event_id} == DEMANDS
    # Several stories: Reuters with its re-posts and translation, and the independent reports
    # (the story stage's translation rule takes the German one, which shares Reuters' figures
    # and names, for a translation of it).
    stories = {d["story_id"] for d in documents if d["title"] in DEMANDS}
    assert len(stories) >= 3
    assert store.event_info(event_id)["articles"] == str(len(DEMANDS))
    assert {e for e, _ in store.recent(50)} >= {event_id, assigned[PRESSER]}


def test_a_retried_batch_keeps_its_events(
    redis_store: RedisStore, documents: list[dict[str, Any]]
) -> None:
    store = _fresh_store(redis_store)
    first = _assign(store, documents)
    copies = [dict(d) for d in documents]
    decisions = events.assign_events(
        EventStore(store.client, store.prefix.removesuffix(":event")), copies, EventConfig()
    )
    assert {d.method for d in decisions} == {"recorded"}
    assert {d["title"]: d["event_id"] for d in copies} == first
    keys = list(redis_store.client.scan_iter(f"{store.prefix}:*"))
    assert keys
    assert all(redis_store.client.ttl(k) > 0 for k in keys)


@pytest.mark.parametrize("run", range(2))
def test_workers_racing_on_the_same_articles_reach_the_events_one_worker_does(
    redis_store: RedisStore, documents: list[dict[str, Any]], run: int
) -> None:
    serial = _partition(_assign(_fresh_store(redis_store), documents))
    store = _fresh_store(redis_store)
    prefix = store.prefix.removesuffix(":event")
    shuffled = list(documents)
    random.Random(run).shuffle(shuffled)
    workers = 6
    shares = [shuffled[i::workers] for i in range(workers)]
    barrier = threading.Barrier(workers)

    def work(share: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # Each thread is a worker with its own store object; only Redis is shared.
        own = EventStore(redis_store.client, prefix)
        copies = [dict(d) for d in share]
        barrier.wait()
        events.assign_events(own, copies, EventConfig())
        return copies

    with ThreadPoolExecutor(workers) as pool:
        done = [d for share in pool.map(work, shares) for d in share]
    raced = {d["title"]: store.resolve(d["event_id"]) for d in done}
    # Arrival order decides which article names an event; the grouping must not depend on it
    # for the seed event and its hard negative.
    demands = {raced[t] for t in DEMANDS}
    assert len(demands) == 1
    assert raced[PRESSER] not in demands
    assert frozenset(DEMANDS) in _partition(raced)
    assert frozenset(DEMANDS) in serial


def _fp(doc_id: str, language: str, **fields: Any) -> EventFingerprint:
    return EventFingerprint(
        doc_id=doc_id,
        story_id=doc_id,
        language=language,
        published=1_741_800_000.0 + len(doc_id),
        terms=tuple(fields.get("terms", ())),
        names=frozenset(fields.get("names", ())),
        numbers=frozenset(fields.get("numbers", ())),
        dates=frozenset(),
    )


def test_an_article_bridging_two_events_merges_them_and_the_merge_is_recorded(
    redis_store: RedisStore,
) -> None:
    store = _fresh_store(redis_store)
    words = [(f"en:w{i}", 1.0) for i in range(6)]
    english = _fp("a-en", "en", terms=words, names=["@kyiv", "kraml"])
    german = _fp("b-de", "de", names=["@kyiv", "kraml", "lakar", "hala"], numbers=["1100", "86%"])
    bridge = _fp(
        "c-en-bridge",
        "en",
        terms=words,
        names=["@kyiv", "kraml", "lakar", "hala"],
        numbers=["1100", "86%"],
    )
    config = EventConfig()
    first = store.assign(english, config)
    second = store.assign(german, config)
    assert first.event_id != second.event_id
    merged = store.assign(bridge, config)
    assert merged.method == "merge"
    assert merged.event_id == first.event_id
    assert merged.merged == (second.event_id,)
    assert store.resolve(second.event_id) == first.event_id
    assert store.member_events(first.event_id) == [first.event_id, second.event_id]
    docs = store.event_docs(store.member_events(first.event_id))
    assert docs == ["a-en", "b-de", "c-en-bridge"]
    assert store.event_info(first.event_id)["articles"] == "3"
    [record] = store.merges()
    assert (record.event, record.into, record.by) == (
        second.event_id,
        first.event_id,
        "c-en-bridge",
    )
    assert second.event_id not in {e for e, _ in store.recent()}
    # A later article of the merged event is decided against the surviving id.
    late = _fp("d-de-late", "de", names=["@kyiv", "kraml", "lakar", "hala"], numbers=["1100"])
    assert store.assign(late, config).event_id == first.event_id


def test_copies_follow_their_storys_event_and_term_counts_are_kept(
    redis_store: RedisStore,
) -> None:
    store = _fresh_store(redis_store)
    config = EventConfig()
    first = _fp("a-first", "en", terms=[("en:quak", 2.0), ("en:malatya", 3.0)], names=["@x"])
    assert store.assign(first, config).method == "new"
    # Another article of the same story, sharing nothing with it: it joins by its story.
    copy = EventFingerprint(
        doc_id="b-copy",
        story_id="a-first",
        language="ru",
        published=first.published + 60,
        terms=(("ru:землетрясен", 1.0),),
        names=frozenset(),
        numbers=frozenset(),
        dates=frozenset(),
    )
    decision = store.assign(copy, config)
    assert (decision.event_id, decision.method) == ("a-first", "story")
    stats = store.term_stats("en", ["en:quak", "en:malatya", "en:unseen"], first.published)
    assert stats.documents == {"en": 1}
    assert stats.frequencies == {"en:quak": 1, "en:malatya": 1, "en:unseen": 0}
    recorded = store.record("b-copy")
    assert recorded is not None
    assert recorded.event_id == "a-first"


def test_one_batch_reaches_the_events_article_by_article_assignment_does(
    redis_store: RedisStore, documents: list[dict[str, Any]]
) -> None:
    batched = _partition(_assign(_fresh_store(redis_store), documents))
    store = _fresh_store(redis_store)
    one_by_one = {}
    for document in documents:
        one_by_one.update(_assign(store, [document]))
    # Read back after the last article: a later merge moves earlier ones.
    one_by_one = {t: store.resolve(e) for t, e in one_by_one.items()}
    assert batched == _partition(one_by_one)


def test_a_batch_merges_two_events_its_own_earlier_articles_opened(
    redis_store: RedisStore,
) -> None:
    store = _fresh_store(redis_store)
    words = [(f"en:w{i}", 1.0) for i in range(6)]
    english = _fp("a-en", "en", terms=words, names=["@kyiv", "kraml"])
    german = _fp("b-de", "de", names=["@kyiv", "kraml", "lakar", "hala"], numbers=["1100", "86%"])
    bridge = _fp(
        "c-en-bridge",
        "en",
        terms=words,
        names=["@kyiv", "kraml", "lakar", "hala"],
        numbers=["1100", "86%"],
    )
    first, second, merged = store.assign_many([english, german, bridge], EventConfig())
    assert (first.method, second.method, merged.method) == ("new", "new", "merge")
    assert merged.merged == (second.event_id,)
    assert store.resolve(second.event_id) == first.event_id
    assert store.event_info(first.event_id)["articles"] == "3"
    assert store.event_docs(store.member_events(first.event_id)) == ["a-en", "b-de", "c-en-bridge"]


class _Interrupted(EventStore):
    """A store whose batch is overtaken: another worker records `rival` between this batch's
    read and its commit."""

    def __init__(self, client: Any, prefix: str, rival: EventFingerprint) -> None:
        super().__init__(client, prefix)
        self.rival = rival
        self.modes: list[str] = []

    def _run(self, mode: str, fingerprints: Any, plans: Any, seen_seq: str = "") -> Any:
        self.modes.append(mode)
        if mode == "commit" and self.modes.count("commit") == 1:
            EventStore(self.client, self.prefix.removesuffix(":event")).assign(
                self.rival, EventConfig()
            )
        return super()._run(mode, fingerprints, plans, seen_seq)


def test_a_batch_overtaken_between_read_and_commit_is_decided_again(
    redis_store: RedisStore,
) -> None:
    prefix = _fresh_store(redis_store).prefix.removesuffix(":event")
    words = [(f"en:w{i}", 1.0) for i in range(6)]
    rival = _fp("rival-en", "en", terms=words, names=["@kyiv", "kraml"])
    late = _fp("later-en", "en", terms=words, names=["@kyiv", "kraml"])
    store = _Interrupted(redis_store.client, prefix, rival)
    [decision] = store.assign_many([late], EventConfig())
    # The first commit's fence broke (the rival wrote a slot the batch had read): the batch
    # was decided again and joins the rival's event instead of opening its own.
    assert store.modes == ["query", "commit", "commit"]
    assert (decision.event_id, decision.method) == ("rival-en", "join")
    assert store.event_docs(["rival-en"]) == ["later-en", "rival-en"]


def test_a_batch_another_worker_wrote_beside_commits_on_its_first_decision(
    redis_store: RedisStore,
) -> None:
    # Another batch was written between this one's read and its commit, but nothing this
    # batch read: the write sequence moved, so the commit checks the fences, and they hold.
    prefix = _fresh_store(redis_store).prefix.removesuffix(":event")
    unrelated = _fp(
        "elsewhere-en", "en", terms=[(f"en:z{i}", 1.0) for i in range(6)], names=["@lima"]
    )
    words = [(f"en:w{i}", 1.0) for i in range(6)]
    first = _fp("first-en", "en", terms=words, names=["@kyiv", "kraml"])
    second = _fp("second-en", "en", terms=words, names=["@kyiv", "kraml"])
    store = _Interrupted(redis_store.client, prefix, unrelated)
    decisions = store.assign_many([first, second], EventConfig())
    assert store.modes == ["query", "commit"]
    assert [d.event_id for d in decisions] == ["first-en", "first-en"]
    # And the next batch, with no write in between, commits on its first decision too.
    later = _fp("third-en", "en", terms=words, names=["@kyiv", "kraml"])
    plain = EventStore(redis_store.client, prefix)
    [decision] = plain.assign_many([later], EventConfig())
    assert (decision.event_id, decision.method) == ("first-en", "join")
    assert plain.event_docs(["first-en"]) == ["first-en", "second-en", "third-en"]
