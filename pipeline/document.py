"""Document stage: everything known about an article -> the Elasticsearch document."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pipeline.language import needs_translation
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
        # Every spelling of every tracked actor named, in all scripts: "Курск" finds "Kursk".
        "actor_names": list(actor_names),
    }
    if language.code in ANALYSED_LANGUAGES:
        document[f"content_{language.code}"] = f"{article.title}\n\n{article.body}"
    return document
