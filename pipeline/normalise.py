"""Normalise stage: FeedEntry -> Article (canonical URL, UTC time, plain text, clean metadata)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

from w3lib.url import canonicalize_url, url_query_cleaner

from pipeline.models import Article, FeedEntry
from pipeline.text import html_to_text, sanitize_html

# Parameters that identify a campaign or a reader, never the article.
TRACKING_PARAMETERS = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "utm_id",
    "utm_name",
    "utm_reader",
    "utm_brand",
    "utm_social",
    "utm_social-type",
    "fbclid",
    "gclid",
    "dclid",
    "msclkid",
    "yclid",
    "mc_cid",
    "mc_eid",
    "igshid",
    "ocid",
    "cmpid",
    "taid",
    "smid",
    "ncid",
    "sr_share",
    "rss",
    "ref",
    "ref_src",
    "feature",
    "_ga",
    "_gl",
    "at_medium",
    "at_campaign",
    "src",
    "CMP",
    "mbid",
    "s_cid",
    "wt_mc",
)
# NewsML-G2's publishing statuses; "canceled" is a kill, "withheld" a temporary withdrawal.
PUBSTATUSES = frozenset({"usable", "withheld", "canceled"})
_MOBILE_HOST_PREFIX = re.compile(r"^(www|m|mobile|amp)\.")
_AMP_PATH = re.compile(r"(/amp/?|\.amp)$")
_WS = re.compile(r"\s+")


def canonical_url(url: str) -> str:
    """Return the URL that identifies an article: no tracking, fragment, AMP or mobile variant."""
    cleaned = url_query_cleaner(url.strip(), TRACKING_PARAMETERS, remove=True, keep_fragments=False)
    canonical = canonicalize_url(cleaned)
    parts = urlsplit(canonical)
    host = _MOBILE_HOST_PREFIX.sub("", parts.hostname or "")
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    if parts.port and not (
        (parts.scheme == "http" and parts.port == 80)
        or (parts.scheme == "https" and parts.port == 443)
    ):
        host = f"{host}:{parts.port}"
    path = _AMP_PATH.sub("", parts.path) or "/"
    if len(path) > 1:
        path = path.rstrip("/")
    scheme = "https" if parts.scheme in {"http", "https"} else parts.scheme
    return urlunsplit((scheme, host, path, parts.query, ""))


def _clean_names(values: tuple[str, ...]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for value in values:
        name = _WS.sub(" ", value).strip()
        if name and name.casefold() not in seen:
            seen[name.casefold()] = name
    return tuple(seen.values())


def _clean_line(value: str | None) -> str | None:
    if not value:
        return None
    return _WS.sub(" ", value).strip() or None


def _clean_subjects(
    ids: tuple[str, ...], labels: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    # Labels travel beside their ids; a producer that sent fewer labels gets the id as its label.
    cleaned: dict[str, str] = {}
    for index, raw in enumerate(ids):
        subject = raw.strip()
        label = _clean_line(labels[index] if index < len(labels) else None) or subject
        if subject and subject not in cleaned:
            cleaned[subject] = label
    return tuple(cleaned), tuple(cleaned.values())


def _clean_urgency(value: int | None) -> int | None:
    return value if isinstance(value, int) and 1 <= value <= 9 else None


def normalise_entry(entry: FeedEntry, *, fetched_at: datetime) -> Article:
    """Turn a raw feed entry into an Article; timestamps become ISO 8601 UTC."""
    body_html = entry.content_html or entry.summary_html
    body = html_to_text(body_html)
    summary = html_to_text(entry.summary_html) if entry.content_html else ""
    title = _WS.sub(" ", html_to_text(entry.title)).strip()
    fetched = fetched_at.astimezone(UTC).isoformat()
    link = entry.link.strip() if entry.link else None
    subjects, subject_labels = _clean_subjects(entry.subjects, entry.subject_labels)
    return Article(
        feed_id=entry.feed_id,
        source=entry.source.strip() or entry.feed_id,
        guid=entry.guid.strip() if entry.guid else None,
        url=canonical_url(link) if link and urlsplit(link).scheme in {"http", "https"} else None,
        original_url=link,
        title=title,
        summary=summary,
        body=body,
        body_html=sanitize_html(body_html),
        published_at=entry.published or entry.updated or fetched,
        fetched_at=fetched,
        authors=_clean_names(entry.authors),
        categories=_clean_names(entry.categories),
        language_hint=(entry.language_hint or "").split("-")[0].lower() or None,
        slugline=_clean_line(entry.slugline),
        byline=_clean_line(entry.byline),
        dateline=_clean_line(entry.dateline),
        urgency=_clean_urgency(entry.urgency),
        subjects=subjects,
        subject_labels=subject_labels,
        keywords=_clean_names(entry.keywords),
        genre=_clean_line(entry.genre),
        agency=_clean_line(entry.agency),
        agency_guid=entry.agency_guid.strip() if entry.agency_guid else None,
        agency_version=entry.agency_version,
        pubstatus=entry.pubstatus if entry.pubstatus in PUBSTATUSES else "usable",
        embargo_until=entry.embargo_until,
        is_correction=entry.is_correction,
    )
