"""Events through the real workers: the seeds and the other outlets' reports (seeds/coverage),
ingested by Celery worker processes, carry one event_id in Elasticsearch; the event page of the
API lists their stories, and search grouped by event shows them as one hit."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from newswire.api import app as api_app
from newswire.cli import app as cli_app
from newswire.feeds.polling import articles_from_feed
from newswire.search.service import search as run_search
from newswire.search.store import SearchStore
from newswire.settings import Settings
from pipeline.search import SearchRequest
from tests.integration.helpers import SEEDS, wait_all
from tests.integration.test_events import COVERAGE, DEMANDS, PRESSER
from workers.tasks import enqueue_articles

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def covered(
    settings: Settings,
    search_store: SearchStore,
    ingested: list[dict[str, Any]],
    worker: subprocess.Popen[bytes],
) -> Iterator[dict[str, dict[str, Any]]]:
    """The seeds (ingested by the session's workers) and the coverage feeds after them; the
    coverage documents are deleted again afterwards, so later tests count only the seeds."""
    articles = []
    for path in sorted(COVERAGE.iterdir()):
        articles += articles_from_feed(
            path.read_bytes(), feed_id=path.stem, source=None, settings=settings
        )
    wait_all(enqueue_articles(articles))
    search_store.refresh()
    feed_ids = [p.stem for p in (*SEEDS.iterdir(), *COVERAGE.iterdir())]
    response = search_store.es.search(
        index=settings.articles_alias,
        query={"terms": {"feed_id": feed_ids}},
        size=100,
        source_includes=["doc_id", "title", "story_id", "event_id", "source"],
    )
    yield {hit["_source"]["title"]: hit["_source"] for hit in response["hits"]["hits"]}
    # This Elasticsearch has no _delete_by_query (no reindex module): by id, in one bulk.
    coverage = search_store.es.search(
        index=settings.articles_alias,
        query={"terms": {"feed_id": [p.stem for p in COVERAGE.iterdir()]}},
        size=100,
        source=False,
    )["hits"]["hits"]
    if coverage:
        search_store.es.bulk(
            operations=[
                {"delete": {"_index": hit["_index"], "_id": hit["_id"]}} for hit in coverage
            ],
            refresh=True,
        )


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(api_app) as test_client:
        yield test_client


def test_the_workers_put_the_seed_story_and_the_other_reports_in_one_event(
    covered: dict[str, dict[str, Any]],
) -> None:
    indexed = DEMANDS & set(covered)
    # The aggregator's re-post and InoSMI's English copy may be exact copies folded into
    # their original: every title indexed on its own must carry the event.
    assert len(indexed) >= 5, sorted(covered)
    events = {covered[title]["event_id"] for title in indexed}
    assert len(events) == 1
    assert covered[PRESSER]["event_id"] not in events
    others = {t for t, d in covered.items() if d["event_id"] in events} - DEMANDS
    assert not others


def test_the_event_page_lists_its_stories_with_sources_and_times(
    covered: dict[str, dict[str, Any]], client: TestClient
) -> None:
    reuters = covered["Russia hands US list of demands for ending Ukraine war, sources say"]
    response = client.get(f"/events/{reuters['event_id']}")
    assert response.status_code == 200
    event = response.json()
    assert event["event_id"] == reuters["event_id"]
    assert {"en", "ru", "de"} <= set(event["languages"])
    # Through the workers the story stage's translation rule takes the independent reports for
    # translations of InoSMI's Russian text, so they may share one story: the event holds them
    # either way.
    stories = len(event["stories"])
    assert event["coverage"] == (
        f"Full coverage: {stories} {'story' if stories == 1 else 'stories'} from "
        f"{len(event['outlets'])} outlets in {len(event['languages'])} languages"
    )
    assert len(event["outlets"]) >= 6
    articles = [a for s in event["stories"] for a in s["articles"]]
    assert len(articles) >= 6
    assert all(a["published_at"] and a["sources"] for a in articles)
    # An article's id finds its event too; an unknown id is a 404.
    assert client.get(f"/events/{reuters['doc_id']}").json()["event_id"] == reuters["event_id"]
    assert client.get("/events/no-such-event").status_code == 404
    listed = client.get("/events", params={"limit": 50}).json()
    assert reuters["event_id"] in {row["event_id"] for row in listed}


def test_search_grouped_by_event_shows_the_coverage_as_one_hit(
    covered: dict[str, dict[str, Any]], search_store: SearchStore
) -> None:
    event_id = covered[PRESSER]["event_id"]
    reuters = covered["Russia hands US list of demands for ending Ukraine war, sources say"]
    by_story = run_search(search_store, SearchRequest(query="Kremlin", size=50))
    by_event = run_search(search_store, SearchRequest(query="Kremlin", size=50, group="event"))
    assert by_event.total <= by_story.total
    hits = {h.event_id: h for h in by_event.hits}
    assert event_id in hits
    demands = hits[reuters["event_id"]]
    assert len(demands.event_sources) >= 6
    assert demands.event_coverage.startswith(f"Full coverage: {demands.event_stories} stor")
    assert len(by_event.hits) == len(hits)  # one hit per event


def test_newswire_event_and_events_print_the_coverage(covered: dict[str, dict[str, Any]]) -> None:
    reuters = covered["Russia hands US list of demands for ending Ukraine war, sources say"]
    runner = CliRunner()
    shown = runner.invoke(cli_app, ["event", reuters["doc_id"]])
    assert shown.exit_code == 0, shown.output
    assert "Full coverage:" in shown.output
    as_json = runner.invoke(cli_app, ["event", reuters["doc_id"], "--json"])
    assert "Rheinland Nachrichtendienst" in as_json.output
    listed = runner.invoke(cli_app, ["events", "--json", "--limit", "50"])
    assert listed.exit_code == 0, listed.output
    assert reuters["event_id"] in listed.output
    missing = runner.invoke(cli_app, ["event", "no-such-event"])
    assert missing.exit_code == 1


def test_the_newsroom_event_page_lists_the_stories(
    covered: dict[str, dict[str, Any]], client: TestClient
) -> None:
    reuters = covered["Russia hands US list of demands for ending Ukraine war, sources say"]
    page = client.get(f"/event/{reuters['doc_id']}")
    assert page.status_code == 200
    assert "Full coverage:" in page.text
    assert f"/story/{reuters['story_id']}" in page.text
    assert "Rheinland Nachrichtendienst" in page.text
    assert client.get("/event/no-such-event").status_code == 404
