"""The ingest service: runs the pipeline stages over a batch and writes the results.

Celery tasks, the CLI and the benchmark call these functions; they hold no Celery code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

import structlog

from newswire.alerts import delivery as alert_delivery
from newswire.alerts import matching as alert_matching
from newswire.alerts.rule_store import RuleStore, rule_store_for
from newswire.alerts.store import AlertStore, alert_record
from newswire.backends import found_sources
from newswire.entities import service as entity_registry
from newswire.events import service as events
from newswire.ingest.store import RedisStore
from newswire.ingest.translate import Translator, make_translator
from newswire.metrics import ALERTS, ARTICLES, timed
from newswire.search.store import SearchStore, WriteResult
from newswire.settings import Settings
from newswire.stories import service as stories
from pipeline.dedup import dedup_keys
from pipeline.document import build_document
from pipeline.entities import extract_entities
from pipeline.language import detect_language
from pipeline.models import Article
from pipeline.rules import AlertState, alert_id

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class BatchReport:
    """What happened to each article of a batch."""

    indexed: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    duplicates: dict[str, str] = field(default_factory=dict)
    dead_letters: dict[str, str] = field(default_factory=dict)
    versions: list[str] = field(default_factory=list)
    # Articles a kill or withhold notice took out of search (their alerts are to be withdrawn).
    withdrawn: list[str] = field(default_factory=list)
    alerts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "indexed": len(self.indexed),
            "existing": len(self.existing),
            "duplicates": len(self.duplicates),
            "dead_letters": len(self.dead_letters),
            "versions": len(self.versions),
            "withdrawn": len(self.withdrawn),
            "alerts": self.alerts,
        }


@cache
def translator_for(settings: Settings) -> Translator:
    """One translator per process and settings (the HTTP client keeps its connections)."""
    return make_translator(
        settings.translate_url, settings.translate_api_key, settings.translate_timeout_seconds
    )


def translate_titles(documents: Sequence[dict[str, Any]], settings: Settings) -> None:
    """Add the headline translation to documents in a language the newsroom does not read."""
    translator = translator_for(settings)
    for doc in documents:
        if doc["needs_translation"]:
            translated = translator.translate(
                doc["title"], source=doc["language"], target=settings.translation_target
            )
            if translated:
                doc["title_translated"] = translated


def count_outcomes(report: BatchReport) -> None:
    """The batch's outcomes in the Prometheus counters."""
    for outcome, count in (
        ("indexed", len(report.indexed)),
        ("existing", len(report.existing)),
        ("version", len(report.versions)),
        ("withdrawn", len(report.withdrawn)),
        ("duplicate", len(report.duplicates)),
        ("dead_letter", len(report.dead_letters)),
    ):
        ARTICLES.labels(outcome).inc(count)
    ALERTS.inc(report.alerts)


def process_batch(
    articles: Sequence[Article], *, store: SearchStore, redis_store: RedisStore, settings: Settings
) -> BatchReport:
    """Dedup, enrich, index and alert a batch; safe to run again on the same batch.

    Raises only on infrastructure errors (Redis/Elasticsearch unreachable), which the caller
    retries; a bad article is dead-lettered with its reason and the rest go on.
    """
    report = BatchReport()
    alert_store = AlertStore.of(store)
    with timed("dedup"):
        keys = [dedup_keys(a) for a in articles]
        claims = redis_store.claim(keys, ttl_seconds=settings.dedup_ttl_days * 86_400)
    with timed("stories"):
        # Exact copies only add their source; unchanged texts skip enrichment; changed texts of
        # indexed articles go on as new versions of them.
        story_store = stories.story_store_for(redis_store, settings)
        triage = stories.triage(
            articles,
            keys,
            claims,
            store=store,
            redis_store=redis_store,
            story_store=story_store,
            now=datetime.now(UTC),
        )
    report.duplicates.update(triage.duplicates)
    report.withdrawn = triage.withdrawn
    fresh = triage.process

    with timed("language"):
        languages = [
            detect_language(
                a.title,
                a.body,
                min_confidence=settings.language_min_confidence,
                hint=a.language_hint,
                accurate_languages=settings.accurate_language_set,
            )
            for a, _ in fresh
        ]
    with timed("entities"):
        entities = extract_entities(
            (
                (lang.code, f"{a.title}\n\n{a.body}")
                for (a, _), lang in zip(fresh, languages, strict=True)
            ),
            gazetteer=alert_store.gazetteer(),
        )
        # Registry ids per entity, one Redis round trip per batch (newswire/entities/).
        registered = entity_registry.register_batch(
            redis_store, fresh, languages, entities, alert_store.gazetteer()
        )
    now = datetime.now(UTC)
    allowed = store.article_fields
    documents = []
    with timed("document"):
        for (article, key), lang, found in zip(fresh, languages, registered, strict=True):
            doc = build_document(
                article,
                keys=key,
                language=lang,
                entities=found.entities,
                entity_ids=found.fields,
                working_languages=settings.working_language_set,
                indexed_at=now,
                actor_names=alert_store.gazetteer().names(found.entities.actors),
            )
            unknown = set(doc) - allowed
            if unknown:  # a code/mapping mismatch: keep the article rather than lose it
                report.dead_letters[key.doc_id] = f"fields not in mapping: {sorted(unknown)}"
                redis_store.dead_letter(
                    "article", report.dead_letters[key.doc_id], article.to_dict()
                )
                continue
            documents.append((article, doc))
    with timed("translate"):
        translate_titles([doc for _, doc in documents], settings)
    with timed("stories"):
        placement = stories.place(
            [doc for _, doc in documents],
            current=triage.current,
            store=store,
            story_store=story_store,
            config=stories.cluster_config(settings),
            now=now,
        )
    with timed("events"):
        # After the stories (a copy follows its story's event), before alerts (a rule may raise
        # one alert per event) and the write (the documents carry their event_id).
        events.assign_events(
            events.event_store_for(redis_store, settings),
            placement.new,
            events.event_config(settings),
            search_store=store,
        )
    with timed("alerts"):
        # Decided before the write, so the alert records go in the batch's one bulk request.
        # In memory, no refresh or search: the new documents as built; unchanged articles and
        # new versions read back by id (real-time).
        rule_store = rule_store_for(redis_store.client, settings)
        alerts = decide_alerts(
            placement.new,
            [*triage.unchanged, *placement.versions],
            store=store,
            rule_store=rule_store,
            now=now,
        )
    with timed("index"):
        result = stories.create_articles(
            store,
            story_store,
            placement.new,
            now=now,
            also=alerts.actions,
            sources=triage.source_writes,
        )
    report.indexed, report.existing = result.created, [*triage.unchanged, *result.existed]
    report.versions = placement.versions
    for article, doc in documents:
        reason = result.failed.get(doc["doc_id"])
        if reason:
            report.dead_letters[doc["doc_id"]] = reason
            redis_store.dead_letter("article", reason, article.to_dict())
    with timed("alerts"):
        report.alerts = finish_alerts(
            alerts, result, store=store, rule_store=rule_store, reread=result.existed
        )
        # Kills and withholds take their articles out of the alerts listing them (and withdraw
        # an alert left with no visible article), in one Redis transaction for the batch.
        alert_matching.withdraw_alerts(
            report.withdrawn,
            store=store,
            rule_store=rule_store_for(redis_store.client, settings),
            written=placement.new,
        )
    count_outcomes(report)
    log.info("batch processed", **report.as_dict())
    return report


@dataclass(slots=True)
class AlertWrites:
    """A batch's alert decisions, taken before its bulk write, and what is left to write."""

    rules: alert_matching.RuleSet | None = None
    documents: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    # Bulk actions for the alert records, sent with the batch's articles.
    actions: list[dict[str, Any]] = field(default_factory=list)
    states: dict[str, AlertState] = field(default_factory=dict)
    jobs: list[str] = field(default_factory=list)
    new_alerts: int = 0


def decide_alerts(
    written: Sequence[Mapping[str, Any]],
    indexed_ids: Sequence[str],
    *,
    store: SearchStore,
    rule_store: RuleStore,
    now: datetime,
) -> AlertWrites:
    """Match the batch and decide one alert per (rule, story) in Redis, before indexing.

    The records become bulk actions: create-only for a new alert, guarded by the seq_no read
    for one that grows. A match already decided by an earlier attempt of the batch (it stopped
    between this decision and its write) has its record written again, so a crash loses none.
    """
    alert_store = AlertStore.of(store)
    rules = alert_matching.rule_set(rule_store, alert_store)
    plan = AlertWrites(rules=rules, documents={d["doc_id"]: d for d in written})
    missing = sorted({i for i in indexed_ids if i not in plan.documents})
    if missing:
        response = store.es.mget(index=store.settings.articles_alias, ids=missing)
        plan.documents.update(found_sources(response["docs"]))
    matches = alert_matching.match_documents(rules, list(plan.documents.values()))
    if not matches:
        return plan
    applied = rule_store.apply(
        matches, rules.rules, now=now, dispatching=alert_delivery.can_dispatch()
    )
    plan.jobs, plan.new_alerts = applied.jobs, applied.new_alerts
    plan.states = {d.state.alert_id: d.state for _, d in applied.decisions}
    new = {d.state.alert_id for _, d in applied.decisions if d.action == "alert"}
    again = {alert_id(m.rule_id, m.story_id) for m in matches} - set(plan.states)
    plan.states.update(rule_store.alert_states(sorted(again)))
    growing = sorted(set(plan.states) - new)
    alert_store.ensure_mapping()
    index = store.settings.alerts_index
    existing: dict[str, dict[str, Any]] = {}
    if growing:
        found = store.es.mget(index=index, ids=growing)["docs"]
        found_sources(found)  # a record that cannot be read now is not a new record
        existing = {hit["_id"]: hit for hit in found if hit.get("found")}
    for alert, state in plan.states.items():
        hit = existing.get(alert)
        record = alert_record(
            state, rules.rules[state.rule_id], plan.documents, hit["_source"] if hit else None
        )
        if record is None:  # already at this revision
            continue
        action: dict[str, Any] = {"_index": index, "_id": alert, "_source": record}
        if hit is None:
            action["_op_type"] = "create"
        else:
            action.update(
                _op_type="index", if_seq_no=hit["_seq_no"], if_primary_term=hit["_primary_term"]
            )
        plan.actions.append(action)
    return plan


def finish_alerts(
    plan: AlertWrites,
    result: WriteResult,
    *,
    store: SearchStore,
    rule_store: RuleStore,
    reread: Sequence[str],
) -> int:
    """After the bulk: records another worker changed meanwhile are merged and written again,
    articles found already indexed are matched as stored, and the deliveries go out."""
    alert_store = AlertStore.of(store)
    conflicts = []
    for alert, (status, reason) in result.also.items():
        if status == 409 and plan.rules is not None:
            state = plan.states[alert]
            conflicts.append((state, plan.rules.rules[state.rule_id]))
        elif reason:
            raise RuntimeError(f"alert write failed: {reason}")
    alert_store.write_alerts(conflicts, plan.documents)
    alert_delivery.dispatch(plan.jobs)
    new_alerts = plan.new_alerts
    if reread:  # created by someone else first (a race, a re-run): their stored text decides
        new_alerts += alert_matching.alert_documents([], reread, store=store, rule_store=rule_store)
    return new_alerts


def is_transient(exc: BaseException) -> bool:
    """Errors worth retrying the whole batch for: the stores are unreachable or overloaded."""
    import elasticsearch
    import redis

    from newswire.backends import Unavailable

    if isinstance(exc, Unavailable):
        return True
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError | redis.BusyLoadingError):
        return True
    if isinstance(exc, elasticsearch.ConnectionError | elasticsearch.ConnectionTimeout):
        return True
    return isinstance(exc, elasticsearch.ApiError) and exc.status_code in {429, 502, 503, 504}


def process_isolating(
    articles: Sequence[Article], *, store: SearchStore, redis_store: RedisStore, settings: Settings
) -> BatchReport:
    """process_batch, but an article that breaks the batch is found and dead-lettered alone."""
    try:
        return process_batch(articles, store=store, redis_store=redis_store, settings=settings)
    except Exception as exc:
        if is_transient(exc):
            raise
        if len(articles) == 1:
            reason = f"{type(exc).__name__}: {exc}"
            log.warning("article dead-lettered", reason=reason, url=articles[0].original_url)
            redis_store.dead_letter("article", reason, articles[0].to_dict())
            ARTICLES.labels("dead_letter").inc()
            return BatchReport(dead_letters={articles[0].original_url or "?": reason})
    merged = BatchReport()
    for article in articles:
        part = process_isolating([article], store=store, redis_store=redis_store, settings=settings)
        merged.indexed += part.indexed
        merged.existing += part.existing
        merged.duplicates.update(part.duplicates)
        merged.dead_letters.update(part.dead_letters)
        merged.versions += part.versions
        merged.withdrawn += part.withdrawn
        merged.alerts += part.alerts
    return merged
