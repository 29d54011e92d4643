"""Plain data passed between stages; every type round-trips through JSON for Celery."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Self


class _JsonRecord:
    """Mixin: dataclass <-> JSON-compatible dict, ignoring unknown keys from newer producers."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload,no-any-return]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        values = {k: v for k, v in data.items() if k in known}
        for name, value in values.items():
            if isinstance(value, list):
                values[name] = tuple(value)
        return cls(**values)


@dataclass(frozen=True, slots=True, kw_only=True)
class WireMetadata:
    """What agency wire formats say beyond a feed entry (pipeline/agency.py); feeds leave defaults.

    Keyword-only, so FeedEntry and Article keep their positional fields and gain these last.
    """

    slugline: str | None = None
    byline: str | None = None
    dateline: str | None = None
    urgency: int | None = None  # IPTC scale: 1 most urgent, 9 least
    subjects: tuple[str, ...] = ()  # "scheme:code" ids, e.g. "medtop:20000763", "subj:11000000"
    subject_labels: tuple[str, ...] = ()  # readable label of each id in `subjects`, same order
    keywords: tuple[str, ...] = ()
    genre: str | None = None
    agency: str | None = None  # the agency that issued the item, e.g. "ANSA"
    agency_guid: str | None = None  # the agency's own id of the item, stable across versions
    agency_version: int | None = None
    pubstatus: str = "usable"  # "usable" | "withheld" | "canceled" (a kill)
    embargo_until: str | None = None  # ISO 8601 UTC; not to be shown before
    is_correction: bool = False


@dataclass(frozen=True, slots=True)
class FeedEntry(_JsonRecord, WireMetadata):
    """One entry as the feed published it (HTML untouched, dates as ISO 8601 UTC)."""

    feed_id: str
    source: str
    guid: str | None
    link: str | None
    title: str
    summary_html: str
    content_html: str
    published: str | None
    updated: str | None
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    language_hint: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed feed document: its own metadata and its entries."""

    title: str
    link: str | None
    language: str | None
    entries: tuple[FeedEntry, ...]
    format: str


@dataclass(frozen=True, slots=True)
class Article(_JsonRecord, WireMetadata):
    """A normalised article: canonical URL, UTC timestamps, plain text and sanitised HTML."""

    feed_id: str
    source: str
    guid: str | None
    url: str | None
    original_url: str | None
    title: str
    summary: str
    body: str
    body_html: str
    published_at: str
    fetched_at: str
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    language_hint: str | None = None


@dataclass(frozen=True, slots=True)
class DedupKeys:
    """Exact-duplicate keys of one article; `doc_id` derives from the strongest key."""

    doc_id: str
    primary: str
    keys: tuple[str, ...]
    content_hash: str


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    """Detected language (ISO 639-1, or "und") with the model's confidence."""

    code: str
    confidence: float


@dataclass(frozen=True, slots=True)
class Mention:
    """One entity mention as written, with its type and the canonical name it resolves to."""

    text: str
    label: str
    canonical: str


@dataclass(frozen=True, slots=True)
class Entities:
    """Canonical entity names by type, every mention as written, and tracked actors' ids."""

    persons: tuple[str, ...] = ()
    organisations: tuple[str, ...] = ()
    places: tuple[str, ...] = ()
    mentions: tuple[Mention, ...] = field(default_factory=tuple)
    actors: tuple[str, ...] = ()
