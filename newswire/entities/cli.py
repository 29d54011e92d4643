"""`newswire entities list|show ID`: the entity registry, and how each entity was formed."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Column, Table

from newswire.console import JsonFlag, console, err, print_json

app = typer.Typer(help="The entity registry: one id per person, organisation and place.")


@app.command("list")
def list_command(
    contains: Annotated[
        str | None, typer.Argument(help="Only names containing this (any form, any script)")
    ] = None,
    entity_type: Annotated[
        str | None, typer.Option("--type", help="person | organisation | place")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    as_json: JsonFlag = False,
) -> None:
    """The most named entities with their display names and forms."""
    from newswire.entities import service
    from newswire.settings import get_settings

    settings = get_settings()
    try:
        rows = service.list_entities(
            service.entity_store_for(settings),
            language=settings.translation_target,
            entity_type=entity_type,
            contains=contains,
            limit=limit,
        )
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    if as_json:
        print_json(rows)
        return
    # The id is what `entities show` and the filters take: never cut.
    table = Table(Column("id", no_wrap=True), "type", "name", "documents", "forms")
    for row in rows:
        forms = sorted({name for names in row["names"].values() for name in names})
        table.add_row(row["id"], row["type"], row["name"], str(row["documents"]), " · ".join(forms))
    console.print(table)


@app.command("show")
def show_command(
    entity_id: Annotated[str, typer.Argument(help="Entity id, as in the search facets")],
    as_json: JsonFlag = False,
) -> None:
    """One entity: its names by language, and each form's first document and evidence."""
    from newswire.entities import service
    from newswire.settings import get_settings

    settings = get_settings()
    found = service.show_entity(
        service.entity_store_for(settings), entity_id, settings.translation_target
    )
    if found is None:
        err.print(f"[red]no entity {entity_id}[/red]")
        raise typer.Exit(1)
    if as_json:
        print_json(found)
        return
    console.print(
        f"[bold]{found['name']}[/bold]  [dim]{found['id']} · {found['type']} · key {found['key']}"
        f" · {found['documents']} documents[/dim]"
    )
    if found["actor"]:
        console.print(f"tracked actor: {found['actor']}")
    table = Table(
        "language",
        "form",
        "documents",
        Column("first document", overflow="fold"),  # a doc id, whole: `newswire story ID`
        "how it joined",
        "written",
    )
    for row in found["formed"]:
        table.add_row(
            row["language"],
            row["form"],
            str(found["names"].get(row["language"], {}).get(row["form"], 0)),
            f"{row['doc']} ({row['at'][:16]})",
            row["how"],
            " · ".join(row.get("written") or []),
        )
    console.print(table)


@app.command("backfill")
def backfill_command(
    batch_size: Annotated[int, typer.Option(min=1, max=5000)] = 200,
) -> None:
    """Register the entities of articles indexed before the registry and write their ids
    (after `newswire reindex` to a mapping with person_ids/organisation_ids/place_ids)."""
    from newswire.deps import alert_store, search_store
    from newswire.entities import service
    from newswire.settings import get_settings

    done = service.backfill(
        search_store(),
        service.entity_store_for(get_settings()),
        alert_store().gazetteer(),
        batch_size=batch_size,
        progress=lambda n: err.print(f"  {n} articles", highlight=False),
    )
    console.print(f"{done} articles have entity ids")
