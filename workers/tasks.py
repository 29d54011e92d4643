"""Celery tasks: JSON in, pipeline/service calls, errors mapped to retry or dead-letter."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

import structlog
from celery import Task, signals

from newswire.alerts import delivery as alert_delivery
from newswire.alerts.rule_store import RuleStore, rule_store_for
from newswire.backends import outage
from newswire.feeds.polling import poll, poll_feeds, schedule_due
from newswire.feeds.store import FeedStore
from newswire.ingest.service import is_transient, process_isolating
from newswire.ingest.store import RedisStore
from newswire.search.store import SearchStore
from newswire.settings import get_settings
from pipeline.feedlist import FeedConfig
from pipeline.models import Article
from workers.celery_app import app

log = structlog.get_logger(__name__)


@signals.worker_process_init.connect
def _load_clustering(**_: Any) -> None:
    # datasketch pulls in scipy (~0.7 s): load it with the NER model, not in the first batch.
    import datasketch  # noqa: F401


@cache
def _stores() -> tuple[SearchStore, RedisStore]:
    # One client pair per worker process, created after the fork.
    settings = get_settings()
    return (
        SearchStore.from_settings(settings),
        RedisStore.from_url(settings.redis_url, settings.index_prefix),
    )


def _backoff(retries: int) -> float:
    # Capped at a minute so the batch is tried again soon after a backend comes back, with
    # jitter so the batches of one outage do not all return in the same second.
    return float(min(60, 2 ** (retries + 1)) * random.uniform(0.8, 1.2))  # noqa: S311


def _retry_or_dead_letter(
    task: Task, exc: Exception, articles: list[dict[str, Any]], redis_store: RedisStore
) -> dict[str, Any]:
    """Retry the batch later, or keep it in the dead-letter list once the retries run out.

    The count is checked here rather than left to `Task.retry`: given `exc`, Celery re-raises
    that exception when retries are exhausted instead of MaxRetriesExceededError, and the batch
    would be acknowledged and lost.
    """
    settings = get_settings()
    attempt = task.request.retries + 1
    found = outage(exc, settings)
    reason = found.message if found else f"{type(exc).__name__}: {exc}"
    if attempt > settings.task_max_retries:
        redis_store.dead_letter("batch", f"retries exhausted ({attempt - 1}): {reason}", articles)
        log.error("batch dead-lettered after retries", reason=reason, size=len(articles))
        return {"dead_letters": len(articles)}
    countdown = _backoff(task.request.retries)
    log.warning(
        "batch will be retried",
        attempt=attempt,
        of=settings.task_max_retries,
        in_seconds=round(countdown, 1),
        reason=reason,
    )
    raise task.retry(countdown=countdown, max_retries=settings.task_max_retries)


def enqueue_articles(articles: list[Article]) -> list[Any]:
    """Split articles into processing batches; returns the AsyncResults."""
    size = get_settings().batch_size
    return [
        process_articles.delay([a.to_dict() for a in articles[i : i + size]])
        for i in range(0, len(articles), size)
    ]


@cache
def _feed_store() -> FeedStore:
    settings = get_settings()
    return FeedStore.from_url(settings.redis_url, settings.index_prefix)


@app.task(name="newswire.schedule_due_feeds", ignore_result=True)
def schedule_due_feeds() -> int:
    """Beat entry point: claim the feeds that are due and enqueue them in poll batches."""
    return schedule_due(_feed_store(), settings=get_settings(), send=poll_due_feeds.delay)


@app.task(name="newswire.poll_due_feeds")
def poll_due_feeds(targets: list[list[Any]]) -> dict[str, Any]:
    """Poll a batch of managed feeds concurrently; each outcome is recorded on its feed.

    `targets` are [feed id, claim] pairs from the tick (claim null: poll now, by hand). Feed
    errors are scheduling outcomes (backoff, disable), not task failures, so nothing retries
    here; a worker that dies mid-batch leaves leases that expire and claims the tick re-sends.
    """
    reports = poll_feeds(
        [(str(feed_id), None if claim is None else int(claim)) for feed_id, claim in targets],
        settings=get_settings(),
        enqueue=enqueue_articles,
    )
    outcomes: dict[str, int] = {}
    for report in reports:
        outcomes[report.outcome] = outcomes.get(report.outcome, 0) + 1
    return {"outcomes": outcomes, "feeds": [r.as_dict() for r in reports]}


@app.task(bind=True, name="newswire.poll_feed", max_retries=3)
def poll_feed(self: Task, feed: dict[str, Any]) -> dict[str, Any]:
    """Poll a URL once, outside the schedule (/admin/ingest), and enqueue all its entries."""
    config = FeedConfig.from_dict(feed)
    outcome = poll(config, settings=get_settings())
    if outcome.transient and self.request.retries < self.max_retries:
        raise self.retry(countdown=_backoff(self.request.retries))
    results = enqueue_articles(outcome.articles)
    return {
        "status": outcome.status,
        "articles": len(outcome.articles),
        "batches": len(results),
        "error": outcome.error,
    }


@app.task(name="newswire.release_embargoes", ignore_result=True)
def release_embargoes() -> dict[str, Any]:
    """Beat entry point: make public the embargoed articles whose time has passed, then match
    their alerts, held back while they were embargoed. Safe to run twice."""
    from datetime import UTC, datetime

    from newswire.alerts.matching import alert_documents
    from newswire.alerts.rule_store import rule_store_for
    from newswire.stories.service import release_embargoes as release

    store, redis_store = _stores()
    settings = get_settings()
    released = release(store, now=datetime.now(UTC))
    if released:
        alert_documents(
            [], released, store=store, rule_store=rule_store_for(redis_store.client, settings)
        )
    return {"released": len(released)}


@app.task(bind=True, name="newswire.process_articles")
def process_articles(self: Task, articles: list[dict[str, Any]]) -> dict[str, Any]:
    """Dedup, enrich, index and alert a batch; infrastructure errors retry with backoff."""
    store, redis_store = _stores()
    settings = get_settings()
    try:
        batch = [Article.from_dict(a) for a in articles]
    except (TypeError, ValueError) as exc:
        redis_store.dead_letter("batch", f"malformed payload: {exc}", articles)
        return {"dead_letters": len(articles)}
    try:
        report = process_isolating(batch, store=store, redis_store=redis_store, settings=settings)
    except Exception as exc:
        if not is_transient(exc):
            raise
        return _retry_or_dead_letter(self, exc, articles, redis_store)
    return report.as_dict()


# -- alert deliveries (newswire/alerts/delivery.py owns the logic and the outbox) ---------------
def _rule_store() -> RuleStore:
    _, redis_store = _stores()
    return rule_store_for(redis_store.client, get_settings())


@app.task(name="newswire.deliver_alert", ignore_result=True)
def deliver_alert(job_id: str) -> str:
    """One attempt at an owed delivery; retries are scheduled in the outbox, not by Celery.

    A Redis or Elasticsearch outage raises: the job stays leased in the outbox and the sweep
    sends it again once the lease ends.
    """
    store, _ = _stores()
    return alert_delivery.deliver(
        job_id, rule_store=_rule_store(), search_store=store, settings=get_settings()
    )


def _dispatch_alerts(job_ids: Sequence[str]) -> None:
    for job_id in job_ids:
        deliver_alert.delay(job_id)


# Jobs owed by a batch in this process go to a worker at once; the sweep is the safety net.
alert_delivery.dispatch_with(_dispatch_alerts)


@app.task(name="newswire.sweep_alert_deliveries", ignore_result=True)
def sweep_alert_deliveries() -> int:
    """Beat entry point: send the deliveries that are due (retries, held, lost with a worker)."""
    due = alert_delivery.due_jobs(_rule_store(), now=datetime.now(UTC))
    _dispatch_alerts(due)
    return len(due)


@app.task(name="newswire.compose_alert_digests", ignore_result=True)
def compose_alert_digests(now: str | None = None) -> int:
    """Beat entry point: each digest rule's finished period becomes one job per channel, once.

    `now` (ISO 8601) composes as of another moment: a test, or catching up by hand.
    """
    moment = datetime.fromisoformat(now) if now else datetime.now(UTC)
    jobs = alert_delivery.compose_digests(_rule_store(), now=moment)
    _dispatch_alerts(jobs)
    return len(jobs)
