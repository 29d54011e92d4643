"""Helpers shared by the integration tests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from newswire.feeds.polling import articles_from_feed
from newswire.search.store import SearchStore
from newswire.settings import Settings
from pipeline.models import Article

SEEDS = Path(__file__).resolve().parents[2] / "seeds" / "feeds"
SEED_ENTRIES = 14
# The ECB story appears twice (Reuters, and the aggregator with tracking parameters).
SEED_UNIQUE = 13
SEED_SOURCES = (
    "Reuters World News",
    "InoSMI — World (English)",
    "Wire Aggregator",
    "ИноСМИ — Мир",
    "Newsdesk",
)


def seed_articles(settings: Settings) -> list[Article]:
    """Every entry of every seed feed, parsed and normalised as `newswire ingest` does."""
    articles: list[Article] = []
    for path in sorted(SEEDS.iterdir()):
        articles += articles_from_feed(
            path.read_bytes(), feed_id=path.stem, source=None, settings=settings
        )
    return articles


def wait_all(results: list[Any], timeout: float = 180) -> list[dict[str, Any]]:
    """Wait for Celery results; raise if any task failed or time runs out."""
    deadline = time.monotonic() + timeout
    outcomes = []
    for result in results:
        outcomes.append(result.get(timeout=max(1.0, deadline - time.monotonic())))
    return outcomes


def seed_count(store: SearchStore) -> int:
    """Indexed articles that came from the seed feeds (other tests add their own)."""
    store.refresh()
    feed_ids = [p.stem for p in SEEDS.iterdir()]
    response = store.es.count(
        index=store.settings.articles_alias, query={"terms": {"feed_id": feed_ids}}
    )
    return int(response["count"])
