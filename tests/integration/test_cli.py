"""The `newswire` command line against the real services and worker."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from typer.testing import CliRunner

from newswire.cli import app
from newswire.ingest.store import RedisStore
from newswire.search.store import SearchStore
from tests.integration.helpers import SEEDS

pytestmark = pytest.mark.integration
runner = CliRunner()


def _json(*args: str) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_search_json_has_hits_facets_and_story_ids(ingested: list[dict[str, Any]]) -> None:
    body = _json("search", "Kursk", "--person", "Valery Gerasimov", "--no-collapse")
    assert body["total"] >= 3
    assert all("Valery Gerasimov" in hit["persons"] for hit in body["hits"])
    assert all(hit["story_id"] for hit in body["hits"])
    labels = body["facet_labels"]["person"]
    persons = {labels.get(key, key): count for key, count in body["facets"]["person"]}
    assert persons["Valery Gerasimov"] == body["total"]


def test_search_table_and_invalid_search(ingested: list[dict[str, Any]]) -> None:
    table = runner.invoke(app, ["search", "Kursk"])
    assert table.exit_code == 0
    assert "stories match" in table.stdout
    bad = runner.invoke(app, ["search", "x", "--from", "yesterday"])
    assert bad.exit_code == 2
    assert "from must be a date" in bad.output


def test_actors_and_alerts_listings(ingested: list[dict[str, Any]]) -> None:
    actors = {a["id"]: a for a in _json("actors", "list")}
    assert "Зеленский" in actors["volodymyr-zelensky"]["aliases"]
    assert "query" not in actors["volodymyr-zelensky"]
    alerts = _json("alerts", "--actor", "valery-gerasimov")
    assert {a["actor_id"] for a in alerts} == {"valery-gerasimov"}
    # One alert per (rule, story): the seed story's copies and translation are one alert that
    # lists them all, not one alert each.
    assert len(alerts) == len({a["story_id"] for a in alerts})
    assert max(len(a["doc_ids"]) for a in alerts) >= 4
    assert runner.invoke(app, ["alerts"]).exit_code == 0
    assert runner.invoke(app, ["actors", "list"]).exit_code == 0


def test_ingest_a_feed_file_waits_for_the_workers(
    worker: subprocess.Popen[bytes], search_store: SearchStore
) -> None:
    result = runner.invoke(app, ["ingest", str(SEEDS / "newsdesk.json")])
    assert result.exit_code == 0, result.output
    assert "queued 2 articles in 1 batches" in result.stdout
    # Already ingested by the session fixture: the workers report them as existing.
    assert "existing=2" in result.stdout
    missing = runner.invoke(app, ["ingest", "no/such/feed.xml"])
    assert missing.exit_code == 2


def test_status_and_deadletters(ingested: list[dict[str, Any]], redis_store: RedisStore) -> None:
    status = _json("status")
    assert status["elasticsearch"] in {"green", "yellow"}
    assert status["articles"] > 0
    redis_store.dead_letter("article", "cli test reason", {"title": "x"})
    letters = _json("deadletter", "list")
    assert any(d["reason"] == "cli test reason" for d in letters)


def test_config_prints_every_setting() -> None:
    result = runner.invoke(app, ["config", "--markdown"])
    assert result.exit_code == 0
    assert "| `NEWSWIRE_ES_URL` |" in result.stdout
    assert "| `NEWSWIRE_FEED_ALLOW_NETWORKS` |" in result.stdout


def test_deadletter_replay_queues_articles_and_keeps_what_holds_none(
    worker: subprocess.Popen[bytes], search_store: SearchStore, redis_store: RedisStore
) -> None:
    import secrets
    import time

    from newswire.settings import get_settings
    from tests.integration.helpers import seed_articles

    run = secrets.token_hex(4)
    base = seed_articles(get_settings())[0]
    article = base.to_dict() | {
        # A feed and source of their own: other tests count the seed feeds' documents.
        "feed_id": f"replay-{run}",
        "source": f"Replay desk {run}",
        "guid": f"replay-{run}",
        "url": f"https://wire.example/replay-{run}",
        "original_url": f"https://wire.example/replay-{run}",
        "title": f"Replayed wire story {run}",
        "body": f"A story held back by a bug and replayed after the fix, reference {run}. " * 6,
    }
    # Other tests' dead letters are set aside and put back, so only ours are replayed.
    others = [stored for stored, _ in redis_store.dead_letter_entries(100_000)]
    for stored in others:
        redis_store.forget_dead_letter(stored)
    try:
        redis_store.dead_letter("article", "unparseable date", article)
        redis_store.dead_letter("message", "not a kombu envelope", f"garbage {run}")
        result = runner.invoke(app, ["deadletter", "replay"])
        assert result.exit_code == 0, result.output
        assert "requeued 1 articles" in result.stdout
        assert "kept 1 dead letters" in result.output
        assert [row["kind"] for row in redis_store.dead_letters(10)] == ["message"]
    finally:
        for stored, _ in redis_store.dead_letter_entries(100_000):
            redis_store.forget_dead_letter(stored)
        if others:
            redis_store.client.rpush(redis_store._key("deadletter"), *others)

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        search_store.refresh()
        hits = search_store.search({"query": {"match_phrase": {"title": run}}})["hits"]["hits"]
        if hits:
            break
        time.sleep(0.5)
    assert [h["_source"]["title"] for h in hits] == [f"Replayed wire story {run}"]
