"""What a kill or withhold does to the alerts that listed the article, pure.

An alert (one per rule and story) lists the articles that matched its rule. When one of them is
withdrawn, the alert drops it; when none of its articles is left visible, the alert itself is
withdrawn: deliveries still owed for it are cancelled, and every channel that was already sent
the alert is owed one "withdrawn" event. newswire/alerts/rule_store.py applies these decisions
in one Redis transaction per batch; everything here takes plain data and the clock.

Which channels were sent an alert is tracked per alert and channel: "delivered" once a delivery
succeeded, "withdrawal" once the withdrawn event is owed. A channel is owed the event at most
once per withdrawal, whichever comes last: the withdrawal (the alert was delivered before) or
the delivery (a send that was in flight while the alert was withdrawn).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from pipeline.rules import AlertState, alert_id, delivery_id

DELIVERED = "delivered"
WITHDRAWAL = "withdrawal"

WithdrawalAction = Literal["withdraw", "drop", "ignore"]


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """What withdrawn articles do to one alert.

    withdraw: no visible article is left, the alert is withdrawn; drop: the alert keeps its
    other articles and forgets the withdrawn ones; ignore: the alert does not list them (or is
    withdrawn already: a retried batch).
    """

    action: WithdrawalAction
    state: AlertState

    @property
    def changed(self) -> bool:
        """Whether the alert's state and record must be written."""
        return self.action != "ignore"


def withdraw_articles(
    state: AlertState, gone: Collection[str], hidden: Collection[str], *, now: datetime
) -> Withdrawal:
    """The alert after the articles in `gone` were withdrawn.

    `hidden` are other articles known to be out of search (withdrawn by a concurrent batch, or
    embargoed); any other article the alert lists counts as visible, since it was visible when
    it matched.
    """
    leaving = [doc_id for doc_id in state.articles if doc_id in gone]
    if state.withdrawn_at is not None or not leaving:
        return Withdrawal("ignore", state)
    stamp = now.isoformat()
    remaining = {d: v for d, v in state.articles.items() if d not in gone}
    dropped = {**state.dropped, **{d: state.articles[d] for d in leaving}}
    if any(doc_id not in hidden for doc_id in remaining):
        return Withdrawal(
            "drop", replace(state, articles=remaining, dropped=dropped, updated_at=stamp)
        )
    withdrawn = replace(
        state,
        articles={},
        dropped={**dropped, **remaining},
        withdrawn_at=stamp,
        updated_at=stamp,
    )
    return Withdrawal("withdraw", withdrawn)


def alert_revision(state: AlertState) -> int:
    """A number that grows with every change of an alert, so a stale record write is refused.

    Adding an article or a later version adds its version; dropping one moves its version from
    `articles` to `dropped`, which counts twice.
    """
    return sum(state.articles.values()) + 2 * sum(state.dropped.values())


def candidate_alerts(rule_ids: Iterable[str], story_ids: Iterable[str]) -> list[str]:
    """Every alert id that could list an article of these stories (one per rule and story)."""
    stories = sorted(set(story_ids))
    return sorted({alert_id(rule, story) for rule in set(rule_ids) for story in stories})


def alert_job_ids(state: AlertState, channels: Iterable[str]) -> list[str]:
    """Every instant delivery the alert can have owed, on each channel, at each sequence."""
    return [
        delivery_id(state.alert_id, channel, sequence)
        for channel in channels
        for sequence in range(1, state.sequence + 1)
    ]


def withdrawn_job_id(state: AlertState, channel: str) -> str:
    """Stable id of the withdrawn event for this withdrawal of the alert on one channel."""
    return delivery_id(f"withdrawn:{state.alert_id}", channel, state.sequence)


@dataclass(frozen=True, slots=True)
class WithdrawalPlan:
    """The outbox changes of one withdrawn alert."""

    cancel: tuple[str, ...] = ()
    notify: tuple[str, ...] = ()
    sent: dict[str, str] = field(default_factory=dict)


def withdrawal_plan(
    state: AlertState, channels: Sequence[str], pending: Collection[str], sent: Mapping[str, str]
) -> WithdrawalPlan:
    """Cancel the alert's deliveries still owed; owe a withdrawn event to each channel that was
    sent the alert and has not been owed one yet. `sent` is the channel status after it."""
    cancel = tuple(job for job in alert_job_ids(state, channels) if job in pending)
    notify = tuple(sorted(c for c, status in sent.items() if status == DELIVERED))
    return WithdrawalPlan(
        cancel=cancel, notify=notify, sent={**sent, **dict.fromkeys(notify, WITHDRAWAL)}
    )


def after_delivery(state: AlertState | None, status: str | None) -> tuple[str, bool]:
    """A channel's status once it was sent the alert, and whether a withdrawn event is owed now
    (the alert was withdrawn while the send was in flight)."""
    if state is None or state.withdrawn_at is None:
        return DELIVERED, False
    return WITHDRAWAL, status != WITHDRAWAL
