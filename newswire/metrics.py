"""Prometheus metrics shared by workers, the API and the CLI."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Histogram

ARTICLES = Counter(
    "newswire_articles_total",
    "Articles processed, by outcome (indexed, duplicate, existing, dead_letter)",
    ["outcome"],
)
STAGE_SECONDS = Histogram(
    "newswire_stage_seconds",
    "Time spent per batch in each stage",
    ["stage"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
FEED_POLLS = Counter(
    "newswire_feed_polls_total", "Feed polls, by outcome (ok, not_modified, error)", ["outcome"]
)
FEED_ENTRIES = Counter("newswire_feed_entries_total", "Entries found in polled feeds")
ALERTS = Counter("newswire_alerts_total", "Alerts recorded (actor x article, first time only)")


@contextmanager
def timed(stage: str) -> Iterator[None]:
    """Observe the wall time of the block as one sample of `stage` in STAGE_SECONDS."""
    start = time.perf_counter()
    try:
        yield
    finally:
        STAGE_SECONDS.labels(stage).observe(time.perf_counter() - start)
