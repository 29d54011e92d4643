"""Polling feeds: the beat tick that claims due feeds, and the async poller that polls them.

A feed's URL may serve RSS/Atom/JSON Feed or an agency format (NewsML-G2, NITF, ninjs, IPTC
7901; pipeline/agency.py detects which from the content). When it serves an index of agency
items (a NewsML-G2 package, an Atom feed linking items by media type, a URI list), each item is
fetched too, at most NEWSWIRE_MAX_INDEX_ITEMS, through the same guarded client and limits.

One poll: take the feed's lease (a Lua script: never two polls of a feed at once, and a task
whose claim is stale stands down), wait for the host's turn (per-host concurrency and minimum
delay, across all workers), fetch with conditional GET, parse and keep the entries this feed has
not shown before, enqueue them, then commit the new state and next due time. The articles are
enqueued before the state (ETag, seen entries) is committed, so a crash in between costs a
re-fetch, never an article; the exact-dedup claims make the repeat harmless.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from prometheus_client import Counter, Histogram

from newswire.feeds.fetch import FetchError, FetchResult, fetch, fetch_feed, make_client
from newswire.feeds.store import AsyncFeedStore, FeedRecord, FeedStore, host_of
from newswire.metrics import FEED_ENTRIES, FEED_POLLS, timed
from newswire.settings import Settings
from pipeline.charset import to_utf8
from pipeline.dedup import dedup_keys
from pipeline.feedlist import FeedConfig, FeedListError, parse_feed_list
from pipeline.feeds import FeedParseError
from pipeline.models import Article
from pipeline.normalise import normalise_entry
from pipeline.schedule import (
    DISABLED,
    Policy,
    PollResult,
    apply_poll,
    parse_max_age,
    parse_retry_after,
)
from pipeline.wire_formats import item_links, parse_document

log = structlog.get_logger(__name__)

FEED_POLL_ERRORS = Counter(
    "newswire_feed_poll_errors_total",
    "Failed feed polls by kind (timeout, connection, dns, http_4xx, http_5xx, http_429, blocked, "
    "parse, too_large, redirects, encoding)",
    ["kind"],
)
FEED_POLL_SECONDS = Histogram(
    "newswire_feed_poll_seconds",
    "Feed poll latency: host wait, fetch and parse",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 60),
)
FEED_NEW_ENTRIES = Counter(
    "newswire_feed_new_entries_total", "Entries a feed had not shown before (enqueued)"
)
FEED_DISABLED = Counter(
    "newswire_feed_disabled_total", "Feeds taken out of rotation by the poller", ["reason"]
)

Enqueue = Callable[[list[Article]], object]


def articles_from_feed(
    content: bytes, *, feed_id: str, source: str | None, settings: Settings
) -> list[Article]:
    """Parse and normalise one feed or agency document (its format told by its content)."""
    with timed("parse"):
        parsed = parse_document(
            content, feed_id=feed_id, source_name=source, max_entries=settings.max_entries_per_feed
        )
    FEED_ENTRIES.inc(len(parsed.entries))
    now = datetime.now(UTC)
    with timed("normalise"):
        return [normalise_entry(entry, fetched_at=now) for entry in parsed.entries]


def index_links(content: bytes, *, base_url: str, settings: Settings) -> list[str]:
    """The agency items an index document lists, at most max_index_items; [] for a document."""
    return item_links(content, base_url=base_url)[: settings.max_index_items]


def seen_key(article: Article) -> str:
    """What the poller remembers an entry by. Every version of an agency item shares one doc
    id, so its text is part of the key: a correction or a kill is news to the poller."""
    keys = dedup_keys(article)
    return f"{keys.doc_id}:{keys.content_hash}" if article.agency_guid else keys.doc_id


def fetch_once(url: str, settings: Settings, state: dict[str, str]) -> FetchResult:
    """Fetch a feed with the safety limits and conditional-GET validators from settings/state."""
    with timed("fetch"):
        return fetch_feed(
            url,
            allowed=settings.allowed_networks,
            timeout=settings.fetch_timeout_seconds,
            max_bytes=settings.max_feed_bytes,
            max_redirects=settings.max_redirects,
            user_agent=settings.user_agent,
            etag=state.get("etag"),
            last_modified=state.get("last_modified"),
        )


@dataclass(slots=True)
class PollReport:
    """What one poll did: `outcome` is ok, not_modified, error, busy, stale, missing or lost."""

    feed_id: str
    outcome: str
    status: str | None = None
    new_entries: int = 0
    error: str | None = None
    next_due: float | None = None
    disabled: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "feed_id": self.feed_id,
            "outcome": self.outcome,
            "status": self.status,
            "new_entries": self.new_entries,
            "error": self.error,
            "next_due": self.next_due,
            "disabled": self.disabled,
        }


def policy_for(config: FeedConfig, settings: Settings) -> Policy:
    """The global scheduling settings with the feed's own interval bounds applied."""
    low = config.min_interval or settings.poll_min_interval_seconds
    high = config.max_interval or settings.poll_max_interval_seconds
    return Policy(
        min_interval=float(min(low, high)),
        max_interval=float(max(low, high)),
        jitter=settings.poll_jitter,
        max_backoff=float(settings.poll_max_backoff_seconds),
        max_errors=settings.poll_max_errors,
        factor=settings.poll_interval_factor,
    )


def _error_kind(exc: FetchError) -> str:
    if exc.kind == "http" and exc.status:
        if exc.status == 429:
            return "http_429"
        return "http_5xx" if exc.status >= 500 else "http_4xx"
    return exc.kind


def _published(articles: Sequence[Article]) -> tuple[float, ...]:
    # Undated entries carry the fetch time as published_at; they say nothing about the rate.
    return tuple(
        datetime.fromisoformat(a.published_at).timestamp()
        for a in articles
        if a.published_at and a.published_at != a.fetched_at
    )


class Poller:
    """Polls many feeds concurrently in one event loop (one per worker process and task)."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: AsyncFeedStore,
        client: httpx.AsyncClient,
        enqueue: Enqueue,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.client = client
        self.enqueue = enqueue
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self._local_hosts: dict[str, asyncio.Semaphore] = {}

    async def poll_many(self, targets: Sequence[tuple[str, int | None]]) -> list[PollReport]:
        """Poll `targets` ((feed id, claim or None)) with up to poll_batch_size in flight."""
        gate = asyncio.Semaphore(self.settings.poll_batch_size)

        async def one(feed_id: str, claim: int | None) -> PollReport:
            async with gate:
                return await self.poll(feed_id, claim)

        return list(await asyncio.gather(*(one(f, c) for f, c in targets)))

    async def poll(self, feed_id: str, claim: int | None = None) -> PollReport:
        """Poll one feed under its lease; `claim` None means asked for by hand (no due check)."""
        token = secrets.token_hex(8)
        verdict, record = await self.store.acquire(
            feed_id,
            token=token,
            claim=claim,
            lease_seconds=self.settings.poll_lease_seconds,
            now=self.clock(),
        )
        if verdict != "ok" or record is None:
            FEED_POLLS.labels(verdict).inc()
            return PollReport(feed_id, verdict)
        try:
            return await self._poll_leased(record, token)
        except BaseException:
            # Redis gone, cancelled, a bug: give the lease back; the due entry (pushed to now +
            # lease when the poll started) brings the feed back if even that fails.
            await asyncio.shield(self.store.release(feed_id, token))
            raise

    @asynccontextmanager
    async def _host_turn(self, host: str) -> AsyncIterator[None]:
        # A local semaphore first, so waiting polls of this process do not all ask Redis.
        local = self._local_hosts.setdefault(
            host, asyncio.Semaphore(self.settings.host_max_concurrency)
        )
        async with local:
            token = secrets.token_hex(8)
            while True:
                wait = await self.store.host_acquire(
                    host,
                    token=token,
                    limit=self.settings.host_max_concurrency,
                    delay=self.settings.host_min_delay_seconds,
                    lease=self.settings.fetch_timeout_seconds + 5,
                )
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            try:
                yield
            finally:
                await asyncio.shield(self.store.host_release(host, token))

    async def _fetch(self, record: FeedRecord) -> FetchResult:
        return await self._fetch_url(
            record.config.url, etag=record.state.etag, last_modified=record.state.last_modified
        )

    async def _fetch_url(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        settings = self.settings
        async with self._host_turn(host_of(url)):
            return await fetch(
                self.client,
                url,
                max_bytes=settings.max_feed_bytes,
                max_redirects=settings.max_redirects,
                user_agent=settings.user_agent,
                deadline=settings.fetch_timeout_seconds,
                etag=etag,
                last_modified=last_modified,
            )

    async def _index_items(self, config: FeedConfig, links: Sequence[str]) -> list[Article]:
        """Fetch and parse each item of an index; one bad item is skipped, all bad is an error."""
        articles: list[Article] = []
        failures: list[str] = []
        for link in links:
            try:
                fetched = await self._fetch_url(link)
                articles += self._parse(config, fetched)
            except (FetchError, FeedParseError) as exc:
                failures.append(f"{link}: {exc}")
        if failures:
            log.warning("index items failed", feed=config.id, failed=len(failures), of=len(links))
            if len(failures) == len(links):
                raise FeedParseError(f"all {len(links)} index items failed; {failures[0]}")
        return articles

    async def _articles(self, config: FeedConfig, fetched: FetchResult) -> list[Article]:
        content = to_utf8(fetched.content, fetched.content_type)
        links = index_links(content, base_url=fetched.url or config.url, settings=self.settings)
        if links:
            return await self._index_items(config, links)
        return self._parse(config, fetched)

    def _parse(self, config: FeedConfig, fetched: FetchResult) -> list[Article]:
        articles = articles_from_feed(
            to_utf8(fetched.content, fetched.content_type),
            feed_id=config.id,
            source=config.source,
            settings=self.settings,
        )
        if config.language:
            articles = [
                a if a.language_hint else replace(a, language_hint=config.language)
                for a in articles
            ]
        return articles

    async def _poll_leased(self, record: FeedRecord, token: str) -> PollReport:
        config = record.config
        started = time.perf_counter()
        new_articles: list[Article] = []
        seen: list[str] = []
        moved_to: str | None = None
        try:
            fetched = await self._fetch(record)
            moved_to = fetched.moved_to
            now = self.clock()
            max_age = parse_max_age(fetched.cache_control, fetched.expires, now)
            if fetched.not_modified:
                result = PollResult(
                    kind="not_modified",
                    status=304,
                    etag=fetched.etag,
                    last_modified=fetched.last_modified,
                    max_age=max_age,
                )
            else:
                articles = await self._articles(config, fetched)
                keys = {seen_key(a): a for a in articles}
                unseen = await self.store.unseen(config.id, list(keys))
                new_articles = [a for k, a in keys.items() if k in unseen]
                seen = list(keys)
                result = PollResult(
                    kind="ok",
                    status=fetched.status,
                    etag=fetched.etag,
                    last_modified=fetched.last_modified,
                    new_entries=len(new_articles),
                    published=_published(articles),
                    max_age=max_age,
                )
        except FetchError as exc:
            kind = _error_kind(exc)
            result = PollResult(
                kind="error",
                status=exc.status,
                error=str(exc),
                error_kind=kind,
                retry_after=parse_retry_after(exc.retry_after, self.clock()),
            )
        except FeedParseError as exc:
            result = PollResult(kind="error", status=200, error=str(exc), error_kind="parse")
        duration = time.perf_counter() - started
        result = replace(result, duration=duration)
        if new_articles:
            self.enqueue(new_articles)  # before the commit: a crash re-fetches, loses nothing
        daily = None
        if result.kind == "ok" and not result.published:
            daily = await self.store.daily(config.id)
        state = apply_poll(
            record.state,
            result,
            policy=policy_for(config, self.settings),
            now=self.clock(),
            rng=self.rng,
            daily_new=daily,
        )
        written = await self.store.commit(
            config.id,
            token=token,
            state=state,
            now=self.clock(),
            url=moved_to,
            seen=seen,
            new_entries=len(new_articles),
            seen_keep=2 * self.settings.max_entries_per_feed,
        )
        self._observe(config.id, result, state, duration, written)
        return PollReport(
            config.id,
            result.kind if written == 1 else "lost",
            state.last_status,
            len(new_articles),
            result.error,
            state.next_due,
            state.status == DISABLED and record.state.status != DISABLED,
        )

    @staticmethod
    def _observe(
        feed_id: str, result: PollResult, state: Any, duration: float, written: int
    ) -> None:
        FEED_POLLS.labels(result.kind).inc()
        FEED_POLL_SECONDS.observe(duration)
        if result.kind == "error":
            FEED_POLL_ERRORS.labels(result.error_kind or "other").inc()
            log.warning(
                "feed poll failed",
                feed=feed_id,
                kind=result.error_kind,
                error=result.error,
                consecutive_errors=state.consecutive_errors,
                status=state.status,
            )
            if state.status == DISABLED:
                FEED_DISABLED.labels("gone" if result.status == 410 else "errors").inc()
        FEED_NEW_ENTRIES.inc(result.new_entries)
        if written != 1:
            log.warning("feed poll result not written", feed=feed_id, written=written)


async def poll_feeds_async(
    targets: Sequence[tuple[str, int | None]],
    *,
    settings: Settings,
    enqueue: Enqueue,
    clock: Callable[[], float] = time.time,
) -> list[PollReport]:
    """Open a client and a Redis connection for this event loop and poll `targets`."""
    store = AsyncFeedStore.from_url(settings.redis_url, settings.index_prefix)
    client = make_client(
        settings.allowed_networks,
        connect_timeout=settings.fetch_connect_timeout_seconds,
        read_timeout=settings.fetch_read_timeout_seconds,
        max_connections=max(settings.poll_batch_size, 10),
    )
    try:
        async with client:
            poller = Poller(
                settings=settings, store=store, client=client, enqueue=enqueue, clock=clock
            )
            return await poller.poll_many(targets)
    finally:
        await store.aclose()


def poll_feeds(
    targets: Sequence[tuple[str, int | None]], *, settings: Settings, enqueue: Enqueue
) -> list[PollReport]:
    """poll_feeds_async from synchronous code (a Celery task, the CLI)."""
    return asyncio.run(poll_feeds_async(targets, settings=settings, enqueue=enqueue))


def seed_from_file(store: FeedStore, settings: Settings) -> int:
    """The feed list file seeds a store once; after that feeds are managed with `feeds`."""
    if store.client.exists(store.keys.seeded) or not settings.feeds_file.exists():
        return 0
    try:
        feeds = parse_feed_list(settings.feeds_file.read_text(encoding="utf-8"))
    except FeedListError as exc:
        log.error("feed list not loaded", path=str(settings.feeds_file), error=str(exc))
        return 0
    return store.seed_once(feeds)


def schedule_due(
    store: FeedStore,
    *,
    settings: Settings,
    send: Callable[[list[tuple[str, int]]], object],
    now: float | None = None,
    limit: int = 100_000,
) -> int:
    """The beat tick: claim every due feed and send them in batches, same-host feeds together."""
    seed_from_file(store, settings)
    claim, due = store.claim_due(
        now=time.time() if now is None else now,
        lease_seconds=settings.poll_lease_seconds,
        limit=limit,
    )
    if not due:
        return 0
    by_host = sorted(zip(due, store.urls(due), strict=True), key=lambda p: (host_of(p[1]), p[0]))
    size = settings.poll_batch_size
    for start in range(0, len(by_host), size):
        send([(feed_id, claim) for feed_id, _ in by_host[start : start + size]])
    log.info("due feeds enqueued", feeds=len(due), batches=-(-len(due) // size))
    return len(due)


@dataclass(slots=True)
class PollOutcome:
    """Result of an ad-hoc poll of a URL: the articles, or why there are none."""

    status: str
    articles: list[Article] = field(default_factory=list)
    error: str | None = None
    transient: bool = False


def poll(feed: FeedConfig, *, settings: Settings) -> PollOutcome:
    """Fetch and parse a feed once, outside the schedule (`newswire ingest URL`, /admin/ingest).

    Unconditional and stateless: every entry is returned and the exact-dedup claims decide
    what is new. Managed feeds are polled by `poll_feeds` instead.
    """
    try:
        fetched = fetch_once(feed.url, settings, {})
        content = to_utf8(fetched.content, fetched.content_type)
        links = index_links(content, base_url=fetched.url or feed.url, settings=settings)
        documents = [content] if not links else []
        for link in links:
            item = fetch_once(link, settings, {})
            documents.append(to_utf8(item.content, item.content_type))
        articles = [
            article
            for document in documents
            for article in articles_from_feed(
                document, feed_id=feed.id, source=feed.source, settings=settings
            )
        ]
    except FetchError as exc:
        FEED_POLL_ERRORS.labels(_error_kind(exc)).inc()
        return PollOutcome(status="error", error=str(exc), transient=exc.transient)
    except FeedParseError as exc:
        FEED_POLL_ERRORS.labels("parse").inc()
        return PollOutcome(status="error", error=str(exc))
    FEED_POLLS.labels("ok").inc()
    return PollOutcome(status="ok", articles=articles)
