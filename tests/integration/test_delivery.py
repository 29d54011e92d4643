"""At-least-once delivery: worker processes killed mid-batch lose nothing and duplicate nothing."""

from __future__ import annotations

import os
import secrets
import signal
import time
from pathlib import Path

import pytest

from newswire.search.store import SearchStore
from newswire.settings import Settings
from pipeline.models import Article
from tests.integration.conftest import RUN_ID, start_worker, stop_worker
from workers.tasks import process_articles

pytestmark = pytest.mark.integration

WORDS = (
    "ministers",
    "talks",
    "Geneva",
    "Brussels",
    "ceasefire",
    "delegation",
    "border",
    "agreement",
    "sanctions",
    "officials",
    "Tuesday",
    "statement",
    "region",
    "troops",
)


def _long_article(index: int, run: str) -> Article:
    # Long bodies make each batch take seconds of NER, so the kill lands mid-task.
    rng = secrets.SystemRandom()
    body = " ".join(
        f"Sentence {n} of report {index}: " + " ".join(rng.choice(WORDS) for _ in range(18)) + "."
        for n in range(160)
    )
    return Article(
        feed_id="delivery-test",
        source="Delivery test",
        guid=f"{run}-{index}",
        url=f"https://delivery.test/{run}/{index}",
        original_url=None,
        title=f"Delivery report {index} {run}",
        summary="",
        body=body,
        body_html="",
        published_at="2025-03-12T12:00:00+00:00",
        fetched_at="2025-03-12T12:00:00+00:00",
    )


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def test_killed_worker_processes_lose_no_article_and_index_none_twice(
    tmp_path: Path, settings: Settings, search_store: SearchStore
) -> None:
    queue = f"test-{RUN_ID}-crash"
    run = secrets.token_hex(4)
    articles = [_long_article(i, run) for i in range(12)]
    worker = start_worker(tmp_path / "worker.log", concurrency=2, queue=queue)
    try:
        for i in range(0, len(articles), 3):
            batch = [a.to_dict() for a in articles[i : i + 3]]
            process_articles.apply_async(args=[batch], queue=queue)
        time.sleep(1.5)  # both children are inside a batch now
        killed = _children(worker.pid)
        assert killed, "the worker has no child processes to kill"
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        query = {"term": {"feed_id": "delivery-test"}}
        deadline = time.monotonic() + 240
        count = 0
        while time.monotonic() < deadline:
            search_store.refresh()
            count = search_store.es.count(index=settings.articles_alias, query=query)["count"]
            if count >= len(articles):
                break
            time.sleep(1)
        assert count == len(articles)
        log = (tmp_path / "worker.log").read_text()
        assert "WorkerLostError" in log or "exited" in log  # the kill really hit running tasks
    finally:
        stop_worker(worker)
