"""Story documents: the sources that carried an article, its versions, and a story's members.

Pure functions over the indexed documents (dicts shaped by pipeline/document.py). The service
(newswire/stories/service.py) reads a document, calls one of these, and writes the result back with
optimistic concurrency, so two workers changing one article cannot lose each other's change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pipeline.cluster import sentence_diff
from pipeline.models import Article

# Bodies of superseded versions are kept in the document (not indexed); wire stories rarely
# see more than a handful of updates, and the oldest are the least interesting.
MAX_PREVIOUS_VERSIONS = 20
_SNAPSHOT_FIELDS = ("title", "summary", "body", "content_hash", "url", "published_at", "fetched_at")


def source_record(article: Article, seen_at: datetime) -> dict[str, Any]:
    """One feed that carried an article: who, where, and when it was seen."""
    return {
        "source": article.source,
        "feed_id": article.feed_id,
        "url": article.original_url or article.url,
        "published_at": article.published_at,
        "seen_at": seen_at.isoformat(),
    }


def source_key(record: dict[str, Any]) -> str:
    """Identity of a source record: the same feed re-delivering the same link is one source."""
    return f"{record.get('feed_id')}|{record.get('url') or ''}"


def merge_sources(
    document: dict[str, Any], records: Iterable[dict[str, Any]]
) -> dict[str, Any] | None:
    """The document with `records` added to its sources, or None when it has them all already."""
    sources = list(document.get("sources") or [])
    known = {source_key(s) for s in sources}
    added = False
    for record in records:
        key = source_key(record)
        if key not in known:
            known.add(key)
            sources.append(record)
            added = True
    if not added:
        return None
    sources.sort(key=lambda s: (s.get("published_at") or "", s.get("seen_at") or ""))
    return {**document, "sources": sources}


def known_texts(document: dict[str, Any]) -> set[str]:
    """Content hashes of the document's current and previous versions."""
    previous = document.get("previous_versions") or []
    return {document.get("content_hash", ""), *(v.get("content_hash", "") for v in previous)}


def _snapshot(document: dict[str, Any], replaced_at: str) -> dict[str, Any]:
    return {**{k: document.get(k) for k in _SNAPSHOT_FIELDS}, "replaced_at": replaced_at}


def _order(version: dict[str, Any]) -> tuple[str, str]:
    return (version.get("fetched_at") or "", version.get("published_at") or "")


def apply_version(
    current: dict[str, Any], incoming: dict[str, Any], now: datetime
) -> dict[str, Any] | None:
    """`current` after a new text of the same article arrived, or None if nothing changes.

    The text fetched last is the current one; the other goes to `previous_versions`, so a late
    delivery of an old version is recorded as history instead of replacing the update. Story,
    first-indexed time and sources are kept; `version` counts the texts seen.
    """
    sources = incoming.get("sources") or []
    if incoming.get("content_hash") in known_texts(current):
        return merge_sources(current, sources)
    stamp = now.isoformat()
    previous = list(current.get("previous_versions") or [])
    if _order(incoming) >= _order(current):
        previous.append(_snapshot(current, stamp))
        base = {
            **incoming,
            "doc_id": current["doc_id"],
            "story_id": current.get("story_id", current["doc_id"]),
            "indexed_at": current.get("indexed_at", incoming.get("indexed_at")),
            "dedup_keys": sorted(
                {*(current.get("dedup_keys") or []), *(incoming.get("dedup_keys") or [])}
            ),
        }
        if "story_join" in current:
            base["story_join"] = current["story_join"]
    else:
        previous.append(_snapshot(incoming, stamp))
        base = dict(current)
    previous.sort(key=_order)
    # Numbers count every text seen, including those dropped past MAX_PREVIOUS_VERSIONS.
    texts = int(current.get("version") or 1) + 1
    for number, version in enumerate(previous, start=texts - len(previous)):
        version["version"] = number
    base["version"] = texts
    base["previous_versions"] = previous[-MAX_PREVIOUS_VERSIONS:]
    base["updated_at"] = stamp
    base["sources"] = list(current.get("sources") or [])
    return merge_sources(base, sources) or base


# -- a story's members -------------------------------------------------------------------------
def representative(members: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The member a story is shown by: the first published, then the most complete."""
    return min(
        members,
        key=lambda m: (m.get("published_at") or "9999", -len(m.get("body") or ""), m["doc_id"]),
    )


MEMBER_FIELDS = (
    "doc_id",
    "title",
    "source",
    "url",
    "language",
    "published_at",
    "version",
    "updated_at",
    "sources",
    "story_join",
)


def story_view(
    story_id: str, members: Sequence[dict[str, Any]], *, changes: bool
) -> dict[str, Any]:
    """A story for the API and CLI: its representative, members, sources and languages.

    With `changes`, each member in the representative's language carries a sentence diff
    against it (added, removed and edited sentences); other languages carry the evidence that
    joined them.
    """
    if not members:
        return {"story_id": story_id, "articles": 0, "members": []}
    lead = representative(members)
    ordered = sorted(members, key=lambda m: (m["doc_id"] != lead["doc_id"], m.get("published_at")))
    sources: list[str] = []
    for member in ordered:
        for record in member.get("sources") or [{"source": member.get("source")}]:
            if record.get("source") and record["source"] not in sources:
                sources.append(record["source"])
    view_members = []
    for member in ordered:
        view = {k: member.get(k) for k in MEMBER_FIELDS}
        view["representative"] = member["doc_id"] == lead["doc_id"]
        if changes and not view["representative"]:
            if member.get("language") == lead.get("language"):
                view["changes"] = sentence_diff(
                    lead.get("body") or "", member.get("body") or ""
                ).as_dict()
            else:
                view["changes"] = None
        view_members.append(view)
    return {
        "story_id": story_id,
        "representative": lead["doc_id"],
        "title": lead.get("title"),
        "articles": len(members),
        "sources": sources,
        "languages": sorted({m.get("language") or "und" for m in members}),
        "members": view_members,
    }
