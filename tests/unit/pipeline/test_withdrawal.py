"""pipeline/withdrawal.py: what a kill does to the alerts listing the article, and what each
channel is owed."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.rules import AlertRule, AlertState, RuleMatch, alert_id, decide, delivery_id
from pipeline.withdrawal import (
    DELIVERED,
    WITHDRAWAL,
    after_delivery,
    alert_job_ids,
    alert_revision,
    candidate_alerts,
    withdraw_articles,
    withdrawal_plan,
    withdrawn_job_id,
)

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
LATER = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
RULE = AlertRule(id="storm", name="Storm", query="storm")


def _state(articles: dict[str, int], **extra: object) -> AlertState:
    return AlertState(
        alert_id=alert_id("storm", "s1"),
        rule_id="storm",
        story_id="s1",
        articles=articles,
        created_at=NOW.isoformat(),
        updated_at=NOW.isoformat(),
        **extra,  # type: ignore[arg-type]
    )


def test_the_alert_of_a_story_whose_only_article_is_killed_is_withdrawn() -> None:
    change = withdraw_articles(_state({"a": 2}), {"a"}, {"a"}, now=LATER)
    assert change.action == "withdraw"
    assert change.changed
    assert change.state.articles == {}
    assert change.state.dropped == {"a": 2}
    assert change.state.withdrawn_at == LATER.isoformat()
    assert change.state.sequence == 1


def test_an_alert_with_another_visible_article_only_drops_the_killed_one() -> None:
    change = withdraw_articles(_state({"a": 1, "b": 1}), {"a"}, {"a"}, now=LATER)
    assert change.action == "drop"
    assert change.state.articles == {"b": 1}
    assert change.state.dropped == {"a": 1}
    assert change.state.withdrawn_at is None


def test_other_articles_hidden_meanwhile_do_not_keep_the_alert_alive() -> None:
    # "b" was killed by a concurrent batch whose withdrawal has not run yet.
    change = withdraw_articles(_state({"a": 1, "b": 1}), {"a"}, {"a", "b"}, now=LATER)
    assert change.action == "withdraw"
    assert change.state.dropped == {"a": 1, "b": 1}


def test_a_retried_batch_or_an_unlisted_article_changes_nothing() -> None:
    withdrawn = withdraw_articles(_state({"a": 1}), {"a"}, {"a"}, now=LATER).state
    assert withdraw_articles(withdrawn, {"a"}, {"a"}, now=LATER).action == "ignore"
    assert not withdraw_articles(_state({"b": 1}), {"a"}, {"a"}, now=LATER).changed


def test_the_revision_grows_with_every_drop_and_withdrawal() -> None:
    start = _state({"a": 1, "b": 1})
    dropped = withdraw_articles(start, {"a"}, {"a"}, now=LATER).state
    withdrawn = withdraw_articles(dropped, {"b"}, {"a", "b"}, now=LATER).state
    assert alert_revision(start) < alert_revision(dropped) < alert_revision(withdrawn)
    again = decide(RuleMatch("storm", "c", "s1"), withdrawn, rule=RULE, now=LATER).state
    assert alert_revision(again) > alert_revision(withdrawn)


def test_candidate_alerts_are_one_per_rule_and_story() -> None:
    found = candidate_alerts(["storm", "flood"], ["s1", "s2", "s1"])
    assert len(found) == 4
    assert alert_id("flood", "s2") in found


def test_owed_jobs_are_cancelled_and_delivered_channels_owed_one_withdrawal() -> None:
    state = _state({}, sequence=2, withdrawn_at=LATER.isoformat(), dropped={"a": 2})
    pending = {delivery_id(state.alert_id, "mail", 2)}
    plan = withdrawal_plan(state, ["hook", "mail"], pending, {"hook": DELIVERED})
    assert plan.cancel == (delivery_id(state.alert_id, "mail", 2),)
    assert plan.notify == ("hook",)
    assert plan.sent == {"hook": WITHDRAWAL}
    assert len(alert_job_ids(state, ["hook", "mail"])) == 4
    # A channel already owed its withdrawal is not owed another.
    assert withdrawal_plan(state, ["hook"], set(), plan.sent).notify == ()


def test_a_send_that_was_in_flight_during_the_withdrawal_owes_the_event_once() -> None:
    live = _state({"a": 1})
    withdrawn = withdraw_articles(live, {"a"}, {"a"}, now=LATER).state
    assert after_delivery(live, None) == (DELIVERED, False)
    assert after_delivery(None, None) == (DELIVERED, False)
    assert after_delivery(withdrawn, None) == (WITHDRAWAL, True)
    assert after_delivery(withdrawn, WITHDRAWAL) == (WITHDRAWAL, False)


def test_withdrawn_event_ids_are_stable_and_differ_per_channel_and_withdrawal() -> None:
    state = _state({}, withdrawn_at=LATER.isoformat())
    assert withdrawn_job_id(state, "hook") == withdrawn_job_id(state, "hook")
    assert withdrawn_job_id(state, "hook") != withdrawn_job_id(state, "mail")
    raised_again = _state({}, sequence=2, withdrawn_at=LATER.isoformat())
    assert withdrawn_job_id(raised_again, "hook") != withdrawn_job_id(state, "hook")
    assert withdrawn_job_id(state, "hook") != delivery_id(state.alert_id, "hook", 1)


def test_a_killed_article_never_raises_its_alert_again() -> None:
    withdrawn = withdraw_articles(_state({"a": 1}), {"a"}, {"a"}, now=LATER).state
    decision = decide(RuleMatch("storm", "a", "s1"), withdrawn, rule=RULE, now=LATER)
    assert decision.action == "ignore"
    dropped = withdraw_articles(_state({"a": 1, "b": 1}), {"a"}, {"a"}, now=LATER).state
    assert decide(RuleMatch("storm", "a", "s1"), dropped, rule=RULE, now=LATER).action == "ignore"


def test_a_new_visible_article_raises_a_withdrawn_alert_again_as_a_new_delivery() -> None:
    withdrawn = withdraw_articles(_state({"a": 1}), {"a"}, {"a"}, now=LATER).state
    decision = decide(RuleMatch("storm", "c", "s1"), withdrawn, rule=RULE, now=LATER)
    assert decision.action == "alert"
    assert decision.deliver
    assert decision.state.articles == {"c": 1}
    assert decision.state.sequence == 2
    assert decision.state.withdrawn_at is None
    assert decision.state.dropped == {"a": 1}


def test_a_withheld_article_released_by_a_later_version_rejoins_its_alert() -> None:
    dropped = withdraw_articles(_state({"a": 1, "b": 1}), {"a"}, {"a"}, now=LATER).state
    decision = decide(RuleMatch("storm", "a", "s1", version=2), dropped, rule=RULE, now=LATER)
    assert decision.action == "append"
    assert decision.state.articles == {"b": 1, "a": 2}
    again = decide(RuleMatch("storm", "a", "s1", version=2), decision.state, rule=RULE, now=LATER)
    assert again.action == "ignore"


def test_states_stored_before_withdrawals_existed_still_load() -> None:
    old = {"alert_id": "x", "rule_id": "r", "story_id": "s", "articles": {"a": 1}, "sequence": 1}
    state = AlertState.from_dict(old)
    assert state.dropped == {}
    assert state.withdrawn_at is None
    assert AlertState.from_dict(state.to_dict()) == state
