"""Delivering what alerts owe: one attempt of a job (quiet time, message, send, then retry or
dead letter, channel status), the digests of finished periods, and the sweep of due jobs.

The outbox in Redis (rule_store.py) is the record of what is owed, written in the same
transaction as the alert decision; Celery only carries job ids to workers. A task lost with its
worker leaves its job leased in the outbox, and the next sweep after the lease sends it again,
so nothing owed is lost. The Celery tasks (workers/tasks.py) call these functions and register
how a job reaches a worker (dispatch_with); nothing here imports Celery.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import structlog

from newswire.alerts.rule_store import DeliveryJob, RuleStore
from newswire.alerts.send import SendFailure, send
from newswire.alerts.store import AlertStore
from newswire.backends import found_sources
from newswire.search.store import SearchStore
from newswire.settings import Settings
from pipeline.delivery import (
    AlertStory,
    Message,
    Period,
    RetryPolicy,
    alert_message,
    completed_period,
    digest_id,
    digest_message,
    release_time,
    retry_delay,
    story_from_documents,
    withdrawn_message,
)
from pipeline.rules import AlertRule, AlertState, Channel

log = structlog.get_logger(__name__)

Dispatch = Callable[[Sequence[str]], object]
_dispatchers: list[Dispatch] = []
# What a message needs of an article (pipeline.delivery.story_from_documents).
ARTICLE_FIELDS = (
    "doc_id",
    "story_id",
    "title",
    "source",
    "sources",
    "language",
    "url",
    "published_at",
    "body",
    "visibility",
)


def dispatch_with(dispatch: Dispatch) -> None:
    """Register how job ids reach a worker at once (the worker's deliver task); one per process."""
    _dispatchers[:] = [dispatch]


def can_dispatch() -> bool:
    """Whether this process sends jobs itself, or leaves them to the next sweep."""
    return bool(_dispatchers)


def dispatch(job_ids: Sequence[str]) -> None:
    """Send these jobs to a worker now (no-op without a registered dispatcher)."""
    if job_ids and _dispatchers:
        _dispatchers[0](list(job_ids))


def retry_policy(settings: Settings) -> RetryPolicy:
    """The delivery retry schedule from the settings."""
    return RetryPolicy(
        max_attempts=settings.alert_retry_max_attempts,
        base_delay=settings.alert_retry_base_seconds,
        max_delay=settings.alert_retry_max_seconds,
    )


def _channel(rule: AlertRule, key: str) -> Channel | None:
    return next((c for c in rule.channels if c.key == key), None)


def _articles(
    store: SearchStore, doc_ids: Sequence[str], *, include_hidden: bool = False
) -> list[dict[str, Any]]:
    """The public articles among `doc_ids` (all of them with `include_hidden`), real-time (no
    refresh needed), in the given order."""
    ids = list(dict.fromkeys(doc_ids))
    if not ids:
        return []
    response = store.es.mget(
        index=store.settings.articles_alias, ids=ids, source_includes=list(ARTICLE_FIELDS)
    )
    # Unreadable while shards recover: the job stays leased and the sweep sends it again.
    found = list(found_sources(response["docs"]).values())
    if include_hidden:
        return found
    # An article killed or embargoed after it alerted is not sent.
    return [d for d in found if (d.get("visibility") or "public") == "public"]


def build_message(
    job: DeliveryJob,
    rule: AlertRule,
    *,
    search_store: SearchStore,
    settings: Settings,
    now: datetime,
) -> Message | None:
    """The message a job sends, from the articles as indexed now; None if nothing is left."""
    base = settings.alert_public_url
    if job.kind == "withdrawn":
        # The story as it was alerted: the withdrawn articles stay readable by id, for audit.
        documents = _articles(search_store, job.articles, include_hidden=True)
        if not documents or job.alert_id is None:
            return None
        story = story_from_documents(documents, base_url=base)
        state = AlertState(
            alert_id=job.alert_id,
            rule_id=rule.id,
            story_id=story.story_id,
            articles={},
            sequence=job.sequence,
        )
        message = withdrawn_message(rule, state, story, channel_key=job.channel, now=now)
        # The job's id is the delivery id, one per withdrawal of the alert and channel.
        return replace(message, delivery_id=job.id)
    if job.kind == "alert":
        documents = _articles(search_store, job.articles)
        if not documents or job.alert_id is None:
            return None
        story = story_from_documents(documents, base_url=base)
        state = AlertState(
            alert_id=job.alert_id,
            rule_id=rule.id,
            story_id=story.story_id,
            articles={d["doc_id"]: 1 for d in documents},
            sequence=job.sequence,
        )
        return alert_message(rule, state, story, channel_key=job.channel, now=now)
    records = AlertStore.of(search_store).alert_records(job.alert_ids)
    wanted = [i for r in records.values() for i in r["doc_ids"]]
    by_id = {d["doc_id"]: d for d in _articles(search_store, wanted)}
    stories: list[AlertStory] = []
    for alert in job.alert_ids:
        members = [by_id[i] for i in records.get(alert, {}).get("doc_ids", ()) if i in by_id]
        if members:
            stories.append(story_from_documents(members, base_url=base))
    if not stories or job.period_start is None or job.period_end is None:
        return None
    period = Period(
        datetime.fromisoformat(job.period_start), datetime.fromisoformat(job.period_end)
    )
    return digest_message(rule, stories, period, channel_key=job.channel, now=now)


def deliver(
    job_id: str,
    *,
    rule_store: RuleStore,
    search_store: SearchStore,
    settings: Settings,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> str:
    """One attempt at a job: delivered, held (quiet/snooze), retry, dead_letter, withdrawn (its
    alert was withdrawn before it was sent), done or busy."""
    now = now or datetime.now(UTC)
    lease = settings.webhook_timeout_seconds * 3 + settings.smtp_timeout_seconds
    with rule_store.job_lock(job_id, lease) as held:
        if not held:
            return "busy"  # another copy of this task is sending it right now
        job = rule_store.job(job_id)
        if job is None:
            return "done"  # delivered or dead-lettered already: a repeated task
        return _attempt(
            job,
            rule_store=rule_store,
            search_store=search_store,
            settings=settings,
            now=now,
            rng=rng,
        )


def _refusal(rule: AlertRule | None, channel: Channel | None) -> str | None:
    if rule is None:
        return "rule deleted"
    if not rule.enabled:
        return "rule disabled"
    return "channel removed from the rule" if channel is None else None


def _attempt(
    job: DeliveryJob,
    *,
    rule_store: RuleStore,
    search_store: SearchStore,
    settings: Settings,
    now: datetime,
    rng: random.Random | None,
) -> str:
    rule = rule_store.get(job.rule_id)
    channel = _channel(rule, job.channel) if rule else None
    refusal = _refusal(rule, channel)
    if refusal is not None or rule is None or channel is None:
        rule_store.dead_letter(job, refusal or "unknown rule", now=now)
        return "dead_letter"
    release = release_time(now, rule.quiet, rule.timezone)
    if release > now:
        rule_store.save_job(job, due=release.timestamp())
        return "held"
    prepared = _prepare(
        job, rule, rule_store=rule_store, search_store=search_store, settings=settings, now=now
    )
    if isinstance(prepared, str):
        return prepared
    job, message = prepared
    try:
        send(channel, message, settings)
    except SendFailure as exc:
        return _failed(job, exc, rule_store=rule_store, settings=settings, now=now, rng=rng)
    owed = rule_store.delivered(job, [story.story_id for story in message.stories], now=now)
    rule_store.record_status(rule.id, channel.key, now=now, delivered=job.id)
    dispatch(owed)
    log.info("alert delivered", job=job.id, rule=rule.id, kind=job.kind, attempts=job.attempts + 1)
    return "delivered"


def _prepare(
    job: DeliveryJob,
    rule: AlertRule,
    *,
    rule_store: RuleStore,
    search_store: SearchStore,
    settings: Settings,
    now: datetime,
) -> tuple[DeliveryJob, Message] | str:
    """The job with its message (built at the first attempt and kept), or the outcome when
    there is nothing to send: withdrawn, or dead_letter."""
    if job.kind == "alert" and job.alert_id is not None:
        state = rule_store.alert_state(job.alert_id)
        if state is not None and state.withdrawn_at is not None:
            # Withdrawn before it was first sent: the receiver never hears of it.
            rule_store.finish_job(job.id)
            return "withdrawn"
    if job.message is None:
        built = build_message(job, rule, search_store=search_store, settings=settings, now=now)
        if built is None:
            rule_store.dead_letter(job, "the alerted articles are no longer public", now=now)
            return "dead_letter"
        job = replace(job, message=built.to_dict())
        if not rule_store.save_job(job):
            return "withdrawn"  # cancelled by a withdrawal while the message was built
    assert job.message is not None
    return job, Message.from_dict(job.message)


def _failed(
    job: DeliveryJob,
    failure: SendFailure,
    *,
    rule_store: RuleStore,
    settings: Settings,
    now: datetime,
    rng: random.Random | None,
) -> str:
    attempts = job.attempts + 1
    job = replace(job, attempts=attempts, last_error=failure.reason)
    rule_store.record_status(job.rule_id, job.channel, now=now, error=failure.reason)
    delay = (
        retry_delay(
            attempts,
            retry_policy(settings),
            rng or random.Random(),  # noqa: S311 - jitter, not a secret
            retry_after=failure.retry_after,
        )
        if failure.transient
        else None
    )
    if delay is None:
        why = f"after {attempts} attempt(s): {failure.reason}"
        rule_store.dead_letter(job, why, now=now)
        log.warning("alert delivery dead-lettered", job=job.id, reason=why)
        return "dead_letter"
    rule_store.save_job(job, due=now.timestamp() + delay)
    log.info("alert delivery will be retried", job=job.id, in_seconds=round(delay, 1))
    return "retry"


def compose_digests(rule_store: RuleStore, *, now: datetime) -> list[str]:
    """Close every digest rule's last finished period into jobs (once per rule and period)."""
    jobs: list[str] = []
    for rule in rule_store.rules():
        if rule.frequency == "instant" or not rule.channels or not rule.enabled:
            continue
        period = completed_period(now, rule.frequency, rule.timezone)
        jobs += rule_store.close_digest(rule, period, digest_id(rule.id, period.start), now=now)
    return jobs


def due_jobs(rule_store: RuleStore, *, now: datetime) -> list[str]:
    """Jobs due now (new, retried, released from quiet time, or lost with a worker), leased."""
    return rule_store.take_due(now.timestamp())


def job_rows(
    rule_store: RuleStore, *, rules: Mapping[str, AlertRule] | None = None
) -> list[dict[str, Any]]:
    """The outbox as rows: job, rule, channel, kind, attempts, last error, next attempt."""
    return [
        {
            "job": job.id,
            "rule": job.rule_id,
            "channel": job.channel,
            "kind": job.kind,
            "attempts": job.attempts,
            "last_error": job.last_error,
            "due": datetime.fromtimestamp(due, UTC).isoformat(),
        }
        for job, due in rule_store.jobs()
        if rules is None or job.rule_id in rules
    ]
