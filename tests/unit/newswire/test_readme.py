"""The README's configuration table lists every setting, so a new one cannot go undocumented."""

from __future__ import annotations

from pathlib import Path

from newswire.settings import Settings

README = Path(__file__).resolve().parents[3] / "README.md"


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [
        f"NEWSWIRE_{name.upper()}"
        for name in Settings.model_fields
        if f"| `NEWSWIRE_{name.upper()}` |" not in text
    ]
    assert not missing, f"add these to the README's configuration table: {missing}"
