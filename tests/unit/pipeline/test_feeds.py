"""parse_feed: every supported format, the entity refusal, and what is not a feed."""

from __future__ import annotations

import json

import pytest

from pipeline.feeds import FeedParseError, parse_feed

RSS_20 = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel>
    <title>Example Wire</title>
    <link>https://wire.example/</link>
    <language>en-gb</language>
    <item>
      <title>First &amp; foremost</title>
      <link>https://wire.example/1</link>
      <guid isPermaLink="false">wire-1</guid>
      <pubDate>Wed, 12 Mar 2025 10:00:00 +0200</pubDate>
      <dc:creator>Ann Author</dc:creator>
      <category>World</category>
      <category>Europe</category>
      <description>&lt;p&gt;Summary one&lt;/p&gt;</description>
    </item>
    <item>
      <title>Second</title>
      <link>https://wire.example/2</link>
      <description>Summary two</description>
    </item>
    <item>
      <title>Third</title>
      <link>https://wire.example/3</link>
    </item>
  </channel>
</rss>"""

RSS_091 = b"""<?xml version="1.0"?>
<rss version="0.91">
  <channel>
    <title>Old Wire</title>
    <link>http://old.example/</link>
    <description>d</description>
    <language>en-us</language>
    <item><title>One</title><link>http://old.example/1</link><description>First</description></item>
  </channel>
</rss>"""

RSS_10 = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://rdf.example/feed">
    <title>RDF Wire</title>
    <link>https://rdf.example/</link>
    <description>d</description>
  </channel>
  <item rdf:about="https://rdf.example/a">
    <title>RDF item</title>
    <link>https://rdf.example/a</link>
    <description>Body</description>
    <dc:date>2025-03-12T15:25:00-04:00</dc:date>
  </item>
</rdf:RDF>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <id>tag:atom.example,2025:feed</id>
  <title>Atom Wire</title>
  <link rel="alternate" href="https://atom.example/"/>
  <updated>2025-03-12T19:05:00Z</updated>
  <entry>
    <id>tag:atom.example,2025:1</id>
    <title>Atom entry</title>
    <link rel="alternate" href="https://atom.example/1"/>
    <published>2025-03-12T18:40:00+01:00</published>
    <updated>2025-03-12T18:52:00Z</updated>
    <author><name>Guy Faulconbridge</name></author>
    <author><name>Dmitry Antonov</name></author>
    <summary type="text">Short</summary>
    <content type="html">&lt;p&gt;Long body&lt;/p&gt;</content>
  </entry>
</feed>"""


def _json_feed(**overrides: object) -> bytes:
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "JSON Wire",
        "home_page_url": "https://json.example/",
        "language": "en",
        "items": [
            {
                "id": 42,
                "url": "https://json.example/42",
                "title": "JSON item",
                "content_html": "<p>Body</p>",
                "summary": "Sum",
                "date_published": "2025-03-12T07:30:00+01:00",
                "date_modified": "2025-03-12T08:00:00Z",
                "authors": [{"name": "Newsdesk"}, {"url": "https://no-name.example"}],
                "tags": ["Wirtschaft", "Streik"],
                "language": "de",
            },
            {"id": "b", "external_url": "https://elsewhere.example/b", "content_text": "Plain"},
            "not an item",
        ],
    }
    document.update(overrides)
    return json.dumps(document).encode()


# --- the seed feeds -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt", "count", "language"),
    [
        ("reuters-world.atom", "atom10", 4, "en"),
        ("inosmi-world.rss", "rss20", 3, "en"),
        ("wire-aggregator.rdf", "rss10", 3, "en"),
        ("inosmi-ru.rss", "rss20", 2, "ru"),
        ("newsdesk.json", "json1.1", 2, "en"),
    ],
)
def test_seed_feeds_parse_with_format_and_entry_count(seed_bytes, name, fmt, count, language):
    parsed = parse_feed(seed_bytes(name), feed_id="seed")
    assert parsed.format == fmt
    assert len(parsed.entries) == count
    assert parsed.language == language
    assert all(entry.title and entry.link for entry in parsed.entries)


def test_seed_atom_entry_keeps_authors_categories_and_utc_dates(seed_bytes):
    entry = parse_feed(seed_bytes("reuters-world.atom"), feed_id="reuters-world").entries[0]
    assert entry.title == "Russia hands US list of demands for ending Ukraine war, sources say"
    assert entry.guid == "tag:reuters.com,2025-03-12:newsml_L8N3Q50RU"
    assert entry.authors == ("Guy Faulconbridge", "Dmitry Antonov")
    assert entry.categories == ("World", "Europe", "Ukraine")
    assert entry.published == "2025-03-12T18:40:00+00:00"
    assert entry.updated == "2025-03-12T18:52:00+00:00"
    assert entry.source == "Reuters World News"


def test_seed_rss_keeps_raw_script_bait_for_our_own_sanitiser(seed_bytes):
    """parse_feed turns off feedparser's sanitiser, so the bait reaches sanitize_html."""
    entries = parse_feed(seed_bytes("inosmi-world.rss"), feed_id="inosmi-world").entries
    reuters = next(e for e in entries if e.guid == "inosmi-271234567")
    assert "<script>" in reuters.content_html
    assert "onerror" in reuters.content_html


def test_seed_rdf_dc_date_becomes_updated_in_utc(seed_bytes):
    entries = parse_feed(seed_bytes("wire-aggregator.rdf"), feed_id="wire-aggregator").entries
    assert entries[0].published is None
    assert entries[0].updated == "2025-03-12T19:25:00+00:00"


def test_source_name_overrides_feed_title(seed_bytes):
    parsed = parse_feed(seed_bytes("inosmi-ru.rss"), feed_id="inosmi-ru", source_name="ИноСМИ")
    assert parsed.title == "ИноСМИ — Мир"
    assert {e.source for e in parsed.entries} == {"ИноСМИ"}
    assert {e.language_hint for e in parsed.entries} == {"ru"}


# --- inline documents -----------------------------------------------------------------------


def test_rss20_entry_fields():
    parsed = parse_feed(RSS_20, feed_id="wire")
    first = parsed.entries[0]
    assert (parsed.format, parsed.title, parsed.link) == (
        "rss20",
        "Example Wire",
        "https://wire.example/",
    )
    assert first.feed_id == "wire"
    assert first.title == "First & foremost"
    assert first.guid == "wire-1"
    assert first.link == "https://wire.example/1"
    assert first.published == "2025-03-12T08:00:00+00:00"
    assert first.authors == ("Ann Author",)
    assert first.categories == ("World", "Europe")
    assert first.summary_html == "<p>Summary one</p>"
    assert first.language_hint == "en-gb"
    assert parsed.entries[2].summary_html == ""
    assert parsed.entries[2].guid is None


def test_rss091_is_parsed():
    parsed = parse_feed(RSS_091, feed_id="old")
    assert parsed.format.startswith("rss091")
    assert [(e.title, e.link, e.summary_html) for e in parsed.entries] == [
        ("One", "http://old.example/1", "First")
    ]


def test_rss10_is_parsed():
    parsed = parse_feed(RSS_10, feed_id="rdf")
    assert parsed.format == "rss10"
    assert [(e.title, e.link) for e in parsed.entries] == [("RDF item", "https://rdf.example/a")]
    assert parsed.entries[0].updated == "2025-03-12T19:25:00+00:00"


def test_atom_entry_has_content_summary_and_utc_published():
    entry = parse_feed(ATOM, feed_id="atom").entries[0]
    assert entry.content_html == "<p>Long body</p>"
    assert entry.summary_html == "Short"
    assert entry.published == "2025-03-12T17:40:00+00:00"
    assert entry.authors == ("Guy Faulconbridge", "Dmitry Antonov")


def test_json_feed_items_map_to_entries():
    parsed = parse_feed(_json_feed(), feed_id="json")
    assert (parsed.format, parsed.title, parsed.link, parsed.language) == (
        "json1.1",
        "JSON Wire",
        "https://json.example/",
        "en",
    )
    first, second = parsed.entries  # the non-dict item is skipped
    assert first.guid == "42"
    assert first.published == "2025-03-12T06:30:00+00:00"
    assert first.updated == "2025-03-12T08:00:00+00:00"
    assert first.authors == ("Newsdesk",)
    assert first.categories == ("Wirtschaft", "Streik")
    assert first.language_hint == "de"
    assert first.summary_html == "Sum"
    assert second.link == "https://elsewhere.example/b"
    assert second.content_html == "Plain"
    assert second.language_hint == "en"
    assert second.published is None


def test_json_feed_version_1_0_format_name():
    parsed = parse_feed(_json_feed(version="https://jsonfeed.org/version/1"), feed_id="json")
    assert parsed.format == "json1"


def test_json_feed_bad_date_becomes_none_and_naive_date_is_utc():
    items = [
        {"id": "1", "date_published": "yesterday"},
        {"id": "2", "date_published": "2025-03-12T10:00:00"},
    ]
    entries = parse_feed(_json_feed(items=items), feed_id="json").entries
    assert entries[0].published is None
    assert entries[1].published == "2025-03-12T10:00:00+00:00"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"{not json", "invalid JSON Feed"),
        (b'{"version": "1", "items": []}', "not a JSON Feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": 3}', "no items list"),
        (b'{"version": "https://jsonfeed.org/version/1.1"}', "no items list"),
    ],
)
def test_bad_json_feed_raises(document, message):
    with pytest.raises(FeedParseError, match=message):
        parse_feed(document, feed_id="json")


def test_json_feed_null_tags_and_authors_do_not_crash():
    items = [{"id": "1", "title": "t", "tags": None, "authors": None}]
    entry = parse_feed(_json_feed(items=items), feed_id="json").entries[0]
    assert (entry.authors, entry.categories) == ((), ())


def test_json_feed_1_0_author_is_kept():
    items = [{"id": "1", "title": "t", "author": {"name": "Ann Author"}}]
    document = _json_feed(version="https://jsonfeed.org/version/1", items=items)
    assert parse_feed(document, feed_id="json").entries[0].authors == ("Ann Author",)


# --- safety and rejection -------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<rss version="2.0"><channel><title>&lol3;</title>
<item><title>&lol3;</title></item></channel></rss>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>t</title><item><title>&xxe;</title></item></channel></rss>"""


@pytest.mark.parametrize("document", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["laughs", "system"])
def test_entity_declarations_are_refused(document):
    with pytest.raises(FeedParseError, match="entity declarations are refused"):
        parse_feed(document, feed_id="evil")


def test_entity_declaration_in_malformed_document_is_still_refused():
    document = BILLION_LAUGHS.replace(b"</channel></rss>", b"</channel>")
    with pytest.raises(FeedParseError, match="entity declarations are refused"):
        parse_feed(document, feed_id="evil")


def test_entity_declaration_after_leading_whitespace_is_refused():
    with pytest.raises(FeedParseError):
        parse_feed(b"\n  " + BILLION_LAUGHS, feed_id="evil")


def test_doctype_without_entities_is_allowed():
    document = RSS_091.replace(
        b"<rss",
        b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
        b'"http://my.netscape.com/publish/formats/rss-0.91.dtd">\n<rss',
        1,
    )
    assert [e.title for e in parse_feed(document, feed_id="old").entries] == ["One"]


def test_html_page_is_not_a_feed():
    page = b"<!DOCTYPE html><html><head><title>Hi</title></head><body><p>x</p></body></html>"
    with pytest.raises(FeedParseError, match="not a feed"):
        parse_feed(page, feed_id="page")


@pytest.mark.parametrize("document", [b"", b"  \n\t "])
def test_empty_document_raises(document):
    with pytest.raises(FeedParseError, match="empty document"):
        parse_feed(document, feed_id="empty")


def test_malformed_but_recoverable_xml_still_yields_entries():
    broken = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Broken & co</title>'
        b"<item><title>A & B</title><link>http://x.example/a</link></item>"
        b"<item><title>C</title></item></channel>"
    )
    parsed = parse_feed(broken, feed_id="broken")
    assert [e.title for e in parsed.entries] == ["A & B", "C"]
    assert parsed.entries[0].link == "http://x.example/a"


def test_max_entries_caps_xml_and_json():
    assert [e.title for e in parse_feed(RSS_20, feed_id="w", max_entries=2).entries] == [
        "First & foremost",
        "Second",
    ]
    assert len(parse_feed(_json_feed(), feed_id="j", max_entries=1).entries) == 1


@pytest.mark.parametrize("reference", ["&#x110000;", "&#1114112;", "&#xD800;", "&#0;"])
def test_a_character_reference_outside_unicode_reads_as_the_replacement_character(
    reference: str,
) -> None:
    # Found by the fuzz tests: feedparser's lenient parser raised ValueError from chr().
    document = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T'
        f"{reference}</title><item><title>Wire {reference} item</title>"
        "<link>https://wire.example/1</link></item></channel></rss>"
    ).encode()
    parsed = parse_feed(document, feed_id="wire")
    assert parsed.entries[0].title.replace("\ufffd", "") == "Wire  item"


def test_an_element_broken_by_a_truncated_tag_leaves_strings_not_none() -> None:
    # Found by the fuzz tests: "</summary>" cut to "/summary>" left summary None.
    document = (
        b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        b"<title>Wire</title><entry><id>tag:wire,2025:1</id><title>Headline</title>"
        b'<summary type="text">Two sources said,/summary>'
        b'<content type="html">&lt;p&gt;Body&lt;/p&gt;</content></entry></feed>'
    )
    parsed = parse_feed(document, feed_id="wire")  # feedparser recovers the entry, text None
    assert parsed.entries
    for entry in parsed.entries:
        assert all(
            isinstance(value, str)
            for value in (entry.title, entry.summary_html, entry.content_html)
        )
