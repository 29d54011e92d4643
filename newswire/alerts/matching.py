"""Alert matching inside the worker's batch, off the search path: the stored rules plus one rule
per tracked actor as an in-memory RuleMatcher per process, rebuilt only when the rules' version
or the actors change; then one Redis transaction decides one alert per (rule, story).

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
from pipeline.rules import AlertRule, RuleMatch, RuleMatcher, alert_id


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
