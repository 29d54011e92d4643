"""The Celery application: Redis broker, JSON only, late acks, beat schedule from settings."""

from __future__ import annotations

import os
import sys
from typing import Any

from celery import Celery, signals

from newswire.logs import configure_logging
from newswire.settings import Settings, get_settings


def create_app(settings: Settings) -> Celery:
    """Build the Celery app for `settings` (tests build one per run with their own broker db)."""
    celery = Celery("newswire", include=["workers.tasks"])
    celery.conf.update(
        broker_url=settings.redis_url,
        result_backend=settings.redis_url,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        # At-least-once: a task is acknowledged after it ran, and redelivered if its worker died.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # A task that fails unexpectedly (the dead-letter write itself hit a Redis outage) is
        # not acknowledged: Redis hands it out again after the visibility timeout, so the batch
        # is retried rather than lost. Article-level errors never get here (dead-lettered).
        task_acks_on_failure_or_timeout=False,
        worker_prefetch_multiplier=1,
        broker_transport_options={"visibility_timeout": 3600},
        broker_connection_retry_on_startup=True,
        # A queue entry that is no task is dead-lettered instead of stopping the worker
        # (workers/broker.py); the Redis URL still says where the broker is.
        broker_transport="workers.broker:Transport",
        worker_consumer="workers.broker:Consumer",
        task_default_queue=settings.queue,
        result_expires=3600,
        timezone="UTC",
        worker_hijack_root_logger=False,
        beat_schedule={
            # One tick enqueues whichever feeds are due; each feed has its own schedule.
            "schedule-due-feeds": {
                "task": "newswire.schedule_due_feeds",
                "schedule": settings.poll_tick_seconds,
                "options": {"expires": settings.poll_tick_seconds},
            },
            # Alert deliveries that are due (retries, quiet time over, lost with a worker).
            "sweep-alert-deliveries": {
                "task": "newswire.sweep_alert_deliveries",
                "schedule": settings.alert_sweep_seconds,
                "options": {"expires": settings.alert_sweep_seconds},
            },
            # Digests of finished hourly/daily periods, once per rule and period.
            "compose-alert-digests": {
                "task": "newswire.compose_alert_digests",
                "schedule": settings.alert_digest_tick_seconds,
                "options": {"expires": settings.alert_digest_tick_seconds},
            },
            # Embargoed agency items become searchable (and alert) once their time has passed.
            "release-embargoes": {
                "task": "newswire.release_embargoes",
                "schedule": settings.embargo_release_seconds,
                "options": {"expires": settings.embargo_release_seconds},
            },
        },
    )
    return celery


app = create_app(get_settings())


# How every Celery process of the project is started.
CELERY_COMMAND = (sys.executable, "-m", "celery", "-A", "workers.celery_app")


def worker_command(
    queue: str, concurrency: int, *, loglevel: str = "INFO", hostname: str | None = None
) -> list[str]:
    """The command line of a prefork worker on `queue` (CLI, tests and bench start it alike)."""
    command = [
        *CELERY_COMMAND,
        "worker",
        "--pool",
        "prefork",
        "--concurrency",
        str(concurrency),
        "--queues",
        queue,
        # No gossip or mingle: workers share nothing but the broker, and start faster.
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        loglevel,
    ]
    return [*command, "--hostname", hostname] if hostname else command


@signals.setup_logging.connect
def _setup_logging(**_: Any) -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)


@signals.worker_init.connect
def _start_metrics_server(**_: Any) -> None:
    # Prefork children write their samples to PROMETHEUS_MULTIPROC_DIR; the parent serves them.
    settings = get_settings()
    if settings.worker_metrics_port and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import CollectorRegistry, start_http_server
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        start_http_server(settings.worker_metrics_port, addr="127.0.0.1", registry=registry)


@signals.worker_process_init.connect
def _warm_up(**_: Any) -> None:
    # Load the NER model before the first task, not inside it.
    from pipeline.entities import english_model

    english_model()


@signals.worker_process_shutdown.connect
def _mark_dead(pid: int | None = None, **_: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
