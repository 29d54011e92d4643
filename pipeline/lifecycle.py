"""The life of an agency item: who may see it (public, embargoed, withdrawn), and what a later
version, a correction, a kill or a due embargo does to the indexed document.

Pure functions over indexed documents (dicts shaped by pipeline/document.py); the story service
(newswire/stories/service.py) reads a document, calls one of these and writes the result back
with optimistic concurrency. A function returns None when the document stays as it is, so a
retried task changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pipeline.dedup import agency_version_relation
from pipeline.stories import MAX_PREVIOUS_VERSIONS, apply_version, known_texts, merge_sources

PUBLIC = "public"
EMBARGOED = "embargoed"
WITHDRAWN = "withdrawn"
VISIBILITIES = (PUBLIC, EMBARGOED, WITHDRAWN)
# Searches, facets, story views and alerts leave these out unless an admin asks for them.
HIDDEN = (EMBARGOED, WITHDRAWN)
# "canceled" is a kill and final; "withheld" is a temporary withdrawal a later version can lift.
WITHDRAWING_STATUSES = frozenset({"canceled", "withheld"})

UPDATE = "update"
IGNORE = "ignore"
WITHDRAW = "withdraw"

# What a superseded version keeps: the text, and what the agency said about it, so a correction
# stays visible in the history once a later version replaces it.
_SNAPSHOT_FIELDS = (
    "title",
    "summary",
    "body",
    "content_hash",
    "url",
    "published_at",
    "fetched_at",
    "agency_version",
    "is_correction",
    "pubstatus",
)


def _moment(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def embargo_pending(embargo_until: str | None, now: datetime) -> bool:
    """Whether an embargo time is still in the future; an unreadable time holds nothing back."""
    if not embargo_until:
        return False
    until = _moment(embargo_until)
    return until is not None and until > now


def visibility(pubstatus: str | None, embargo_until: str | None, now: datetime) -> str:
    """Who may see an item now: withdrawn (killed or withheld), embargoed, or public."""
    if pubstatus in WITHDRAWING_STATUSES:
        return WITHDRAWN
    return EMBARGOED if embargo_pending(embargo_until, now) else PUBLIC


def is_hidden(document: Mapping[str, Any]) -> bool:
    """Whether a document is out of search and story views (documents from before
    visibility existed are public)."""
    return document.get("visibility") in HIDDEN


def lifecycle_action(
    current: Mapping[str, Any], *, agency_version: int | None, pubstatus: str | None
) -> str:
    """What an arriving text of an indexed item does: update it, withdraw it, or nothing.

    A kill withdraws whatever its version (IPTC 7901 and ANPA kill advisories carry none), and
    nothing revives a killed item. Between two agency versions the higher one wins; without
    version numbers (feeds) every new text is an update, ordered as feed versions are.
    """
    if current.get("pubstatus") == "canceled":
        return IGNORE
    if pubstatus in WITHDRAWING_STATUSES:
        already = current.get("visibility") == WITHDRAWN and current.get("pubstatus") == pubstatus
        return IGNORE if already else WITHDRAW
    relation = agency_version_relation(agency_version, current.get("agency_version"))
    return IGNORE if relation in {"same", "older"} else UPDATE


def withdraw(
    current: dict[str, Any], notice: Mapping[str, Any], now: datetime
) -> dict[str, Any] | None:
    """`current` withdrawn by a kill or withhold notice (a document or an article's fields).

    The withdrawn text stays the current one, for audit; the notice is kept beside it.
    """
    status = notice.get("pubstatus") or "canceled"
    if current.get("visibility") == WITHDRAWN and current.get("pubstatus") == status:
        return None
    return {
        **current,
        "visibility": WITHDRAWN,
        "pubstatus": status,
        "updated_at": now.isoformat(),
        "withdrawal": {
            "at": now.isoformat(),
            "pubstatus": status,
            "agency_version": notice.get("agency_version"),
            "title": notice.get("title"),
            "body": notice.get("body"),
            "source": notice.get("source"),
            "fetched_at": notice.get("fetched_at"),
        },
    }


def _snapshot(document: Mapping[str, Any], replaced_at: str) -> dict[str, Any]:
    return {**{k: document.get(k) for k in _SNAPSHOT_FIELDS}, "replaced_at": replaced_at}


def apply_agency_version(
    current: dict[str, Any], incoming: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """`current` replaced by a higher agency version; the replaced text joins the history.

    The agency's number orders versions, not the time each was fetched: the same item may come
    over HTTP and from a drop folder in any order. Story, first-indexed time, sources and dedup
    keys are kept; `corrected` stays true once any version was a correction.
    """
    stamp = now.isoformat()
    previous = [*(current.get("previous_versions") or []), _snapshot(current, stamp)]
    texts = int(current.get("version") or 1) + 1
    for number, version in enumerate(previous, start=texts - len(previous)):
        version["version"] = number
    document = {
        **incoming,
        "doc_id": current["doc_id"],
        "story_id": current.get("story_id", current["doc_id"]),
        "indexed_at": current.get("indexed_at", incoming.get("indexed_at")),
        "dedup_keys": sorted(
            {*(current.get("dedup_keys") or []), *(incoming.get("dedup_keys") or [])}
        ),
        "version": texts,
        "previous_versions": previous[-MAX_PREVIOUS_VERSIONS:],
        "updated_at": stamp,
        "sources": list(current.get("sources") or []),
        "corrected": bool(current.get("corrected") or incoming.get("is_correction")),
    }
    if "story_join" in current:
        document["story_join"] = current["story_join"]
    return merge_sources(document, incoming.get("sources") or []) or document


def revise(
    current: dict[str, Any], incoming: dict[str, Any], now: datetime
) -> dict[str, Any] | None:
    """`current` after another text of the same item arrived, or None if nothing changes."""
    action = lifecycle_action(
        current, agency_version=incoming.get("agency_version"), pubstatus=incoming.get("pubstatus")
    )
    if action == WITHDRAW:
        return withdraw(current, incoming, now)
    if action == IGNORE:
        return None
    if incoming.get("content_hash") in known_texts(current):
        return merge_sources(current, incoming.get("sources") or [])
    if incoming.get("agency_version") is not None and current.get("agency_version") is not None:
        return apply_agency_version(current, incoming, now)
    revised = apply_version(current, incoming, now)
    if revised is not None:
        revised["corrected"] = bool(current.get("corrected") or incoming.get("is_correction"))
    return revised


def release_embargo(current: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    """`current` made public once its embargo has passed, or None (not embargoed, or not yet)."""
    if current.get("visibility") != EMBARGOED:
        return None
    if embargo_pending(current.get("embargo_until"), now):
        return None
    return {**current, "visibility": PUBLIC, "released_at": now.isoformat()}
