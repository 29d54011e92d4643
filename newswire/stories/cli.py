"""`newswire story ID`: a story's members, their sources and what each changed."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from newswire.console import JsonFlag, console, err, print_json


def story(
    story_id: Annotated[str, typer.Argument(help="Story id (or the id of one of its articles)")],
    changes: Annotated[
        bool, typer.Option("--changes", help="Sentences each member added, removed, edited")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """A story: representative, members with their sources, and (--changes) what each changed."""
    from newswire.deps import search_store
    from newswire.stories import service as stories

    store = search_store()
    found = stories.get_story(store, story_id, changes=changes)
    if found is None:  # an article id: show the story it belongs to
        article = store.get_article(story_id)
        if article is not None:
            found = stories.get_story(store, article.get("story_id") or story_id, changes=changes)
    if found is None:
        err.print(f"[red]no story or article {story_id}[/red]")
        raise typer.Exit(1)
    if as_json:
        print_json(found)
        return
    console.print(f"[bold]{found['title']}[/bold]  [dim]story {found['story_id']}[/dim]")
    console.print(
        f"{found['articles']} articles · sources: {', '.join(found['sources'])} · "
        f"languages: {', '.join(found['languages'])}"
    )
    table = Table("", "published", "source(s)", "lang", "joined by", "title")
    for member in found["members"]:
        join = member.get("story_join") or {}
        sources = ", ".join(s["source"] for s in member.get("sources") or []) or member["source"]
        version = f" (v{member['version']})" if (member.get("version") or 1) > 1 else ""
        table.add_row(
            "★" if member["representative"] else "",
            (member.get("published_at") or "")[:16],
            sources,
            member.get("language") or "",
            f"{join.get('method', '')} {join.get('score', '')}".strip(),
            f"{member['title']}{version}",
        )
    console.print(table)
    if changes:
        for member in found["members"]:
            if member.get("changes"):
                _print_changes(member)


def _print_changes(member: dict[str, Any]) -> None:
    diff = member["changes"]
    console.print(
        f"\n[bold]{member['source']}[/bold] vs representative: {diff['unchanged']} sentences "
        f"unchanged, similarity {diff['similarity']}"
    )
    for sentence in diff["added"]:
        console.print(f"  [green]+ {sentence}[/green]", highlight=False)
    for sentence in diff["removed"]:
        console.print(f"  [red]- {sentence}[/red]", highlight=False)
    for edit in diff["changed"]:
        inserted = " | ".join(edit["inserted"]) or "–"
        deleted = " | ".join(edit["deleted"]) or "–"
        console.print(
            f"  [yellow]~ {edit['member']}[/yellow]\n    inserted: {inserted}; deleted: {deleted}",
            highlight=False,
        )
