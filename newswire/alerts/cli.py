"""`newswire actors ...` and `newswire alerts`: tracked actors and the alerts they raised."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from newswire.console import JsonFlag, console, err, print_json
from newswire.settings import get_settings

actors_app = typer.Typer(help="Tracked actors (people, organisations, places).")


@actors_app.command("list")
def actors_list(as_json: JsonFlag = False) -> None:
    """List tracked actors as stored in Elasticsearch."""
    from newswire.deps import alert_store

    actors = alert_store().actors()
    if as_json:
        print_json([{k: v for k, v in a.items() if k != "query"} for a in actors])
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
    from newswire.deps import alert_store
    from pipeline.alerts import ActorConfigError, parse_actors

    settings = get_settings()
    try:
        actors = parse_actors((path or settings.actors_file).read_text(encoding="utf-8"))
    except ActorConfigError as exc:
        err.print(f"[red]invalid actors file:[/red] {exc}")
        raise typer.Exit(2) from exc
    console.print(f"{alert_store().sync_actors(actors)} actors loaded")


def alerts(
    actor: Annotated[str | None, typer.Option(help="Only this actor id")] = None,
    size: Annotated[int, typer.Option(help="How many")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """List alerts: articles that mention a tracked actor, newest first."""
    from newswire.deps import alert_store

    rows = alert_store().alerts(actor_id=actor, size=size)
    if as_json:
        print_json(rows)
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
