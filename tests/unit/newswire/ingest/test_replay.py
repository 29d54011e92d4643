"""Which dead letters `newswire deadletter replay` can queue again."""

from __future__ import annotations

from newswire.ingest.cli import replayable_articles
from pipeline.models import Article

ARTICLE = Article(
    feed_id="wire",
    source="Wire",
    guid="1",
    url="https://wire.example/1",
    original_url="https://wire.example/1",
    title="Title",
    summary="",
    body="Body",
    body_html="",
    published_at="2025-03-12T19:25:00+00:00",
    fetched_at="2025-03-12T19:30:00+00:00",
)


def test_article_and_batch_payloads_are_replayed() -> None:
    one = {"kind": "article", "payload": ARTICLE.to_dict()}
    batch = {"kind": "batch", "payload": [ARTICLE.to_dict(), ARTICLE.to_dict()]}
    assert replayable_articles(one) == [ARTICLE]
    assert replayable_articles(batch) == [ARTICLE, ARTICLE]


def test_records_without_articles_are_kept() -> None:
    assert replayable_articles({"kind": "message", "payload": "not json {"}) is None
    assert replayable_articles({"kind": "batch", "payload": [{"title": 3}]}) is None
    assert replayable_articles({"kind": "batch", "payload": []}) is None
