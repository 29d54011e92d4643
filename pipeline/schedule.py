"""Feed scheduling: the poll-outcome state machine, adaptive intervals, backoff, HTTP cache hints.

Pure functions over plain data; the caller supplies the clock and the random source, so every
transition is reproducible in a test. The rules follow miniflux's entry-frequency scheduler:
poll about as often as the feed publishes, clamped between a minimum and a maximum interval,
back off exponentially on errors, honour Retry-After and Cache-Control, and take a feed out of
rotation after too many consecutive failures (at once for 410 Gone).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

ACTIVE, PAUSED, DISABLED = "active", "paused", "disabled"
STATUSES = (ACTIVE, PAUSED, DISABLED)
DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Policy:
    """How one feed is scheduled: the global settings with the feed's own bounds applied."""

    min_interval: float
    max_interval: float
    jitter: float = 0.1
    max_backoff: float = 6 * 3600.0
    max_errors: int = 10
    factor: float = 1.0
    window_days: int = 7

    def __post_init__(self) -> None:
        if not 0 < self.min_interval <= self.max_interval:
            raise ValueError("intervals must satisfy 0 < min_interval <= max_interval")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")


@dataclass(frozen=True, slots=True)
class FeedState:
    """Everything the poller remembers about a feed between polls (persisted, survives restarts)."""

    status: str = ACTIVE
    reason: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    next_due: float | None = None
    interval: float | None = None
    consecutive_errors: int = 0
    last_poll: float | None = None
    last_status: str | None = None
    last_error: str | None = None
    last_error_kind: str | None = None
    last_new_entries: int = 0
    last_new_entry_at: float | None = None
    last_duration: float | None = None
    entries_per_day: float | None = None
    polls: int = 0


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll observed, reduced to what scheduling needs."""

    kind: str  # "ok" | "not_modified" | "error"
    status: int | None = None
    error: str | None = None
    error_kind: str | None = None  # timeout, connection, http, blocked, parse, too_large, ...
    etag: str | None = None
    last_modified: str | None = None
    new_entries: int = 0
    published: tuple[float, ...] = ()  # epoch seconds of the document's dated entries
    retry_after: float | None = None  # seconds, already parsed
    max_age: float | None = None  # seconds, from Cache-Control / Expires
    duration: float | None = None


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    return _seconds_until(value, now)


def _seconds_until(http_date: str, now: float) -> float | None:
    """Seconds from `now` until an HTTP-date (0 if past); None if it does not parse."""
    try:
        moment = parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, moment.timestamp() - now)


_MAX_AGE = re.compile(r"(?:^|[,\s])(s-maxage|max-age)\s*=\s*\"?(\d+)\"?", re.IGNORECASE)


def parse_max_age(cache_control: str | None, expires: str | None, now: float) -> float | None:
    """How long the server says the document stays fresh (Cache-Control max-age, else Expires)."""
    if cache_control:
        lowered = cache_control.lower()
        if "no-cache" in lowered or "no-store" in lowered:
            return None
        ages = {name.lower(): int(age) for name, age in _MAX_AGE.findall(cache_control)}
        if "max-age" in ages:
            return float(ages["max-age"])
    return _seconds_until(expires, now) if expires else None


def entries_per_day(
    published: Iterable[float],
    now: float,
    *,
    window_days: int = 7,
    daily_new: Mapping[str, int] | None = None,
) -> float | None:
    """Publishing rate from the document's entry dates; else from the new entries seen per day.

    A feed document holds only its newest entries, so the rate is the number of entries within
    the window divided by the time from the oldest of them to now (at least ten minutes, so one
    fresh entry does not look like a flood), not by the whole window. Measuring up to now, not
    to the newest entry, slows a feed down by itself once it falls quiet.
    """
    start = now - window_days * DAY
    recent = sorted(t for t in published if start <= t <= now + 3600)
    if recent:
        span = max(600.0, now - recent[0])
        return len(recent) / (span / DAY)
    if daily_new:
        first_day = (datetime.fromtimestamp(start, UTC) + timedelta(days=1)).date().isoformat()
        total = sum(n for day, n in daily_new.items() if day >= first_day)
        return total / window_days
    return None


def adaptive_interval(rate_per_day: float | None, policy: Policy) -> float:
    """The mean gap between entries (divided by the policy factor), clamped to the bounds."""
    if not rate_per_day or rate_per_day <= 0:
        return policy.max_interval
    interval = DAY / rate_per_day / policy.factor
    return min(policy.max_interval, max(policy.min_interval, interval))


def backoff(errors: int, policy: Policy) -> float:
    """Exponential backoff after `errors` consecutive failures, from min_interval up to a cap."""
    exponent = min(max(errors - 1, 0), 32)
    return float(min(policy.max_backoff, policy.min_interval * 2**exponent))


def jittered(seconds: float, policy: Policy, rng: random.Random) -> float:
    """Spread `seconds` by ±jitter so feeds added together do not stay in lockstep."""
    if policy.jitter <= 0:
        return seconds
    return seconds * rng.uniform(1 - policy.jitter, 1 + policy.jitter)


def apply_poll(
    state: FeedState,
    result: PollResult,
    *,
    policy: Policy,
    now: float,
    rng: random.Random,
    daily_new: Mapping[str, int] | None = None,
) -> FeedState:
    """The state machine: the feed's next state after a poll with `result` finished at `now`.

    * ok / not_modified: errors reset; next poll after the adaptive interval, never earlier
      than the server's max-age allows (up to max_interval).
    * error: errors + 1; next poll after an exponential backoff, or Retry-After if longer
      (both capped at max_backoff); at max_errors the feed is disabled with the reason.
    * 410 Gone: disabled at once.
    * A paused or disabled feed polled by hand records the outcome but is not scheduled.
    """
    common = {
        "last_poll": now,
        "last_duration": result.duration,
        "polls": state.polls + 1,
    }
    if result.kind in {"ok", "not_modified"}:
        rate = state.entries_per_day
        if result.kind == "ok":
            rate = entries_per_day(
                result.published, now, window_days=policy.window_days, daily_new=daily_new
            )
        interval = adaptive_interval(rate, policy)
        if result.max_age is not None and result.max_age > interval:
            interval = min(result.max_age, policy.max_interval)
        interval = jittered(interval, policy, rng)
        new = result.new_entries if result.kind == "ok" else 0
        return replace(
            state,
            **common,  # type: ignore[arg-type]
            etag=result.etag if result.kind == "ok" else (result.etag or state.etag),
            last_modified=(
                result.last_modified
                if result.kind == "ok"
                else (result.last_modified or state.last_modified)
            ),
            consecutive_errors=0,
            last_status=str(result.status or (304 if result.kind == "not_modified" else 200)),
            last_error=None,
            last_error_kind=None,
            last_new_entries=new,
            last_new_entry_at=now if new else state.last_new_entry_at,
            entries_per_day=rate,
            interval=interval,
            next_due=now + interval if state.status == ACTIVE else None,
        )
    errors = state.consecutive_errors + 1
    last_status = str(result.status) if result.status else (result.error_kind or "error")
    failed = replace(
        state,
        **common,  # type: ignore[arg-type]
        consecutive_errors=errors,
        last_status=last_status,
        last_error=result.error,
        last_error_kind=result.error_kind,
        last_new_entries=0,
    )
    if state.status != ACTIVE:
        return replace(failed, next_due=None)
    if result.status == 410:
        return replace(failed, status=DISABLED, reason=f"410 Gone: {result.error}", next_due=None)
    if errors >= policy.max_errors:
        return replace(
            failed,
            status=DISABLED,
            reason=f"{errors} consecutive failures, last: {result.error}",
            next_due=None,
        )
    wait = jittered(backoff(errors, policy), policy, rng)
    if result.retry_after is not None and result.retry_after > wait:
        wait = min(result.retry_after, policy.max_backoff)
    return replace(failed, interval=wait, next_due=now + wait)


def resumed(state: FeedState, now: float) -> FeedState:
    """An operator's resume: active again, errors forgiven, due at once."""
    return replace(
        state, status=ACTIVE, reason=None, consecutive_errors=0, next_due=now, interval=None
    )


def day_key(moment: float) -> str:
    """The UTC day an entry was seen on, as the key of the per-day counts."""
    return datetime.fromtimestamp(moment, UTC).date().isoformat()
