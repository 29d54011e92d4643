"""HTTP API for operations: backend health and Prometheus metrics."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from newswire.backends import BACKEND_DOWN, outage
from newswire.deps import redis_store, search_store
from newswire.feeds.api import FeedsCollector
from newswire.settings import get_settings

router = APIRouter(tags=["operations"])


def _down(exc: Exception) -> str:
    found = outage(exc, get_settings())
    return found.message if found else str(exc)


@router.get("/health")
def health() -> JSONResponse:
    """Elasticsearch cluster status and Redis reachability, each on its own; 503 if one is down."""
    report: dict[str, Any] = {"errors": {}}
    try:
        report["elasticsearch"] = search_store().es.cluster.health()["status"]
    except BACKEND_DOWN as exc:
        report["elasticsearch"] = "unreachable"
        report["errors"]["elasticsearch"] = _down(exc)
    try:
        report["redis"] = bool(redis_store().client.ping())
    except BACKEND_DOWN as exc:
        report["redis"] = False
        report["errors"]["redis"] = _down(exc)
    healthy = report["elasticsearch"] != "unreachable" and report["redis"]
    return JSONResponse(report, status_code=200 if healthy else 503)


class _StateCollector:
    """Gauges read from Redis and Elasticsearch at scrape time (not per-process samples)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        settings = get_settings()
        gauges = (
            (
                "newswire_queue_length",
                "Tasks waiting in the broker queue",
                redis_store().client.llen(settings.queue),
            ),
            (
                "newswire_dead_letters",
                "Payloads in the dead-letter list",
                redis_store().dead_letter_count(),
            ),
            ("newswire_indexed_articles", "Articles in the index", search_store().count()),
        )
        for name, documentation, value in gauges:
            yield GaugeMetricFamily(name, documentation, value=float(value))


@router.get("/metrics", response_class=PlainTextResponse)
def metrics() -> PlainTextResponse:
    """Prometheus metrics: worker counters (shared multiprocess dir) and queue gauges."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client.multiprocess import MultiProcessCollector

        MultiProcessCollector(registry)
    registry.register(_StateCollector())
    registry.register(FeedsCollector())
    return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
