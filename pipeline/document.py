"""Document stage: everything known about an article -> the Elasticsearch document."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pipeline.language import needs_translation
from pipeline.lifecycle import visibility
from pipeline.models import Article, DedupKeys, Entities, LanguageGuess
from pipeline.stories import source_record

# Languages with a stemming analyzer in the mapping (field content_<code>).
ANALYSED_LANGUAGES = frozenset({"en", "ru", "uk", "de", "fr", "es", "ar", "it", "pt"})


def build_document(
    article: Article,
    *,
    keys: DedupKeys,
    language: LanguageGuess,
    entities: Entities,
    working_languages: frozenset[str],
    indexed_at: datetime,
    actor_names: Sequence[str] = (),
    entity_ids: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """The indexed document; its fields are exactly the mapping's in config/elasticsearch/."""
    document: dict[str, Any] = {
        "doc_id": keys.doc_id,
        # Its own story until clustering (newswire/stories/service.py) says otherwise.
        "story_id": keys.doc_id,
        "dedup_keys": list(keys.keys),
        "content_hash": keys.content_hash,
        "feed_id": article.feed_id,
        "source": article.source,
        "guid": article.guid,
        "url": article.url,
        "original_url": article.original_url,
        "title": article.title,
        "summary": article.summary,
        "body": article.body,
        "body_html": article.body_html,
        "authors": list(article.authors),
        "categories": list(article.categories),
        "published_at": article.published_at,
        "fetched_at": article.fetched_at,
        "indexed_at": indexed_at.isoformat(),
        "updated_at": indexed_at.isoformat(),
        "version": 1,
        "sources": [source_record(article, indexed_at)],
        "language": language.code,
        "language_confidence": language.confidence,
        "needs_translation": needs_translation(language.code, working_languages),
        "persons": list(entities.persons),
        "organisations": list(entities.organisations),
        "places": list(entities.places),
        "mentions": [
            {"text": m.text, "type": m.label, "canonical": m.canonical} for m in entities.mentions
        ],
        "actors": list(entities.actors),
        # The entity registry's ids by type (person_ids, …), counted by the facets.
        **{name: list(ids) for name, ids in (entity_ids or {}).items()},
        # Every spelling of every tracked actor named, in all scripts: "Курск" finds "Kursk".
        "actor_names": list(actor_names),
        # What the agency said about the item (pipeline/agency.py); feeds leave the defaults.
        "slugline": article.slugline,
        "byline": article.byline,
        "dateline": article.dateline,
        "urgency": article.urgency,
        "subjects": list(article.subjects),
        "subject_labels": list(article.subject_labels),
        "keywords": list(article.keywords),
        "genre": article.genre,
        "agency": article.agency,
        "agency_guid": article.agency_guid,
        "agency_version": article.agency_version,
        "pubstatus": article.pubstatus,
        "embargo_until": article.embargo_until,
        "is_correction": article.is_correction,
        # True once any version was a correction, for the "corrections only" filter.
        "corrected": article.is_correction,
        # Search, facets, stories and alerts see only public documents (pipeline/lifecycle.py).
        "visibility": visibility(article.pubstatus, article.embargo_until, indexed_at),
    }
    if language.code in ANALYSED_LANGUAGES:
        document[f"content_{language.code}"] = f"{article.title}\n\n{article.body}"
    return document
