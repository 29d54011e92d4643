"""Operations from the command line: settings, index setup and reindex, the worker, beat and
API processes, and the overall status."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from newswire.console import JsonFlag, console, err, print_json
from newswire.settings import get_settings


def show_config(
    markdown: Annotated[bool, typer.Option(help="Print a Markdown table (README)")] = False,
) -> None:
    """Every setting: its environment variable, current value and meaning."""
    from newswire.settings import Settings

    current = get_settings()
    rows = []
    for name, field in Settings.model_fields.items():
        default = field.default if field.default is not None else ""
        rows.append(
            (
                f"NEWSWIRE_{name.upper()}",
                str(default),
                field.description or "",
                str(getattr(current, name)),
            )
        )
    if markdown:
        sys.stdout.write("| variable | default | meaning |\n|---|---|---|\n")
        for env, default, meaning, _ in rows:
            shown = default.replace(str(Path.cwd()), ".") if default else ""
            sys.stdout.write(f"| `{env}` | `{shown}` | {meaning} |\n")
        return
    table = Table("variable", "value", "meaning")
    for env, _, meaning, value in rows:
        table.add_row(env, value, meaning)
    console.print(table)


def setup() -> None:
    """Create the index template, indices and aliases, and load config/actors.yaml."""
    from newswire.deps import alert_store, search_store
    from pipeline.alerts import parse_actors

    settings = get_settings()
    search_store().ensure_indices()
    count = alert_store().sync_actors(
        parse_actors(settings.actors_file.read_text(encoding="utf-8"))
    )
    console.print(f"indices ready under '{settings.index_prefix}-*'; {count} actors loaded")


def reindex() -> None:
    """Rebuild the articles index from config/elasticsearch/articles.json and swap the alias."""
    from newswire.deps import redis_store, search_store

    store = search_store()
    # One reindex at a time, whoever starts it (CLI here, or an operator elsewhere).
    lock = redis_store().client.lock(
        f"{get_settings().index_prefix}:lock:reindex", timeout=3600, blocking=False
    )
    if not lock.acquire():
        err.print("[red]another reindex is running[/red]")
        raise typer.Exit(1)
    try:
        with Progress(
            TextColumn("reindex"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
        ) as progress:
            bar = progress.add_task("documents", total=None)
            new = store.reindex(
                lambda done, total: progress.update(bar, completed=done, total=total)
            )
    finally:
        lock.release()
    console.print(f"articles now served from {new}")


def worker(
    concurrency: Annotated[int, typer.Option(help="Worker processes")] = 2,
    loglevel: Annotated[str, typer.Option(help="Celery log level")] = "INFO",
) -> None:
    """Run a Celery worker (prefork) consuming the newswire queue."""
    from workers.celery_app import worker_command

    _exec_celery(worker_command(get_settings().queue, concurrency, loglevel=loglevel))


def beat(
    schedule: Annotated[Path, typer.Option(help="Beat state file")] = Path(".runtime/celerybeat"),
) -> None:
    """Run the Celery beat scheduler: every tick it sends the feeds that are due to the workers."""
    schedule.parent.mkdir(parents=True, exist_ok=True)
    from workers.celery_app import CELERY_COMMAND

    _exec_celery([*CELERY_COMMAND, "beat", "--schedule", str(schedule), "--loglevel", "INFO"])


def _exec_celery(command: list[str]) -> None:
    settings = get_settings()
    if settings.metrics_dir:
        settings.metrics_dir.mkdir(parents=True, exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(settings.metrics_dir)
    os.execvp(command[0], command)  # noqa: S606


def api(
    host: Annotated[str | None, typer.Option(help="Bind address")] = None,
    port: Annotated[int | None, typer.Option(help="Port")] = None,
) -> None:
    """Run the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "newswire.api:app",
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_config=None,
    )


def status(as_json: JsonFlag = False) -> None:
    """Health of Elasticsearch, Redis, the queue, dead letters and feeds."""
    from newswire.deps import feed_store, redis_store, search_store

    settings = get_settings()
    store = search_store()
    info: dict[str, Any] = {
        "elasticsearch": store.es.cluster.health()["status"],
        "articles": store.count(),
        "queue_length": redis_store().client.llen(settings.queue),
        "dead_letters": redis_store().dead_letter_count(),
        "feeds": feed_store().status_counts(),
    }
    if as_json:
        print_json(info)
        return
    for key, value in info.items():
        console.print(f"{key}: {value}")
    console.print("per-feed health: newswire feeds status")
