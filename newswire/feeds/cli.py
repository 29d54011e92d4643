"""`newswire feeds ...`: managed feeds from the command line (add, pause, status, poll, OPML)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any, TextIO, cast

import typer
from rich.table import Table

from newswire.console import JsonFlag, console, err, print_json
from newswire.feeds.service import status_rows, when
from newswire.settings import get_settings

app = typer.Typer(help="Managed feeds: add, remove, pause, resume, status, poll, OPML.")
Source = Annotated[str | None, typer.Option(help="Source name shown on articles")]
Language = Annotated[str | None, typer.Option(help="Default language (ISO 639) of entries")]
Tags = Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeatable)")]
MinInterval = Annotated[int | None, typer.Option(help="Shortest poll interval, seconds")]
MaxInterval = Annotated[int | None, typer.Option(help="Longest poll interval, seconds")]


def _store() -> Any:
    from newswire.feeds.store import FeedStore

    settings = get_settings()
    return FeedStore.from_url(settings.redis_url, settings.index_prefix)


class _Stderr:
    """Whatever sys.stderr is at the time of writing (a test runner swaps it per command)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]{message}[/red]")
    return typer.Exit(code)


def _validated(entry: dict[str, Any]) -> Any:
    from pipeline.feedlist import FeedListError, validate_feed

    try:
        return validate_feed(entry, where=str(entry.get("id") or "feed"))
    except FeedListError as exc:
        raise _fail(f"invalid feed: {exc}") from exc


@app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="http(s) feed URL")],
    feed_id: Annotated[str | None, typer.Option("--id", help="Feed id (default: from URL)")] = None,
    source: Source = None,
    language: Language = None,
    tag: Tags = None,
    min_interval: MinInterval = None,
    max_interval: MaxInterval = None,
    as_json: JsonFlag = False,
) -> None:
    """Start polling a feed (due at once; no restart needed)."""
    from newswire.feeds.store import FeedExists
    from pipeline.opml import slug

    store = _store()
    config = _validated(
        {
            "id": feed_id or slug(url.split("//", 1)[-1], set(store.ids())),
            "url": url,
            "source": source,
            "language": language,
            "tags": tag or [],
            "min_interval": min_interval,
            "max_interval": max_interval,
        }
    )
    try:
        record = store.add(config)
    except FeedExists as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        print_json(record.to_dict())
        return
    console.print(f"added [bold]{record.id}[/bold] ({record.config.url}); due now")


@app.command("set")
def set_settings(
    feed_id: Annotated[str, typer.Argument(help="Feed id")],
    url: Annotated[str | None, typer.Option(help="New URL")] = None,
    source: Source = None,
    language: Language = None,
    tag: Tags = None,
    min_interval: MinInterval = None,
    max_interval: MaxInterval = None,
) -> None:
    """Change a feed's settings; the ones not given stay as they are."""
    from newswire.feeds.store import UnknownFeed

    store = _store()
    try:
        current = store.get(feed_id).config.to_dict()
    except UnknownFeed as exc:
        raise _fail(f"no feed {feed_id!r}", 1) from exc
    changes = {
        "url": url,
        "source": source,
        "language": language,
        "tags": tag,
        "min_interval": min_interval,
        "max_interval": max_interval,
    }
    current.update({k: v for k, v in changes.items() if v is not None})
    store.update(_validated(current))
    console.print(f"updated {feed_id}")


def _by_id(action: str, feed_id: str) -> Any:
    from newswire.feeds.store import UnknownFeed

    store = _store()
    try:
        if action == "remove":
            if not store.remove(feed_id):
                raise UnknownFeed(feed_id)
            return None
        return store.pause(feed_id) if action == "pause" else store.resume(feed_id)
    except UnknownFeed as exc:
        raise _fail(f"no feed {feed_id!r}", 1) from exc


@app.command("remove")
def remove(feed_id: Annotated[str, typer.Argument(help="Feed id")]) -> None:
    """Stop polling a feed and forget its state."""
    _by_id("remove", feed_id)
    console.print(f"removed {feed_id}")


@app.command("pause")
def pause(feed_id: Annotated[str, typer.Argument(help="Feed id")]) -> None:
    """Take a feed out of rotation until `resume`."""
    _by_id("pause", feed_id)
    console.print(f"paused {feed_id}")


@app.command("resume")
def resume(feed_id: Annotated[str, typer.Argument(help="Feed id")]) -> None:
    """Put a paused or disabled feed back into rotation, errors forgiven, due now."""
    _by_id("resume", feed_id)
    console.print(f"resumed {feed_id}; due now")


@app.command("list")
def list_feeds(
    tag: Annotated[str | None, typer.Option(help="Only feeds with this tag")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every managed feed with its settings."""
    records = [r for r in _store().all() if tag is None or tag.lower() in r.config.tags]
    if as_json:
        print_json([r.to_dict() for r in records])
        return
    table = Table("feed", "state", "url", "source", "language", "tags", "interval bounds")
    for record in records:
        config = record.config
        bounds = f"{config.min_interval or '-'}..{config.max_interval or '-'}"
        table.add_row(
            record.id,
            record.state.status,
            config.url,
            config.source or "",
            config.language or "",
            ", ".join(config.tags),
            bounds,
        )
    console.print(table)


@app.command("show")
def show(
    feed_id: Annotated[str, typer.Argument(help="Feed id")], as_json: JsonFlag = False
) -> None:
    """One feed: settings, state, validators, new entries per day."""
    from newswire.feeds.store import UnknownFeed

    try:
        record = _store().get(feed_id, daily=True)
    except UnknownFeed as exc:
        raise _fail(f"no feed {feed_id!r}", 1) from exc
    data = record.to_dict()
    if as_json:
        print_json(data)
        return
    times = {"next_due", "last_poll", "last_new_entry_at", "added_at"}
    for key, value in data.items():
        shown = when(value) if key in times else value
        console.print(f"[bold]{key}[/bold]: {shown if shown is not None else ''}")


@app.command("status")
def status(as_json: JsonFlag = False) -> None:
    """Feed health: last poll, HTTP status, new entries, errors, next poll and the reason."""
    rows = status_rows(_store().all())
    if as_json:
        print_json(rows)
        return
    table = Table("feed", "state", "last poll", "HTTP", "new", "errors", "next poll", "reason")
    colours = {"disabled": "red", "paused": "yellow"}
    for row in rows:
        colour = colours.get(row["state"]) or ("yellow" if row["errors"] else "green")
        table.add_row(
            row["feed"],
            f"[{colour}]{row['state']}[/{colour}]",
            when(row["last_poll"]),
            row["http_status"] or "",
            str(row["new_entries"]),
            str(row["errors"]),
            when(row["next_poll"]),
            row["reason"] or "",
        )
    console.print(table)


@app.command("poll")
def poll_now(
    feeds: Annotated[
        list[str] | None, typer.Argument(help="Feed ids (default: the due ones)")
    ] = None,
    all_feeds: Annotated[bool, typer.Option("--all", help="Every feed, due or not")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Poll the due feeds (or all, or the named ones) now, in the foreground."""
    import structlog

    from newswire.feeds.polling import poll_feeds
    from workers.tasks import enqueue_articles

    settings = get_settings()
    # The poller's warnings go to stderr: stdout is the report (and --json must stay parseable).
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(cast("TextIO", _Stderr())))
    store = _store()
    targets: list[tuple[str, int | None]]
    if feeds:
        unknown = sorted(set(feeds) - set(store.ids()))
        if unknown:
            raise _fail(f"no such feeds: {', '.join(unknown)}", 1)
        targets = [(f, None) for f in feeds]
    elif all_feeds:
        targets = [(f, None) for f in store.ids()]
    else:
        claim, due = store.claim_due(now=time.time(), lease_seconds=settings.poll_lease_seconds)
        targets = [(f, claim) for f in due]
    reports = poll_feeds(targets, settings=settings, enqueue=enqueue_articles)
    if as_json:
        print_json([r.as_dict() for r in reports])
        return
    table = Table("feed", "outcome", "HTTP", "new", "next poll", "error")
    for report in reports:
        table.add_row(
            report.feed_id,
            report.outcome,
            report.status or "",
            str(report.new_entries),
            when(report.next_due),
            report.error or "",
        )
    console.print(table)
    console.print(f"polled {len(reports)} feeds")


@app.command("import")
def import_feeds(
    path: Annotated[Path, typer.Argument(help="OPML file, or a YAML feed list like feeds.yaml")],
) -> None:
    """Add the file's feeds; feeds already known get the file's settings, keep their state."""
    from pipeline.feedlist import FeedListError, parse_feed_list
    from pipeline.opml import OpmlError, parse_opml

    if not path.exists():
        raise _fail(f"no such file: {path}")
    store = _store()
    content = path.read_bytes()
    try:
        if path.suffix.lower() in {".yaml", ".yml"}:
            feeds = parse_feed_list(content.decode("utf-8"))
        else:
            known = {r.config.url: r.id for r in store.all()}
            feeds = parse_opml(content, existing_ids=set(known.values()), known_urls=known)
    except (FeedListError, OpmlError) as exc:
        raise _fail(f"cannot import {path}: {exc}") from exc
    counts = store.upsert(feeds)
    console.print(f"imported {path}: {counts['added']} added, {counts['updated']} updated")


@app.command("export")
def export_feeds(
    output: Annotated[Path | None, typer.Option(help="File to write (default: stdout)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="opml | yaml")] = "opml",
) -> None:
    """Write the managed feeds as OPML (or as a YAML feed list)."""
    from pipeline.feedlist import dump_feed_list
    from pipeline.opml import export_opml

    configs = [r.config for r in _store().all()]
    if fmt == "opml":
        data = export_opml(configs)
    elif fmt == "yaml":
        data = dump_feed_list(configs).encode()
    else:
        raise _fail("--format must be opml or yaml")
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        output.write_bytes(data)
        console.print(f"wrote {len(configs)} feeds to {output}")
