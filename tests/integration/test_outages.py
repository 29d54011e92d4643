"""Backends that go away: workers wait and retry, give up only into the dead-letter list, and
people get one line (CLI) or a 503 (API), never a stack trace."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from newswire.ingest.store import RedisStore
from newswire.search.store import SearchStore
from newswire.settings import Settings
from pipeline.models import Article
from tests.integration.conftest import ROOT, RUN_ID, TEST_ENV, start_worker, stop_worker
from tests.tcpproxy import TcpProxy, free_port
from workers.tasks import process_articles

pytestmark = pytest.mark.integration


def _article(run: str, index: int) -> Article:
    return Article(
        feed_id="outage-test",
        source="Outage test",
        guid=f"{run}-{index}",
        url=f"https://outage.test/{run}/{index}",
        original_url=None,
        title=f"Port strike enters day {index} as talks stall {run}",
        summary="",
        body=f"Dock workers in Rotterdam extended their strike for day {index}. Talks stall.",
        body_html="",
        published_at="2025-03-12T12:00:00+00:00",
        fetched_at="2025-03-12T12:00:00+00:00",
    )


def _indexed(store: SearchStore, settings: Settings, run: str) -> int:
    store.refresh()
    query = {"prefix": {"guid": run}}
    return int(store.es.count(index=settings.articles_alias, query=query)["count"])


def _es_target(settings: Settings) -> tuple[str, int]:
    parts = urlsplit(settings.es_url)
    return parts.hostname or "127.0.0.1", parts.port or 9200


def test_outage_shorter_than_the_retry_budget_loses_nothing(
    tmp_path: Path, settings: Settings, search_store: SearchStore, redis_store: RedisStore
) -> None:
    proxy = TcpProxy(_es_target(settings))
    proxy.restore()
    queue = f"test-{RUN_ID}-outage"
    run = secrets.token_hex(4)
    env = {"NEWSWIRE_ES_URL": proxy.url, "NEWSWIRE_TASK_MAX_RETRIES": "8"}
    worker = start_worker(tmp_path / "worker.log", concurrency=1, queue=queue, extra_env=env)
    try:
        proxy.cut()
        results = [
            process_articles.apply_async(args=[[_article(run, i).to_dict()]], queue=queue)
            for i in range(3)
        ]
        time.sleep(8)  # the workers meet the outage and back off
        assert _indexed(search_store, settings, run) == 0
        proxy.restore()
        reports = [r.get(timeout=180) for r in results]
        assert [r.get("indexed") for r in reports] == [1, 1, 1]
        assert _indexed(search_store, settings, run) == 3
        log = (tmp_path / "worker.log").read_text()
        assert "batch will be retried" in log
        assert "Traceback" not in log  # one line per retry, no stack per article
    finally:
        stop_worker(worker)
        proxy.cut()


def test_outage_longer_than_the_retry_budget_ends_in_the_dead_letter_list(
    tmp_path: Path, settings: Settings, redis_store: RedisStore
) -> None:
    queue = f"test-{RUN_ID}-dead"
    run = secrets.token_hex(4)
    down = f"http://127.0.0.1:{free_port()}"
    env = {"NEWSWIRE_ES_URL": down, "NEWSWIRE_TASK_MAX_RETRIES": "2"}
    worker = start_worker(tmp_path / "worker.log", concurrency=1, queue=queue, extra_env=env)
    try:
        batch = [_article(run, i).to_dict() for i in range(2)]
        report = process_articles.apply_async(args=[batch], queue=queue).get(timeout=180)
        assert report == {"dead_letters": 2}
        # Other tests' dead letters share the list: articles (a dict each) and batches (lists).
        letters = [d for d in redis_store.dead_letters(1000) if run in json.dumps(d["payload"])]
        assert len(letters) == 1
        assert letters[0]["kind"] == "batch"
        assert f"Elasticsearch at {down} is unreachable" in letters[0]["reason"]
        assert "retries exhausted (2)" in letters[0]["reason"]
    finally:
        stop_worker(worker)


def _newswire(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "newswire.cli", *args],
        cwd=ROOT,
        env={**os.environ, **TEST_ENV, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_says_in_one_line_which_backend_is_down() -> None:
    redis_url = f"redis://127.0.0.1:{free_port()}/0"
    done = _newswire(
        "feeds", "add", "https://wire.example/feed.xml", env={"NEWSWIRE_REDIS_URL": redis_url}
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"Redis at {redis_url} is unreachable" in lines[0]
    assert "scripts/services up" in lines[0]

    es_url = f"http://127.0.0.1:{free_port()}"
    done = _newswire("search", "Kursk", env={"NEWSWIRE_ES_URL": es_url})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: Elasticsearch at {es_url} is unreachable (connection refused); start it with "
        "`scripts/services up`, or point NEWSWIRE_ES_URL at a running server"
    ]
    debug = _newswire("--debug", "search", "Kursk", env={"NEWSWIRE_ES_URL": es_url})
    assert "Traceback" in debug.stderr or "ConnectionError" in debug.stderr


def test_api_answers_503_naming_the_backend_and_health_reports_each() -> None:
    es_url = f"http://127.0.0.1:{free_port()}"
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "newswire.api:app", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, **TEST_ENV, "NEWSWIRE_ES_URL": es_url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/openapi.json", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "API did not start"
                time.sleep(0.3)
        answer = httpx.get(f"{base}/search", params={"q": "Kursk"}, timeout=60)
        assert answer.status_code == 503
        assert answer.json()["backend"] == "Elasticsearch"
        assert es_url in answer.json()["detail"]
        health = httpx.get(f"{base}/health", timeout=60)
        assert health.status_code == 503
        assert health.json()["elasticsearch"] == "unreachable"
        assert health.json()["redis"] is True
        assert httpx.get(f"{base}/feeds", timeout=10).status_code == 200  # Redis still answers
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    assert b"Traceback" not in stderr
