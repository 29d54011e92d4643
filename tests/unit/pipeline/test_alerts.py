"""Actors file validation, actor queries and reading named-query matches."""

from __future__ import annotations

import pytest

from pipeline.alerts import (
    MATCH_FIELDS,
    Actor,
    ActorConfigError,
    actor_query,
    batch_match_query,
    matches_from_response,
    parse_actors,
)

ACTORS_YAML = """
actors:
  - id: vladimir-putin
    name: Vladimir Putin
    type: person
    aliases: [Putin, " Путин ", "", putin, Владимир Путин]
  - id: nato
    name: NATO
    type: organisation
  - id: kursk_1
    name: "  Kursk "
    type: place
    aliases: ~
"""


def test_parse_actors_reads_entries():
    putin, nato, kursk = parse_actors(ACTORS_YAML)
    assert putin == Actor(
        id="vladimir-putin",
        name="Vladimir Putin",
        type="person",
        aliases=("Putin", "Путин", "putin", "Владимир Путин"),
    )
    assert nato == Actor(id="nato", name="NATO", type="organisation")
    assert (kursk.id, kursk.name, kursk.aliases) == ("kursk_1", "Kursk", ())


def test_names_deduplicate_case_insensitively_keeping_first_spelling():
    putin = parse_actors(ACTORS_YAML)[0]
    assert putin.names == ("Vladimir Putin", "Putin", "Путин", "Владимир Путин")


def test_names_deduplicate_across_unicode_normal_forms():
    actor = Actor(id="x", name="Zürich", type="place", aliases=("Zu\u0308rich", "ZÜRICH"))
    assert actor.names == ("Zürich",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "top-level 'actors:' list"),
        ("actors: {}", "top-level 'actors:' list"),
        ("- id: x", "top-level 'actors:' list"),
        ("actors:\n  - just a string", "entry 1: expected a mapping"),
        ("actors:\n  - {id: Bad-ID, name: X, type: person}", "entry 1: id 'Bad-ID' must match"),
        ("actors:\n  - {id: -x, name: X, type: person}", "entry 1: id '-x' must match"),
        ("actors:\n  - {name: X, type: person}", "entry 1: id '' must match"),
        (
            "actors:\n  - {id: a, name: A, type: person}\n  - {id: a, name: B, type: person}",
            "entry 2: duplicate id 'a'",
        ),
        (
            "actors:\n  - {id: a, name: A, type: company}",
            r"a: type must be one of \['organisation'",
        ),
        ("actors:\n  - {id: a, name: A}", "a: type must be one of"),
        ("actors:\n  - {id: a, type: person}", "a: name is required"),
        ("actors:\n  - {id: a, name: '  ', type: person}", "a: name is required"),
        (
            "actors:\n  - {id: a, name: A, type: person, aliases: Putin}",
            "a: aliases must be a list",
        ),
    ],
)
def test_parse_actors_rejects(text, message):
    with pytest.raises(ActorConfigError, match=message):
        parse_actors(text)


def test_parse_actors_rejects_empty_name_value():
    with pytest.raises(ActorConfigError, match="name is required"):
        parse_actors("actors:\n  - id: a\n    type: person\n    name:\n")


def test_shipped_actors_file_parses(repo_root):
    actors = parse_actors((repo_root / "config/actors.yaml").read_text("utf-8"))
    assert actors
    assert len({a.id for a in actors}) == len(actors)


def test_actor_query_matches_the_actor_id_or_one_phrase_per_name():
    actor = Actor(id="nato", name="NATO", type="organisation", aliases=("НАТО", "nato"))
    assert actor_query(actor) == {
        "bool": {
            "should": [
                {"term": {"actors": "nato"}},
                {"multi_match": {"query": "NATO", "type": "phrase", "fields": list(MATCH_FIELDS)}},
                {"multi_match": {"query": "НАТО", "type": "phrase", "fields": list(MATCH_FIELDS)}},
            ],
            "minimum_should_match": 1,
        }
    }
    assert list(MATCH_FIELDS) == ["title", "body"]


def test_batch_match_query_filters_ids_and_names_each_actor():
    queries = {a.id: actor_query(a) for a in parse_actors(ACTORS_YAML)}
    body = batch_match_query(queries, ["d1", "d2", "d3"])
    boolean = body["query"]["bool"]
    assert boolean["filter"] == [{"ids": {"values": ["d1", "d2", "d3"]}}]
    assert [clause["bool"]["_name"] for clause in boolean["should"]] == [
        "vladimir-putin",
        "nato",
        "kursk_1",
    ]
    assert boolean["should"][1]["bool"]["must"] == [queries["nato"]]
    assert boolean["minimum_should_match"] == 1
    assert body["size"] == 3
    assert "doc_id" in body["_source"]


def test_matches_from_response_pairs_every_named_match():
    hits = [
        {
            "_id": "d1",
            "_source": {"title": "Putin visits Kursk"},
            "matched_queries": ["vladimir-putin", "kursk_1"],
        },
        {"_id": "d2", "_source": {"title": "Copper climbs"}},
        {"_id": "d3", "matched_queries": ["nato"]},
    ]
    assert matches_from_response(hits) == [
        ("kursk_1", {"doc_id": "d1", "title": "Putin visits Kursk"}),
        ("vladimir-putin", {"doc_id": "d1", "title": "Putin visits Kursk"}),
        ("nato", {"doc_id": "d3"}),
    ]


def test_matches_from_empty_response():
    assert matches_from_response([]) == []
