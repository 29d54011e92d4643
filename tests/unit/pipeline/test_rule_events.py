"""'One alert per event' (pipeline/rules.py, a rule's group): the stories of one event raise one
alert under such a rule, and one alert each under a rule grouped by story."""

from __future__ import annotations

import pytest

from pipeline.rules import RuleError, RuleMatcher, alert_id, validate_rule

DOCUMENTS = [
    {
        "doc_id": f"d{i}",
        "story_id": f"s{i}",
        "event_id": "E1",
        "language": "en",
        "title": f"Kremlin sends its demands ({outlet})",
        "body": "The Kremlin handed Washington a list of demands.",
    }
    for i, outlet in enumerate(("Continental Press", "Europe-Monde", "Herald"))
] + [
    # Indexed before events existed: its story stands in for its event.
    {"doc_id": "d9", "story_id": "s9", "language": "en", "title": "Kremlin", "body": "Kremlin"}
]


def _alerts(group: str) -> set[str]:
    rule = validate_rule({"name": "Kremlin", "query": "kremlin", "group": group})
    matches = RuleMatcher.build([rule]).match(DOCUMENTS)
    assert len(matches) == len(DOCUMENTS)
    return {alert_id(m.rule_id, m.story_id) for m in matches}


def test_a_rule_grouped_by_event_raises_one_alert_for_the_events_stories():
    assert len(_alerts("event")) == 2  # E1, and s9 on its own
    assert len(_alerts("story")) == 4


def test_story_is_the_default_and_other_groups_are_refused():
    assert validate_rule({"name": "K", "query": "kremlin"}).group == "story"
    assert (
        validate_rule({"name": "K", "query": "kremlin", "group": "event"}).to_dict()["group"]
        == "event"
    )
    with pytest.raises(RuleError, match="group"):
        validate_rule({"name": "K", "query": "kremlin", "group": "outlet"})
