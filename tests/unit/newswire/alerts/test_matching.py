"""Tracked actors as rules, and documents that must not alert."""

from __future__ import annotations

from newswire.alerts.matching import actor_rules, visible
from newswire.alerts.store import ACTOR_RULE_PREFIX
from pipeline.rules import RuleMatcher


def _doc(doc_id: str, **extra: object) -> dict[str, object]:
    return {"doc_id": doc_id, "story_id": "s", "title": "t", "body": "", "language": "en", **extra}


def test_each_tracked_actor_is_a_rule_on_its_id_that_sends_nothing() -> None:
    rules = actor_rules([{"id": "valery-gerasimov", "name": "Valery Gerasimov"}])
    assert [r.id for r in rules] == [f"{ACTOR_RULE_PREFIX}valery-gerasimov"]
    assert rules[0].channels == ()
    matcher = RuleMatcher.build(rules)
    matches = matcher.match([_doc("a", actors=["valery-gerasimov"]), _doc("b", actors=["nato"])])
    assert [m.doc_id for m in matches] == ["a"]


def test_embargoed_and_killed_documents_are_not_matched() -> None:
    documents = [
        _doc("plain"),
        _doc("public", visibility="public"),
        _doc("embargoed", visibility="embargoed"),
        _doc("killed", visibility="killed"),
    ]
    assert [d["doc_id"] for d in visible(documents)] == ["plain", "public"]
