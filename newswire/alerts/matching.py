"""Alert matching inside the worker's batch, off the search path: the stored rules plus one rule
per tracked actor as an in-memory RuleMatcher per process, rebuilt only when the rules' version
or the actors change; then one Redis transaction decides one alert per (rule, story). A batch's
kills and withholds take their articles out of those alerts, again in one transaction
(withdraw_alerts).

No refresh and no search: the batch's new documents are matched as built, and the few that were
already indexed (a re-run, a race, a new version) are read by id, which is real-time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from newswire.alerts import delivery
from newswire.alerts.rule_store import RuleStore
from newswire.alerts.store import ACTOR_CACHE_SECONDS, ACTOR_RULE_PREFIX, AlertStore
from newswire.backends import found_sources
from newswire.search.store import SearchStore
from pipeline.lifecycle import WITHDRAWN
from pipeline.rules import AlertRule, RuleMatch, RuleMatcher, alert_id
from pipeline.withdrawal import candidate_alerts


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The rules a worker matches with, and the key that says when they went stale."""

    key: tuple[Any, ...]
    rules: dict[str, AlertRule]
    matcher: RuleMatcher


# One per prefix (tests and benches run several prefixes in one process).
_current: dict[str, RuleSet] = {}


def actor_rules(actors: Iterable[Mapping[str, Any]]) -> list[AlertRule]:
    """One rule per tracked actor: an alert for each story naming it, recorded, not sent."""
    return [
        AlertRule(id=f"{ACTOR_RULE_PREFIX}{a['id']}", name=a["name"], actors=(a["id"],))
        for a in actors
    ]


def rule_set(rule_store: RuleStore, alert_store: AlertStore) -> RuleSet:
    """The current rules as a matcher; costs one Redis GET unless the rules changed."""
    actors = alert_store.actors(max_age=ACTOR_CACHE_SECONDS)
    actor_key = tuple((a["id"], a["name"]) for a in actors)
    cached = _current.get(rule_store.prefix)
    if cached is not None and cached.key == (rule_store.version(), actor_key):
        return cached
    version, stored = rule_store.rules_with_version()
    rules = [*stored, *actor_rules(actors)]
    built = RuleSet(
        key=(version, actor_key),
        rules={r.id: r for r in rules},
        matcher=RuleMatcher.build(rules),
    )
    _current[rule_store.prefix] = built
    return built


def visible(documents: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Documents the public may see; an embargoed or killed one never alerts."""
    return [d for d in documents if (d.get("visibility") or "public") == "public"]


def match_documents(rules: RuleSet, documents: Sequence[Mapping[str, Any]]) -> list[RuleMatch]:
    """Every (rule, document) match among the visible documents."""
    return rules.matcher.match(visible(documents))


def alert_documents(
    written: Sequence[Mapping[str, Any]],
    indexed_ids: Sequence[str],
    *,
    store: SearchStore,
    rule_store: RuleStore,
    now: datetime | None = None,
) -> int:
    """Match a batch's documents, record one alert per (rule, story), owe its deliveries.

    `written` are the documents the batch created, as built; `indexed_ids` are articles that
    were already indexed (re-runs, races with another worker, new versions), read back by id,
    so a crash between indexing and alerting loses no alert. Returns the new alerts.
    """
    alert_store = AlertStore.of(store)
    rules = rule_set(rule_store, alert_store)
    documents: dict[str, Mapping[str, Any]] = {d["doc_id"]: d for d in written}
    missing = {i for i in indexed_ids if i not in documents}
    if missing:
        response = store.es.mget(index=store.settings.articles_alias, ids=sorted(missing))
        documents.update(found_sources(response["docs"]))
    matches = match_documents(rules, list(documents.values()))
    if not matches:
        return 0
    applied = rule_store.apply(
        matches, rules.rules, now=now or datetime.now(UTC), dispatching=delivery.can_dispatch()
    )
    states = {d.state.alert_id: d.state for _, d in applied.decisions}
    # Alerts of articles read back (a re-run): a record lost to a crash after the Redis decision
    # is written now; a record already current is left alone.
    again = {alert_id(m.rule_id, m.story_id) for m in matches if m.doc_id in missing} - set(states)
    states.update(rule_store.alert_states(sorted(again)))
    alert_store.write_alerts([(s, rules.rules[s.rule_id]) for s in states.values()], documents)
    delivery.dispatch(applied.jobs)
    return applied.new_alerts


def withdraw_alerts(
    withdrawn: Sequence[str],
    *,
    store: SearchStore,
    rule_store: RuleStore,
    written: Sequence[Mapping[str, Any]] = (),
    now: datetime | None = None,
) -> int:
    """Take killed or withheld articles out of the alerts that list them; returns the alerts
    withdrawn (none of their articles visible any more).

    `withdrawn` are the ids a batch's notices withdrew; `written` are the documents the batch
    created, among which a notice may be (an item and its kill in one batch: the item alerted
    as built, then the kill withdrew it). Only articles stored as withdrawn count.

    The alerts are found without a search: one per rule and story, so their ids follow from
    the withdrawn articles' stories (pipeline.withdrawal.candidate_alerts), read from Redis in
    one MGET. Safe to run again on the same articles: an alert already withdrawn is left alone.
    """
    ids = {*withdrawn, *(d["doc_id"] for d in written if d.get("visibility") == WITHDRAWN)}
    if not ids:
        return 0
    alias = store.settings.articles_alias
    response = store.es.mget(index=alias, ids=sorted(ids))
    gone = {
        doc_id: source
        for doc_id, source in found_sources(response["docs"]).items()
        if source.get("visibility") == WITHDRAWN
    }
    if not gone:
        return 0
    alert_store = AlertStore.of(store)
    rules = rule_set(rule_store, alert_store)
    # An alert is raised per story, or per event for a rule that groups by event.
    stories = [
        key
        for doc_id, d in gone.items()
        for key in (d.get("story_id") or doc_id, d.get("event_id"))
        if key
    ]
    states = rule_store.alert_states(candidate_alerts(rules.rules, stories))
    listing = [s for s in states.values() if set(s.articles) & set(gone)]
    if not listing:
        return 0
    # The alerts' other articles: still visible, or withdrawn meanwhile by another batch?
    others = sorted({d for s in listing for d in s.articles} - set(gone))
    documents: dict[str, Mapping[str, Any]] = dict(gone)
    if others:
        found = store.es.mget(index=alias, ids=others)["docs"]
        documents.update(found_sources(found))
    hidden = [doc_id for doc_id, d in documents.items() if not visible([d])]
    outcome = rule_store.withdraw(
        [s.alert_id for s in listing], list(gone), hidden, rules.rules, now=now or datetime.now(UTC)
    )
    changes = [w.state for w in outcome.changes if w.state.rule_id in rules.rules]
    alert_store.write_alerts([(s, rules.rules[s.rule_id]) for s in changes], documents)
    delivery.dispatch(outcome.jobs)
    return outcome.withdrawn_alerts
