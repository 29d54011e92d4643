"""Search grouped by event (pipeline/search.py, group=event): the collapse field, validation,
and each hit's event coverage."""

from __future__ import annotations

import pytest

from pipeline.search import (
    InvalidSearch,
    SearchRequest,
    attach_event_summaries,
    build_search_body,
    event_summary_body,
    parse_search_response,
)


def test_group_event_collapses_and_counts_events():
    body = build_search_body(SearchRequest(query="ceasefire", group="event"))
    assert body["collapse"] == {"field": "event_id"}
    assert body["aggs"]["stories"] == {"cardinality": {"field": "event_id"}}
    assert "event_id" in body["_source"]
    assert build_search_body(SearchRequest(query="x"))["collapse"] == {"field": "story_id"}


@pytest.mark.parametrize(
    "request_",
    [SearchRequest(group="outlet"), SearchRequest(group="event", collapse_stories=False)],
)
def test_a_group_must_be_known_and_collapsed(request_):
    with pytest.raises(InvalidSearch):
        build_search_body(request_)


def _response(*hits: tuple[str, str, str]) -> dict:
    return {
        "hits": {
            "total": {"value": len(hits)},
            "hits": [
                {"_id": d, "_score": 1.0, "_source": {"story_id": s, "event_id": e, "title": d}}
                for d, s, e in hits
            ],
        }
    }


def test_each_hit_gets_its_events_coverage():
    result = parse_search_response(_response(("d1", "s1", "E1"), ("d2", "s2", "E2")))
    assert [h.event_id for h in result.hits] == ["E1", "E2"]
    body = event_summary_body(["E1", "E2"], public_only=True)
    assert body["query"]["bool"]["filter"] == [{"terms": {"event_id": ["E1", "E2"]}}]
    summary = {
        "aggregations": {
            "events": {
                "buckets": [
                    {
                        "key": "E1",
                        "doc_count": 11,
                        "stories": {"value": 9},
                        "sources": {"buckets": [{"key": f"outlet {i}"} for i in range(7)]},
                        "languages": {"buckets": [{"key": k} for k in ("en", "ru", "de")]},
                    }
                ]
            }
        }
    }
    attached = attach_event_summaries(result, summary)
    first, second = attached.hits
    assert first.event_coverage == "Full coverage: 9 stories from 7 outlets in 3 languages"
    assert first.event_languages == ["de", "en", "ru"]
    assert (second.event_stories, second.event_coverage) == (0, "")
