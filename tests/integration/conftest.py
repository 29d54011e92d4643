"""Integration fixtures: the real Redis and Elasticsearch (scripts/services up) and real Celery
worker processes, isolated per run by a unique index prefix, queue name and Redis database."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest


class FakeLibreTranslate(BaseHTTPRequestHandler):
    """A LibreTranslate-compatible service on loopback: marks what it was asked to translate."""

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = json.dumps(
            {"translatedText": f"[{request['source']}->{request['target']}] {request['q']}"}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


TRANSLATE_SERVER = ThreadingHTTPServer(("127.0.0.1", 0), FakeLibreTranslate)
threading.Thread(target=TRANSLATE_SERVER.serve_forever, daemon=True).start()

RUN_ID = secrets.token_hex(4)
ES_URL = os.environ.get("NEWSWIRE_ES_URL", "http://127.0.0.1:9280")
REDIS_BASE = os.environ.get("NEWSWIRE_REDIS_URL", "redis://127.0.0.1:6380/0").rsplit("/", 1)[0]


def _claim_redis_db() -> int:
    """A Redis database of its own for this run (1-15; db 0 is the demo's), so test runs on
    one Redis never flush each other's state. The claim expires if a run dies."""
    import redis

    for db in range(15, 0, -1):
        client = redis.Redis.from_url(f"{REDIS_BASE}/{db}")
        try:
            if client.set("newswire-test-run", RUN_ID, nx=True, ex=3 * 3600):
                return db
        except redis.ConnectionError:
            return 15  # no Redis yet: the redis_store fixture fails with a clear message
        finally:
            client.close()
    raise RuntimeError("all Redis databases 1-15 are claimed by other test runs")


TEST_DB = _claim_redis_db()
TEST_ENV = {
    "NEWSWIRE_ES_URL": ES_URL,
    # Flushed before and after the run, and released.
    "NEWSWIRE_REDIS_URL": f"{REDIS_BASE}/{TEST_DB}",
    "NEWSWIRE_INDEX_PREFIX": f"test-{RUN_ID}",
    "NEWSWIRE_QUEUE": f"test-{RUN_ID}",
    # The tests' own feed server runs on loopback; only the tests allow it.
    "NEWSWIRE_FEED_ALLOW_NETWORKS": "127.0.0.1/32",
    "NEWSWIRE_WORKER_METRICS_PORT": "0",
    "NEWSWIRE_BATCH_SIZE": "4",
    "NEWSWIRE_TASK_MAX_RETRIES": "2",
    "NEWSWIRE_TRANSLATE_URL": f"http://127.0.0.1:{TRANSLATE_SERVER.server_address[1]}",
}
# Set before anything imports the settings or the Celery app, so both use the test services.
os.environ.update(TEST_ENV)

from newswire.alerts.store import AlertStore  # noqa: E402
from newswire.ingest.store import RedisStore  # noqa: E402
from newswire.search.store import SearchStore  # noqa: E402
from newswire.settings import Settings, get_settings  # noqa: E402
from pipeline.alerts import parse_actors  # noqa: E402
from tests.integration.helpers import SEED_ENTRIES, seed_articles, wait_all  # noqa: E402
from workers.celery_app import worker_command  # noqa: E402
from workers.tasks import enqueue_articles  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def settings() -> Settings:
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture(scope="session")
def redis_store(settings: Settings) -> Iterator[RedisStore]:
    store = RedisStore.from_url(settings.redis_url, settings.index_prefix)
    try:
        store.client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means the same thing here
        pytest.fail(
            f"Redis is not reachable at {settings.redis_url} ({exc}); "
            "run scripts/services up or scripts/test",
            pytrace=False,
        )
    claim = store.client.get("newswire-test-run")
    store.client.flushdb()
    store.client.set("newswire-test-run", claim or RUN_ID, ex=3 * 3600)
    yield store
    store.client.flushdb()  # also releases the database


@pytest.fixture(scope="session")
def search_store(settings: Settings) -> Iterator[SearchStore]:
    store = SearchStore.from_settings(settings)
    try:
        store.es.cluster.health(wait_for_status="yellow", timeout="30s")
    except Exception as exc:  # noqa: BLE001
        pytest.fail(
            f"Elasticsearch is not reachable at {settings.es_url} ({exc}); "
            "run scripts/services up or scripts/test",
            pytrace=False,
        )
    store.ensure_indices()
    AlertStore.of(store).sync_actors(parse_actors(settings.actors_file.read_text(encoding="utf-8")))
    yield store
    store.drop_all()


def start_worker(
    log_path: Path,
    concurrency: int = 2,
    queue: str = TEST_ENV["NEWSWIRE_QUEUE"],
    extra_env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """A real Celery worker process (prefork) on `queue`; returns once it is ready."""
    env = {**os.environ, **TEST_ENV, "NEWSWIRE_LOG_FORMAT": "json", "NEWSWIRE_QUEUE": queue}
    env.update(extra_env or {})
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        worker_command(queue, concurrency, hostname=f"test-{RUN_ID}-{secrets.token_hex(2)}@%h"),
        cwd=ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"worker exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        if b" ready." in log_path.read_bytes():
            return process
        time.sleep(0.25)
    process.kill()
    pytest.fail(f"worker not ready within 90 s:\n{log_path.read_text()[-3000:]}")


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    process.terminate()  # warm shutdown: finish the running task, then exit
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def worker(
    tmp_path_factory: pytest.TempPathFactory, search_store: SearchStore, redis_store: RedisStore
) -> Iterator[subprocess.Popen[bytes]]:
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    process = start_worker(log_path)
    yield process
    stop_worker(process)


@pytest.fixture(scope="session")
def ingested(
    settings: Settings, search_store: SearchStore, worker: subprocess.Popen[bytes]
) -> list[dict[str, Any]]:
    """Ingest the seeds twice at once, in small batches, so two worker processes race."""
    articles = seed_articles(settings)
    assert len(articles) == SEED_ENTRIES
    with ThreadPoolExecutor(2) as pool:
        batches = list(pool.map(enqueue_articles, [articles, list(reversed(articles))]))
    outcomes = wait_all([r for results in batches for r in results])
    search_store.refresh()
    return outcomes
