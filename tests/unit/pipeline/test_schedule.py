"""The poll state machine, adaptive intervals, backoff and HTTP cache hints (pure)."""

from __future__ import annotations

import random
from email.utils import formatdate

import pytest

from pipeline.schedule import (
    ACTIVE,
    DAY,
    DISABLED,
    PAUSED,
    FeedState,
    Policy,
    PollResult,
    adaptive_interval,
    apply_poll,
    backoff,
    day_key,
    entries_per_day,
    jittered,
    parse_max_age,
    parse_retry_after,
    resumed,
)

NOW = 1_750_000_000.0
POLICY = Policy(min_interval=300, max_interval=3600, jitter=0.0, max_backoff=6 * 3600, max_errors=3)


def _apply(state: FeedState, result: PollResult, policy: Policy = POLICY, **kw) -> FeedState:
    return apply_poll(state, result, policy=policy, now=NOW, rng=random.Random(7), **kw)


# --- parsing HTTP hints ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 5 ", 5.0),
        (formatdate(NOW + 600, usegmt=True), 600.0),
        (formatdate(NOW - 600, usegmt=True), 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("-3", None),
    ],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    ("cache_control", "expires", "expected"),
    [
        ("public, max-age=900", None, 900.0),
        ('max-age="60"', None, 60.0),
        ("s-maxage=10, max-age=30", None, 30.0),
        ("no-cache, max-age=900", None, None),
        ("no-store", formatdate(NOW + 100, usegmt=True), None),
        (None, formatdate(NOW + 100, usegmt=True), 100.0),
        ("private", "0", None),
        (None, None, None),
    ],
)
def test_parse_max_age(cache_control, expires, expected):
    assert parse_max_age(cache_control, expires, NOW) == expected


# --- rates and intervals --------------------------------------------------------------------


def test_rate_from_entry_dates_uses_the_span_they_cover():
    # 24 entries over the last 12 hours: 48 a day, whatever the 7-day window says.
    published = [NOW - h * 1800 for h in range(24)]
    assert entries_per_day(published, NOW) == pytest.approx(24 / (23 * 1800 / DAY))


def test_rate_ignores_entries_outside_the_window_and_floors_the_span_at_ten_minutes():
    assert entries_per_day([NOW - 10 * DAY], NOW) is None
    assert entries_per_day([NOW - 60], NOW) == pytest.approx(144.0)


def test_a_feed_that_fell_quiet_slows_down():
    burst = [NOW - 3 * DAY - m * 60 for m in range(10)]  # ten entries three days ago
    assert entries_per_day(burst, NOW) == pytest.approx(10 / (3 + 9 / 1440))


def test_rate_falls_back_to_new_entries_seen_per_day():
    daily = {day_key(NOW - d * DAY): 7 for d in range(10)}
    # Only days strictly inside the 7-day window count: 7 days x 7 entries / 7 days.
    assert entries_per_day([], NOW, daily_new=daily) == pytest.approx(7.0)
    assert entries_per_day([], NOW, daily_new={}) is None


@pytest.mark.parametrize(
    ("rate", "expected"),
    [(None, 3600), (0.0, 3600), (1.0, 3600), (48.0, 1800), (24 * 60, 300)],
)
def test_adaptive_interval_is_the_mean_gap_clamped(rate, expected):
    assert adaptive_interval(rate, POLICY) == expected


def test_factor_polls_more_often_than_the_mean_gap():
    assert adaptive_interval(24.0, Policy(60, 86_400, factor=2.0)) == 1800


def test_backoff_doubles_from_min_interval_up_to_the_cap():
    assert [backoff(n, POLICY) for n in (1, 2, 3, 7, 8, 50)] == [
        300,
        600,
        1200,
        19_200,
        21_600,
        21_600,
    ]


def test_jitter_stays_within_its_fraction_and_varies():
    policy = Policy(300, 3600, jitter=0.1)
    rng = random.Random(1)
    values = {round(jittered(1000, policy, rng), 3) for _ in range(200)}
    assert min(values) >= 900
    assert max(values) <= 1100
    assert len(values) > 100


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_interval": 0, "max_interval": 10}, "intervals"),
        ({"min_interval": 20, "max_interval": 10}, "intervals"),
        ({"min_interval": 1, "max_interval": 10, "jitter": 1.0}, "jitter"),
    ],
)
def test_policy_rejects_nonsense(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Policy(**kwargs)


# --- the state machine ----------------------------------------------------------------------


def test_ok_resets_errors_stores_validators_and_schedules_by_rate():
    state = FeedState(consecutive_errors=2, last_error="HTTP 500", etag='"old"', polls=4)
    published = tuple(NOW - h * 3600 for h in range(12))  # hourly: 24/day+
    after = _apply(
        state,
        PollResult(kind="ok", status=200, etag='"new"', new_entries=3, published=published),
    )
    assert after.consecutive_errors == 0
    assert after.last_error is None
    assert (after.etag, after.last_status, after.polls) == ('"new"', "200", 5)
    assert (after.last_new_entries, after.last_new_entry_at) == (3, NOW)
    assert after.interval == pytest.approx(3600 * 11 / 12)
    assert after.next_due == pytest.approx(NOW + after.interval)


def test_ok_without_new_entries_keeps_the_last_new_entry_time():
    state = FeedState(last_new_entry_at=NOW - 500)
    after = _apply(state, PollResult(kind="ok", status=200))
    assert (after.last_new_entries, after.last_new_entry_at) == (0, NOW - 500)
    assert after.interval == 3600  # nothing dated: the slowest


def test_not_modified_keeps_validators_and_the_known_rate():
    state = FeedState(etag='"v1"', last_modified="yesterday", entries_per_day=96.0)
    after = _apply(state, PollResult(kind="not_modified", status=304))
    assert (after.etag, after.last_modified, after.last_status) == ('"v1"', "yesterday", "304")
    assert after.interval == 900  # 96 entries a day: every 15 minutes


def test_max_age_postpones_the_next_poll_up_to_the_maximum():
    fast = FeedState(entries_per_day=24 * 60.0)
    assert _apply(fast, PollResult(kind="not_modified", max_age=1200)).interval == 1200
    assert _apply(fast, PollResult(kind="not_modified", max_age=86_400)).interval == 3600
    assert _apply(fast, PollResult(kind="not_modified", max_age=10)).interval == 300


def test_errors_back_off_then_disable_with_the_reason():
    state = FeedState()
    intervals = []
    for _ in range(2):
        state = _apply(state, PollResult(kind="error", status=500, error="HTTP 500"))
        intervals.append(state.interval)
        assert state.status == ACTIVE
    assert intervals == [300, 600]
    state = _apply(state, PollResult(kind="error", error="timeout", error_kind="timeout"))
    assert state.status == DISABLED
    assert state.next_due is None
    assert state.reason == "3 consecutive failures, last: timeout"
    assert (state.last_status, state.last_error_kind) == ("timeout", "timeout")


def test_410_disables_at_once():
    after = _apply(FeedState(), PollResult(kind="error", status=410, error="HTTP 410"))
    assert (after.status, after.next_due, after.consecutive_errors) == (DISABLED, None, 1)
    assert after.reason == "410 Gone: HTTP 410"


def test_retry_after_beyond_the_backoff_wins_up_to_the_cap():
    result = PollResult(kind="error", status=429, error="HTTP 429", retry_after=5000)
    assert _apply(FeedState(), result).next_due == NOW + 5000
    short = PollResult(kind="error", status=429, error="HTTP 429", retry_after=5)
    assert _apply(FeedState(), short).next_due == NOW + 300
    huge = PollResult(kind="error", status=503, error="HTTP 503", retry_after=10 * DAY)
    assert _apply(FeedState(), huge).next_due == NOW + 6 * 3600


@pytest.mark.parametrize("status", [PAUSED, DISABLED])
def test_a_feed_out_of_rotation_polled_by_hand_is_not_scheduled(status):
    state = FeedState(status=status, reason="by hand")
    ok = _apply(state, PollResult(kind="ok", status=200))
    failed = _apply(state, PollResult(kind="error", status=410, error="gone"))
    assert (ok.status, ok.next_due, ok.reason) == (status, None, "by hand")
    assert (failed.status, failed.next_due) == (status, None)


def test_resume_forgives_errors_and_is_due_now():
    state = FeedState(status=DISABLED, reason="410", consecutive_errors=5, etag='"e"')
    after = resumed(state, NOW)
    assert (after.status, after.reason, after.consecutive_errors) == (ACTIVE, None, 0)
    assert (after.next_due, after.etag) == (NOW, '"e"')


def test_jitter_spreads_feeds_that_were_polled_together():
    policy = Policy(300, 3600, jitter=0.2)
    dues = {
        apply_poll(
            FeedState(),
            PollResult(kind="not_modified"),
            policy=policy,
            now=NOW,
            rng=random.Random(seed),
        ).next_due
        for seed in range(20)
    }
    assert len(dues) == 20
    assert all(NOW + 2880 <= d <= NOW + 4320 for d in dues if d)
