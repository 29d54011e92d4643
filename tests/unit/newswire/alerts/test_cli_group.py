"""`newswire rules add/edit --group event`: one alert per event."""

from __future__ import annotations

from typer.testing import CliRunner

from newswire.alerts.cli import _rule_data, rules_app
from pipeline.rules import validate_rule
from tests.unit.newswire.alerts.test_cli import NONE


def test_group_option_becomes_the_rules_group() -> None:
    data = _rule_data(None, **{**NONE, "name": "K", "query": "kremlin", "group": "event"})
    assert validate_rule(data).group == "event"
    unset = _rule_data(None, **{**NONE, "name": "K", "query": "kremlin", "group": None})
    assert "group" not in unset  # an edit without --group keeps the rule's


def test_the_commands_take_the_option() -> None:
    for command in ("add", "edit"):
        shown = CliRunner().invoke(rules_app, [command, "--help"], terminal_width=200)
        assert "--group" in shown.output, shown.output
