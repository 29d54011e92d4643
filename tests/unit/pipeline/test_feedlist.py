"""parse_feed_list: config/feeds.yaml -> FeedConfig."""

from __future__ import annotations

import pytest

from pipeline.feedlist import FeedConfig, FeedListError, dump_feed_list, parse_feed_list


def test_parse_feed_list_reads_entries():
    text = """
feeds:
  - id: reuters-world
    url: https://www.reuters.com/world/feed.atom
    source: Reuters
  - id: wire.aggregator_2
    url: http://127.0.0.1:8765/wire-aggregator.rdf
"""
    assert parse_feed_list(text) == [
        FeedConfig(
            id="reuters-world", url="https://www.reuters.com/world/feed.atom", source="Reuters"
        ),
        FeedConfig(id="wire.aggregator_2", url="http://127.0.0.1:8765/wire-aggregator.rdf"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "top-level 'feeds:' list"),
        ("feeds: x", "top-level 'feeds:' list"),
        ("feeds:\n  - https://a.example/feed", "entry 1: expected a mapping"),
        ("feeds:\n  - {id: Reuters, url: 'https://a.example'}", "entry 1: id 'Reuters' is invalid"),
        ("feeds:\n  - {url: 'https://a.example'}", "entry 1: id '' is invalid"),
        (
            "feeds:\n  - {id: a, url: 'https://a.example'}\n  - {id: a, url: 'https://b.example'}",
            "entry 2: id 'a' is invalid or repeated",
        ),
        (
            "feeds:\n  - {id: a, url: 'ftp://a.example/feed'}",
            "a: url must be http\\(s\\), got 'ftp://a.example/feed'",
        ),
        ("feeds:\n  - {id: a, url: 'file:///etc/passwd'}", "a: url must be http"),
        ("feeds:\n  - {id: a}", "a: url must be http"),
    ],
)
def test_parse_feed_list_rejects(text, message):
    with pytest.raises(FeedListError, match=message):
        parse_feed_list(text)


def test_feed_config_round_trips_through_a_dict():
    feed = FeedConfig(id="a", url="https://a.example/feed", source="A")
    assert feed.to_dict() == {
        "id": "a",
        "url": "https://a.example/feed",
        "source": "A",
        "language": None,
        "tags": (),
        "min_interval": None,
        "max_interval": None,
    }
    assert FeedConfig.from_dict({**feed.to_dict(), "interval": 60}) == feed


def test_shipped_feed_list_points_at_the_seed_feeds(repo_root):
    feeds = parse_feed_list((repo_root / "config/feeds.yaml").read_text("utf-8"))
    seeds = {p.name for p in (repo_root / "seeds/feeds").iterdir()}
    assert {f.url.rsplit("/", 1)[-1] for f in feeds} <= seeds
    assert len(feeds) == len({f.id for f in feeds})


def test_per_feed_settings_are_validated_and_normalised():
    text = """
feeds:
  - id: tass
    url: https://tass.example/rss
    language: RU
    tags: [Russia, wire, russia]
    min_interval: 60
    max_interval: "900"
"""
    assert parse_feed_list(text) == [
        FeedConfig(
            id="tass",
            url="https://tass.example/rss",
            language="ru",
            tags=("russia", "wire"),
            min_interval=60,
            max_interval=900,
        )
    ]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("language: russian", "language must be an ISO 639 code"),
        ("min_interval: 5", "min_interval must be at least 10 seconds"),
        ("max_interval: soon", "max_interval must be a number of seconds"),
        ("min_interval: 600\n    max_interval: 60", "larger than max_interval"),
        ("tags: ['<script>']", "invalid tag"),
    ],
)
def test_per_feed_settings_rejects(fields, message):
    text = f"feeds:\n  - id: a\n    url: https://a.example/feed\n    {fields}\n"
    with pytest.raises(FeedListError, match=message):
        parse_feed_list(text)


def test_url_without_host_is_refused():
    with pytest.raises(FeedListError, match="no host"):
        parse_feed_list("feeds:\n  - {id: a, url: 'http:///feed'}")


def test_dump_feed_list_round_trips():
    feeds = [
        FeedConfig(id="a", url="https://a.example/feed", source="A", tags=("x", "y")),
        FeedConfig(id="b", url="https://b.example/feed", language="de", min_interval=60),
    ]
    text = dump_feed_list(feeds)
    assert "language: null" not in text
    assert parse_feed_list(text) == feeds
