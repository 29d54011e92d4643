"""Alert delivery: message bodies, signatures, e-mails, retries, digest periods and quiet time."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from pipeline.delivery import (
    SIGNATURE_HEADER,
    SLACK_MAX_STORIES,
    AlertStory,
    Message,
    Period,
    RetryPolicy,
    alert_message,
    classify_status,
    completed_period,
    digest_id,
    digest_message,
    digest_period,
    email_message,
    release_time,
    retry_delay,
    sign,
    slack_payload,
    story_from_documents,
    verify_signature,
    webhook_json,
    webhook_request,
    withdrawn_message,
)
from pipeline.rules import AlertRule, Quiet, RuleMatch, decide, validate_rule

SECRET = "correct-horse-battery-staple"
NOW = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


def member(doc_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "doc_id": doc_id,
        "story_id": "story-1",
        "title": f"Headline {doc_id}",
        "body": "Body text.",
        "language": "en",
        "source": "Reuters",
        "url": f"https://news.example/{doc_id}",
        "published_at": "2026-03-01T07:00:00+00:00",
        **fields,
    }


DOCUMENTS = [
    member(
        "en-1",
        title="Gerasimov <visits> the front & the staff",
        sources=[{"source": "Reuters"}, {"source": "AP"}],
    ),
    member(
        "ru-1",
        title="Герасимов посетил фронт",
        language="ru",
        source="TASS",
        published_at="2026-03-01T07:20:00+00:00",
    ),
]


@pytest.fixture
def rule() -> AlertRule:
    return validate_rule(
        {
            "id": "gerasimov",
            "name": "Gerasimov",
            "actors": ["valery-gerasimov"],
            "timezone": "Europe/Kyiv",
            "channels": [
                {"type": "webhook", "url": "https://hooks.example.org/a", "secret": SECRET},
                {"type": "email", "to": ["desk@example.org"]},
            ],
        }
    )


@pytest.fixture
def story() -> AlertStory:
    return story_from_documents(DOCUMENTS, base_url="https://newswire.example/")


@pytest.fixture
def alert(rule: AlertRule, story: AlertStory) -> Message:
    state = decide(RuleMatch(rule.id, "en-1", story.story_id), None, rule=rule, now=NOW).state
    return alert_message(rule, state, story, channel_key=rule.channels[0].key, now=NOW)


def test_a_story_lists_every_source_language_and_article(story: AlertStory) -> None:
    assert story.headline == "Gerasimov <visits> the front & the staff"
    assert story.sources == ("Reuters", "AP", "TASS")
    assert story.languages == ("en", "ru")
    assert story.link == "https://newswire.example/stories/story-1"
    assert [a.doc_id for a in story.articles] == ["en-1", "ru-1"]
    assert story_from_documents(DOCUMENTS).link == "https://news.example/en-1"


def test_the_webhook_body_carries_event_delivery_rule_and_story(
    alert: Message, story: AlertStory
) -> None:
    body = webhook_json(alert)
    assert body["type"] == "alert"
    assert body["delivery_id"] == alert.delivery_id
    assert body["rule"] == {"id": "gerasimov", "name": "Gerasimov"}
    assert body["story"]["headline"] == story.headline
    assert body["story"]["sources"] == ["Reuters", "AP", "TASS"]
    assert [a["doc_id"] for a in body["story"]["articles"]] == ["en-1", "ru-1"]


def test_retries_of_one_delivery_share_its_id_and_updates_get_a_new_one(
    rule: AlertRule, story: AlertStory, alert: Message
) -> None:
    state = decide(RuleMatch(rule.id, "en-1", story.story_id), None, rule=rule, now=NOW).state
    again = alert_message(rule, state, story, channel_key=rule.channels[0].key, now=NOW)
    assert again.delivery_id == alert.delivery_id
    other_channel = alert_message(rule, state, story, channel_key=rule.channels[1].key, now=NOW)
    assert other_channel.delivery_id != alert.delivery_id
    loud = validate_rule({**rule.to_dict(), "notify_updates": True})
    update = decide(RuleMatch(rule.id, "en-1", story.story_id, 2), state, rule=loud, now=NOW)
    updated = alert_message(loud, update.state, story, channel_key=rule.channels[0].key, now=NOW)
    assert updated.delivery_id != alert.delivery_id
    assert webhook_json(updated)["sequence"] == 2


def test_signed_requests_verify_and_tampering_does_not(alert: Message) -> None:
    request = webhook_request("https://hooks.example.org/a", SECRET, alert, timestamp=1_000_000)
    header = request.headers[SIGNATURE_HEADER]
    assert header.startswith("t=1000000,v1=")
    assert json.loads(request.body)["delivery_id"] == request.headers["Newswire-Delivery"]
    assert verify_signature(request.body, header, SECRET, now=1_000_100)
    assert not verify_signature(request.body + b" ", header, SECRET, now=1_000_100)
    assert not verify_signature(request.body, header, "another-secret-entirely", now=1_000_100)
    # Outside the tolerance window a captured request cannot be replayed.
    assert not verify_signature(request.body, header, SECRET, now=1_000_000 + 301)
    assert not verify_signature(request.body, "v1=abc", SECRET, now=1_000_000)
    assert not verify_signature(request.body, "", SECRET, now=1_000_000)


def test_a_receiver_accepts_either_signature_during_secret_rotation(alert: Message) -> None:
    body = json.dumps(webhook_json(alert)).encode()
    old = sign(body, "the-old-secret-value", 50)
    new = sign(body, SECRET, 50)
    header = f"{old},v1={new.rpartition('v1=')[2]}"
    assert verify_signature(body, header, SECRET, now=60)
    assert verify_signature(body, header, "the-old-secret-value", now=60)


def test_slack_payload_escapes_feed_text_and_links_the_story(alert: Message) -> None:
    request = webhook_request("https://hooks.slack.test", SECRET, alert, timestamp=1, fmt="slack")
    payload = json.loads(request.body)
    assert set(payload) == {"text", "blocks"}
    section = payload["blocks"][1]["text"]["text"]
    assert section.startswith(
        "<https://newswire.example/stories/story-1|Gerasimov &lt;visits&gt; the front &amp; the"
    )
    assert "Reuters, AP, TASS" in section
    assert "2026-03-01 09:00 EET" in section


def test_slack_digest_stays_within_the_block_limit(rule: AlertRule, story: AlertStory) -> None:
    stories = [story] * (SLACK_MAX_STORIES + 5)
    period = digest_period(NOW, "hourly")
    digest = digest_message(rule, stories, period, channel_key="webhook:x", now=NOW)
    blocks = slack_payload(digest)["blocks"]
    assert len(blocks) == SLACK_MAX_STORIES + 2
    assert blocks[-1]["elements"][0]["text"].startswith("and 5 more")


def _parts(email: EmailMessage) -> tuple[str, str]:
    # Parse the wire form, as a receiving mail server would.
    parsed = message_from_bytes(email.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    plain = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert plain is not None
    assert html is not None
    return str(plain.get_content()), str(html.get_content())  # type: ignore[attr-defined]


def test_alert_email_has_plain_text_and_escaped_html(alert: Message) -> None:
    email = email_message(alert, to=["desk@example.org"], sender="alerts@newswire.example")
    assert email["Subject"] == "[newswire] Gerasimov: Gerasimov <visits> the front & the staff"
    assert email["To"] == "desk@example.org"
    assert email["Message-ID"] == f"<{alert.delivery_id}@newswire.invalid>"
    assert email.get_content_type() == "multipart/alternative"
    plain, html = _parts(email)
    assert "Gerasimov <visits> the front & the staff" in plain
    assert "Герасимов посетил фронт" in plain
    assert "https://newswire.example/stories/story-1" in plain
    assert "Gerasimov &lt;visits&gt; the front &amp; the staff" in html
    assert "<visits>" not in html
    assert '<a href="https://news.example/ru-1">' in html


def test_feed_text_cannot_inject_headers_or_script_links(rule: AlertRule) -> None:
    hostile = story_from_documents(
        [member("x", title="Breaking\r\nBcc: everyone@example.org", url="javascript:alert(1)")]
    )
    state = decide(RuleMatch(rule.id, "x", "story-1"), None, rule=rule, now=NOW).state
    message = alert_message(rule, state, hostile, channel_key="email:desk", now=NOW)
    email = email_message(message, to=["desk@example.org"], sender="alerts@newswire.example")
    assert email["Bcc"] is None
    assert email["Subject"] == "[newswire] Gerasimov: Breaking Bcc: everyone@example.org"
    _, html = _parts(email)
    assert "<li>Breaking Bcc: everyone@example.org (Reuters" in " ".join(html.split())
    assert "javascript:" not in html


def test_digest_email_lists_each_story_with_sources_time_and_link(
    rule: AlertRule, story: AlertStory
) -> None:
    second = story_from_documents(
        [member("k-1", story_id="story-2", title="Kursk update", published_at="2026-03-01T08:10Z")]
    )
    period = completed_period(datetime(2026, 3, 2, 0, 5, tzinfo=UTC), "daily", "Europe/Kyiv")
    digest = digest_message(rule, [story, second], period, channel_key="email:desk", now=NOW)
    assert (
        digest.delivery_id
        == digest_message(
            rule, [second, story], period, channel_key="email:desk", now=NOW
        ).delivery_id
    )
    email = email_message(digest, to=["desk@example.org"], sender="alerts@newswire.example")
    assert email["Subject"] == "[newswire] Gerasimov: 2 stories since 2026-03-01 00:00 EET"
    plain, html = _parts(email)
    # Newest first.
    assert plain.index("Kursk update") < plain.index("Gerasimov <visits>")
    assert "Reuters, AP, TASS · 2026-03-01 09:00 EET · 2 article(s)" in plain
    assert "https://newswire.example/stories/story-1" in plain
    assert '<a href="https://news.example/k-1">Kursk update</a>' in html
    body = webhook_json(digest)
    assert body["type"] == "digest"
    assert [s["story_id"] for s in body["stories"]] == ["story-2", "story-1"]
    assert body["period"]["start"] == "2026-02-28T22:00:00+00:00"


def test_withdrawn_alerts_have_their_own_delivery(
    rule: AlertRule, story: AlertStory, alert: Message
) -> None:
    state = decide(RuleMatch(rule.id, "en-1", story.story_id), None, rule=rule, now=NOW).state
    withdrawn = withdrawn_message(rule, state, story, channel_key=rule.channels[0].key, now=NOW)
    assert withdrawn.delivery_id != alert.delivery_id
    assert webhook_json(withdrawn)["type"] == "withdrawn"
    assert webhook_json(withdrawn)["alert_id"] == state.alert_id
    email = email_message(withdrawn, to=["desk@example.org"], sender="alerts@newswire.example")
    assert "withdrawn" in email["Subject"]


def test_messages_round_trip_json_for_the_dead_letter_list(alert: Message) -> None:
    assert Message.from_dict(json.loads(json.dumps(alert.to_dict()))) == alert


# -- retries -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "delivered"),
        (204, "delivered"),
        (429, "retry"),
        (503, "retry"),
        (408, "retry"),
        (400, "dead_letter"),
        (404, "dead_letter"),
        (410, "dead_letter"),
        (301, "dead_letter"),
    ],
)
def test_status_classification(status: int, outcome: str) -> None:
    assert classify_status(status) == outcome


def test_backoff_grows_with_jitter_up_to_a_cap_then_dead_letters() -> None:
    retry = RetryPolicy(max_attempts=6, base_delay=10, max_delay=100, jitter=0.2)
    rng = random.Random(3)
    delays = [retry_delay(n, retry, rng) for n in range(1, 7)]
    assert delays[-1] is None
    bounds = [(8, 12), (16, 24), (32, 48), (64, 96), (80, 100)]
    for delay, (low, high) in zip(delays, bounds, strict=False):
        assert delay is not None
        assert low <= delay <= high
    spread = {retry_delay(1, retry, random.Random(seed)) for seed in range(20)}
    assert len(spread) > 10


def test_retry_after_is_honoured_within_the_cap() -> None:
    retry = RetryPolicy(base_delay=10, max_delay=600, jitter=0)
    assert retry_delay(1, retry, random.Random(0), retry_after=120) == 120
    assert retry_delay(1, retry, random.Random(0), retry_after=5_000) == 600


# -- digest periods and quiet time -------------------------------------------------------------
def test_hourly_and_daily_periods_in_utc() -> None:
    assert digest_period(NOW, "hourly") == Period(
        datetime(2026, 3, 1, 8, tzinfo=UTC), datetime(2026, 3, 1, 9, tzinfo=UTC)
    )
    assert digest_period(NOW, "daily") == Period(
        datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)
    )
    assert completed_period(NOW, "hourly").end == datetime(2026, 3, 1, 8, tzinfo=UTC)


def test_daily_periods_follow_the_local_calendar_across_dst() -> None:
    # Berlin moves its clocks forward on 2026-03-29: that day has 23 hours.
    period = digest_period(datetime(2026, 3, 29, 12, tzinfo=UTC), "daily", "Europe/Berlin")
    assert period.start == datetime(2026, 3, 28, 23, tzinfo=UTC)
    assert period.end - period.start == timedelta(hours=23)
    # India is UTC+05:30, so its hours start at half past on the UTC clock.
    hour = digest_period(datetime(2026, 3, 1, 8, 10, tzinfo=UTC), "hourly", "Asia/Kolkata")
    assert hour.start == datetime(2026, 3, 1, 7, 30, tzinfo=UTC)


def test_digest_ids_name_the_period() -> None:
    first = digest_period(NOW, "hourly").start
    assert digest_id("r", first) == digest_id("r", first.astimezone(UTC))
    assert digest_id("r", first) != digest_id("r", first + timedelta(hours=1))
    with pytest.raises(ValueError, match="hourly or daily"):
        digest_period(NOW, "instant")


QUIET_NIGHT = Quiet(start="22:00", end="07:00")


@pytest.mark.parametrize(
    ("due", "quiet", "zone", "release"),
    [
        # Nothing quiet: at once.
        (
            datetime(2026, 3, 1, 23, tzinfo=UTC),
            Quiet(),
            "UTC",
            datetime(2026, 3, 1, 23, tzinfo=UTC),
        ),
        # Before midnight inside a window that wraps: the next morning.
        (
            datetime(2026, 3, 1, 23, tzinfo=UTC),
            QUIET_NIGHT,
            "UTC",
            datetime(2026, 3, 2, 7, tzinfo=UTC),
        ),
        # After midnight: the same morning.
        (
            datetime(2026, 3, 2, 3, tzinfo=UTC),
            QUIET_NIGHT,
            "UTC",
            datetime(2026, 3, 2, 7, tzinfo=UTC),
        ),
        # The end is not quiet any more.
        (
            datetime(2026, 3, 2, 7, tzinfo=UTC),
            QUIET_NIGHT,
            "UTC",
            datetime(2026, 3, 2, 7, tzinfo=UTC),
        ),
        # Quiet hours are on the rule's clock: 21:00 UTC is 23:00 in Kyiv.
        (
            datetime(2026, 3, 1, 21, tzinfo=UTC),
            QUIET_NIGHT,
            "Europe/Kyiv",
            datetime(2026, 3, 2, 5, tzinfo=UTC),
        ),
        # A window within one day.
        (
            datetime(2026, 3, 1, 13, tzinfo=UTC),
            Quiet(start="12:00", end="14:00"),
            "UTC",
            datetime(2026, 3, 1, 14, tzinfo=UTC),
        ),
        # A snooze holds until it ends...
        (
            NOW,
            Quiet(snoozed_until="2026-03-01T12:00:00Z"),
            "UTC",
            datetime(2026, 3, 1, 12, tzinfo=UTC),
        ),
        # ...and one that has ended holds nothing.
        (NOW, Quiet(snoozed_until="2026-03-01T06:00:00Z"), "UTC", NOW),
        # A snooze ending inside quiet hours holds until they end too.
        (
            NOW,
            Quiet(snoozed_until="2026-03-01T23:30:00Z", start="22:00", end="07:00"),
            "UTC",
            datetime(2026, 3, 2, 7, tzinfo=UTC),
        ),
    ],
)
def test_release_time(due: datetime, quiet: Quiet, zone: str, release: datetime) -> None:
    assert release_time(due, quiet, zone) == release
