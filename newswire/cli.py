"""The `newswire` command line: composes the features' commands (ingest, search, stories,
actors and alerts, feeds, dead letters, operations)."""

from __future__ import annotations

from typing import Annotated

import typer

from newswire.alerts.cli import actors_app, rules_app
from newswire.alerts.cli import alerts as alerts_command
from newswire.console import DEBUG_KEY, BackendErrorsGroup
from newswire.entities.cli import app as entities_app
from newswire.events.cli import event, events_command
from newswire.feeds.cli import app as feeds_app
from newswire.ingest.cli import deadletter_app
from newswire.ingest.cli import ingest as ingest_command
from newswire.ingest.cli import watch as watch_command
from newswire.ops import cli as ops
from newswire.search.cli import search as search_command
from newswire.stories.cli import story as story_command

app = typer.Typer(
    help="News-wire ingestion: feeds -> dedup, language, entities -> search, alerts.",
    no_args_is_help=True,
    cls=BackendErrorsGroup,
)


@app.callback()
def main(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks of backend errors")
    ] = False,
) -> None:
    """News-wire ingestion: feeds -> dedup, language, entities -> search, alerts."""
    ctx.meta[DEBUG_KEY] = debug


app.add_typer(actors_app, name="actors")
app.add_typer(deadletter_app, name="deadletter")
app.add_typer(entities_app, name="entities")
app.add_typer(feeds_app, name="feeds")
app.add_typer(rules_app, name="rules")
app.command("config")(ops.show_config)
app.command("setup")(ops.setup)
app.command("reindex")(ops.reindex)
app.command("ingest")(ingest_command)
app.command("watch")(watch_command)
app.command("search")(search_command)
app.command("story")(story_command)
app.command("event")(event)
app.command("events")(events_command)
app.command("alerts")(alerts_command)
app.command("worker")(ops.worker)
app.command("beat")(ops.beat)
app.command("api")(ops.api)
app.command("status")(ops.status)

if __name__ == "__main__":  # pragma: no cover
    app()
