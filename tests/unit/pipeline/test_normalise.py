"""canonical_url and normalise_entry: FeedEntry -> Article."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pipeline.feeds import parse_feed
from pipeline.models import FeedEntry
from pipeline.normalise import canonical_url, normalise_entry


def _entry(**overrides: object) -> FeedEntry:
    values: dict[str, object] = {
        "feed_id": "wire",
        "source": "Wire",
        "guid": "g-1",
        "link": "https://wire.example/story",
        "title": "Title",
        "summary_html": "",
        "content_html": "",
        "published": None,
        "updated": None,
    }
    values.update(overrides)
    return FeedEntry(**values)  # type: ignore[arg-type]


# --- canonical_url ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://example.com/a?utm_source=rss&utm_medium=feed&utm_campaign=x&id=7",
            "https://example.com/a?id=7",
        ),
        ("https://example.com/a?fbclid=abc&gclid=def&ref=tw", "https://example.com/a"),
        ("https://example.com/a#comments", "https://example.com/a"),
        ("https://www.example.com/a", "https://example.com/a"),
        ("https://m.example.com/a", "https://example.com/a"),
        ("https://amp.example.com/a", "https://example.com/a"),
        ("https://example.com/story/amp", "https://example.com/story"),
        ("https://example.com/story/amp/", "https://example.com/story"),
        ("https://example.com/story.amp", "https://example.com/story"),
        ("http://example.com/a/", "https://example.com/a"),
        ("HTTP://Example.COM:80/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com", "https://example.com/"),
        ("  https://example.com/a  ", "https://example.com/a"),
    ],
)
def test_canonical_url(url, expected):
    assert canonical_url(url) == expected


def test_canonical_url_ignores_query_order():
    assert canonical_url("https://example.com/a?b=2&a=1") == canonical_url(
        "https://example.com/a?a=1&b=2"
    )
    assert canonical_url("https://example.com/a?b=2&a=1") == "https://example.com/a?a=1&b=2"


def test_canonical_url_keeps_words_that_merely_end_in_amp():
    assert canonical_url("https://example.com/news/camp") == "https://example.com/news/camp"


def test_seed_ecb_duplicate_urls_are_equal(seed_bytes):
    atom = parse_feed(seed_bytes("reuters-world.atom"), feed_id="reuters-world").entries[3]
    rdf = parse_feed(seed_bytes("wire-aggregator.rdf"), feed_id="wire-aggregator").entries[1]
    assert "utm_source=rss" in rdf.link
    assert rdf.link.endswith("#top")
    expected = "https://reuters.com/markets/europe/ecb-holds-rates-2025-03-12"
    assert canonical_url(atom.link) == expected
    assert canonical_url(rdf.link) == expected


def test_canonical_url_keeps_ipv6_brackets():
    assert canonical_url("https://[2001:db8::1]/a") == "https://[2001:db8::1]/a"


# --- normalise_entry -------------------------------------------------------------------------


def test_published_time_is_kept(fetched_at):
    article = normalise_entry(
        _entry(published="2025-03-12T08:00:00+00:00", updated="2025-03-12T09:00:00+00:00"),
        fetched_at=fetched_at,
    )
    assert article.published_at == "2025-03-12T08:00:00+00:00"


def test_missing_published_falls_back_to_updated(fetched_at):
    article = normalise_entry(_entry(updated="2025-03-12T09:00:00+00:00"), fetched_at=fetched_at)
    assert article.published_at == "2025-03-12T09:00:00+00:00"


def test_missing_dates_fall_back_to_fetched_at_in_utc():
    moscow = timezone(timedelta(hours=3))
    article = normalise_entry(_entry(), fetched_at=datetime(2025, 3, 13, 15, 0, tzinfo=moscow))
    assert article.fetched_at == "2025-03-13T12:00:00+00:00"
    assert article.published_at == "2025-03-13T12:00:00+00:00"


def test_feed_timestamps_end_up_utc(seed_bytes, fetched_at):
    """inosmi-ru publishes +0300; the Article carries the same instant in UTC."""
    entry = parse_feed(seed_bytes("inosmi-ru.rss"), feed_id="inosmi-ru").entries[0]
    assert normalise_entry(entry, fetched_at=fetched_at).published_at == (
        "2025-03-13T07:30:00+00:00"
    )


def test_body_is_plain_text_with_paragraphs_and_no_script(fetched_at):
    html = "<p>First para.</p><script>alert('x')</script><p>Second <b>para</b>.</p>"
    article = normalise_entry(
        _entry(content_html=html, summary_html="<p>Sum</p>"), fetched_at=fetched_at
    )
    assert article.body == "First para.\n\nSecond para."
    assert article.body_html == "<p>First para.</p><p>Second <b>para</b>.</p>"
    assert article.summary == "Sum"


def test_summary_is_the_body_when_there_is_no_content(fetched_at):
    article = normalise_entry(_entry(summary_html="<p>Only summary</p>"), fetched_at=fetched_at)
    assert article.body == "Only summary"
    assert article.summary == ""


def test_title_markup_and_whitespace_are_flattened(fetched_at):
    article = normalise_entry(
        _entry(title="  Breaking:\n <b>Kremlin</b>  &amp;  Washington "), fetched_at=fetched_at
    )
    assert article.title == "Breaking: Kremlin & Washington"


def test_url_is_canonical_and_original_is_kept(fetched_at):
    link = " https://www.example.com/a/?utm_source=x#top "
    article = normalise_entry(_entry(link=link), fetched_at=fetched_at)
    assert article.url == "https://example.com/a"
    assert article.original_url == link.strip()


@pytest.mark.parametrize("link", ["tag:example.com,2025:1", "mailto:x@example.com", None])
def test_non_http_link_gives_no_url(link, fetched_at):
    article = normalise_entry(_entry(link=link), fetched_at=fetched_at)
    assert article.url is None
    assert article.original_url == link


def test_names_are_deduplicated_case_insensitively_and_trimmed(fetched_at):
    article = normalise_entry(
        _entry(
            authors=("Ann  Author", "ann author", " ", "Bob"),
            categories=("World", "world ", "Europe"),
        ),
        fetched_at=fetched_at,
    )
    assert article.authors == ("Ann Author", "Bob")
    assert article.categories == ("World", "Europe")


@pytest.mark.parametrize(
    ("hint", "expected"), [("en-GB", "en"), ("RU", "ru"), ("", None), (None, None)]
)
def test_language_hint_is_reduced_to_primary_subtag(hint, expected, fetched_at):
    assert normalise_entry(_entry(language_hint=hint), fetched_at=fetched_at).language_hint == (
        expected
    )


def test_blank_source_falls_back_to_feed_id_and_guid_is_trimmed(fetched_at):
    article = normalise_entry(_entry(source="  ", guid="  g-7 "), fetched_at=fetched_at)
    assert article.source == "wire"
    assert article.guid == "g-7"


def test_wire_metadata_is_carried_and_cleaned(fetched_at):
    article = normalise_entry(
        _entry(
            slugline="  Calabria-sisma ",
            byline="di  Giulia\nFerraro",
            urgency=12,
            subjects=("medtop:20000151", "medtop:20000151", "subj:03015000"),
            subject_labels=("terremoto", "again"),
            keywords=("Calabria", "calabria", " terremoto "),
            agency=" AST ",
            agency_guid=" urn:x:1 ",
            agency_version=3,
            pubstatus="killed-by-typo",
            embargo_until="2025-12-04T05:00:00+00:00",
            is_correction=True,
        ),
        fetched_at=fetched_at,
    )
    assert (article.slugline, article.byline, article.urgency) == (
        "Calabria-sisma",
        "di Giulia Ferraro",
        None,
    )
    assert article.subjects == ("medtop:20000151", "subj:03015000")
    assert article.subject_labels == ("terremoto", "subj:03015000")
    assert article.keywords == ("Calabria", "terremoto")
    assert (article.agency, article.agency_guid, article.agency_version) == ("AST", "urn:x:1", 3)
    assert (article.pubstatus, article.embargo_until, article.is_correction) == (
        "usable",
        "2025-12-04T05:00:00+00:00",
        True,
    )


def test_feed_entries_get_wire_defaults(fetched_at):
    article = normalise_entry(_entry(), fetched_at=fetched_at)
    assert (article.pubstatus, article.urgency, article.subjects, article.is_correction) == (
        "usable",
        None,
        (),
        False,
    )
