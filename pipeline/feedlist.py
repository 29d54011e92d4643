"""The feed list (config/feeds.yaml): which feeds to poll, validated into FeedConfig records."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml

from pipeline.models import _JsonRecord

_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
_TAG = re.compile(r"^[\w .-]{1,40}$")


class FeedListError(ValueError):
    """The feed list is malformed; the message names the entry and the problem."""


@dataclass(frozen=True, slots=True)
class FeedConfig(_JsonRecord):
    """One feed to poll, with its own settings (None = the global default)."""

    id: str
    url: str
    source: str | None = None
    language: str | None = None
    tags: tuple[str, ...] = ()
    min_interval: int | None = None
    max_interval: int | None = None


def _interval(value: Any, name: str, where: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        seconds = int(value)
    except (TypeError, ValueError) as exc:
        raise FeedListError(f"{where}: {name} must be a number of seconds") from exc
    if seconds < 10:
        raise FeedListError(f"{where}: {name} must be at least 10 seconds")
    return seconds


def validate_feed(entry: Mapping[str, Any], *, where: str) -> FeedConfig:
    """One feed's fields checked and normalised; FeedListError names `where` and the problem."""
    feed_id = str(entry.get("id") or "")
    if not _ID.match(feed_id):
        raise FeedListError(f"{where}: id {feed_id!r} is invalid (a-z, 0-9, _.- ; up to 64)")
    url = str(entry.get("url") or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise FeedListError(f"{feed_id}: url must be http(s), got {url!r}")
    if not parts.hostname:
        raise FeedListError(f"{feed_id}: url has no host: {url!r}")
    language = entry.get("language") or None
    if language is not None and not _LANGUAGE.match(str(language).lower()):
        raise FeedListError(f"{feed_id}: language must be an ISO 639 code, got {language!r}")
    raw_tags = entry.get("tags") or ()
    if isinstance(raw_tags, str):
        raw_tags = raw_tags.split(",")
    tags = tuple(sorted({str(t).strip().lower() for t in raw_tags if str(t).strip()}))
    for tag in tags:
        if not _TAG.match(tag):
            raise FeedListError(f"{feed_id}: invalid tag {tag!r}")
    low = _interval(entry.get("min_interval"), "min_interval", feed_id)
    high = _interval(entry.get("max_interval"), "max_interval", feed_id)
    if low is not None and high is not None and low > high:
        raise FeedListError(f"{feed_id}: min_interval is larger than max_interval")
    source = entry.get("source")
    return FeedConfig(
        id=feed_id,
        url=url,
        source=str(source) if source else None,
        language=str(language).lower() if language else None,
        tags=tags,
        min_interval=low,
        max_interval=high,
    )


def parse_feed_list(text: str) -> list[FeedConfig]:
    """Read `feeds:` entries (id, url; optional source, language, tags, intervals) from YAML."""
    document = yaml.safe_load(text) or {}
    entries = document.get("feeds") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise FeedListError("expected a top-level 'feeds:' list")
    feeds: list[FeedConfig] = []
    seen: set[str] = set()
    for position, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise FeedListError(f"entry {position}: expected a mapping")
        feed_id = str(entry.get("id", ""))
        if feed_id in seen:
            raise FeedListError(f"entry {position}: id {feed_id!r} is invalid or repeated")
        feed = validate_feed(entry, where=f"entry {position}")
        seen.add(feed.id)
        feeds.append(feed)
    return feeds


def dump_feed_list(feeds: list[FeedConfig]) -> str:
    """The YAML form of `feeds` that parse_feed_list reads back (unset settings left out)."""
    rows = []
    for feed in feeds:
        row = {k: v for k, v in feed.to_dict().items() if v not in (None, (), [])}
        if "tags" in row:
            row["tags"] = list(row["tags"])
        rows.append(row)
    return yaml.safe_dump({"feeds": rows}, allow_unicode=True, sort_keys=False)
