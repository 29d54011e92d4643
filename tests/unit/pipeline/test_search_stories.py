"""Search hits carry their story's size, sources and languages."""

from __future__ import annotations

from pipeline.search import (
    SearchHit,
    SearchResult,
    attach_story_summaries,
    story_summary_body,
)


def _hit(story_id: str) -> SearchHit:
    return SearchHit(
        doc_id=f"doc-{story_id}",
        story_id=story_id,
        title="t",
        source="s",
        url=None,
        published_at="2025-03-12",
        language="en",
        score=1.0,
        highlights={},
        persons=[],
        organisations=[],
        places=[],
    )


def test_story_summary_body_asks_for_the_page_stories_only():
    body = story_summary_body(["a", "b"])
    assert body["size"] == 0
    assert body["query"] == {"terms": {"story_id": ["a", "b"]}}
    stories = body["aggs"]["stories"]
    assert stories["terms"] == {"field": "story_id", "size": 2}
    assert stories["aggs"]["sources"]["terms"]["field"] == "sources.source"


def test_attach_story_summaries_fills_hits_of_known_stories():
    result = SearchResult(total=2, hits=[_hit("a"), _hit("b")], facets={}, histogram=[])
    response = {
        "aggregations": {
            "stories": {
                "buckets": [
                    {
                        "key": "a",
                        "doc_count": 4,
                        "sources": {"buckets": [{"key": "Wire"}, {"key": "InoSMI"}]},
                        "languages": {"buckets": [{"key": "ru"}, {"key": "en"}]},
                    }
                ]
            }
        }
    }
    attached = attach_story_summaries(result, response)
    first, second = attached.hits
    assert (first.story_articles, first.story_sources, first.story_languages) == (
        4,
        ["InoSMI", "Wire"],
        ["en", "ru"],
    )
    assert second == _hit("b")
    assert second.story_articles == 1
    assert attach_story_summaries(result, {}).hits == result.hits
