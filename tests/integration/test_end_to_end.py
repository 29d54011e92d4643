"""The seed feeds through real Celery workers into the real Elasticsearch: search, dedup, facets,
alerts, dead letters."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from newswire.alerts.store import AlertStore
from newswire.ingest.store import RedisStore
from newswire.search.service import run_search
from newswire.search.store import SearchStore
from newswire.settings import Settings
from pipeline.dedup import dedup_keys
from pipeline.models import Article
from pipeline.search import SearchRequest, build_search_body, parse_search_response
from tests.integration.helpers import SEED_SOURCES, SEED_UNIQUE, seed_articles, seed_count, wait_all
from workers.tasks import process_articles

pytestmark = pytest.mark.integration


def _search(store: SearchStore, **kwargs: Any) -> Any:
    return parse_search_response(store.search(build_search_body(SearchRequest(**kwargs))))


def test_each_story_version_is_searchable_by_a_word_in_its_body(
    ingested: list[dict[str, Any]], search_store: SearchStore
) -> None:
    result = _search(search_store, query="Kosachev", collapse_stories=False)
    titles = {hit.title for hit in result.hits}
    assert (
        "Reuters: Russia has handed over demands to the United States for negotiations on Ukraine"
        in titles
    )
    assert any("Russia hands US list of demands" in t for t in titles)
    # The aggregator trimmed the Kosachev paragraphs, so its re-post must not match.
    assert not any("Kremlin sends Washington" in t for t in titles)


def test_kursk_finds_the_story_with_highlights_and_facets(
    ingested: list[dict[str, Any]], search_store: SearchStore
) -> None:
    # Every version of the story, not one hit per story (tests/integration/test_stories.py).
    result = _search(search_store, query="Kursk", collapse_stories=False)
    assert result.total >= 3
    english = [h for h in result.hits if h.language == "en"]
    assert english
    assert all("<mark>Kursk</mark>" in " ".join(h.highlights.get("body", [])) for h in english)
    sources = dict(result.facets["source"])
    assert sources.get("InoSMI — World (English)") == 1
    # Entity facets count registry ids; run_search adds their display names.
    labelled = run_search(search_store, build_search_body(SearchRequest(query="Kursk")))
    assert "Valery Gerasimov" in labelled.facet_labels["person"].values()


def test_exact_duplicates_are_indexed_once_even_when_ingested_twice_concurrently(
    ingested: list[dict[str, Any]], search_store: SearchStore
) -> None:
    assert seed_count(search_store) == SEED_UNIQUE
    indexed = sum(o.get("indexed", 0) for o in ingested)
    assert indexed == SEED_UNIQUE
    ecb = _search(search_store, query='"ECB holds interest rates steady"', collapse_stories=False)
    assert ecb.total == 1


def test_facets_count_what_was_indexed(
    ingested: list[dict[str, Any]], search_store: SearchStore
) -> None:
    result = _search(
        search_store, collapse_stories=False, size=50, filters={"source": tuple(SEED_SOURCES)}
    )
    assert result.total == SEED_UNIQUE
    assert sum(n for _, n in result.facets["source"]) == SEED_UNIQUE
    languages = dict(result.facets["language"])
    assert languages == {"en": 10, "ru": 2, "de": 1}
    assert sum(n for _, n in result.histogram) == SEED_UNIQUE
    only_ru = _search(search_store, filters={"language": ("ru",)}, collapse_stories=False)
    assert only_ru.total == 2
    assert {h.language for h in only_ru.hits} == {"ru"}


def test_date_range_filters_by_publication_day(
    ingested: list[dict[str, Any]], search_store: SearchStore
) -> None:
    everything = _search(search_store, collapse_stories=False, size=50)
    day, count = everything.histogram[0]
    narrowed = _search(search_store, collapse_stories=False, size=50, date_from=day, date_to=day)
    assert narrowed.total == count
    assert all(h.published_at.startswith(day) for h in narrowed.hits)


def test_alert_fires_once_per_story_naming_the_actor_and_not_for_others(
    ingested: list[dict[str, Any]], search_store: SearchStore
) -> None:
    search_store.refresh()
    alerts = AlertStore.of(search_store).alerts(actor_id="valery-gerasimov", size=100)
    # One alert per (actor, story): the story's articles, copies and translation included,
    # are listed in it as they join.
    titles = {a["title"] for alert in alerts for a in alert["articles"]}
    assert (
        "Reuters: Russia has handed over demands to the United States for negotiations on Ukraine"
        in titles
    )
    assert "Reuters: Россия передала США требования для переговоров по Украине" in titles
    assert not any("Bank of Russia" in t for t in titles)
    assert len({a["story_id"] for a in alerts}) == len(alerts)
    listed = [doc_id for alert in alerts for doc_id in alert["doc_ids"]]
    # Once per article, although every article was processed twice.
    assert len(set(listed)) == len(listed)


def test_reprocessing_a_batch_changes_nothing(
    ingested: list[dict[str, Any]], settings: Settings, search_store: SearchStore
) -> None:
    before_alerts = len(AlertStore.of(search_store).alerts(size=1000))
    articles = seed_articles(settings)[:4]
    outcome = wait_all([process_articles.delay([a.to_dict() for a in articles])])[0]
    search_store.refresh()
    assert outcome["indexed"] == 0
    assert outcome["existing"] + outcome["duplicates"] == 4
    assert seed_count(search_store) == SEED_UNIQUE
    assert len(AlertStore.of(search_store).alerts(size=1000)) == before_alerts


def test_a_poison_article_is_dead_lettered_with_its_reason_and_the_batch_goes_on(
    ingested: list[dict[str, Any]],
    settings: Settings,
    search_store: SearchStore,
    redis_store: RedisStore,
) -> None:
    good, bad = (a.to_dict() for a in seed_articles(settings)[:2])
    good.update(
        feed_id="poison-test",
        source="Poison test",
        url="https://example.org/good-one",
        guid="good-one",
        title="A good article " * 3,
        body="Its body is fine and long enough to index. " * 5,
    )
    bad.update(
        feed_id="poison-test",
        source="Poison test",
        url="https://example.org/poison",
        guid="poison",
        title="A poison article " * 3,
        body="Its publication date cannot be parsed. " * 5,
        published_at="not a date",
    )
    outcome = wait_all([process_articles.delay([good, bad])])[0]
    assert outcome["indexed"] == 1
    assert outcome["dead_letters"] == 1
    letters = [d for d in redis_store.dead_letters(100) if d["payload"].get("guid") == "poison"]
    assert len(letters) == 1
    assert "published_at" in letters[0]["reason"]
    assert letters[0]["payload"]["title"] == bad["title"]


def test_racing_claims_have_exactly_one_owner(redis_store: RedisStore, settings: Settings) -> None:
    """Eight threads claim the same text under different URLs: one wins, all agree who."""
    article = seed_articles(settings)[0].to_dict()
    article.update(guid=None, body=f"A text no other test uses: {secrets.token_hex(8)}. " * 4)
    variants = [
        dedup_keys(Article.from_dict({**article, "url": f"https://x.test/{i}"})) for i in range(8)
    ]
    with ThreadPoolExecutor(8) as pool:
        claims = list(pool.map(lambda k: redis_store.claim([k], ttl_seconds=60)[0], variants))
    owners = {c.owner for c in claims}
    assert len(owners) == 1
    assert sum(not c.is_duplicate for c in claims) == 1
