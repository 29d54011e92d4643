"""The `newswire` command line: ingest, search, actors, alerts, workers, beat, API, operations."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from newswire.cli_feeds import app as feeds_app
from newswire.cli_stories import story as story_command
from newswire.settings import get_settings

app = typer.Typer(
    help="News-wire ingestion: feeds -> dedup, language, entities -> search, alerts.",
    no_args_is_help=True,
)
actors_app = typer.Typer(help="Tracked actors (people, organisations, places).")
deadletter_app = typer.Typer(help="Dead-lettered articles and batches.")
app.add_typer(actors_app, name="actors")
app.add_typer(deadletter_app, name="deadletter")
app.add_typer(feeds_app, name="feeds")
app.command("story")(story_command)
console = Console()
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _stores() -> tuple[Any, Any]:
    from newswire.es_store import SearchStore
    from newswire.redis_store import RedisStore

    settings = get_settings()
    return (
        SearchStore.from_settings(settings),
        RedisStore.from_url(settings.redis_url, settings.index_prefix),
    )


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


@app.command("config")
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


@app.command()
def setup() -> None:
    """Create the index template, indices and aliases, and load config/actors.yaml."""
    from pipeline.alerts import parse_actors

    settings = get_settings()
    store, _ = _stores()
    store.ensure_indices()
    count = store.sync_actors(parse_actors(settings.actors_file.read_text(encoding="utf-8")))
    console.print(f"indices ready under '{settings.index_prefix}-*'; {count} actors loaded")


FEED_SUFFIXES = frozenset({".xml", ".rss", ".atom", ".rdf", ".json"})


def _articles_from_url(url: str) -> list[Any]:
    from newswire.polling import poll
    from pipeline.feedlist import FeedConfig

    _, redis_store = _stores()
    feed_id = url.split("//", 1)[1].split("/", 1)[0]
    outcome = poll(
        FeedConfig(id=feed_id, url=url), settings=get_settings(), redis_store=redis_store
    )
    if outcome.error:
        err.print(f"[red]feed failed:[/red] {outcome.error}")
        raise typer.Exit(1)
    return list(outcome.articles)


def _articles_from_path(path: Path) -> list[Any]:
    from newswire.ingest import articles_from_feed
    from pipeline.feeds import FeedParseError

    if not path.exists():
        err.print(f"[red]no such file or folder:[/red] {path}")
        raise typer.Exit(2)
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    articles: list[Any] = []
    for file in (f for f in files if f.suffix.lower() in FEED_SUFFIXES):
        try:
            found = articles_from_feed(
                file.read_bytes(), feed_id=file.stem, source=None, settings=get_settings()
            )
        except FeedParseError as exc:
            err.print(f"[yellow]skipped {file}:[/yellow] {exc}")
            continue
        console.print(f"{file}: {len(found)} entries")
        articles.extend(found)
    return articles


def _wait_for(results: list[Any], timeout: float) -> dict[str, int]:
    """Show a progress bar while the workers finish `results`; sum their reports."""
    totals: dict[str, int] = {}
    deadline = time.monotonic() + timeout
    columns = (TextColumn("processing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err) as progress:
        bar = progress.add_task("batches", total=len(results))
        pending = list(results)
        while pending:
            if time.monotonic() > deadline:
                err.print(f"[red]timed out with {len(pending)} batches pending[/red]")
                raise typer.Exit(1)
            for result in [r for r in pending if r.ready()]:
                for key, value in (result.get(propagate=False) or {}).items():
                    if isinstance(value, int):
                        totals[key] = totals.get(key, 0) + value
                progress.advance(bar)
                pending.remove(result)
            time.sleep(0.2)
    return totals


@app.command()
def reindex() -> None:
    """Rebuild the articles index from config/elasticsearch/articles.json and swap the alias."""
    store, redis_store = _stores()
    # One reindex at a time, whoever starts it (CLI here, or an operator elsewhere).
    lock = redis_store.client.lock(
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


@app.command()
def ingest(
    source: Annotated[str, typer.Argument(help="Feed file, folder of feed files, or http(s) URL")],
    wait: Annotated[bool, typer.Option(help="Wait until the workers have processed it")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait")] = 600.0,
) -> None:
    """Parse feeds from a file, folder or URL and queue their articles for the workers."""
    from workers.tasks import enqueue_articles

    if source.startswith(("http://", "https://")):
        articles = _articles_from_url(source)
    else:
        articles = _articles_from_path(Path(source))
    results = enqueue_articles(articles)
    console.print(f"queued {len(articles)} articles in {len(results)} batches")
    if wait and results:
        totals = _wait_for(results, timeout)
        console.print("processed: " + ", ".join(f"{k}={v}" for k, v in sorted(totals.items())))


@app.command()
def search(
    query: Annotated[str, typer.Argument(help='Words, "phrases", -exclusions, a|b')] = "",
    source: Annotated[list[str] | None, typer.Option(help="Filter: source")] = None,
    language: Annotated[list[str] | None, typer.Option(help="Filter: language code")] = None,
    person: Annotated[list[str] | None, typer.Option(help="Filter: person")] = None,
    organisation: Annotated[list[str] | None, typer.Option(help="Filter: organisation")] = None,
    place: Annotated[list[str] | None, typer.Option(help="Filter: place")] = None,
    category: Annotated[list[str] | None, typer.Option(help="Filter: category")] = None,
    actor: Annotated[list[str] | None, typer.Option(help="Filter: tracked actor id")] = None,
    date_from: Annotated[
        str | None, typer.Option("--from", help="From date, e.g. 2025-03-01")
    ] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="To date (inclusive)")] = None,
    size: Annotated[int, typer.Option(help="Hits per page")] = 10,
    page: Annotated[int, typer.Option(help="Page number")] = 1,
    sort: Annotated[str, typer.Option(help="relevance | newest")] = "relevance",
    collapse: Annotated[bool, typer.Option(help="One hit per story")] = True,
    as_json: JsonFlag = False,
) -> None:
    """Full-text search with highlights and facet counts."""
    from newswire import stories
    from pipeline.search import (
        InvalidSearch,
        SearchRequest,
        build_search_body,
        facet_filters,
    )

    filters = facet_filters(
        source=source,
        language=language,
        person=person,
        organisation=organisation,
        place=place,
        category=category,
        actor=actor,
    )
    request = SearchRequest(
        query=query,
        filters=filters,
        date_from=date_from,
        date_to=date_to,
        page=page,
        size=size,
        sort=sort,
        collapse_stories=collapse,
    )
    try:
        body = build_search_body(request)
    except InvalidSearch as exc:
        err.print(f"[red]invalid search:[/red] {exc}")
        raise typer.Exit(2) from exc
    store, _ = _stores()
    result = stories.search(store, body)
    if as_json:
        _print_json(asdict(result))
        return
    console.print(f"[bold]{result.total}[/bold] stories match")
    for hit in result.hits:
        console.print(
            f"\n[bold]{hit.title}[/bold]  [dim]{hit.source} · {hit.published_at[:16]} · "
            f"{hit.language} · {hit.doc_id}[/dim]"
        )
        if hit.story_articles > 1:
            console.print(
                f"  [dim]story {hit.story_id}: {hit.story_articles} articles from "
                f"{', '.join(hit.story_sources)}[/dim]"
            )
        for fragment in hit.highlights.get("body", [])[:2]:
            console.print(
                "  … "
                + fragment.replace("<mark>", "[reverse]").replace("</mark>", "[/reverse]")
                + " …",
                highlight=False,
            )
    for name, buckets in result.facets.items():
        if buckets:
            console.print(f"\n[bold]{name}[/bold]: " + ", ".join(f"{k} ({n})" for k, n in buckets))
    if result.histogram:
        console.print(
            "\n[bold]by day[/bold]: " + ", ".join(f"{d} ({n})" for d, n in result.histogram)
        )


@actors_app.command("list")
def actors_list(as_json: JsonFlag = False) -> None:
    """List tracked actors as stored in Elasticsearch."""
    store, _ = _stores()
    actors = store.actors()
    if as_json:
        _print_json([{k: v for k, v in a.items() if k != "query"} for a in actors])
        return
    table = Table("id", "name", "type", "aliases")
    for actor in actors:
        table.add_row(actor["id"], actor["name"], actor["type"], ", ".join(actor["aliases"]))
    console.print(table)


@actors_app.command("sync")
def actors_sync(
    path: Annotated[
        Path | None, typer.Argument(help="Actors YAML (default config/actors.yaml)")
    ] = None,
) -> None:
    """Load tracked actors from YAML into Elasticsearch (removing ones no longer listed)."""
    from pipeline.alerts import ActorConfigError, parse_actors

    settings = get_settings()
    try:
        actors = parse_actors((path or settings.actors_file).read_text(encoding="utf-8"))
    except ActorConfigError as exc:
        err.print(f"[red]invalid actors file:[/red] {exc}")
        raise typer.Exit(2) from exc
    store, _ = _stores()
    console.print(f"{store.sync_actors(actors)} actors loaded")


@app.command()
def alerts(
    actor: Annotated[str | None, typer.Option(help="Only this actor id")] = None,
    size: Annotated[int, typer.Option(help="How many")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """List alerts: articles that mention a tracked actor, newest first."""
    store, _ = _stores()
    rows = store.alerts(actor_id=actor, size=size)
    if as_json:
        _print_json(rows)
        return
    table = Table("actor", "published", "source", "title")
    for row in rows:
        table.add_row(
            row["actor_name"],
            (row.get("published_at") or "")[:16],
            row.get("source") or "",
            row["title"],
        )
    console.print(table)


@deadletter_app.command("list")
def deadletter_list(
    limit: Annotated[int, typer.Option(help="How many")] = 20, as_json: JsonFlag = False
) -> None:
    """Show dead-lettered payloads with their reasons."""
    _, redis_store = _stores()
    rows = redis_store.dead_letters(limit)
    if as_json:
        _print_json(rows)
        return
    table = Table("kind", "when", "reason")
    for row in rows:
        table.add_row(
            row["kind"], time.strftime("%Y-%m-%d %H:%M", time.gmtime(row["at"])), row["reason"]
        )
    console.print(table)


@deadletter_app.command("replay")
def deadletter_replay(limit: Annotated[int, typer.Option(help="How many")] = 100) -> None:
    """Queue dead-lettered articles again (after a fix); they are removed from the list."""
    from pipeline.models import Article
    from workers.tasks import enqueue_articles

    _, redis_store = _stores()
    articles: list[Article] = []
    for row in redis_store.pop_dead_letters(limit):
        payload = row["payload"]
        items = payload if isinstance(payload, list) else [payload]
        articles.extend(Article.from_dict(item) for item in items)
    enqueue_articles(articles)
    console.print(f"requeued {len(articles)} articles")


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Worker processes")] = 2,
    loglevel: Annotated[str, typer.Option(help="Celery log level")] = "INFO",
) -> None:
    """Run a Celery worker (prefork) consuming the newswire queue."""
    from workers.celery_app import worker_command

    _exec_celery(worker_command(get_settings().queue, concurrency, loglevel=loglevel))


@app.command()
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


@app.command()
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


@app.command()
def status(as_json: JsonFlag = False) -> None:
    """Health of Elasticsearch, Redis, the queue, dead letters and feeds."""
    settings = get_settings()
    store, redis_store = _stores()
    info: dict[str, Any] = {
        "elasticsearch": store.es.cluster.health()["status"],
        "articles": store.count(),
        "queue_length": redis_store.client.llen(settings.queue),
        "dead_letters": redis_store.dead_letter_count(),
        "feeds": _feed_counts(),
    }
    if as_json:
        _print_json(info)
        return
    for key, value in info.items():
        console.print(f"{key}: {value}")
    console.print("per-feed health: newswire feeds status")


def _feed_counts() -> dict[str, int]:
    from newswire.feeds_store import FeedStore

    settings = get_settings()
    return FeedStore.from_url(settings.redis_url, settings.index_prefix).status_counts()


if __name__ == "__main__":  # pragma: no cover
    app()
