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
# The same stages' CPU time in the thread that ran them: on a shared machine, wall time also
# counts waiting for Redis and Elasticsearch and for a core, which this does not.
STAGE_CPU_SECONDS = Counter(
    "newswire_stage_cpu_seconds", "CPU time of this thread per stage", ["stage"]
)
FEED_POLLS = Counter(
    "newswire_feed_polls_total", "Feed polls, by outcome (ok, not_modified, error)", ["outcome"]
)
FEED_ENTRIES = Counter("newswire_feed_entries_total", "Entries found in polled feeds")
ALERTS = Counter("newswire_alerts_total", "Alerts recorded (actor x article, first time only)")


@contextmanager
def timed(stage: str) -> Iterator[None]:
    """Observe the wall time of the block as one sample of `stage` in STAGE_SECONDS, and add
    its CPU time to STAGE_CPU_SECONDS."""
    start, cpu = time.perf_counter(), time.thread_time()
    try:
        yield
    finally:
        STAGE_SECONDS.labels(stage).observe(time.perf_counter() - start)
        STAGE_CPU_SECONDS.labels(stage).inc(time.thread_time() - cpu)
