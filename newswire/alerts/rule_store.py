"""Alert rules and what they owe, in Redis: rules with a version counter, one alert state per
(rule, story), the delivery outbox, digest entries, channel status and dead letters.

Why Redis and not an Elasticsearch index: a rule saved must be seen at once by every worker
(no refresh interval), the version counter and the rule change are one MULTI, and the alert
decision that reads the rules' state is a Redis transaction anyway. Redis runs with AOF, so
rules survive restarts; `newswire rules list --json` is the export.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Self

import redis

from newswire.settings import Settings
from pipeline.delivery import Period
from pipeline.rules import AlertRule, AlertState, Decision, RuleMatch, alert_id, decide, delivery_id
from pipeline.withdrawal import (
    Withdrawal,
    after_delivery,
    alert_job_ids,
    withdraw_articles,
    withdrawal_plan,
    withdrawn_job_id,
)

JobKind = Literal["alert", "digest", "withdrawn"]
# A dispatched job is not handed out again for this long; a worker that died mid-delivery
# leaves its job to the next sweep after it.
DISPATCH_LEASE_SECONDS = 60.0
# A digest period is remembered as sent for this long (longer than any period).
DIGEST_MEMORY_SECONDS = 40 * 86_400
DEAD_LETTER_LIMIT = 10_000

# KEYS: outbox; ARGV: now, lease, limit. Due jobs, each leased so the next sweep skips it.
_TAKE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, job in ipairs(due) do
  redis.call('ZADD', KEYS[1], 'XX', tonumber(ARGV[1]) + tonumber(ARGV[2]), job)
end
return due
"""

# KEYS: jobs hash, outbox; ARGV: job id, job json, due ('' keeps it). A job cancelled meanwhile
# (its alert withdrawn) is not brought back by a retry or a hold.
_SAVE_IF_OWED = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] ~= '' then redis.call('ZADD', KEYS[2], tonumber(ARGV[3]), ARGV[1]) end
return 1
"""


class RuleExists(Exception):
    """A rule with this id is already stored."""


class UnknownRule(KeyError):
    """No rule with this id."""


@dataclass(frozen=True, slots=True)
class DeliveryJob:
    """One delivery owed to one channel: an instant alert or a period's digest.

    Its id is the delivery id receivers see, the same on every attempt; `message` is built at
    the first attempt and kept, so every retry sends the same content.
    """

    id: str
    kind: JobKind
    rule_id: str
    channel: str
    created_at: str
    alert_id: str | None = None
    sequence: int = 1
    articles: tuple[str, ...] = ()
    alert_ids: tuple[str, ...] = ()
    period_start: str | None = None
    period_end: str | None = None
    attempts: int = 0
    last_error: str | None = None
    message: dict[str, Any] | None = None

    def to_json(self) -> str:
        """The stored form."""
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Rebuild a stored job; unknown keys from newer code ignored."""
        values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for name in ("articles", "alert_ids"):
            values[name] = tuple(values.get(name) or ())
        return cls(**values)


@dataclass(slots=True)
class Applied:
    """The decisions one batch of matches made, and the delivery jobs they created."""

    decisions: list[tuple[RuleMatch, Decision]] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)

    @property
    def new_alerts(self) -> int:
        return sum(d.action == "alert" for _, d in self.decisions)


@dataclass(slots=True)
class Withdrawn:
    """What one batch of withdrawn articles did to the alerts listing them."""

    changes: list[Withdrawal] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)

    @property
    def withdrawn_alerts(self) -> int:
        return sum(w.action == "withdraw" for w in self.changes)


class RuleStore:
    """Every alert-rule key in Redis, under the index prefix."""

    def __init__(self, client: redis.Redis, prefix: str, *, state_ttl_seconds: int) -> None:
        # Any: redis-py types every reply as a union of bytes, str and awaitables; the client is
        # built with decode_responses=True, so replies are str.
        self.client: Any = client
        self.prefix = prefix
        self.state_ttl_seconds = state_ttl_seconds
        self._take_due = client.register_script(_TAKE_DUE)
        self._save_if_owed = client.register_script(_SAVE_IF_OWED)

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # -- rules ----------------------------------------------------------------------------
    @property
    def _rules(self) -> str:
        return self._key("rules")

    def version(self) -> int:
        """Bumped by every rule change; workers rebuild their matcher only when it moves."""
        return int(self.client.get(self._key("rules", "version")) or 0)

    def rules(self) -> list[AlertRule]:
        """Every stored rule, by id."""
        stored = self.client.hgetall(self._rules)
        return [AlertRule.from_dict(json.loads(stored[k])) for k in sorted(stored)]

    def rules_with_version(self) -> tuple[int, list[AlertRule]]:
        """The rules and the version they are at, read together."""
        pipe = self.client.pipeline(transaction=True)
        pipe.get(self._key("rules", "version"))
        pipe.hgetall(self._rules)
        version, stored = pipe.execute()
        rules = [AlertRule.from_dict(json.loads(stored[k])) for k in sorted(stored)]
        return int(version or 0), rules

    def get(self, rule_id: str) -> AlertRule | None:
        """One rule, or None."""
        raw = self.client.hget(self._rules, rule_id)
        return AlertRule.from_dict(json.loads(raw)) if raw else None

    def _write(self, rule: AlertRule, *, create: bool) -> None:
        body = json.dumps(rule.to_dict(), ensure_ascii=False, separators=(",", ":"))

        def work(pipe: Any) -> None:
            exists = pipe.hexists(self._rules, rule.id)
            if create and exists:
                raise RuleExists(rule.id)
            if not create and not exists:
                raise UnknownRule(rule.id)
            pipe.multi()
            pipe.hset(self._rules, rule.id, body)
            pipe.incr(self._key("rules", "version"))

        self.client.transaction(work, self._rules)

    def create(self, rule: AlertRule) -> None:
        """Store a new rule; RuleExists if the id is taken."""
        self._write(rule, create=True)

    def replace(self, rule: AlertRule) -> None:
        """Overwrite a stored rule; UnknownRule if there is none."""
        self._write(rule, create=False)

    def delete(self, rule_id: str) -> bool:
        """Remove a rule with its channel status and pending digest entries."""
        pipe = self.client.pipeline(transaction=True)
        pipe.hdel(self._rules, rule_id)
        pipe.delete(self._key("alerts", "status", rule_id), self._key("alerts", "digest", rule_id))
        pipe.incr(self._key("rules", "version"))
        removed, *_ = pipe.execute()
        return bool(removed)

    # -- one alert per (rule, story) ------------------------------------------------------
    def _state_key(self, alert: str) -> str:
        return self._key("alert", alert)

    def alert_state(self, alert: str) -> AlertState | None:
        """The stored state of one alert, or None (never raised, or forgotten)."""
        raw = self.client.get(self._state_key(alert))
        return AlertState.from_dict(json.loads(raw)) if raw else None

    def alert_states(self, alerts: Sequence[str]) -> dict[str, AlertState]:
        """Stored states by alert id (missing ones left out)."""
        if not alerts:
            return {}
        raws = self.client.mget([self._state_key(a) for a in alerts])
        return {
            a: AlertState.from_dict(json.loads(raw))
            for a, raw in zip(alerts, raws, strict=True)
            if raw
        }

    def apply(
        self,
        matches: Sequence[RuleMatch],
        rules: Mapping[str, AlertRule],
        *,
        now: datetime,
        dispatching: bool,
    ) -> Applied:
        """Decide every match against the stored alert states and write the outcome atomically.

        One optimistic transaction per batch (WATCH the batch's alert keys, decide, MULTI): two
        workers holding copies of one story cannot both raise its alert, because the second
        one's EXEC fails and it decides again on the state the first one wrote. The new states,
        the delivery jobs and the digest entries are written in the same EXEC, so an alert
        recorded is never an alert whose delivery is lost.
        """
        keys = sorted({self._state_key(alert_id(m.rule_id, m.story_id)) for m in matches})
        if not keys:
            return Applied()
        epoch = now.timestamp()
        # Jobs sent to a worker at once are leased, so the sweep does not send them again.
        due = epoch + DISPATCH_LEASE_SECONDS if dispatching else epoch

        def work(pipe: Any) -> Applied:
            raws = pipe.mget(keys)
            states = {
                k: AlertState.from_dict(json.loads(r)) if r else None
                for k, r in zip(keys, raws, strict=True)
            }
            applied = Applied()
            for match in matches:
                key = self._state_key(alert_id(match.rule_id, match.story_id))
                decision = decide(match, states[key], rule=rules[match.rule_id], now=now)
                if decision.changed:
                    states[key] = decision.state
                    applied.decisions.append((match, decision))
            pipe.multi()
            written = {self._state_key(d.state.alert_id): d.state for _, d in applied.decisions}
            for key, state in written.items():
                pipe.set(key, json.dumps(state.to_dict()), ex=self.state_ttl_seconds)
            for _, decision in applied.decisions:
                if decision.deliver:
                    applied.jobs += self._owe(
                        pipe, rules[decision.state.rule_id], decision.state, now=now, due=due
                    )
            return applied

        result: Applied = self.client.transaction(work, *keys, value_from_callable=True)
        return result

    def _owe(
        self, pipe: Any, rule: AlertRule, state: AlertState, *, now: datetime, due: float
    ) -> list[str]:
        if not rule.channels:
            return []
        if rule.frequency != "instant":
            pipe.zadd(
                self._key("alerts", "digest", rule.id), {state.alert_id: now.timestamp()}, nx=True
            )
            return []
        jobs = []
        for channel in rule.channels:
            job = DeliveryJob(
                id=delivery_id(state.alert_id, channel.key, state.sequence),
                kind="alert",
                rule_id=rule.id,
                channel=channel.key,
                created_at=now.isoformat(),
                alert_id=state.alert_id,
                sequence=state.sequence,
                articles=tuple(state.articles),
            )
            self._add_job(pipe, job, due)
            jobs.append(job.id)
        return jobs

    def _add_job(self, pipe: Any, job: DeliveryJob, due: float) -> None:
        # NX both: the same delivery owed twice (a re-run) stays one job.
        pipe.hsetnx(self._key("alerts", "jobs"), job.id, job.to_json())
        pipe.zadd(self._key("alerts", "outbox"), {job.id: due}, nx=True)

    # -- digests --------------------------------------------------------------------------
    def pending_digest(self, rule_id: str) -> list[str]:
        """Alert ids waiting for the rule's next digest, oldest first."""
        return list(self.client.zrange(self._key("alerts", "digest", rule_id), 0, -1))

    def close_digest(
        self, rule: AlertRule, period: Period, digest: str, *, now: datetime
    ) -> list[str]:
        """Turn the entries raised before the period's end into one job per channel, once.

        Idempotent per (rule, period): the period is marked sent in the same transaction, so a
        second beat (or a re-run) composes nothing. Returns the new job ids.
        """
        pending = self._key("alerts", "digest", rule.id)
        marker = self._key("alerts", "digest-sent", digest)
        end = period.end.timestamp()

        def work(pipe: Any) -> list[str]:
            if pipe.exists(marker):
                return []
            alerts = list(pipe.zrangebyscore(pending, "-inf", f"({end}"))
            pipe.multi()
            pipe.set(marker, now.isoformat(), ex=DIGEST_MEMORY_SECONDS)
            if not alerts:
                return []
            jobs = []
            for channel in rule.channels:
                job = DeliveryJob(
                    id=delivery_id(digest, channel.key, 1),
                    kind="digest",
                    rule_id=rule.id,
                    channel=channel.key,
                    created_at=now.isoformat(),
                    alert_ids=tuple(alerts),
                    period_start=period.start.isoformat(),
                    period_end=period.end.isoformat(),
                )
                self._add_job(pipe, job, now.timestamp())
                jobs.append(job.id)
            pipe.zrem(pending, *alerts)
            return jobs

        result: list[str] = self.client.transaction(work, pending, marker, value_from_callable=True)
        return result

    # -- the outbox -----------------------------------------------------------------------
    def job(self, job_id: str) -> DeliveryJob | None:
        """A job still owed, or None (delivered, dead-lettered or never created)."""
        raw = self.client.hget(self._key("alerts", "jobs"), job_id)
        return DeliveryJob.from_dict(json.loads(raw)) if raw else None

    def jobs(self) -> list[tuple[DeliveryJob, float]]:
        """Every job owed with the time it is next due, soonest first."""
        scored = self.client.zrange(self._key("alerts", "outbox"), 0, -1, withscores=True)
        raws = (
            self.client.hmget(self._key("alerts", "jobs"), [j for j, _ in scored]) if scored else []
        )
        return [
            (DeliveryJob.from_dict(json.loads(raw)), due)
            for (_, due), raw in zip(scored, raws, strict=True)
            if raw
        ]

    def take_due(self, now: float, limit: int = 500) -> list[str]:
        """Jobs due by `now`, each leased for DISPATCH_LEASE_SECONDS (the sweep sends them)."""
        due = self._take_due(
            keys=[self._key("alerts", "outbox")], args=[now, DISPATCH_LEASE_SECONDS, limit]
        )
        return [str(j) for j in due]

    def save_job(self, job: DeliveryJob, *, due: float | None = None) -> bool:
        """Store the job's new state (attempts, message); with `due`, when it is tried next.
        False when the job is owed no more (cancelled by a withdrawal meanwhile)."""
        saved = self._save_if_owed(
            keys=[self._key("alerts", "jobs"), self._key("alerts", "outbox")],
            args=[job.id, job.to_json(), "" if due is None else due],
        )
        return bool(saved)

    def finish_job(self, job_id: str) -> None:
        """The job is delivered (or given up): it is owed no more."""
        pipe = self.client.pipeline(transaction=True)
        pipe.hdel(self._key("alerts", "jobs"), job_id)
        pipe.zrem(self._key("alerts", "outbox"), job_id)
        pipe.execute()

    @contextmanager
    def job_lock(self, job_id: str, seconds: float) -> Iterator[bool]:
        """Whether this process holds the job (a second copy of the task must not send too)."""
        lock = self.client.lock(self._key("alerts", "lock", job_id), timeout=seconds)
        acquired = bool(lock.acquire(blocking=False))
        try:
            yield acquired
        finally:
            if acquired:
                # Expired while sending: whoever holds it now goes on.
                with suppress(redis.exceptions.LockError):
                    lock.release()

    def _sent_key(self, alert: str) -> str:
        return self._key("alerts", "sent", alert)

    def sent(self, alert: str) -> dict[str, str]:
        """Per channel key: whether the alert was delivered there, or its withdrawal is owed."""
        return dict(self.client.hgetall(self._sent_key(alert)))

    def delivered(self, job: DeliveryJob, story_ids: Sequence[str], *, now: datetime) -> list[str]:
        """The job was sent: it is owed no more, and each alert it carried (the alert, or a
        digest's alerts whose story was in it) is marked sent on the job's channel.

        An alert withdrawn while this send was in flight is owed its withdrawn event now, in
        the same transaction, so the receiver learns of the withdrawal whichever came first.
        Returns the withdrawn-event jobs created.
        """
        alerts = [job.alert_id] if job.kind == "alert" and job.alert_id else []
        if job.kind == "digest":
            alerts = list(job.alert_ids)
        if not alerts:
            self.finish_job(job.id)
            return []
        states = [self._state_key(a) for a in alerts]
        sent = [self._sent_key(a) for a in alerts]
        shown = set(story_ids)

        def work(pipe: Any) -> list[str]:
            raws = pipe.mget(states)
            statuses = [pipe.hget(key, job.channel) for key in sent]
            pipe.multi()
            pipe.hdel(self._key("alerts", "jobs"), job.id)
            pipe.zrem(self._key("alerts", "outbox"), job.id)
            owed = []
            for raw, status, key in zip(raws, statuses, sent, strict=True):
                state = AlertState.from_dict(json.loads(raw)) if raw else None
                if job.kind == "digest" and (state is None or state.story_id not in shown):
                    continue
                new_status, notify = after_delivery(state, status)
                pipe.hset(key, job.channel, new_status)
                pipe.expire(key, self.state_ttl_seconds)
                if notify and state is not None:
                    owed.append(self._owe_withdrawn(pipe, state, job.channel, now=now))
            return owed

        result: list[str] = self.client.transaction(work, *states, *sent, value_from_callable=True)
        return result

    def _owe_withdrawn(self, pipe: Any, state: AlertState, channel: str, *, now: datetime) -> str:
        job = DeliveryJob(
            id=withdrawn_job_id(state, channel),
            kind="withdrawn",
            rule_id=state.rule_id,
            channel=channel,
            created_at=now.isoformat(),
            alert_id=state.alert_id,
            sequence=state.sequence,
            articles=tuple(state.dropped),
        )
        self._add_job(pipe, job, now.timestamp())
        return job.id

    # -- withdrawals ----------------------------------------------------------------------
    def withdraw(
        self,
        alerts: Sequence[str],
        gone: Sequence[str],
        hidden: Sequence[str],
        rules: Mapping[str, AlertRule],
        *,
        now: datetime,
    ) -> Withdrawn:
        """Take the withdrawn articles `gone` out of these alerts, in one transaction.

        An alert left with no visible article is withdrawn: its deliveries still owed are
        cancelled (and it leaves its rule's pending digest), and each channel it was delivered
        to is owed a "withdrawn" event, written in the same EXEC as the state. A retried batch
        finds the alerts withdrawn already and changes nothing, so no event is owed twice.
        """
        candidates = sorted(set(alerts))
        if not candidates:
            return Withdrawn()
        states = [self._state_key(a) for a in candidates]
        sent = [self._sent_key(a) for a in candidates]
        jobs_key = self._key("alerts", "jobs")
        gone_set, hidden_set = set(gone), set(hidden)

        def work(pipe: Any) -> Withdrawn:
            raws = pipe.mget(states)
            result = Withdrawn()
            plans = []
            for raw, sent_key in zip(raws, sent, strict=True):
                if not raw:
                    continue
                change = withdraw_articles(
                    AlertState.from_dict(json.loads(raw)), gone_set, hidden_set, now=now
                )
                if not change.changed:
                    continue
                result.changes.append(change)
                rule = rules.get(change.state.rule_id)
                if change.action != "withdraw":
                    continue
                channels = [c.key for c in rule.channels] if rule else []
                possible = [
                    j for j in alert_job_ids(change.state, channels) if pipe.hexists(jobs_key, j)
                ]
                plan = withdrawal_plan(change.state, channels, possible, pipe.hgetall(sent_key))
                plans.append((change.state, sent_key, plan))
            pipe.multi()
            for change in result.changes:
                pipe.set(
                    self._state_key(change.state.alert_id),
                    json.dumps(change.state.to_dict()),
                    ex=self.state_ttl_seconds,
                )
            for state, sent_key, plan in plans:
                for job_id in plan.cancel:
                    pipe.hdel(jobs_key, job_id)
                    pipe.zrem(self._key("alerts", "outbox"), job_id)
                    result.cancelled.append(job_id)
                pipe.zrem(self._key("alerts", "digest", state.rule_id), state.alert_id)
                for channel in plan.notify:
                    result.jobs.append(self._owe_withdrawn(pipe, state, channel, now=now))
                if plan.sent:
                    pipe.hset(sent_key, mapping=plan.sent)
                    pipe.expire(sent_key, self.state_ttl_seconds)
            return result

        outcome: Withdrawn = self.client.transaction(work, *states, *sent, value_from_callable=True)
        return outcome

    # -- dead letters ---------------------------------------------------------------------
    def dead_letter(self, job: DeliveryJob, reason: str, *, now: datetime) -> None:
        """Keep a job that will not be retried, with the reason, for `rules deliveries replay`."""
        entry = json.dumps({"job": asdict(job), "reason": reason, "at": now.isoformat()})
        pipe = self.client.pipeline(transaction=True)
        pipe.lpush(self._key("alerts", "dead"), entry)
        pipe.ltrim(self._key("alerts", "dead"), 0, DEAD_LETTER_LIMIT - 1)
        pipe.hdel(self._key("alerts", "jobs"), job.id)
        pipe.zrem(self._key("alerts", "outbox"), job.id)
        pipe.execute()

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """Dead-lettered deliveries, newest first."""
        return [
            json.loads(e) for e in self.client.lrange(self._key("alerts", "dead"), 0, limit - 1)
        ]

    def replay(self, job_ids: Sequence[str] | None, *, now: float) -> list[str]:
        """Owe dead-lettered jobs again from scratch (all of them when `job_ids` is None)."""
        key = self._key("alerts", "dead")
        replayed = []
        for raw in self.client.lrange(key, 0, -1):
            entry = json.loads(raw)
            job = DeliveryJob.from_dict(entry["job"])
            if job_ids is not None and job.id not in job_ids:
                continue
            pipe = self.client.pipeline(transaction=True)
            pipe.lrem(key, 1, raw)
            self._add_job(pipe, replace(job, attempts=0, last_error=None), now)
            pipe.execute()
            replayed.append(job.id)
        return replayed

    # -- channel status -------------------------------------------------------------------
    def record_status(
        self,
        rule_id: str,
        channel: str,
        *,
        now: datetime,
        delivered: str | None = None,
        error: str | None = None,
    ) -> None:
        """Note a channel's last success (with its delivery id) or last error."""
        key = self._key("alerts", "status", rule_id)

        def work(pipe: Any) -> None:
            raw = pipe.hget(key, channel)
            status = json.loads(raw) if raw else {"channel": channel}
            if delivered is not None:
                status.update(last_success_at=now.isoformat(), last_delivery_id=delivered)
                status["delivered"] = int(status.get("delivered", 0)) + 1
            if error is not None:
                status.update(last_error=error, last_error_at=now.isoformat())
                status["errors"] = int(status.get("errors", 0)) + 1
            pipe.multi()
            pipe.hset(key, channel, json.dumps(status))

        self.client.transaction(work, key)

    def status(self, rule_id: str) -> dict[str, dict[str, Any]]:
        """Per channel key: last success, last error, counts."""
        stored = self.client.hgetall(self._key("alerts", "status", rule_id))
        return {k: json.loads(v) for k, v in sorted(stored.items())}


def rule_store_for(client: redis.Redis, settings: Settings) -> RuleStore:
    """The rule store on `client` (decode_responses=True) under the settings' prefix."""
    return RuleStore(
        client, settings.index_prefix, state_ttl_seconds=settings.alert_state_days * 86_400
    )
