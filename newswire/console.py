"""Shared command-line presentation: the consoles, `--json` output and the flag that asks for it."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

console = Console()
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


class BackendErrorsGroup(TyperGroup):
    """Every command's unreachable Redis or Elasticsearch becomes one line and exit code 2.

    `--debug` on the root command (or NEWSWIRE_LOG_LEVEL=DEBUG) lets the traceback through.
    """

    # Any: Typer vendors its own click, whose Context type is private.
    def invoke(self, ctx: Any) -> Any:
        from newswire.backends import outage
        from newswire.settings import get_settings

        try:
            return super().invoke(ctx)
        except Exception as exc:
            settings = get_settings()
            found = outage(exc, settings)
            if found is None or ctx.meta.get(DEBUG_KEY) or settings.log_level.upper() == "DEBUG":
                raise
            err.print(
                f"[red]error:[/red] {found.message}; {found.hint()}",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(2) from None


DEBUG_KEY = "newswire.debug"
