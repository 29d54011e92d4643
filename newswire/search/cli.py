"""`newswire search`: full-text search with highlights, story summaries and facet counts."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from newswire.console import JsonFlag, console, err, print_json


def search(
    query: Annotated[str, typer.Argument(help='Words, "phrases", -exclusions, a|b')] = "",
    source: Annotated[list[str] | None, typer.Option(help="Filter: source")] = None,
    language: Annotated[list[str] | None, typer.Option(help="Filter: language code")] = None,
    person: Annotated[list[str] | None, typer.Option(help="Filter: person")] = None,
    organisation: Annotated[list[str] | None, typer.Option(help="Filter: organisation")] = None,
    place: Annotated[list[str] | None, typer.Option(help="Filter: place")] = None,
    category: Annotated[list[str] | None, typer.Option(help="Filter: category")] = None,
    actor: Annotated[list[str] | None, typer.Option(help="Filter: tracked actor id")] = None,
    urgency: Annotated[
        list[str] | None, typer.Option(help="Filter: agency urgency, 1 (flash) to 9")
    ] = None,
    subject: Annotated[
        list[str] | None, typer.Option(help="Filter: subject id, e.g. medtop:20000151")
    ] = None,
    corrections: Annotated[
        bool, typer.Option("--corrections", help="Only articles with a corrected version")
    ] = False,
    include_hidden: Annotated[
        bool, typer.Option("--include-hidden", help="Embargoed and withdrawn articles too")
    ] = False,
    date_from: Annotated[
        str | None, typer.Option("--from", help="From date, e.g. 2025-03-01")
    ] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="To date (inclusive)")] = None,
    size: Annotated[int, typer.Option(help="Hits per page")] = 10,
    page: Annotated[int, typer.Option(help="Page number")] = 1,
    sort: Annotated[str, typer.Option(help="relevance | newest")] = "relevance",
    collapse: Annotated[bool, typer.Option(help="One hit per story")] = True,
    group: Annotated[str, typer.Option(help="story | event: one hit per story or event")] = "story",
    as_json: JsonFlag = False,
) -> None:
    """Full-text search with highlights and facet counts."""
    from newswire.deps import search_store
    from newswire.search.service import run_search
    from pipeline.search import InvalidSearch, SearchRequest, build_search_body, facet_filters

    filters = facet_filters(
        source=source,
        language=language,
        person=person,
        organisation=organisation,
        place=place,
        category=category,
        actor=actor,
        urgency=urgency,
        subject=subject,
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
        corrections_only=corrections,
        include_hidden=include_hidden,
        group=group,
    )
    try:
        body = build_search_body(request)
    except InvalidSearch as exc:
        err.print(f"[red]invalid search:[/red] {exc}")
        raise typer.Exit(2) from exc
    result = run_search(search_store(), body)
    if as_json:
        print_json(asdict(result))
        return
    console.print(f"[bold]{result.total}[/bold] stories match")
    for hit in result.hits:
        console.print(
            f"\n[bold]{hit.title}[/bold]  [dim]{hit.source} · {hit.published_at[:16]} · "
            f"{hit.language} · {hit.doc_id}[/dim]"
        )
        if hit.event_coverage:
            console.print(f"  [dim]event {hit.event_id}: {hit.event_coverage}[/dim]")
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
        labels = result.facet_labels.get(name, {})
        if buckets:
            console.print(
                f"\n[bold]{name}[/bold]: "
                + ", ".join(
                    f"{labels[k]} \\[{k}] ({n})" if labels.get(k, k) != k else f"{k} ({n})"
                    for k, n in buckets
                )
            )
    if result.histogram:
        console.print(
            "\n[bold]by day[/bold]: " + ", ".join(f"{d} ({n})" for d, n in result.histogram)
        )
