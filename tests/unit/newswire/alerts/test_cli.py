"""How `newswire rules add/edit` options become rule fields (validated later by validate_rule)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer

from newswire.alerts.cli import _rule_data
from pipeline.rules import validate_rule

NONE = {
    "filter": None,
    "webhook": None,
    "secret": None,
    "slack": False,
    "email": None,
    "quiet_hours": None,
    "all_actors": None,
}


def test_options_override_the_file_and_build_channels_quiet_hours_and_filters(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rule.json"
    path.write_text(json.dumps({"name": "From file", "query": "Kursk", "owner": "desk"}))
    data = _rule_data(
        path,
        **{
            **NONE,
            "filter": ["place=Kursk", "person = Valery Gerasimov"],
            "webhook": "https://h.example/x",
            "secret": "s" * 16,
            "slack": True,
            "email": ["a@b.example"],
            "quiet_hours": "22:00-07:00",
            "all_actors": True,
        },
        name="Overridden",
        query=None,
    )
    assert data["name"] == "Overridden"
    assert data["query"] == "Kursk"
    assert data["filters"] == {"place": ["Kursk"], "person": ["Valery Gerasimov"]}
    assert data["channels"][0]["format"] == "slack"
    assert data["channels"][1] == {"type": "email", "to": ["a@b.example"]}
    assert data["quiet"] == {"start": "22:00", "end": "07:00"}
    assert data["actors_mode"] == "all"
    assert validate_rule(data).filters["person"] == ("Valery Gerasimov",)


def test_a_filter_without_a_value_is_refused() -> None:
    with pytest.raises(typer.Exit):
        _rule_data(None, **{**NONE, "filter": ["Kursk"]})
