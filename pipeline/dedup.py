"""Exact-dedup stage: the keys under which an article is "already seen", and its stable doc id."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from pipeline.models import Article, DedupKeys

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
# Texts shorter than this are too generic ("Breaking news") to prove two articles identical.
MIN_FINGERPRINT_CHARS = 80


def content_fingerprint(title: str, body: str) -> str:
    """Hash of the article's words, insensitive to case, punctuation, spacing and markup."""
    text = unicodedata.normalize("NFKC", f"{title}\n{body}").casefold()
    words = _NON_WORD.sub(" ", text).split()
    return hashlib.blake2b(" ".join(words).encode(), digest_size=16).hexdigest()


def _doc_id(primary_key: str) -> str:
    return hashlib.blake2b(primary_key.encode(), digest_size=16).hexdigest()


def dedup_keys(article: Article) -> DedupKeys:
    """All exact-duplicate keys of an article; the first (URL, else GUID, else text) names it."""
    content_hash = content_fingerprint(article.title, article.body)
    keys: list[str] = []
    if article.url:
        keys.append(f"url:{article.url}")
    if article.guid:
        # RSS promises GUID uniqueness only within one feed, so the key is scoped to it.
        keys.append(f"guid:{article.feed_id}:{article.guid}")
    if len(article.title) + len(article.body) >= MIN_FINGERPRINT_CHARS or not keys:
        keys.append(f"text:{content_hash}")
    primary = keys[0]
    return DedupKeys(
        doc_id=_doc_id(primary), primary=primary, keys=tuple(keys), content_hash=content_hash
    )
