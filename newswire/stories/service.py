"""Story service around process_batch: exact-duplicate sources, article versions and the
agency lifecycle (corrections, kills, embargo release), story assignment, and reading stories
back for the API and CLI.

Decisions are pure (pipeline/cluster.py, pipeline/stories.py); shared state is in Redis
(newswire/stories/store.py) and in the articles index. Elasticsearch here has no scripting
(lang-painless) and no update-by-query, so every change to an indexed article is a
read-modify-write guarded by `if_seq_no`/`if_primary_term`, retried on 409.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

import structlog
from elasticsearch import ConflictError, NotFoundError

from newswire.backends import found_sources
from newswire.ingest.store import Claim, RedisStore
from newswire.search.store import SearchStore, WriteResult
from newswire.settings import Settings
from newswire.stories.store import StoryStore
from pipeline.cluster import ClusterConfig, Fingerprint, fingerprint
from pipeline.lifecycle import (
    EMBARGOED,
    IGNORE,
    WITHDRAW,
    WITHDRAWING_STATUSES,
    WITHDRAWN,
    lifecycle_action,
    release_embargo,
    revise,
    withdraw,
)
from pipeline.models import Article, DedupKeys
from pipeline.search import visibility_exclusion
from pipeline.stories import (
    known_texts,
    merge_sources,
    source_record,
    story_view,
)

log = structlog.get_logger(__name__)

# Read-modify-write attempts before giving up on one article update (each 409 means another
# worker changed the article in between; more than a few in a row means something is wrong).
UPDATE_ATTEMPTS = 16
MAX_STORY_MEMBERS = 500


def story_store_for(redis_store: RedisStore, settings: Settings) -> StoryStore:
    """The story state on the same Redis and under the same prefix as the dedup claims."""
    return StoryStore(
        redis_store.client,
        redis_store.prefix,
        window_days=settings.story_window_days,
        parked_ttl_seconds=settings.dedup_ttl_days * 86_400,
    )


def cluster_config(settings: Settings) -> ClusterConfig:
    """Join thresholds from the NEWSWIRE_STORY_* settings."""
    return ClusterConfig(
        near_duplicate_containment=settings.story_near_duplicate_containment,
        near_duplicate_min_jaccard=settings.story_near_duplicate_min_jaccard,
        translation_min_points=settings.story_translation_min_points,
        translation_window_hours=settings.story_translation_window_hours,
    )


# -- Elasticsearch: read-modify-write ----------------------------------------------------------
def get_articles(store: SearchStore, doc_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Indexed articles by id (real-time: sees writes not yet refreshed)."""
    return {doc_id: hit["_source"] for doc_id, hit in get_article_hits(store, doc_ids).items()}


def get_article_hits(store: SearchStore, doc_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """get_articles, but the whole hit: its index, seq_no and primary term with the source."""
    ids = sorted(set(doc_ids))
    if not ids:
        return {}
    docs = store.es.mget(index=store.settings.articles_alias, ids=ids)["docs"]
    found_sources(docs)  # raises if any could not be read
    return {doc["_id"]: doc for doc in docs if doc.get("found")}


def update_article(
    store: SearchStore,
    doc_id: str,
    change: Callable[[dict[str, Any]], dict[str, Any] | None],
) -> bool:
    """Apply `change` to the article with optimistic concurrency; False if it does not exist.

    `change` returns the new document, or None when there is nothing to change.
    """
    alias = store.settings.articles_alias
    for _ in range(UPDATE_ATTEMPTS):
        try:
            current = store.es.get(index=alias, id=doc_id)
        except NotFoundError:
            return False
        document = change(current["_source"])
        if document is None:
            return True
        try:
            store.es.index(
                index=alias,
                id=doc_id,
                document=document,
                if_seq_no=current["_seq_no"],
                if_primary_term=current["_primary_term"],
            )
        except ConflictError:
            continue
        return True
    raise RuntimeError(f"article {doc_id} kept changing under {UPDATE_ATTEMPTS} updates")


def change_article(
    store: SearchStore,
    doc_id: str,
    change: Callable[[dict[str, Any]], dict[str, Any] | None],
) -> bool:
    """update_article, but True only when `change` did change the article."""
    changed = False

    def tracked(document: dict[str, Any]) -> dict[str, Any] | None:
        nonlocal changed
        revised = change(document)
        changed = revised is not None
        return revised

    update_article(store, doc_id, tracked)
    return changed


# -- before enrichment: what each article of a batch is ----------------------------------------
@dataclass(slots=True)
class Triage:
    """What a batch holds once exact duplicates and known texts are set aside."""

    # New articles and new versions to enrich and index; a version's keys carry the id of the
    # article it updates.
    process: list[tuple[Article, DedupKeys]] = field(default_factory=list)
    # doc id -> id of the article it is an exact copy of (its source is recorded there).
    duplicates: dict[str, str] = field(default_factory=dict)
    # Already indexed with this very text.
    unchanged: list[str] = field(default_factory=list)
    # Indexed articles that a text in `process` updates.
    current: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Indexed articles a kill or withhold notice in the batch has just taken out of search.
    withdrawn: list[str] = field(default_factory=list)
    # Sources to add to indexed articles, written in the batch's one bulk request.
    source_writes: list[SourceWrite] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SourceWrite:
    """New source records for an indexed article, as a bulk action guarded by the seq_no read.

    If the article changed since (409), the records are merged into it again after the bulk.
    """

    doc_id: str
    records: tuple[dict[str, Any], ...]
    parked_fields: tuple[str, ...]
    action: dict[str, Any] | None  # None: nothing new to write, only parked records to forget


def triage(
    articles: Sequence[Article],
    keys: Sequence[DedupKeys],
    claims: Sequence[Claim],
    *,
    store: SearchStore,
    redis_store: RedisStore,
    story_store: StoryStore,
    now: datetime,
) -> Triage:
    """Sort a claimed batch into exact copies, unchanged articles, new versions and new articles.

    An exact copy (its text key belongs to the owner too) only adds its source to the owner.
    The source is parked in Redis before the owner is looked up, and the owner's worker drains
    it right after creating the article: whichever of the two runs second records it.

    Agency items: a kill withdraws the indexed article here, before any enrichment; a version
    no higher than the indexed one counts as unchanged (pipeline/lifecycle.py).
    """
    result = Triage()
    dup_index = [i for i, claim in enumerate(claims) if claim.is_duplicate]
    text_owners = redis_store.owners([f"text:{keys[i].content_hash}" for i in dup_index])
    exact = {i for i, owner in zip(dup_index, text_owners, strict=True) if owner == claims[i].owner}
    parked = [(claims[i].owner, source_record(articles[i], now)) for i in sorted(exact)]
    story_store.park_sources(parked)
    # A fresh claim is an article nobody had seen: nothing to look up for it.
    hits = get_article_hits(store, [claim.owner for claim in claims if not claim.fresh])
    indexed = {doc_id: hit["_source"] for doc_id, hit in hits.items()}
    to_merge: dict[str, list[dict[str, Any]]] = {}
    for i, (article, key, claim) in enumerate(zip(articles, keys, claims, strict=True)):
        document = indexed.get(claim.owner)
        if i in exact:
            result.duplicates[key.doc_id] = claim.owner
        elif document is None:
            if claim.is_duplicate:
                # Same URL/GUID as an article another worker is indexing right now, but another
                # text: index it on its own; clustering puts it in the same story.
                log.info("version of an article in flight indexed alone", doc_id=key.doc_id)
            result.process.append((article, key))
        elif (action := _action(document, article)) == WITHDRAW:
            notice = article.to_dict()
            if change_article(store, claim.owner, partial(withdraw, notice=notice, now=now)):
                log.info("article withdrawn", doc_id=claim.owner, pubstatus=article.pubstatus)
            result.withdrawn.append(claim.owner)
        elif article.pubstatus in WITHDRAWING_STATUSES and document.get("visibility") == WITHDRAWN:
            # The notice again (a retried batch): its alerts are withdrawn again, idempotently.
            result.unchanged.append(claim.owner)
            result.withdrawn.append(claim.owner)
        elif key.content_hash in known_texts(document):
            result.unchanged.append(claim.owner)
            to_merge.setdefault(claim.owner, []).append(source_record(article, now))
        elif action == IGNORE:
            result.unchanged.append(claim.owner)
        else:
            result.process.append((article, replace(key, doc_id=claim.owner)))
            result.current[claim.owner] = document
    for owner, _ in parked:
        if owner in indexed:
            to_merge.setdefault(owner, [])
    # Articles changed above (withdrawn, or revised below) are read again at the write.
    changed = set(result.withdrawn)
    result.source_writes = plan_source_writes(
        {o: h for o, h in hits.items() if o in to_merge and o not in changed},
        to_merge,
        story_store.parked_sources(list(to_merge)),
    )
    for owner in changed & set(to_merge):
        _merge_sources(store, story_store, {owner: to_merge[owner]})
    return result


def plan_source_writes(
    hits: Mapping[str, Mapping[str, Any]],
    records: Mapping[str, Sequence[dict[str, Any]]],
    parked: Mapping[str, Mapping[str, dict[str, Any]]],
) -> list[SourceWrite]:
    """One guarded bulk action per indexed article that gains sources (its own or parked)."""
    writes = []
    for doc_id, hit in hits.items():
        waiting = parked.get(doc_id, {})
        everything = (*records.get(doc_id, ()), *waiting.values())
        if not everything:
            continue
        merged = merge_sources(hit["_source"], everything)
        action = None
        if merged is not None:
            action = {
                "_op_type": "index",
                # The concrete index the article was read from: during a reindex the alias
                # names two indices, and a write through it would copy the article.
                "_index": hit["_index"],
                "_id": doc_id,
                "_source": merged,
                "if_seq_no": hit["_seq_no"],
                "if_primary_term": hit["_primary_term"],
            }
        writes.append(SourceWrite(doc_id, everything, tuple(waiting), action))
    return writes


def finish_source_writes(
    store: SearchStore,
    story_store: StoryStore,
    writes: Sequence[SourceWrite],
    outcomes: Mapping[str, tuple[int, str]],
) -> None:
    """After the bulk: forget what was written; merge again into articles changed meanwhile."""
    for write in writes:
        status, _ = outcomes.get(write.doc_id, (0, ""))
        if write.action is not None and not 200 <= status < 300:
            # 409: another writer got there first; anything else: write it the slow way,
            # which raises if Elasticsearch still refuses.
            update_article(store, write.doc_id, partial(_add_sources, records=list(write.records)))
    story_store.forget_parked_many([(w.doc_id, w.parked_fields) for w in writes])


def _action(document: dict[str, Any], article: Article) -> str:
    return lifecycle_action(
        document, agency_version=article.agency_version, pubstatus=article.pubstatus
    )


def _add_sources(
    document: dict[str, Any], *, records: list[dict[str, Any]]
) -> dict[str, Any] | None:
    return merge_sources(document, records)


def _merge_sources(
    store: SearchStore, story_store: StoryStore, extra: dict[str, list[dict[str, Any]]]
) -> None:
    """Add `extra` and any parked sources to each article, then forget the parked ones."""
    parked = story_store.parked_sources(list(extra))
    for doc_id, records in extra.items():
        waiting = parked.get(doc_id, {})
        everything = [*records, *waiting.values()]
        if everything and update_article(store, doc_id, partial(_add_sources, records=everything)):
            story_store.forget_parked(doc_id, list(waiting))


# -- after enrichment: stories and versions ----------------------------------------------------
def fingerprint_document(document: dict[str, Any]) -> Fingerprint:
    """The clustering fingerprint of an indexed (or about to be indexed) document."""
    return fingerprint(
        doc_id=document["doc_id"],
        content_hash=document["content_hash"],
        title=document.get("title") or "",
        body=document.get("body") or "",
        language=document.get("language") or "und",
        published_at=document.get("published_at") or "",
        # Tracked-actor ids (issue 5) are exact cross-language keys when present.
        extra_entity_keys=(f"@{a}" for a in document.get("actors") or ()),
    )


@dataclass(slots=True)
class Placement:
    """New documents with their stories set, and the ids of articles that got a new version."""

    new: list[dict[str, Any]] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)


def place(
    documents: Sequence[dict[str, Any]],
    *,
    current: dict[str, dict[str, Any]],
    store: SearchStore,
    story_store: StoryStore,
    config: ClusterConfig,
    now: datetime,
) -> Placement:
    """Give each new document its story, and apply each new version to its article."""
    placement = Placement()
    new = [d for d in documents if d["doc_id"] not in current]
    assignments = story_store.assign([fingerprint_document(d) for d in new], config)
    for document, assignment in zip(new, assignments, strict=True):
        document["story_id"] = assignment.story_id
        document["story_join"] = assignment.as_document_field()
        placement.new.append(document)
    for document in (d for d in documents if d["doc_id"] in current):
        doc_id = document["doc_id"]
        # revise: feed versions as apply_version orders them; agency versions by their number.
        if change_article(store, doc_id, partial(revise, incoming=document, now=now)):
            story_id = current[doc_id].get("story_id") or doc_id
            story_store.register_version(fingerprint_document(document), story_id)
            placement.versions.append(doc_id)
    return placement


def create_articles(
    store: SearchStore,
    story_store: StoryStore,
    documents: Sequence[dict[str, Any]],
    *,
    now: datetime | None = None,
    also: Sequence[dict[str, Any]] = (),
    sources: Sequence[SourceWrite] = (),
) -> WriteResult:
    """Create-only bulk write (with `sources`, triage's source additions, and `also`, the
    batch's other writes, in the same request), then settle sources: drain those parked for
    the new articles, and fold ours into articles created first (the same URL from two feeds,
    or two versions of one agency item in one batch or in flight at once): its source, or its
    newer text. The result's `also` holds the outcomes of `also` only."""
    source_actions = [w.action for w in sources if w.action is not None]
    result = store.create_articles(documents, also=[*source_actions, *also])
    source_ids = {a["_id"] for a in source_actions}
    finish_source_writes(store, story_store, sources, result.also)
    result = replace(result, also={k: v for k, v in result.also.items() if k not in source_ids})
    moment = now or datetime.now(UTC)
    extra: dict[str, list[dict[str, Any]]] = {doc_id: [] for doc_id in result.created}
    existed = set(result.existed)
    # In batch order, so versions of one item that arrived together apply in the order read.
    for document in (d for d in documents if d["doc_id"] in existed):
        update_article(store, document["doc_id"], partial(revise, incoming=document, now=moment))
        extra.setdefault(document["doc_id"], [])
    _merge_sources(store, story_store, extra)
    return result


def release_embargoes(store: SearchStore, *, now: datetime, limit: int = 500) -> list[str]:
    """Make public every embargoed article whose embargo has passed; the ids released.

    Idempotent: an article released by an earlier or concurrent run is left as it is.
    """
    response = store.es.search(
        index=store.settings.articles_alias,
        query={
            "bool": {
                "filter": [
                    {"term": {"visibility": EMBARGOED}},
                    {"range": {"embargo_until": {"lte": now.isoformat()}}},
                ]
            }
        },
        size=limit,
        sort=[{"embargo_until": "asc"}, {"doc_id": "asc"}],
        source=False,
    )
    released = [
        hit["_id"]
        for hit in response["hits"]["hits"]
        if change_article(store, hit["_id"], partial(release_embargo, now=now))
    ]
    if released:
        log.info("embargoes released", articles=len(released))
    return released


# -- reading stories ---------------------------------------------------------------------------
def story_members(
    store: SearchStore, story_id: str, *, include_hidden: bool = False
) -> list[dict[str, Any]]:
    """Every indexed article of a story, oldest first; withdrawn and embargoed ones only with
    `include_hidden` (a killed article is no longer one of the story's sources)."""
    query: dict[str, Any] = {"term": {"story_id": story_id}}
    if not include_hidden:
        query = {"bool": {"filter": [query], "must_not": [visibility_exclusion()]}}
    response = store.es.search(
        index=store.settings.articles_alias,
        query=query,
        size=MAX_STORY_MEMBERS,
        sort=[{"published_at": "asc"}, {"doc_id": "asc"}],
        source_excludes=["body_html", "content_*", "mentions", "previous_versions"],
    )
    return [hit["_source"] for hit in response["hits"]["hits"]]


def get_story(
    store: SearchStore, story_id: str, *, changes: bool = False, include_hidden: bool = False
) -> dict[str, Any] | None:
    """A story's representative, members, sources and languages; None if it has no article."""
    members = story_members(store, story_id, include_hidden=include_hidden)
    if not members:
        return None
    return story_view(story_id, members, changes=changes)


def article_versions(
    store: SearchStore, doc_id: str, *, include_hidden: bool = False
) -> dict[str, Any] | None:
    """An article's current version number and its previous texts, oldest first.

    Corrections are flagged on each version. A withdrawn article is shown, flagged, for
    audit; an embargoed one only with `include_hidden`.
    """
    alias = store.settings.articles_alias
    try:
        source = store.es.get(index=alias, id=doc_id)["_source"]
    except NotFoundError:
        return None
    if source.get("visibility") == EMBARGOED and not include_hidden:
        return None
    current_fields = (
        "title",
        "body",
        "content_hash",
        "fetched_at",
        "agency_version",
        "is_correction",
        "pubstatus",
    )
    return {
        "doc_id": doc_id,
        "version": source.get("version", 1),
        "updated_at": source.get("updated_at"),
        "visibility": source.get("visibility", "public"),
        "corrected": bool(source.get("corrected")),
        "withdrawal": source.get("withdrawal"),
        "current": {k: source.get(k) for k in current_fields},
        "previous_versions": source.get("previous_versions") or [],
    }


def article_changes(store: SearchStore, doc_id: str) -> dict[str, Any] | None:
    """What an article changed against its story's representative (sentence diff)."""
    try:
        article = store.es.get(index=store.settings.articles_alias, id=doc_id)["_source"]
    except NotFoundError:
        return None
    if article.get("visibility") == EMBARGOED:
        return None
    story = story_view(
        article.get("story_id") or doc_id,
        story_members(store, article.get("story_id") or doc_id),
        changes=True,
    )
    member = next((m for m in story["members"] if m["doc_id"] == doc_id), None)
    return {
        "doc_id": doc_id,
        "story_id": story["story_id"],
        "representative": story.get("representative"),
        "is_representative": bool(member and member["representative"]),
        "changes": member.get("changes") if member else None,
    }
