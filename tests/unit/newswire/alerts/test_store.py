"""The alert record built from an alert state: articles kept as they join, revisions only grow."""

from __future__ import annotations

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
