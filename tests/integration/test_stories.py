"""Story clusters through the real stack: the seed story and its versions in one search result,
every source of an exact copy recorded, article versions, story state shared by workers."""

from __future__ import annotations

import dataclasses
import secrets
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from newswire.api import app as api_app
from newswire.cli import app as cli_app
from newswire.ingest.service import process_batch
from newswire.ingest.store import RedisStore
from newswire.search.service import run_search
from newswire.search.store import SearchStore
from newswire.settings import Settings
from newswire.stories import service as stories
from newswire.stories.store import StoryStore
from pipeline.cluster import ClusterConfig, fingerprint
from pipeline.dedup import content_fingerprint, dedup_keys
from pipeline.models import Article
from pipeline.search import SearchRequest, build_search_body
from tests.integration.conftest import RUN_ID, start_worker, stop_worker
from tests.integration.helpers import SEED_UNIQUE, SEEDS, seed_articles, wait_all
from tests.unit.pipeline.story_eval import load_articles
from workers.tasks import process_articles

pytestmark = pytest.mark.integration

STORY_SOURCES = [
    "InoSMI — World (English)",
    "Reuters World News",
    "Wire Aggregator",
    "ИноСМИ — Мир",
]
REUTERS_TITLE = "Russia hands US list of demands for ending Ukraine war, sources say"
INOSMI_TITLE = (
    "Reuters: Russia has handed over demands to the United States for negotiations on Ukraine"
)
STORY_TITLES = {
    REUTERS_TITLE,
    INOSMI_TITLE,
    "Kremlin sends Washington its terms for a ceasefire – sources",
    "Reuters: Россия передала США требования для переговоров по Украине",
}


def _docs(store: SearchStore, **query: Any) -> list[dict[str, Any]]:
    store.refresh()
    response = store.es.search(
        index=store.settings.articles_alias, query=query or {"match_all": {}}, size=200
    )
    return [hit["_source"] for hit in response["hits"]["hits"]]


def _seed_story_id(store: SearchStore) -> str:
    ids = {d["story_id"] for d in _docs(store, terms={"title.raw": sorted(STORY_TITLES)})}
    assert len(ids) == 1, ids
    return ids.pop()


def test_the_seed_story_and_its_versions_collapse_into_one_result_with_their_sources(
    ingested: list[dict[str, Any]], search_store: SearchStore
) -> None:
    members = _docs(search_store, terms={"title.raw": sorted(STORY_TITLES)})
    assert len(members) == 4
    assert len({m["story_id"] for m in members}) == 1
    result = run_search(search_store, build_search_body(SearchRequest(query="Kursk")))
    [hit] = [h for h in result.hits if h.title in STORY_TITLES]
    assert hit.story_articles == 4
    assert hit.story_sources == STORY_SOURCES
    assert hit.story_languages == ["en", "ru"]
    # Uncollapsed, the same query finds every version (names match across scripts), one story.
    every = run_search(
        search_store, build_search_body(SearchRequest(query="Kursk", collapse_stories=False))
    )
    assert {h.story_id for h in every.hits if h.title in STORY_TITLES} == {hit.story_id}
    assert len([h for h in every.hits if h.title in STORY_TITLES]) == 4


def test_stories_do_not_swallow_unrelated_articles(
    ingested: list[dict[str, Any]], search_store: SearchStore
) -> None:
    seeds = _docs(search_store, terms={"feed_id": [p.stem for p in SEEDS.iterdir()]})
    assert len(seeds) == SEED_UNIQUE
    # 13 articles: the ceasefire story's four versions make one story, the rest one each.
    assert len({d["story_id"] for d in seeds}) == SEED_UNIQUE - 3


def test_an_exact_copy_adds_its_source_to_the_one_document(
    ingested: list[dict[str, Any]], search_store: SearchStore
) -> None:
    [ecb] = _docs(search_store, match_phrase={"title": "ECB holds interest rates steady"})
    assert sorted(s["source"] for s in ecb["sources"]) == ["Reuters World News", "Wire Aggregator"]
    assert any("utm_source" in (s["url"] or "") for s in ecb["sources"])


@pytest.fixture(scope="module")
def client(search_store: SearchStore) -> Iterator[TestClient]:
    with TestClient(api_app) as test_client:
        yield test_client


def test_the_story_endpoint_lists_members_and_what_each_changed(
    ingested: list[dict[str, Any]], search_store: SearchStore, client: TestClient
) -> None:
    story_id = _seed_story_id(search_store)
    story = client.get(f"/stories/{story_id}", params={"changes": "true"}).json()
    assert story["articles"] == 4
    assert story["sources"][0] == "Reuters World News"  # the representative's first
    assert sorted(story["sources"]) == STORY_SOURCES
    lead = story["members"][0]
    assert lead["representative"]
    assert lead["title"] == REUTERS_TITLE  # first published
    methods = {m["story_join"]["method"] for m in story["members"]}
    assert "translation" in methods
    assert "near_duplicate" in methods
    inosmi = next(m for m in story["members"] if m["title"] == INOSMI_TITLE)
    inserted = [" ".join(c["inserted"]) for c in inosmi["changes"]["changed"]]
    assert any("InoSMI" in text for text in inserted)
    russian = next(m for m in story["members"] if m["language"] == "ru")
    assert russian["changes"] is None

    changes = client.get(f"/articles/{inosmi['doc_id']}/changes").json()
    assert changes["story_id"] == story_id
    assert changes["representative"] == lead["doc_id"]
    assert any("InoSMI" in " ".join(c["inserted"]) for c in changes["changes"]["changed"])
    versions = client.get(f"/articles/{lead['doc_id']}/versions").json()
    assert versions["version"] == 1
    assert versions["previous_versions"] == []
    hits = client.get("/search", params={"q": "Kursk"}).json()["hits"]
    [hit] = [h for h in hits if h["story_id"] == story_id]
    assert hit["story_articles"] == 4
    assert hit["story_sources"] == STORY_SOURCES
    for path in ("/stories/nope", "/articles/nope/changes", "/articles/nope/versions"):
        assert client.get(path).status_code == 404


def test_newswire_story_prints_the_story(
    ingested: list[dict[str, Any]], search_store: SearchStore
) -> None:
    import json

    story_id = _seed_story_id(search_store)
    runner = CliRunner()
    as_json = runner.invoke(cli_app, ["story", story_id, "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)["articles"] == 4
    some_member = _docs(search_store, term={"title.raw": INOSMI_TITLE})[0]["doc_id"]
    table = runner.invoke(cli_app, ["story", some_member, "--changes"])
    assert table.exit_code == 0, table.output
    assert "4 articles" in table.stdout
    assert "InoSMI" in table.stdout
    search = runner.invoke(cli_app, ["search", "Kursk"])
    assert "4 articles from" in search.stdout
    assert runner.invoke(cli_app, ["story", "nope"]).exit_code == 1


def _article(base_id: str, *, url: str, fetched_at: str, feed_id: str = "stories-test") -> Article:
    item = next(a for a in load_articles() if a.id == base_id)
    return Article(
        feed_id=feed_id,
        source=f"Source {feed_id}",
        guid=None,
        url=url,
        original_url=url,
        title=item.title,
        summary="",
        body=item.body,
        body_html="",
        published_at=item.published_at,
        fetched_at=fetched_at,
    )


def test_a_changed_text_at_the_same_url_is_a_new_version_not_a_new_story(
    worker: subprocess.Popen[bytes], search_store: SearchStore
) -> None:
    url = f"https://stories.test/{secrets.token_hex(4)}/ferry"
    first = _article("ferry", url=url, fetched_at="2025-03-14T05:45:00+00:00")
    update = _article("ferry-update1", url=url, fetched_at="2025-03-14T07:20:00+00:00")
    assert wait_all([process_articles.delay([first.to_dict()])])[0]["indexed"] == 1
    outcome = wait_all([process_articles.delay([update.to_dict()])])[0]
    assert outcome["versions"] == 1
    assert outcome["indexed"] == 0
    doc_id = dedup_keys(first).doc_id
    document = search_store.get_article(doc_id)
    assert document is not None
    assert document["version"] == 2
    assert document["title"] == update.title
    assert document["story_id"] == doc_id
    [previous] = document["previous_versions"]
    assert previous["body"] == first.body
    assert previous["content_hash"] == content_fingerprint(first.title, first.body)
    # The old text delivered again is history already: nothing changes.
    again = wait_all([process_articles.delay([first.to_dict()])])[0]
    assert again["existing"] == 1
    assert again["versions"] == 0
    assert search_store.get_article(doc_id)["version"] == 2  # type: ignore[index]
    # A re-post of the update (its text was registered with the story) joins the story.
    repost = dataclasses.replace(
        update, url=url + "-repost", original_url=url + "-repost", title="Ferry fire: latest"
    )
    repost = dataclasses.replace(repost, body=repost.body.rsplit("\n\n", 1)[0])
    assert wait_all([process_articles.delay([repost.to_dict()])])[0]["indexed"] == 1
    reposted = search_store.get_article(dedup_keys(repost).doc_id)
    assert reposted is not None
    assert reposted["story_id"] == doc_id
    assert reposted["story_join"]["method"] == "near_duplicate"


def test_a_copy_seen_while_its_original_is_in_flight_keeps_its_source(
    settings: Settings, search_store: SearchStore, redis_store: RedisStore
) -> None:
    token = secrets.token_hex(4)
    original = _article("copper-update", url=f"https://a.test/{token}", fetched_at="2025-03-14")
    copy = dataclasses.replace(
        original, feed_id="copier", source="Copier", url=f"https://b.test/{token}", guid="c1"
    )
    # The original is claimed (another worker is enriching it) but not indexed yet.
    redis_store.claim([dedup_keys(original)], ttl_seconds=600)
    report = process_batch([copy], store=search_store, redis_store=redis_store, settings=settings)
    assert report.duplicates == {dedup_keys(copy).doc_id: dedup_keys(original).doc_id}
    assert search_store.get_article(dedup_keys(original).doc_id) is None
    report = process_batch(
        [original], store=search_store, redis_store=redis_store, settings=settings
    )
    assert report.indexed == [dedup_keys(original).doc_id]
    document = search_store.get_article(dedup_keys(original).doc_id)
    assert document is not None
    assert sorted(s["source"] for s in document["sources"]) == ["Copier", "Source stories-test"]
    # A third copy after indexing is recorded at once; the parked record is gone.
    third = dataclasses.replace(
        copy, feed_id="third", source="Third", url=f"https://c.test/{token}"
    )
    process_batch([third], store=search_store, redis_store=redis_store, settings=settings)
    document = search_store.get_article(dedup_keys(original).doc_id)
    assert document is not None
    assert len(document["sources"]) == 3
    parked = stories.story_store_for(redis_store, settings).parked_sources(
        [dedup_keys(original).doc_id]
    )
    assert parked == {}


def _variants() -> list[Any]:
    """Eight near-duplicate texts of the ceasefire story: versions and trimmed re-posts."""
    base = next(a for a in load_articles() if a.id == "ceasefire")
    paragraphs = base.body.split("\n\n")
    texts = [a for a in load_articles() if a.story == "ceasefire" and a.language == "en"]
    bodies = [a.body for a in texts]
    bodies += ["\n\n".join(paragraphs[i:] + paragraphs[:i][:-2]) for i in (2, 5, 8)]
    bodies += ["\n\n".join(p for j, p in enumerate(paragraphs) if j % 7 != 3)]
    return [
        fingerprint(
            doc_id=f"variant-{i}",
            content_hash=f"h{i}",
            title=base.title,
            body=body,
            language="en",
            published_at=base.published_at,
        )
        for i, body in enumerate(bodies[:8])
    ]


@pytest.mark.parametrize("run", range(3))
def test_workers_racing_on_near_duplicates_agree_on_one_story(
    redis_store: RedisStore, run: int
) -> None:
    prefix = f"race-{RUN_ID}-{run}-{secrets.token_hex(2)}"
    variants = _variants()
    assert len(variants) == 8
    # A decoy that shares one LSH band with every variant but is no near-duplicate of any: each
    # racer then gets a candidate to reject, and without the fence decides "new" on a stale read.
    decoy = dataclasses.replace(
        variants[0],
        doc_id="decoy",
        signature=secrets.token_bytes(len(variants[0].signature)),
        bands=tuple(v.bands[run] for v in variants),
        numbers=frozenset(),
        entities=frozenset(),
    )
    StoryStore(redis_store.client, prefix).assign([decoy], ClusterConfig())
    barrier = threading.Barrier(len(variants))

    def assign(fp: Any) -> Any:
        # Each thread is a worker with its own store object; only Redis is shared.
        store = StoryStore(redis_store.client, prefix)
        barrier.wait()
        return store.assign([fp], ClusterConfig())[0]

    with ThreadPoolExecutor(len(variants)) as pool:
        assignments = list(pool.map(assign, variants))
    assert len({a.story_id for a in assignments}) == 1
    assert sum(a.method == "new" for a in assignments) == 1
    # Restarted workers (new objects) see the same state; a text already placed keeps its story.
    again = StoryStore(redis_store.client, prefix).assign(variants[:2], ClusterConfig())
    assert [a.story_id for a in again] == [assignments[0].story_id] * 2
    assert [a.method for a in again] == [a.method for a in assignments[:2]]
    keys = list(redis_store.client.scan_iter(f"{prefix}:story:*"))
    assert keys
    assert all(redis_store.client.ttl(k) > 0 for k in keys)


def test_two_workers_ingesting_the_same_feeds_at_once_index_each_article_once(
    tmp_path: Path,
) -> None:
    prefix = f"test-{RUN_ID}-two"
    queue = f"test-{RUN_ID}-two"
    settings = Settings(index_prefix=prefix, queue=queue)
    store = SearchStore.from_settings(settings)
    store.ensure_indices()
    env = {"NEWSWIRE_INDEX_PREFIX": prefix, "NEWSWIRE_QUEUE": queue}
    workers = [
        start_worker(tmp_path / f"worker-{n}.log", concurrency=2, queue=queue, extra_env=env)
        for n in range(2)
    ]
    try:
        articles = [a.to_dict() for a in seed_articles(settings)]
        forward = [articles[i : i + 2] for i in range(0, len(articles), 2)]
        backward = [list(reversed(articles))[i : i + 2] for i in range(0, len(articles), 2)]
        results = []
        for one, other in zip(forward, backward, strict=True):
            results.append(process_articles.apply_async(args=[one], queue=queue))
            results.append(process_articles.apply_async(args=[other], queue=queue))
        outcomes = wait_all(results)
        assert sum(o.get("indexed", 0) for o in outcomes) == SEED_UNIQUE
        documents = _docs(store)
        assert len(documents) == SEED_UNIQUE
        assert len({d["doc_id"] for d in documents}) == SEED_UNIQUE
        story = [d for d in documents if d["title"] in STORY_TITLES]
        assert len(story) == 4
        assert len({d["story_id"] for d in story}) == 1
        assert len({d["story_id"] for d in documents}) == SEED_UNIQUE - 3
        [ecb] = [d for d in documents if d["title"].startswith("ECB holds")]
        assert len(ecb["sources"]) == 2
    finally:
        for process in workers:
            stop_worker(process)
        store.drop_all()
