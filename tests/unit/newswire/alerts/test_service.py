"""Pure parts of the rules service: the backfill search and keeping hidden webhook secrets."""

from __future__ import annotations

from newswire.alerts.service import _keep_secrets, backfill_body
from pipeline.rules import REDACTED, validate_rule

SECRET = "s" * 20


def test_backfill_adds_the_rules_own_conditions_to_the_search_page_query() -> None:
    rule = validate_rule(
        {
            "name": "Both",
            "actors": ["valery-gerasimov", "vladimir-putin"],
            "actors_mode": "all",
            "query": 'Kursk -"chicken kiev"',
            "filters": {"place": ["Kursk"]},
            "languages": ["en", "ru"],
            "sources": ["Reuters"],
            "exclude_actors": ["nato"],
            "exclude_terms": ["submarine"],
        }
    )
    body = backfill_body(rule, since="2026-03-01T00:00:00+00:00", size=50)
    query = body["query"]["bool"]
    assert query["must"][0]["simple_query_string"]["query"] == rule.query
    assert {"range": {"indexed_at": {"gte": "2026-03-01T00:00:00+00:00"}}} in query["filter"]
    assert {"term": {"actors": "valery-gerasimov"}} in query["filter"]
    assert {"term": {"actors": "vladimir-putin"}} in query["filter"]
    # Entity filters take a registry id or the name as written (pipeline/search.py).
    place = {"terms": {"places": ["Kursk"]}}
    assert any(place in f.get("bool", {}).get("should", []) for f in query["filter"])
    assert {"terms": {"language": ["en", "ru"]}} in query["filter"]
    assert {"terms": {"source": ["Reuters"]}} in query["filter"]
    assert {"terms": {"actors": ["nato"]}} in query["must_not"]
    phrases = [c["multi_match"]["query"] for c in query["must_not"] if "multi_match" in c]
    assert phrases == ["submarine"]
    assert body["size"] == 50


def test_backfill_of_any_actor_is_one_terms_filter_and_no_exclusions() -> None:
    rule = validate_rule({"name": "Any", "actors": ["a-one", "a-two"]})
    query = backfill_body(rule, since="2026-03-01", size=10)["query"]["bool"]
    assert {"terms": {"actors": ["a-one", "a-two"]}} in query["filter"]
    assert not any("actors" in str(c) or "multi_match" in c for c in query.get("must_not", []))


def test_a_hidden_secret_keeps_the_stored_one_for_the_same_url() -> None:
    current = validate_rule(
        {
            "name": "Hook",
            "query": "x",
            "channels": [{"type": "webhook", "url": "https://h.example/a", "secret": SECRET}],
        }
    )
    edited = _keep_secrets(
        [
            {"type": "webhook", "url": "https://h.example/a", "secret": REDACTED},
            {"type": "webhook", "url": "https://h.example/b", "secret": REDACTED},
            {"type": "email", "to": ["a@b.example"]},
        ],
        current,
    )
    assert edited[0]["secret"] == SECRET
    # Another URL gets no secret it was never given: validation then refuses the hidden marker.
    assert edited[1]["secret"] == REDACTED
    assert edited[2] == {"type": "email", "to": ["a@b.example"]}
