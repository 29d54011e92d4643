"""The alert record built from an alert state: articles kept as they join, revisions only grow."""

from __future__ import annotations

from dataclasses import replace

from newswire.alerts.store import alert_record
from pipeline.rules import AlertRule, AlertState

RULE = AlertRule(id="gerasimov", name="Gerasimov", actors=("valery-gerasimov",))
ACTOR_RULE = AlertRule(
    id="actor:valery-gerasimov", name="Valery Gerasimov", actors=("valery-gerasimov",)
)


def _doc(doc_id: str, title: str, source: str, language: str = "en") -> dict[str, object]:
    return {
        "doc_id": doc_id,
        "title": title,
        "source": source,
        "language": language,
        "url": f"https://x.test/{doc_id}",
        "published_at": "2025-03-12T10:00:00+00:00",
    }


def _state(articles: dict[str, int], sequence: int = 1) -> AlertState:
    return AlertState(
        alert_id="a1",
        rule_id=RULE.id,
        story_id="s1",
        articles=articles,
        sequence=sequence,
        created_at="2025-03-12T10:00:01+00:00",
        updated_at="2025-03-12T10:05:00+00:00",
    )


def test_a_joining_article_is_listed_and_the_first_one_keeps_its_headline() -> None:
    first = alert_record(_state({"d1": 1}), RULE, {"d1": _doc("d1", "Original", "Reuters")}, None)
    assert first is not None
    joined = alert_record(
        _state({"d1": 1, "d2": 1}),
        RULE,
        {"d2": _doc("d2", "Перевод", "ИноСМИ", "ru")},
        {**first, "read_at": "2025-03-12T11:00:00+00:00"},
    )
    assert joined is not None
    assert [a["title"] for a in joined["articles"]] == ["Original", "Перевод"]
    assert joined["doc_ids"] == ["d1", "d2"]
    assert joined["title"] == "Original"
    assert joined["sources"] == ["Reuters", "ИноСМИ"]
    assert joined["languages"] == ["en", "ru"]
    # The inbox's read mark survives the rewrite.
    assert joined["read_at"] == "2025-03-12T11:00:00+00:00"
    assert "actor_id" not in joined


def test_a_record_at_the_same_or_a_later_revision_is_left_alone() -> None:
    current = alert_record(_state({"d1": 2, "d2": 1}), RULE, {}, None)
    assert current is not None
    assert current["revision"] == 3
    assert alert_record(_state({"d1": 1, "d2": 1}), RULE, {}, current) is None
    assert alert_record(_state({"d1": 2, "d2": 1}), RULE, {}, current) is None
    newer = alert_record(_state({"d1": 3, "d2": 1}, sequence=2), RULE, {}, current)
    assert newer is not None
    assert newer["sequence"] == 2
    assert newer["articles"][0] == {"doc_id": "d1", "version": 3}


def test_a_tracked_actor_alert_names_its_actor() -> None:
    record = alert_record(_state({"d1": 1}), ACTOR_RULE, {"d1": _doc("d1", "T", "S")}, None)
    assert record is not None
    assert record["actor_id"] == "valery-gerasimov"
    assert record["actor_name"] == "Valery Gerasimov"


def test_a_killed_article_leaves_doc_ids_but_stays_listed_flagged() -> None:
    docs = {"d1": _doc("d1", "Original", "Reuters"), "d2": _doc("d2", "Copy", "AP")}
    first = alert_record(_state({"d1": 1, "d2": 1}), RULE, docs, None)
    assert first is not None
    dropped = replace(_state({"d2": 1}), dropped={"d1": 1})
    record = alert_record(dropped, RULE, {}, first)
    assert record is not None
    assert record["doc_ids"] == ["d2"]
    assert record["withdrawn_doc_ids"] == ["d1"]
    assert record["withdrawn_at"] is None
    assert record["title"] == "Copy"
    assert [(a["doc_id"], a.get("withdrawn", False)) for a in record["articles"]] == [
        ("d1", True),
        ("d2", False),
    ]


def test_a_withdrawn_alert_keeps_its_headline_and_is_flagged() -> None:
    first = alert_record(_state({"d1": 1}), RULE, {"d1": _doc("d1", "Original", "Reuters")}, None)
    assert first is not None
    withdrawn = replace(_state({}), dropped={"d1": 1}, withdrawn_at="2025-03-12T12:00:00+00:00")
    record = alert_record(withdrawn, RULE, {}, first)
    assert record is not None
    assert record["withdrawn_at"] == "2025-03-12T12:00:00+00:00"
    assert record["doc_ids"] == []
    assert record["title"] == "Original"
    assert record["sources"] == ["Reuters"]
    assert record["revision"] > first["revision"]
    # Written once: the same withdrawal again is at the same revision.
    assert alert_record(withdrawn, RULE, {}, record) is None
