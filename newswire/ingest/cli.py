"""`newswire ingest` and `newswire deadletter ...`: queue feed documents for the workers, and
inspect or replay what could not be processed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from newswire.console import JsonFlag, console, err, print_json
from newswire.settings import get_settings

deadletter_app = typer.Typer(help="Dead-lettered articles and batches.")


def _articles_from_url(url: str) -> list[Any]:
    from newswire.feeds.polling import poll
    from pipeline.feedlist import FeedConfig

    feed_id = url.split("//", 1)[1].split("/", 1)[0]
    outcome = poll(FeedConfig(id=feed_id, url=url), settings=get_settings())
    if outcome.error:
        err.print(f"[red]feed failed:[/red] {outcome.error}")
        raise typer.Exit(1)
    return list(outcome.articles)


def _articles_from_path(path: Path) -> list[Any]:
    from newswire.feeds.polling import articles_from_feed
    from newswire.ingest.watch import is_candidate
    from pipeline.feeds import FeedParseError

    if not path.exists():
        err.print(f"[red]no such file or folder:[/red] {path}")
        raise typer.Exit(2)
    # Every file of a folder is tried whatever its name: formats are known by their content
    # (a 7901 wire file may be called anything); what is not a document is skipped with why.
    files = sorted(p for p in path.iterdir() if is_candidate(p)) if path.is_dir() else [path]
    articles: list[Any] = []
    for file in files:
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
                report = result.get(propagate=False)
                if not isinstance(report, dict):  # the task failed: its exception, not a report
                    totals["failed_batches"] = totals.get("failed_batches", 0) + 1
                    err.print(f"[yellow]a batch failed:[/yellow] {report}", highlight=False)
                    report = {}
                for key, value in report.items():
                    if isinstance(value, int):
                        totals[key] = totals.get(key, 0) + value
                progress.advance(bar)
                pending.remove(result)
            time.sleep(0.2)
    return totals


def ingest(
    source: Annotated[
        str,
        typer.Argument(
            help="Feed or agency file (RSS, Atom, JSON Feed, NewsML-G2, NITF, ninjs, "
            "IPTC 7901), a folder of them, or an http(s) URL"
        ),
    ],
    wait: Annotated[bool, typer.Option(help="Wait until the workers have processed it")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait")] = 600.0,
) -> None:
    """Parse feed or agency documents from a file, folder or URL and queue their articles."""
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


def watch(
    folders: Annotated[list[Path], typer.Argument(help="Drop folders to watch")],
    once: Annotated[bool, typer.Option(help="Scan once and exit (for cron)")] = False,
    interval: Annotated[
        float | None, typer.Option(help="Seconds between scans [NEWSWIRE_WATCH_INTERVAL_SECONDS]")
    ] = None,
) -> None:
    """Ingest agency files dropped into folders (FTP/SFTP drop directories): each complete new
    file once, then moved to processed/ or to failed/ beside a .reason file."""
    from newswire.ingest.watch import DropFolder, ScanReport, drop_folder
    from workers.tasks import enqueue_articles

    settings = get_settings()
    for folder in folders:
        if not folder.is_dir():
            err.print(f"[red]not a folder:[/red] {folder}")
            raise typer.Exit(2)

    def show(folder: DropFolder, report: ScanReport) -> None:
        for name, count in report.processed.items():
            console.print(f"{folder.root / name}: {count} articles queued", highlight=False)
        for name, reason in report.failed.items():
            err.print(f"[yellow]{folder.root / name} failed:[/yellow] {reason}", highlight=False)

    watched = [
        drop_folder(folder, settings=settings, enqueue=enqueue_articles, settle_seconds=None)
        for folder in folders
    ]
    if once:
        # A first look never takes a file (its writer may be at it): look, let the files
        # settle, and look again.
        for drop in watched:
            drop.scan()
        time.sleep(settings.watch_settle_seconds)
        for drop in watched:
            show(drop, drop.scan())
        return
    from newswire.ingest.watch import watch as watch_folders

    console.print(f"watching {', '.join(str(f) for f in folders)} (Ctrl-C stops)")
    try:
        watch_folders(watched, interval=interval or settings.watch_interval_seconds, on_report=show)
    except KeyboardInterrupt:
        console.print("stopped")


@deadletter_app.command("list")
def deadletter_list(
    limit: Annotated[int, typer.Option(help="How many")] = 20, as_json: JsonFlag = False
) -> None:
    """Show dead-lettered payloads with their reasons."""
    from newswire.deps import redis_store

    rows = redis_store().dead_letters(limit)
    if as_json:
        print_json(rows)
        return
    table = Table("kind", "when", "reason")
    for row in rows:
        table.add_row(
            row["kind"], time.strftime("%Y-%m-%d %H:%M", time.gmtime(row["at"])), row["reason"]
        )
    console.print(table)


@deadletter_app.command("replay")
def deadletter_replay(limit: Annotated[int, typer.Option(help="How many")] = 100) -> None:
    """Queue dead-lettered articles again (after a fix); each leaves the list once queued.

    Records that hold no articles (a poison broker message, a malformed payload) stay in the
    list for inspection, and are counted."""
    from newswire.deps import redis_store
    from workers.tasks import enqueue_articles

    store = redis_store()
    requeued = kept = 0
    for stored, row in store.dead_letter_entries(limit):
        articles = replayable_articles(row)
        if articles is None:
            kept += 1
            continue
        # Queued before it is removed: a crash in between replays it twice (the dedup claims
        # make that harmless), never loses it.
        enqueue_articles(articles)
        store.forget_dead_letter(stored)
        requeued += len(articles)
    console.print(f"requeued {requeued} articles")
    if kept:
        err.print(f"[yellow]kept {kept} dead letters that hold no articles[/yellow] (see list)")


def replayable_articles(row: dict[str, Any]) -> list[Any] | None:
    """The articles a dead letter holds, or None when it holds something else."""
    from pipeline.models import Article

    payload = row.get("payload")
    items = payload if isinstance(payload, list) else [payload]
    try:
        return [Article.from_dict(item) for item in items if isinstance(item, dict)] or None
    except (TypeError, ValueError, KeyError):
        return None
