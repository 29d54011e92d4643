"""`newswire event ID` and `newswire events`: an event's stories with their sources and times,
and the latest events with their coverage."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from newswire.console import JsonFlag, console, err, print_json


def event(
    event_id: Annotated[str, typer.Argument(help="Event id (or the id of one of its articles)")],
    as_json: JsonFlag = False,
) -> None:
    """An event: its stories, each with its articles, sources, languages and times."""
    from newswire.deps import event_store, search_store
    from newswire.events import service as events

    found = events.get_event(search_store(), event_store(), event_id)
    if found is None:
        err.print(f"[red]no event or article {event_id}[/red]")
        raise typer.Exit(1)
    if as_json:
        print_json(found)
        return
    console.print(f"[bold]{found['title']}[/bold]  [dim]event {found['event_id']}[/dim]")
    console.print(
        f"{found['coverage']} · outlets: {', '.join(found['outlets'])} · "
        f"languages: {', '.join(found['languages'])}"
    )
    if found["merged"]:
        console.print(f"[dim]merged from: {', '.join(found['merged'])}[/dim]")
    table = Table("story", "published", "source(s)", "lang", "title")
    for story in found["stories"]:
        for index, article in enumerate(story["articles"]):
            table.add_row(
                story["story_id"][:12] if index == 0 else "",
                (article["published_at"] or "")[:16],
                ", ".join(article["sources"]),
                article["language"],
                article["title"],
            )
    console.print(table)


def events_command(
    limit: Annotated[int, typer.Option("--limit", min=1, max=200, help="How many events")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """The events with the latest articles, with their coverage."""
    from newswire.deps import event_store, search_store
    from newswire.events import service as events

    rows = events.recent_events(search_store(), event_store(), limit)
    if as_json:
        print_json(rows)
        return
    table = Table("event", "last article", "coverage", "title")
    for row in rows:
        table.add_row(row["event_id"][:12], row["last"][:16], row["coverage"], row["title"])
    console.print(table)
