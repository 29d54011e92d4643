"""The ingest service: runs the pipeline stages over a batch and writes the results.

Celery tasks, the CLI and the benchmark call these functions; they hold no Celery code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

import structlog

from newswire.alerts import matching as alert_matching
from newswire.alerts.rule_store import rule_store_for
from newswire.alerts.store import AlertStore
from newswire.ingest.store import RedisStore
from newswire.ingest.translate import Translator, make_translator
from newswire.metrics import ALERTS, ARTICLES, timed
from newswire.search.store import SearchStore
from newswire.settings import Settings
from newswire.stories import service as stories
from pipeline.dedup import dedup_keys
from pipeline.document import build_document
from pipeline.entities import extract_entities
from pipeline.language import detect_language
from pipeline.models import Article

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
    now = datetime.now(UTC)
    allowed = store.article_fields
    documents = []
    with timed("document"):
        for (article, key), lang, ents in zip(fresh, languages, entities, strict=True):
            doc = build_document(
                article,
                keys=key,
                language=lang,
                entities=ents,
                working_languages=settings.working_language_set,
                indexed_at=now,
                actor_names=alert_store.gazetteer().names(ents.actors),
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
        translator = translator_for(settings)
        for _, doc in documents:
            if doc["needs_translation"]:
                translated = translator.translate(
                    doc["title"], source=doc["language"], target=settings.translation_target
                )
                if translated:
                    doc["title_translated"] = translated
    with timed("stories"):
        placement = stories.place(
            [doc for _, doc in documents],
            current=triage.current,
            store=store,
            story_store=story_store,
            config=stories.cluster_config(settings),
            now=now,
        )
    with timed("index"):
        result = stories.create_articles(store, story_store, placement.new, now=now)
    report.indexed, report.existing = result.created, [*triage.unchanged, *result.existed]
    report.versions = placement.versions
    for article, doc in documents:
        reason = result.failed.get(doc["doc_id"])
        if reason:
            report.dead_letters[doc["doc_id"]] = reason
            redis_store.dead_letter("article", reason, article.to_dict())
    with timed("alerts"):
        # In memory, no refresh or search: the created documents as built; existing ones and
        # new versions read back by id, so a crash between indexing and alerting loses nothing.
        created = set(result.created)
        report.alerts = alert_matching.alert_documents(
            [doc for doc in placement.new if doc["doc_id"] in created],
            [*report.existing, *report.versions],
            store=store,
            rule_store=rule_store_for(redis_store.client, settings),
        )
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
    log.info("batch processed", **report.as_dict())
    return report


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
