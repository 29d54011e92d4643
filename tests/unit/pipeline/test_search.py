"""Search request validation, the Elasticsearch body, and reading a response."""

from __future__ import annotations

import pytest

from pipeline.search import (
    FACETS,
    NAME_FIELDS,
    TEXT_FIELDS,
    InvalidSearch,
    NewSince,
    SearchHit,
    SearchRequest,
    build_search_body,
    decode_cursor,
    encode_cursor,
    new_since_body,
    parse_new_since,
    parse_search_response,
    validate,
)


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (SearchRequest(filters={"author": ("x",)}), r"unknown filter\(s\) \['author'\]; known: "),
        (SearchRequest(size=0), "size must be between 1 and 100"),
        (SearchRequest(size=101), "size must be between 1 and 100"),
        (SearchRequest(page=0), "page must be >= 1"),
        (SearchRequest(page=101, size=100), "page\\*size <= 10000"),
        (SearchRequest(sort="oldest"), "sort must be 'relevance' or 'newest'"),
        (SearchRequest(query="x" * 1001), "longer than 1000 characters"),
        (
            SearchRequest(date_from="12/03/2025"),
            "from must be a date like 2025-03-12, not '12/03/2025'",
        ),
        (SearchRequest(date_to="2025-02-30"), "to must be a date like"),
        (SearchRequest(date_from="2025-03-12Tnoon"), "from must be a date like"),
        (SearchRequest(date_from="2025-03-13", date_to="2025-03-12"), "'from' is after 'to'"),
    ],
)
def test_invalid_requests_raise_with_a_helpful_message(request_, message):
    with pytest.raises(InvalidSearch, match=message):
        validate(request_)
    with pytest.raises(InvalidSearch):
        build_search_body(request_)


@pytest.mark.parametrize(
    "request_",
    [
        SearchRequest(size=1),
        SearchRequest(size=100, page=100),
        SearchRequest(date_from="2025-03-12", date_to="2025-03-12"),
        SearchRequest(date_from="2025-03-12T10:00:00Z", date_to="2025-03-12"),
        SearchRequest(query="x" * 1000, sort="newest"),
    ],
)
def test_boundary_requests_are_valid(request_):
    validate(request_)


def test_query_and_filters_become_bool_clauses():
    body = build_search_body(
        SearchRequest(
            query='"cease-fire" Kremlin',
            filters={"person": ("Vladimir Putin",), "language": ("en", "ru"), "place": ()},
            date_from="2025-03-01",
            date_to="2025-03-12",
            page=3,
            size=20,
        )
    )
    boolean = body["query"]["bool"]
    assert boolean["must"] == [
        {
            "simple_query_string": {
                "query": '"cease-fire" Kremlin',
                "fields": list(TEXT_FIELDS),
                "default_operator": "and",
            }
        }
    ]
    assert boolean["filter"] == [
        {
            "bool": {
                "should": [
                    {"terms": {"person_ids": ["Vladimir Putin"]}},
                    {"terms": {"persons": ["Vladimir Putin"]}},
                ],
                "minimum_should_match": 1,
            }
        },
        {"terms": {"language": ["en", "ru"]}},
        {"range": {"published_at": {"gte": "2025-03-01", "lte": "2025-03-12"}}},
    ]
    assert (body["from"], body["size"]) == (40, 20)
    assert "sort" not in body


@pytest.mark.parametrize(("name", "field"), sorted(FACETS.items()))
def test_each_filter_targets_its_field(name, field):
    body = build_search_body(SearchRequest(query="x", filters={name: ("v",)}))
    if name in NAME_FIELDS:
        # Entity filters: the registry id, or the name as written before the registry.
        (clause,) = body["query"]["bool"]["filter"]
        assert clause["bool"]["should"] == [
            {"terms": {field: ["v"]}},
            {"terms": {NAME_FIELDS[name]: ["v"]}},
        ]
        assert clause["bool"]["minimum_should_match"] == 1
    else:
        assert body["query"]["bool"]["filter"] == [{"terms": {field: ["v"]}}]


def test_open_ended_date_range():
    body = build_search_body(SearchRequest(date_to="2025-03-12"))
    assert body["query"]["bool"]["filter"] == [{"range": {"published_at": {"lte": "2025-03-12"}}}]


@pytest.mark.parametrize("query", ["", "   "])
def test_empty_query_matches_all_newest_first(query):
    body = build_search_body(SearchRequest(query=query))
    assert body["query"]["bool"]["must"] == [{"match_all": {}}]
    assert body["sort"] == [{"published_at": "desc"}, "_score"]


def test_newest_sort_with_a_query():
    body = build_search_body(SearchRequest(query="ECB", sort="newest"))
    assert body["sort"] == [{"published_at": "desc"}, "_score"]


def test_collapse_by_story_and_count_stories():
    body = build_search_body(SearchRequest(query="ECB"))
    assert body["collapse"] == {"field": "story_id"}
    assert body["aggs"]["stories"] == {"cardinality": {"field": "story_id"}}


def test_no_collapse_when_turned_off():
    body = build_search_body(SearchRequest(query="ECB", collapse_stories=False))
    assert "collapse" not in body
    assert "stories" not in body["aggs"]


def test_facet_aggregations_and_histogram():
    aggs = build_search_body(SearchRequest(query="ECB"))["aggs"]
    # Entity facets count registry ids (newswire/search/service.py adds display names).
    assert aggs["person"] == {"terms": {"field": "person_ids", "size": 15}}
    assert aggs["category"] == {"terms": {"field": "categories", "size": 15}}
    assert aggs["day"]["date_histogram"]["field"] == "published_at"
    assert aggs["day"]["date_histogram"]["calendar_interval"] == "day"


RESPONSE = {
    "hits": {
        "total": {"value": 57, "relation": "eq"},
        "hits": [
            {
                "_id": "d1",
                "_score": 7.5,
                "_source": {
                    "doc_id": "d1",
                    "story_id": "s1",
                    "title": "ECB holds rates",
                    "source": "Reuters",
                    "url": "https://reuters.com/ecb",
                    "published_at": "2025-03-12T13:20:00+00:00",
                    "language": "en",
                    "persons": ["Christine Lagarde"],
                    "organisations": ["ECB"],
                    "places": ["Frankfurt"],
                },
                "highlight": {"title": ["<mark>ECB</mark> holds rates"]},
            },
            {"_id": "d2", "_score": None, "_source": {"title": "Bare"}},
        ],
    },
    "aggregations": {
        "source": {
            "buckets": [{"key": "Reuters", "doc_count": 40}, {"key": "InoSMI", "doc_count": 17}]
        },
        "language": {"buckets": [{"key": "en", "doc_count": 57}]},
        "day": {
            "buckets": [
                {
                    "key_as_string": "2025-03-12T00:00:00.000Z",
                    "key": 1741737600000,
                    "doc_count": 50,
                },
                {"key_as_string": "2025-03-13T00:00:00.000Z", "key": 1741824000000, "doc_count": 7},
            ]
        },
        "stories": {"value": 31},
    },
}


def test_parse_search_response():
    result = parse_search_response(RESPONSE)
    assert result.total == 31  # collapsed: distinct stories, not the 57 articles
    assert result.hits[0] == SearchHit(
        doc_id="d1",
        story_id="s1",
        title="ECB holds rates",
        source="Reuters",
        url="https://reuters.com/ecb",
        published_at="2025-03-12T13:20:00+00:00",
        language="en",
        score=7.5,
        highlights={"title": ["<mark>ECB</mark> holds rates"]},
        persons=["Christine Lagarde"],
        organisations=["ECB"],
        places=["Frankfurt"],
    )
    bare = result.hits[1]
    assert (bare.story_id, bare.title, bare.url, bare.score, bare.persons) == (
        "d2",
        "Bare",
        None,
        None,
        [],
    )
    assert result.facets["source"] == [("Reuters", 40), ("InoSMI", 17)]
    assert result.facets["person"] == []
    assert set(result.facets) == set(FACETS)
    assert result.histogram == [("2025-03-12", 50), ("2025-03-13", 7)]


def test_total_without_story_count_is_the_hit_total():
    response = {"hits": {"total": {"value": 4}, "hits": []}}
    result = parse_search_response(response)
    assert (result.total, result.hits, result.histogram) == (4, [], [])


def test_facet_filters_drop_empty_facets_and_keep_order_of_values():
    from pipeline.search import facet_filters

    assert facet_filters(source=["Reuters", "AP"], person=None, place=[], actor=["kursk"]) == {
        "source": ("Reuters", "AP"),
        "actor": ("kursk",),
    }


# -- cursor paging, expanded facets, "new since" counts ------------------------------------------
def test_cursor_paging_sorts_with_a_tiebreaker_and_drops_from():
    first = build_search_body(SearchRequest(query="ECB", collapse_stories=False, cursor=True))
    assert first["sort"] == ["_score", {"published_at": "desc"}, {"doc_id": "asc"}]
    assert "from" not in first
    assert "search_after" not in first
    later = build_search_body(
        SearchRequest(sort="newest", collapse_stories=False, search_after=(1741737600000, "d9"))
    )
    assert later["sort"] == [{"published_at": "desc"}, {"doc_id": "asc"}]
    assert later["search_after"] == [1741737600000, "d9"]


def test_cursor_paging_reaches_past_the_from_size_window():
    # page*size is capped at MAX_WINDOW; a cursor is not.
    body = build_search_body(SearchRequest(size=100, collapse_stories=False, search_after=(1, "d")))
    assert body["size"] == 100


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (SearchRequest(cursor=True), "needs collapse=false"),
        (SearchRequest(search_after=(1, "d")), "needs collapse=false"),
        (
            SearchRequest(collapse_stories=False, search_after=(1, "d"), page=2),
            "cannot be combined",
        ),
        (SearchRequest(facet_sizes={"colour": 20}), "unknown facet(s) ['colour']"),
        (SearchRequest(facet_sizes={"person": 0}), "between 1 and 200"),
        (SearchRequest(facet_sizes={"person": 201}), "between 1 and 200"),
    ],
)
def test_invalid_cursor_and_facet_size_requests(request_, message):
    with pytest.raises(InvalidSearch) as caught:
        validate(request_)
    assert message in str(caught.value)


def test_an_expanded_facet_counts_more_values_and_the_others_keep_the_default():
    aggs = build_search_body(SearchRequest(facet_sizes={"person": 100}))["aggs"]
    assert aggs["person"]["terms"]["size"] == 100
    assert aggs["place"]["terms"]["size"] == 15


def test_the_search_asks_for_the_newest_indexing_time_as_a_watermark():
    aggs = build_search_body(SearchRequest(query="ECB"))["aggs"]
    assert aggs["latest_indexed"] == {"max": {"field": "indexed_at"}}


def test_sort_values_summary_cursor_and_watermark_are_read_back():
    response = {
        "hits": {
            "total": {"value": 2},
            "hits": [
                {"_id": "a", "_source": {"summary": "Short"}, "sort": [5.0, 1741737600000, "a"]},
                {"_id": "b", "_source": {}, "sort": [4.0, 1741737600000, "b"]},
            ],
        },
        "aggregations": {
            "latest_indexed": {"value": 1.7e12, "value_as_string": "2025-03-12T13:20:00.000Z"}
        },
    }
    result = parse_search_response(response)
    assert result.hits[0].summary == "Short"
    assert result.hits[1].summary == ""
    assert result.next_after == (4.0, 1741737600000, "b")
    assert result.latest_indexed_at == "2025-03-12T13:20:00.000Z"


def test_no_cursor_without_sort_values_or_hits():
    assert parse_search_response(RESPONSE).next_after is None
    assert parse_search_response({"hits": {"total": {"value": 0}, "hits": []}}).next_after is None


@pytest.mark.parametrize("values", [(7.25, 1741737600000, "d1"), ("Курск ☃", 0), (-1,)])
def test_cursor_tokens_round_trip_and_are_url_safe(values):
    token = encode_cursor(values)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert decode_cursor(token) == values


@pytest.mark.parametrize(
    "token",
    ["!!!", "e30", encode_cursor([]), "WzEsMiwzLDQsNV0", "W3RydWVd", "WyJ4Iix7fV0", "bnVsbA"],
)
def test_damaged_cursor_tokens_are_refused(token):
    # e30 is {}, then five values, [true], ["x", {}], null
    with pytest.raises(InvalidSearch, match="cursor is damaged"):
        decode_cursor(token)


def test_new_since_counts_stories_after_the_watermark_without_facets_or_hits():
    request = SearchRequest(query="Kursk", filters={"language": ("ru",)}, page=3)
    body = new_since_body(request, "2025-03-12T13:20:00.000Z")
    assert body["size"] == 0
    assert "highlight" not in body
    assert set(body["aggs"]) == {"stories", "latest_indexed"}
    filters = body["query"]["bool"]["filter"]
    assert {"terms": {"language": ["ru"]}} in filters
    assert {"range": {"indexed_at": {"gt": "2025-03-12T13:20:00.000Z"}}} in filters
    assert body["query"]["bool"]["must"] == build_search_body(request)["query"]["bool"]["must"]


def test_new_since_refuses_a_watermark_that_is_not_a_time():
    with pytest.raises(InvalidSearch, match="since must be a date"):
        new_since_body(SearchRequest(), "yesterday")


def test_parse_new_since():
    response = {
        "hits": {"total": {"value": 3}, "hits": []},
        "aggregations": {
            "stories": {"value": 2},
            "latest_indexed": {"value": 1.0, "value_as_string": "2025-03-12T14:00:00.000Z"},
        },
    }
    assert parse_new_since(response) == NewSince(
        stories=2, articles=3, latest_indexed_at="2025-03-12T14:00:00.000Z"
    )
    nothing = {"hits": {"total": {"value": 0}, "hits": []}, "aggregations": {}}
    assert parse_new_since(nothing) == NewSince(stories=0, articles=0, latest_indexed_at=None)


# -- agency facets, corrections and visibility (issue 13) --------------------------------------
def test_hidden_articles_are_excluded_by_default_everywhere():
    request = SearchRequest(query="Cosenza", filters={"language": ("it",)})
    hidden = {"terms": {"visibility": ["embargoed", "withdrawn"]}}
    assert build_search_body(request)["query"]["bool"]["must_not"] == [hidden]
    assert new_since_body(request, "2025-12-03T00:00:00Z")["query"]["bool"]["must_not"] == [hidden]
    shown = build_search_body(SearchRequest(query="Cosenza", include_hidden=True))
    assert "must_not" not in shown["query"]["bool"]


def test_story_summaries_can_leave_hidden_members_out():
    from pipeline.search import story_summary_body

    body = story_summary_body(["s1"], public_only=True)
    assert body["query"] == {
        "bool": {
            "filter": [{"terms": {"story_id": ["s1"]}}],
            "must_not": [{"terms": {"visibility": ["embargoed", "withdrawn"]}}],
        }
    }


def test_corrections_only_filters_on_corrected():
    body = build_search_body(SearchRequest(corrections_only=True))
    assert body["query"]["bool"]["filter"] == [{"term": {"corrected": True}}]
    assert {"term": {"corrected": True}} not in build_search_body(SearchRequest())["query"]["bool"][
        "filter"
    ]


def test_urgency_and_subject_facets_filter_by_id():
    body = build_search_body(
        SearchRequest(filters={"urgency": ("1", "2"), "subject": ("medtop:20000151",)})
    )
    assert body["query"]["bool"]["filter"] == [
        {"terms": {"urgency": ["1", "2"]}},
        {"terms": {"subjects": ["medtop:20000151"]}},
    ]
    assert body["aggs"]["urgency"]["terms"]["field"] == "urgency"
    assert body["aggs"]["subject"]["terms"]["field"] == "subjects"
    assert body["aggs"]["subject"]["aggs"]["label"]["top_hits"]["size"] == 1


def test_subject_buckets_carry_the_label_of_their_id():
    def bucket(key, count, ids, labels):
        source = {"subjects": ids, "subject_labels": labels}
        return {"key": key, "doc_count": count, "label": {"hits": {"hits": [{"_source": source}]}}}

    response = {
        "hits": {"total": {"value": 3}, "hits": []},
        "aggregations": {
            "subject": {
                "buckets": [
                    bucket(
                        "medtop:20000151",
                        2,
                        ["medtop:03000000", "medtop:20000151"],
                        ["disaster", "earthquake"],
                    ),
                    bucket("subj:03015000", 1, ["subj:03015000"], []),
                ]
            },
            "urgency": {"buckets": [{"key": "3", "doc_count": 3}]},
        },
    }
    result = parse_search_response(response)
    assert result.facets["subject"] == [("medtop:20000151", 2), ("subj:03015000", 1)]
    assert result.facets["urgency"] == [("3", 3)]
    # A document without a label for its id shows the id itself.
    assert result.facet_labels == {
        "subject": {"medtop:20000151": "earthquake", "subj:03015000": "subj:03015000"}
    }
