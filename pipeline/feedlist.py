"""The feed list (config/feeds.yaml): which feeds to poll, validated into FeedConfig records."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import yaml

from pipeline.models import _JsonRecord

_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class FeedListError(ValueError):
    """The feed list is malformed; the message names the entry and the problem."""


@dataclass(frozen=True, slots=True)
class FeedConfig(_JsonRecord):
    """One feed to poll."""

    id: str
    url: str
    source: str | None = None


def parse_feed_list(text: str) -> list[FeedConfig]:
    """Read `feeds:` entries (id, url, optional source) from YAML."""
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
        if not _ID.match(feed_id) or feed_id in seen:
            raise FeedListError(f"entry {position}: id {feed_id!r} is invalid or repeated")
        seen.add(feed_id)
        url = str(entry.get("url", ""))
        if urlsplit(url).scheme not in {"http", "https"}:
            raise FeedListError(f"{feed_id}: url must be http(s), got {url!r}")
        feeds.append(FeedConfig(id=feed_id, url=url, source=entry.get("source")))
    return feeds
