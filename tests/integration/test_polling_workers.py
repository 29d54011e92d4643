"""Polling through real Celery processes: a worker killed mid-poll loses no feed and polls none
twice; the beat's single tick picks up a feed added while it runs."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from newswire.feeds.polling import schedule_due
from newswire.feeds.store import FeedStore
from newswire.ingest.store import RedisStore
from newswire.search.store import SearchStore
from newswire.settings import Settings
from pipeline.feedlist import FeedConfig
from tests.feedserver import FeedServer, Reply, hours_ago, rss
from tests.integration.conftest import ROOT, RUN_ID, TEST_ENV, start_worker, stop_worker
from workers.celery_app import CELERY_COMMAND
from workers.tasks import poll_due_feeds

pytestmark = pytest.mark.integration

WORKER_ENV = {
    "NEWSWIRE_POLL_LEASE_SECONDS": "6",
    "NEWSWIRE_POLL_BATCH_SIZE": "3",
    "NEWSWIRE_HOST_MIN_DELAY_SECONDS": "0",
    "NEWSWIRE_HOST_MAX_CONCURRENCY": "50",
    "NEWSWIRE_FETCH_TIMEOUT_SECONDS": "15",
    "NEWSWIRE_FETCH_READ_TIMEOUT_SECONDS": "10",
    "NEWSWIRE_POLL_MIN_INTERVAL_SECONDS": "600",
    "NEWSWIRE_POLL_JITTER": "0",
}


@pytest.fixture(scope="module")
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


@pytest.fixture
def feed_store(
    settings: Settings, redis_store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> FeedStore:
    for name, value in WORKER_ENV.items():
        monkeypatch.setenv(name, value)  # read by the worker and beat processes started here
    store = FeedStore(redis_store.client, settings.index_prefix)
    store.client.set(store.keys.seeded, "tests")  # no config/feeds.yaml in the test store
    return store


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def _kill_hard(process: subprocess.Popen[bytes]) -> None:
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    pids = [int(p) for p in children.read_text().split()] if children.exists() else []
    os.kill(process.pid, signal.SIGKILL)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait()


def test_a_worker_killed_mid_poll_loses_no_feed_and_polls_none_twice(
    tmp_path: Path,
    settings: Settings,
    search_store: SearchStore,
    feed_store: FeedStore,
    server: FeedServer,
) -> None:
    queue = f"test-{RUN_ID}-restart"
    run = secrets.token_hex(3)
    ids = [f"restart-{run}-{i}" for i in range(6)]
    for i, feed_id in enumerate(ids):
        body = rss(
            [(f"{feed_id}-{n}", f"Restart story {n} of feed {i}", hours_ago(n)) for n in (1, 2)]
        )
        # Slow enough that the kill lands while every poll waits for its response.
        server.routes[f"/{feed_id}"] = Reply(body=body, delay=3.0, etag=f'"{feed_id}"')
        feed_store.add(FeedConfig(id=feed_id, url=server.url(f"/{feed_id}")))
    lease = float(WORKER_ENV["NEWSWIRE_POLL_LEASE_SECONDS"])
    tick_settings = settings.model_copy(update={"poll_lease_seconds": lease, "poll_batch_size": 3})
    sent: list[list[tuple[str, int]]] = []

    def tick() -> int:
        def send(batch: list[tuple[str, int]]) -> None:
            sent.append(batch)
            poll_due_feeds.apply_async(args=[batch], queue=queue)

        return schedule_due(feed_store, settings=tick_settings, send=send)

    first = start_worker(tmp_path / "first.log", concurrency=2, queue=queue)
    try:
        assert tick() == len(ids)
        _wait(
            lambda: all(server.requests(f"/{f}") for f in ids), 30, "every feed's request in flight"
        )
    finally:
        _kill_hard(first)
    assert all(s.ended is None for f in ids for s in server.requests(f"/{f}"))
    assert all(feed_store.get(f).state.polls == 0 for f in ids)
    first_batches = list(sent)

    second = start_worker(tmp_path / "second.log", concurrency=2, queue=queue)
    try:

        def all_polled() -> bool:
            tick()
            return all(feed_store.get(f).state.last_status == "200" for f in ids)

        _wait(all_polled, 90, "every feed polled after the restart")
        # The first worker's tasks, delivered again as a broker would: all stand down.
        replies = [
            poll_due_feeds.apply_async(args=[batch], queue=queue).get(timeout=60)
            for batch in first_batches
        ]
        assert {o for reply in replies for o in reply["outcomes"]} == {"stale"}
        query = {"terms": {"feed_id": ids}}

        def indexed() -> int:
            search_store.refresh()
            return int(search_store.es.count(index=settings.articles_alias, query=query)["count"])

        _wait(lambda: indexed() >= 2 * len(ids), 120, "the feeds' articles indexed")
    finally:
        stop_worker(second)
    for feed_id in ids:
        requests = server.requests(f"/{feed_id}")
        assert server.max_in_flight[f"/{feed_id}"] == 1  # never two polls of a feed at once
        assert len(requests) == 2  # the one the kill cut short, and one more
        state = feed_store.get(feed_id).state
        assert (state.polls, state.last_new_entries, state.consecutive_errors) == (1, 2, 0)
        assert state.next_due is not None
        assert state.next_due > time.time() + 500
    assert indexed() == 2 * len(ids)  # nothing lost, nothing twice


def test_beat_polls_a_feed_added_while_it_runs(
    tmp_path: Path, settings: Settings, feed_store: FeedStore, server: FeedServer
) -> None:
    queue = f"test-{RUN_ID}-beat"
    run = secrets.token_hex(3)
    env = {
        **os.environ,
        **TEST_ENV,
        **WORKER_ENV,
        "NEWSWIRE_QUEUE": queue,
        "NEWSWIRE_POLL_TICK_SECONDS": "1",
    }
    for name in ("early", "late"):
        server.routes[f"/beat-{run}-{name}"] = Reply(
            body=rss([(f"beat-{run}-{name}", f"Beat story {name}", hours_ago(1))])
        )
    feed_store.add(FeedConfig(id=f"beat-{run}-early", url=server.url(f"/beat-{run}-early")))
    worker = start_worker(tmp_path / "worker.log", concurrency=1, queue=queue)
    beat_log = (tmp_path / "beat.log").open("wb")
    beat = subprocess.Popen(
        [
            *CELERY_COMMAND,
            "beat",
            "--schedule",
            str(tmp_path / "beat-schedule"),
            "--loglevel",
            "INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=beat_log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait(lambda: feed_store.get(f"beat-{run}-early").state.polls == 1, 60, "the first feed")
        feed_store.add(FeedConfig(id=f"beat-{run}-late", url=server.url(f"/beat-{run}-late")))
        _wait(lambda: feed_store.get(f"beat-{run}-late").state.polls == 1, 30, "the added feed")
        time.sleep(2.5)  # more ticks: neither feed is due again (next poll in 600 s)
        assert feed_store.get(f"beat-{run}-early").state.polls == 1
        assert len(server.requests(f"/beat-{run}-early")) == 1
    finally:
        beat.terminate()
        beat.wait(timeout=30)
        beat_log.close()
        stop_worker(worker)
