"""Exact-dedup stage: the keys under which an article is "already seen", and its stable doc id."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from pipeline.models import Article, DedupKeys

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
# An agency id that is a URI ("urn:newsml:…", "tag:…", "http…") is globally unique by design.
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# Texts shorter than this are too generic ("Breaking news") to prove two articles identical.
MIN_FINGERPRINT_CHARS = 80


def content_fingerprint(title: str, body: str) -> str:
    """Hash of the article's words, insensitive to case, punctuation, spacing and markup."""
    text = unicodedata.normalize("NFKC", f"{title}\n{body}").casefold()
    words = _NON_WORD.sub(" ", text).split()
    return hashlib.blake2b(" ".join(words).encode(), digest_size=16).hexdigest()


def _doc_id(primary_key: str) -> str:
    return hashlib.blake2b(primary_key.encode(), digest_size=16).hexdigest()


def agency_item_key(article: Article) -> str | None:
    """The key of an agency item across feeds and versions ("agency:<guid>"), if it has one."""
    guid = (article.agency_guid or "").strip()
    if not guid:
        return None
    if _URI_SCHEME.match(guid):
        return f"agency:{guid}"
    # A bare id ("20251203-0412") is unique only within the agency that issued it.
    scope = (article.agency or article.source).strip().casefold()
    return f"agency:{scope}:{guid}"


def agency_version_relation(candidate: int | None, stored: int | None) -> str:
    """How an arriving agency version relates to the stored one: newer, same, older or unknown."""
    if candidate is None or stored is None:
        return "unknown"
    if candidate > stored:
        return "newer"
    return "same" if candidate == stored else "older"


def dedup_keys(article: Article) -> DedupKeys:
    """All exact-duplicate keys of an article; the first names it (agency id, URL, GUID, text)."""
    content_hash = content_fingerprint(article.title, article.body)
    keys: list[str] = []
    # The agency's own id comes first: the same item over HTTP and from a drop folder, and
    # every later version of it (correction, kill), then share one doc id.
    agency_key = agency_item_key(article)
    if agency_key:
        keys.append(agency_key)
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
