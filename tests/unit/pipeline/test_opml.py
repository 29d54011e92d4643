"""OPML import and export of the feed list."""

from __future__ import annotations

import pytest

from pipeline.feedlist import FeedConfig
from pipeline.opml import OpmlError, export_opml, parse_opml, slug

OPML = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Newsroom</title></head>
  <body>
    <outline text="Wires">
      <outline text="Reuters World" type="rss" xmlUrl="https://reuters.example/world.rss"
               category="Breaking, world"/>
      <outline text="Reuters World (again)" type="rss" xmlUrl="https://reuters.example/world.rss"/>
      <outline text="Europe">
        <outline title="TASS" xmlUrl="https://tass.example/rss" language="ru"/>
      </outline>
    </outline>
    <outline text="Top level" xmlUrl="http://top.example/feed.xml"/>
  </body>
</opml>
"""


def test_outlines_at_any_depth_become_feeds_with_folder_tags():
    feeds = parse_opml(OPML)
    assert feeds == [
        FeedConfig(
            id="reuters-world",
            url="https://reuters.example/world.rss",
            source="Reuters World",
            tags=("breaking", "wires", "world"),
        ),
        FeedConfig(
            id="tass",
            url="https://tass.example/rss",
            source="TASS",
            language="ru",
            tags=("europe", "wires"),
        ),
        FeedConfig(id="top-level", url="http://top.example/feed.xml", source="Top level"),
    ]


def test_ids_do_not_collide_with_existing_feeds():
    feeds = parse_opml(OPML, existing_ids={"reuters-world", "tass"})
    assert [f.id for f in feeds] == ["reuters-world-2", "tass-2", "top-level"]


def test_known_urls_keep_their_feed_ids():
    feeds = parse_opml(OPML, known_urls={"https://tass.example/rss": "tass-wire"})
    assert [f.id for f in feeds] == ["reuters-world", "tass-wire", "top-level"]


def test_export_then_import_round_trips():
    feeds = [
        FeedConfig(id="a", url="https://a.example/f", source="Ä & B", tags=("x", "y")),
        FeedConfig(id="b", url="https://b.example/f", language="de"),
    ]
    document = export_opml(feeds)
    assert document.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    assert parse_opml(document) == [
        FeedConfig(id="a", url="https://a.example/f", source="Ä & B", tags=("x", "y")),
        FeedConfig(id="b", url="https://b.example/f", source="b", language="de"),
    ]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"<html><body/></html>", "not an OPML document"),
        (b"<opml><body>", "not well-formed"),
        (
            b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaa">]>'
            b"<opml><body><outline xmlUrl='http://x.example/&a;'/></body></opml>",
            "refused",
        ),
        (b"<opml><body><outline text='x' xmlUrl='ftp://x.example/f'/></body></opml>", "http"),
    ],
)
def test_bad_documents_are_refused(document, message):
    with pytest.raises(OpmlError, match=message):
        parse_opml(document)


def test_slug():
    taken: set[str] = set()
    assert slug("Reuters: World News!", taken) == "reuters-world-news"
    assert slug("Reuters: World News!", taken) == "reuters-world-news-2"
    assert slug("Новости", taken) == "feed"
