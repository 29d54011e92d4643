"""Polling one feed: fetch with conditional GET, record the outcome on the feed, parse."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import structlog

from newswire.fetch import FetchError
from newswire.ingest import articles_from_feed, fetch
from newswire.metrics import FEED_POLLS
from newswire.redis_store import RedisStore
from newswire.settings import Settings
from pipeline.feedlist import FeedConfig
from pipeline.feeds import FeedParseError
from pipeline.models import Article

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class PollOutcome:
    """Result of one poll: new articles to process, or why there are none."""

    status: str
    articles: list[Article] = field(default_factory=list)
    error: str | None = None
    transient: bool = False


def poll(feed: FeedConfig, *, settings: Settings, redis_store: RedisStore) -> PollOutcome:
    """Poll a feed once; every outcome, good or bad, is recorded on the feed's state."""
    state = redis_store.feed_state(feed.id)
    started = time.time()
    try:
        result = fetch(feed.url, settings, state)
        if result.not_modified:
            redis_store.record_poll(
                feed.id, last_poll=started, last_status=304, consecutive_errors=0, last_error=None
            )
            FEED_POLLS.labels("not_modified").inc()
            return PollOutcome(status="not_modified")
        articles = articles_from_feed(
            result.content, feed_id=feed.id, source=feed.source, settings=settings
        )
    except (FetchError, FeedParseError) as exc:
        transient = isinstance(exc, FetchError) and exc.transient
        status = exc.status if isinstance(exc, FetchError) and exc.status else "error"
        errors = redis_store.increment_feed_errors(feed.id)
        redis_store.record_poll(feed.id, last_poll=started, last_status=status, last_error=str(exc))
        FEED_POLLS.labels("error").inc()
        log.warning("feed poll failed", feed=feed.id, error=str(exc), consecutive_errors=errors)
        return PollOutcome(status="error", error=str(exc), transient=transient)
    redis_store.record_poll(
        feed.id,
        last_poll=started,
        last_status=result.status,
        consecutive_errors=0,
        last_error=None,
        etag=result.etag,
        last_modified=result.last_modified,
        last_entries=len(articles),
    )
    FEED_POLLS.labels("ok").inc()
    return PollOutcome(status="ok", articles=articles)
