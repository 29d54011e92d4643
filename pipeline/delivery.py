"""Alert delivery, pure: what is sent (webhook JSON, Slack payload, e-mail), signed, and when.

Side effects (HTTP, SMTP, Redis) belong to newswire/alerts/; everything here takes the clock and
the random source as arguments, so each message and each schedule is reproducible in a test.
Every message carries a delivery id that stays the same across retries (rules.delivery_id), so
at-least-once delivery becomes exactly-once for a receiver that remembers the ids it has seen.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import jinja2

from pipeline.rules import AlertRule, AlertState, Quiet, delivery_id, quiet_hours
from pipeline.stories import representative

EventType = Literal["alert", "digest", "withdrawn"]
SIGNATURE_HEADER = "Newswire-Signature"
DELIVERY_HEADER = "Newswire-Delivery"
EVENT_HEADER = "Newswire-Event"
# A signed request older than this is refused, so a captured one cannot be replayed later.
SIGNATURE_TOLERANCE = 300.0
# Slack refuses a message of more than 50 blocks; two are the header and the footer.
SLACK_MAX_STORIES = 45
_SPACES = re.compile(r"\s+")
# Shipped as package data (pyproject.toml), so this holds in the tree and when installed.
TEMPLATES = Path(__file__).parent / "templates"


# -- what is delivered -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ArticleRef:
    """One article of an alerted story, as a message lists it."""

    doc_id: str
    title: str
    source: str
    language: str
    url: str | None
    published_at: str


@dataclass(frozen=True, slots=True)
class AlertStory:
    """A story as a message shows it: headline, every source and language, time and link."""

    story_id: str
    headline: str
    sources: tuple[str, ...]
    languages: tuple[str, ...]
    published_at: str
    link: str | None
    articles: tuple[ArticleRef, ...]


@dataclass(frozen=True, slots=True)
class Message:
    """One delivery to one channel: an alert, a digest of a period, or a withdrawn alert."""

    event: EventType
    delivery_id: str
    rule_id: str
    rule_name: str
    timezone: str
    sent_at: str
    stories: tuple[AlertStory, ...]
    alert_id: str | None = None
    sequence: int = 1
    period_start: str | None = None
    period_end: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict for a Celery payload or the dead-letter list."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        """Rebuild a message from `to_dict` output (a replayed dead letter)."""
        stories = tuple(
            AlertStory(
                **{
                    **story,
                    "sources": tuple(story["sources"]),
                    "languages": tuple(story["languages"]),
                    "articles": tuple(ArticleRef(**a) for a in story["articles"]),
                }
            )
            for story in data["stories"]
        )
        known = set(cls.__dataclass_fields__) - {"stories"}
        return cls(stories=stories, **{k: v for k, v in data.items() if k in known})


def story_from_documents(
    documents: Sequence[dict[str, Any]], *, base_url: str | None = None
) -> AlertStory:
    """A story from its member documents; the link is its story page when base_url is known."""
    lead = representative(documents)
    sources: list[str] = []
    for document in documents:
        for record in document.get("sources") or [{"source": document.get("source")}]:
            if record.get("source") and record["source"] not in sources:
                sources.append(record["source"])
    story_id = lead.get("story_id") or lead["doc_id"]
    ordered = sorted(documents, key=lambda d: (d.get("published_at") or "", d["doc_id"]))
    return AlertStory(
        story_id=story_id,
        headline=lead.get("title") or "",
        sources=tuple(sources),
        languages=tuple(sorted({d["language"] for d in documents if d.get("language")})),
        published_at=lead.get("published_at") or "",
        link=f"{base_url.rstrip('/')}/stories/{story_id}" if base_url else lead.get("url"),
        articles=tuple(
            ArticleRef(
                doc_id=d["doc_id"],
                title=d.get("title") or "",
                source=d.get("source") or "",
                language=d.get("language") or "",
                url=d.get("url"),
                published_at=d.get("published_at") or "",
            )
            for d in ordered
        ),
    )


def _id(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


def digest_id(rule_id: str, period_start: datetime) -> str:
    """Stable id of a rule's digest for the period starting at `period_start`."""
    return _id("digest", rule_id, period_start.astimezone(UTC).isoformat())


def alert_message(
    rule: AlertRule, alert: AlertState, story: AlertStory, *, channel_key: str, now: datetime
) -> Message:
    """The instant message for an alert (first delivery or an update) to one channel."""
    return Message(
        event="alert",
        delivery_id=delivery_id(alert.alert_id, channel_key, alert.sequence),
        rule_id=rule.id,
        rule_name=rule.name,
        timezone=rule.timezone,
        sent_at=now.isoformat(),
        stories=(story,),
        alert_id=alert.alert_id,
        sequence=alert.sequence,
    )


def digest_message(
    rule: AlertRule,
    stories: Sequence[AlertStory],
    period: Period,
    *,
    channel_key: str,
    now: datetime,
) -> Message:
    """The digest of one period's alerted stories to one channel, newest story first."""
    return Message(
        event="digest",
        delivery_id=delivery_id(digest_id(rule.id, period.start), channel_key, 1),
        rule_id=rule.id,
        rule_name=rule.name,
        timezone=rule.timezone,
        sent_at=now.isoformat(),
        stories=tuple(sorted(stories, key=lambda s: s.published_at, reverse=True)),
        period_start=period.start.isoformat(),
        period_end=period.end.isoformat(),
    )


def withdrawn_message(
    rule: AlertRule, alert: AlertState, story: AlertStory, *, channel_key: str, now: datetime
) -> Message:
    """Tells a receiver an alert it was sent no longer holds (story withdrawn, rule changed)."""
    return Message(
        event="withdrawn",
        delivery_id=delivery_id(_id("withdrawn", alert.alert_id), channel_key, 1),
        rule_id=rule.id,
        rule_name=rule.name,
        timezone=rule.timezone,
        sent_at=now.isoformat(),
        stories=(story,),
        alert_id=alert.alert_id,
        sequence=alert.sequence,
    )


# -- webhook -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """An HTTP POST ready to send: the exact body bytes the signature covers."""

    url: str
    headers: dict[str, str]
    body: bytes


def _story_json(story: AlertStory) -> dict[str, Any]:
    return {
        "story_id": story.story_id,
        "headline": story.headline,
        "sources": list(story.sources),
        "languages": list(story.languages),
        "published_at": story.published_at,
        "link": story.link,
        "articles": [asdict(a) for a in story.articles],
    }


def webhook_json(message: Message) -> dict[str, Any]:
    """Our webhook body: event type, delivery id, rule, and the story (or a digest's stories)."""
    body: dict[str, Any] = {
        "type": message.event,
        "delivery_id": message.delivery_id,
        "sent_at": message.sent_at,
        "rule": {"id": message.rule_id, "name": message.rule_name},
    }
    if message.event == "digest":
        body["period"] = {"start": message.period_start, "end": message.period_end}
        body["stories"] = [_story_json(s) for s in message.stories]
    else:
        body["alert_id"] = message.alert_id
        body["sequence"] = message.sequence
        body["story"] = _story_json(message.stories[0])
    return body


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn reserves these three; a headline with "<" would otherwise open a link.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_story(story: AlertStory, zone: ZoneInfo) -> str:
    headline = _slack_escape(_one_line(story.headline) or "(no headline)")
    title = f"<{story.link}|{headline.replace('|', '¦')}>" if story.link else f"*{headline}*"
    sources = _slack_escape(", ".join(story.sources))
    when = local_time(story.published_at, zone)
    return f"{title}\n{sources} · {when} · {len(story.articles)} article(s)"


def slack_payload(message: Message) -> dict[str, Any]:
    """A Slack incoming-webhook payload: fallback text plus blocks."""
    zone = ZoneInfo(message.timezone)
    rule = _slack_escape(message.rule_name)
    if message.event == "digest":
        heading = f"{message.rule_name}: {_count(len(message.stories))}"
        text = f"Newswire digest for {rule}"
    elif message.event == "withdrawn":
        heading = f"{message.rule_name}: alert withdrawn"
        text = f"Newswire alert withdrawn for {rule}: {_slack_escape(message.stories[0].headline)}"
    else:
        heading = f"{message.rule_name}: new story"
        text = f"Newswire alert for {rule}: {_slack_escape(message.stories[0].headline)}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": heading[:150]}}
    ]
    shown = message.stories[:SLACK_MAX_STORIES]
    blocks.extend(
        {"type": "section", "text": {"type": "mrkdwn", "text": _slack_story(s, zone)[:3000]}}
        for s in shown
    )
    footer = f"delivery {message.delivery_id}"
    if len(message.stories) > len(shown):
        footer = f"and {len(message.stories) - len(shown)} more · {footer}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]})
    return {"text": text, "blocks": blocks}


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The signature header value: HMAC-SHA256 over f"{timestamp}.{body}"."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    body: bytes,
    header: str,
    secret: str,
    *,
    now: float,
    tolerance: float = SIGNATURE_TOLERANCE,
) -> bool:
    """Whether `header` signs `body` with `secret` at a time within `tolerance` of `now`."""
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or abs(now - timestamp) > tolerance:
        return False
    expected = sign(body, secret, timestamp).rpartition("v1=")[2]
    # Any v1 may match: a sender rotating its secret signs with the old and the new one.
    return any(hmac.compare_digest(expected, c) for c in candidates)


def webhook_request(
    url: str, secret: str, message: Message, *, timestamp: int, fmt: str = "json"
) -> WebhookRequest:
    """The signed POST for a webhook channel in its format ("json" or "slack")."""
    payload = slack_payload(message) if fmt == "slack" else webhook_json(message)
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "newswire-alerts/1",
        DELIVERY_HEADER: message.delivery_id,
        EVENT_HEADER: message.event,
        SIGNATURE_HEADER: sign(body, secret, timestamp),
    }
    return WebhookRequest(url=url, headers=headers, body=body)


# -- e-mail ------------------------------------------------------------------------------------
def local_time(moment: str, zone: ZoneInfo) -> str:
    """An ISO time shown in the rule's zone, like "2026-03-01 09:15 CET"."""
    if not moment:
        return ""
    try:
        parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except ValueError:
        return moment
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _is_web_url(value: object) -> bool:
    return isinstance(value, str) and value.lower().startswith(("https://", "http://"))


def _count(stories: int) -> str:
    return f"{stories} story" if stories == 1 else f"{stories} stories"


def _one_line(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


@lru_cache(maxsize=1)
def _templates() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        # HTML escapes every headline and source (they come from feeds); plain text must not.
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["local"] = local_time
    # Only web links become anchors: a feed could carry a javascript: URL.
    environment.tests["web_url"] = _is_web_url
    return environment


def _render(name: str, **context: Any) -> str:
    return _templates().get_template(name).render(**context)


def email_message(
    message: Message, *, to: Sequence[str], sender: str, domain: str = "newswire.invalid"
) -> EmailMessage:
    """The e-mail for an alert or a digest: plain text plus an HTML alternative.

    Message-ID derives from the delivery id, so a mail system sees a retried send as the same
    message.
    """
    zone = ZoneInfo(message.timezone)
    count = len(message.stories)
    if message.event == "digest":
        period = local_time(message.period_start or "", zone)
        subject = f"[newswire] {message.rule_name}: {_count(count)} since {period}"
        template = "digest"
    else:
        prefix = "withdrawn: " if message.event == "withdrawn" else ""
        subject = f"[newswire] {message.rule_name}: {prefix}{message.stories[0].headline}"
        template = "alert"
    context = {"message": message, "zone": zone, "stories": message.stories}
    email = EmailMessage()
    # Header values must be one line; headlines from feeds may carry line breaks.
    email["Subject"] = _one_line(subject)[:250]
    email["From"] = sender
    email["To"] = ", ".join(to)
    email["Date"] = format_datetime(datetime.fromisoformat(message.sent_at))
    email["Message-ID"] = f"<{message.delivery_id}@{domain}>"
    email[DELIVERY_HEADER] = message.delivery_id
    email.set_content(_render(f"{template}.txt", **context))
    email.add_alternative(_render(f"{template}.html", **context), subtype="html")
    return email


# -- when: retries, digest periods, quiet time -------------------------------------------------
@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff from `base_delay`, capped, with ±jitter; then the dead-letter list."""

    max_attempts: int = 8
    base_delay: float = 10.0
    max_delay: float = 3600.0
    jitter: float = 0.2


Outcome = Literal["delivered", "retry", "dead_letter"]


def classify_status(status: int) -> Outcome:
    """What an HTTP status means for a delivery: done, try again, or never (a permanent 4xx)."""
    if 200 <= status < 300:
        return "delivered"
    if status in {408, 425, 429} or status >= 500:
        return "retry"
    return "dead_letter"


def retry_delay(
    attempts: int,
    policy: RetryPolicy,
    rng: random.Random,
    *,
    retry_after: float | None = None,
) -> float | None:
    """Seconds to wait after `attempts` failed attempts, or None: give up and dead-letter."""
    if attempts >= policy.max_attempts:
        return None
    exponent = min(max(attempts - 1, 0), 32)
    delay = min(policy.max_delay, policy.base_delay * 2**exponent)
    # Jitter keeps receivers that failed together from being retried in lockstep.
    delay *= rng.uniform(1 - policy.jitter, 1 + policy.jitter)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return float(min(delay, policy.max_delay))


@dataclass(frozen=True, slots=True)
class Period:
    """A digest period [start, end) as aware UTC datetimes."""

    start: datetime
    end: datetime


def digest_period(moment: datetime, frequency: str, timezone: str = "UTC") -> Period:
    """The hourly or daily period containing `moment`, with boundaries on the zone's clock."""
    zone = ZoneInfo(timezone)
    local = moment.astimezone(zone)
    if frequency == "hourly":
        start = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        # Hours are counted on the UTC line, so a DST change never makes one 0 or 2 hours long.
        return Period(start, start + timedelta(hours=1))
    if frequency == "daily":
        day = local.date()
        # Midnight to midnight on the local calendar: 23 or 25 hours on DST change days.
        start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
        return Period(start, end)
    raise ValueError(f"digests are hourly or daily, not {frequency!r}")


def completed_period(now: datetime, frequency: str, timezone: str = "UTC") -> Period:
    """The last period that has fully ended by `now` (the one a digest run sends)."""
    current = digest_period(now, frequency, timezone)
    return digest_period(current.start - timedelta(microseconds=1), frequency, timezone)


def release_time(due: datetime, quiet: Quiet, timezone: str = "UTC") -> datetime:
    """When a delivery due at `due` may go out: after any snooze and outside quiet hours."""
    release = due.astimezone(UTC)
    if quiet.snoozed_until:
        snoozed = datetime.fromisoformat(quiet.snoozed_until.replace("Z", "+00:00"))
        release = max(release, snoozed.astimezone(UTC))
    window = quiet_hours(quiet)
    if window is None:
        return release
    zone = ZoneInfo(timezone)
    local = release.astimezone(zone)
    start, end = window
    clock = local.time().replace(tzinfo=None)
    day = local.date()
    if start < end:
        inside = start <= clock < end
    else:
        # The window wraps midnight: before `end` it began yesterday evening.
        inside = clock >= start or clock < end
        if clock >= start:
            day += timedelta(days=1)
    if not inside:
        return release
    return datetime.combine(day, end, tzinfo=zone).astimezone(UTC)
