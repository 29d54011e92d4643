"""The real stack under a steady stream of wire copy, shared by bench/chaos.py and bench/soak.py.

* `StreamingFeeds`: a ThreadingHTTPServer on 127.0.0.1 whose RSS documents grow as time passes
  (article i is published at i / rate seconds), with ETags, so the poller meets new entries on
  every poll and 304s in between, as from a live wire.
* `Stack`: a real Celery worker (prefork) and a real beat on a queue, index prefix and Redis
  database of their own; beat's tick polls the managed feeds and sweeps alert deliveries.
* `WebhookReceiver`: the loopback endpoint of an alert rule that matches every bench article;
  it counts deliveries per (rule, story) and per delivery id.
* `account`: where each offered article ended up, from Elasticsearch and the dead-letter list:
  indexed, recorded as a duplicate source of the indexed original, or dead-lettered; the rest
  is lost. Texts indexed in more than one document are "indexed twice".
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import subprocess
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_pipeline import (
    ROOT,
    WireArticle,
    Worker,
    children,
    rss_document,
    setup_store,
    start_worker,
    wait_ready,
)

if TYPE_CHECKING:
    from newswire.search.store import SearchStore
    from newswire.settings import Settings

# The bench article's number is the last path segment of its link (bench_pipeline._wire_article).
_ARTICLE_NUMBER = re.compile(r"-(\d{7})/?(?:$|[?#])")
RULE_ID = "every-bench-article"
WEBHOOK_SECRET = "chaos-" + secrets.token_hex(16)


def article_number(url: str | None) -> int | None:
    match = _ARTICLE_NUMBER.search(url or "")
    return int(match.group(1)) if match else None


def text_key(article: WireArticle) -> str:
    """Identity of an article's text: copies (bench duplicates) share it with their original."""
    text = "\n".join([article.title, *article.paragraphs])
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


# --------------------------------------------------------------------------------------------
# Feeds that grow while the run goes on
# --------------------------------------------------------------------------------------------
class StreamingFeeds:
    """Serves /feeds/<id>.xml; article i (in corpus order) appears `i / rate` s after start().

    `keep_seconds` bounds the documents for long runs: an entry leaves its feed that long after
    it was first served, never before, so an entry nobody fetched cannot scroll away unseen.
    """

    def __init__(
        self,
        corpus: Sequence[WireArticle],
        rate: float,
        keep_seconds: float | None = None,
    ) -> None:
        self.corpus = corpus
        self.rate = rate
        self.keep_seconds = keep_seconds
        self.started: float | None = None
        self.by_feed: dict[int, list[int]] = defaultdict(list)
        for number, article in enumerate(corpus):
            self.by_feed[article.feed].append(number)
        self.first_served: dict[int, float] = {}
        self._rendered: dict[int, tuple[str, bytes]] = {}
        self.requests = 0
        self.not_modified = 0
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def feed_ids(self) -> list[str]:
        return [f"bench-feed-{feed:03d}" for feed in sorted(self.by_feed)]

    def url(self, feed_id: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/feeds/{feed_id}.xml"

    def start(self) -> None:
        self.started = time.monotonic()

    def offered(self) -> int:
        """How many articles are published by now (corpus order)."""
        if self.started is None:
            return 0
        return min(len(self.corpus), int((time.monotonic() - self.started) * self.rate))

    def done_publishing(self) -> bool:
        return self.offered() >= len(self.corpus)

    def _visible(self, feed: int) -> list[int]:
        published = self.offered()
        now = time.monotonic()
        with self._lock:
            return [
                n
                for n in self.by_feed.get(feed, [])
                if n < published
                and (
                    self.keep_seconds is None
                    or now - self.first_served.get(n, now) < self.keep_seconds
                )
            ]

    def _served(self, numbers: Sequence[int]) -> None:
        # Only once the whole body went out: a poller that timed out mid-read did not see them.
        now = time.monotonic()
        with self._lock:
            for number in numbers:
                self.first_served.setdefault(number, now)

    def _document(self, feed: int, etag: str, visible: Sequence[int]) -> bytes:
        # Every poll of an unchanged feed gets a 304; a changed one is rendered once.
        cached = self._rendered.get(feed)
        if cached and cached[0] == etag:
            return cached[1]
        body = rss_document(feed, [self.corpus[n] for n in reversed(visible)])
        self._rendered[feed] = (etag, body)
        return body

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        feeds = self

        class FeedHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                feed_id = self.path.removeprefix("/feeds/").removesuffix(".xml")
                feed = int(feed_id.rsplit("-", 1)[-1]) if feed_id[-3:].isdigit() else -1
                feeds.requests += 1
                if feed not in feeds.by_feed:
                    self.send_error(404)
                    return
                visible = feeds._visible(feed)
                etag = f'"{feed}-{len(visible)}-{visible[0] if visible else 0}"'
                if self.headers.get("If-None-Match") == etag:
                    feeds.not_modified += 1
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = feeds._document(feed, etag, visible)
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                feeds._served(visible)

            def log_message(self, *_: Any) -> None:
                return

        return FeedHandler

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------------------------
# Alert receiver
# --------------------------------------------------------------------------------------------
@dataclass
class WebhookReceiver:
    """What the rule's webhook saw: the delivery ids accepted for each (rule, story)."""

    deliveries: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        receiver = self

        class Hook(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                delivery = str(body.get("delivery_id"))
                key = (str(body["rule"]["id"]), str(body.get("story", {}).get("story_id")))
                with receiver.lock:
                    receiver.requests += 1
                    receiver.deliveries[key].add(delivery)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stories(self) -> set[str]:
        with self.lock:
            return {story for _, story in self.deliveries}

    def duplicated(self) -> int:
        """Deliveries beyond the first for a (rule, story): a second alert for one story."""
        with self.lock:
            return sum(len(ids) - 1 for ids in self.deliveries.values())

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


# --------------------------------------------------------------------------------------------
# The stack: worker + beat on a run's own queue, prefix and Redis db
# --------------------------------------------------------------------------------------------
def stack_env(run_id: str, redis_db: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    redis_base = os.environ.get("NEWSWIRE_REDIS_URL") or (
        f"redis://127.0.0.1:{os.environ.get('NEWSWIRE_REDIS_PORT', '6380')}/0"
    )
    es_url = os.environ.get("NEWSWIRE_ES_URL") or (
        f"http://127.0.0.1:{os.environ.get('NEWSWIRE_ES_PORT', '9280')}"
    )
    # No feeds from config/feeds.yaml: the run polls only its own.
    no_feeds = Path(tempfile.gettempdir()) / "newswire-bench-no-feeds.yaml"
    no_feeds.write_text("feeds: []\n", encoding="utf-8")
    env = {
        "NEWSWIRE_FEEDS_PATH": str(no_feeds),
        "NEWSWIRE_ES_URL": es_url,
        "NEWSWIRE_REDIS_URL": f"{redis_base.rsplit('/', 1)[0]}/{redis_db}",
        "NEWSWIRE_INDEX_PREFIX": f"chaos-{run_id}",
        "NEWSWIRE_QUEUE": f"chaos-{run_id}",
        "NEWSWIRE_FEED_ALLOW_NETWORKS": "127.0.0.1/32",
        "NEWSWIRE_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32",
        "NEWSWIRE_WORKER_METRICS_PORT": "0",
        "NEWSWIRE_LOG_FORMAT": "json",
        # A live wire: every feed is looked at every 2 s (one beat tick a second, no jitter).
        "NEWSWIRE_POLL_TICK_SECONDS": "1",
        "NEWSWIRE_POLL_MIN_INTERVAL_SECONDS": "2",
        "NEWSWIRE_POLL_MAX_INTERVAL_SECONDS": "2",
        "NEWSWIRE_POLL_JITTER": "0",
        "NEWSWIRE_HOST_MIN_DELAY_SECONDS": "0",
        "NEWSWIRE_HOST_MAX_CONCURRENCY": "8",
        # A poll killed with its worker comes back after 20 s instead of 5 minutes.
        "NEWSWIRE_POLL_LEASE_SECONDS": "20",
        "NEWSWIRE_POLL_MAX_ERRORS": "1000",
        "NEWSWIRE_POLL_MAX_BACKOFF_SECONDS": "10",
        "NEWSWIRE_MAX_ENTRIES_PER_FEED": "5000",
        "NEWSWIRE_MAX_FEED_BYTES": str(200 * 1024 * 1024),
        "NEWSWIRE_ALERT_RETRY_BASE_SECONDS": "1",
        "NEWSWIRE_ALERT_RETRY_MAX_SECONDS": "20",
        "NEWSWIRE_ALERT_RETRY_MAX_ATTEMPTS": "50",
    }
    env.update(extra or {})
    return env


@dataclass
class Stack:
    env: dict[str, str]
    workdir: Path
    concurrency: int
    worker: Worker | None = None
    beat: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start the worker (waits until its pool has loaded NER) and beat; seconds to warm."""
        workdir = self.workdir / f"worker-{secrets.token_hex(2)}"
        workdir.mkdir(parents=True)
        self.worker = start_worker(self.env, workdir, self.concurrency, self.env["NEWSWIRE_QUEUE"])
        warm = wait_ready(self.worker, self.concurrency, timeout=300)
        self.start_beat()
        return warm

    def start_beat(self) -> None:
        from workers.celery_app import CELERY_COMMAND

        log_path = self.workdir / f"beat-{secrets.token_hex(2)}.log"
        with log_path.open("wb") as log_file:
            self.beat = subprocess.Popen(
                [
                    *CELERY_COMMAND,
                    "beat",
                    "--schedule",
                    str(self.workdir / "celerybeat"),
                    "--loglevel",
                    "INFO",
                ],
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def pool_pids(self) -> list[int]:
        return children(self.worker.process.pid) if self.worker else []

    def worker_pids(self) -> list[int]:
        return [self.worker.process.pid, *self.pool_pids()] if self.worker else []

    def alive(self) -> dict[str, bool]:
        return {
            "worker": bool(self.worker and self.worker.process.poll() is None),
            "beat": bool(self.beat and self.beat.poll() is None),
        }

    def stop(self) -> None:
        if self.beat is not None and self.beat.poll() is None:
            self.beat.terminate()
            try:
                self.beat.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.beat.kill()
                self.beat.wait()
        if self.worker is not None:
            self.worker.stop()


def rss_kib(pid: int) -> int:
    """Resident set size of one process, from /proc (0 if it is gone)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def setup_run(settings: Settings, feeds: StreamingFeeds, hook_url: str | None) -> SearchStore:
    """Indices, actors, the managed feeds and (with a hook) the every-article alert rule."""
    import redis

    from newswire.alerts.rule_store import rule_store_for
    from newswire.alerts.service import AlertsService
    from newswire.feeds.store import FeedStore
    from pipeline.feedlist import FeedConfig

    redis.Redis.from_url(settings.redis_url).flushdb()
    store = setup_store(settings)
    feed_store = FeedStore.from_url(settings.redis_url, settings.index_prefix)
    for feed_id in feeds.feed_ids:
        feed_store.add(FeedConfig(id=feed_id, url=feeds.url(feed_id), source="Bench Wire"))
    if hook_url:
        client = redis.Redis.from_url(settings.redis_url)
        rules = rule_store_for(client, settings)
        AlertsService(rules, store, settings).create_rule(
            {
                "id": RULE_ID,
                "name": "Every bench article",
                # Every bench article's dateline says "(Newswire)".
                "query": "Newswire",
                "channels": [{"type": "webhook", "url": hook_url, "secret": WEBHOOK_SECRET}],
            }
        )
    return store


# --------------------------------------------------------------------------------------------
# Accounting
# --------------------------------------------------------------------------------------------
@dataclass
class Accounting:
    offered: int
    indexed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    indexed_twice: int = 0
    stories: set[str] = field(default_factory=set)
    dead_letter_records: int = 0
    dead_and_indexed: int = 0
    parked: int = 0  # copies whose source waits in Redis for their original (counted as duplicates)
    lost_numbers: list[int] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.offered - self.indexed - self.duplicates - self.dead_lettered


def _dead_letter_numbers(record: dict[str, Any]) -> list[int]:
    payload = record.get("payload")
    items = payload if isinstance(payload, list) else [payload]
    numbers = []
    for item in items:
        if isinstance(item, dict):
            number = article_number(item.get("original_url")) or article_number(item.get("url"))
            if number is not None:
                numbers.append(number)
    return numbers


def account(
    store: SearchStore, settings: Settings, corpus: Sequence[WireArticle], offered: int
) -> Accounting:
    """Where each of the first `offered` corpus articles is, counted once each."""
    from elasticsearch import helpers

    from newswire.ingest.store import RedisStore

    store.es.indices.refresh(index=settings.articles_alias)
    primary: Counter[int] = Counter()
    sourced: set[int] = set()
    texts: Counter[str] = Counter()
    stories: set[str] = set()
    for hit in helpers.scan(
        store.es,
        index=settings.articles_alias,
        query={"query": {"match_all": {}}},
        _source=["url", "original_url", "sources", "story_id", "doc_id"],
        size=1000,
    ):
        doc = hit["_source"]
        number = article_number(doc.get("original_url")) or article_number(doc.get("url"))
        if number is None or number >= len(corpus):
            continue
        primary[number] += 1
        texts[text_key(corpus[number])] += 1
        stories.add(doc.get("story_id") or doc["doc_id"])
        for source in doc.get("sources") or []:
            other = article_number(source.get("url"))
            if other is not None and other != number:
                sourced.add(other)
    redis_store = RedisStore.from_url(settings.redis_url, settings.index_prefix)
    # A copy of an article that is not indexed yet (in flight, or dead-lettered and not yet
    # replayed) is parked for it in Redis; creating the original drains it into its sources.
    parked: set[int] = set()
    for key in redis_store.client.scan_iter(f"{settings.index_prefix}:story:src:*"):
        for field_name in redis_store.client.hkeys(key):
            number = article_number(str(field_name).split("|", 1)[-1])
            if number is not None:
                parked.add(number)
    letters = redis_store.dead_letters(100_000)
    dead = {n for record in letters for n in _dead_letter_numbers(record)}
    result = Accounting(offered=offered, stories=stories, dead_letter_records=len(letters))
    for number in range(offered):
        if primary[number]:
            result.indexed += 1
            result.dead_and_indexed += number in dead
        elif number in sourced:  # a copy, recorded as a source of the document that won
            result.duplicates += 1
        elif number in dead:
            result.dead_lettered += 1
        elif number in parked:
            result.duplicates += 1
            result.parked += 1
        else:
            result.lost_numbers.append(number)
    result.indexed_twice = sum(count - 1 for count in texts.values() if count > 1)
    return result


def queue_depth(settings: Settings) -> int:
    """Tasks waiting in the run's queue plus those a worker holds unacknowledged."""
    import redis

    client = redis.Redis.from_url(settings.redis_url)
    try:
        return int(client.llen(settings.queue)) + int(client.hlen("unacked"))
    finally:
        client.close()
