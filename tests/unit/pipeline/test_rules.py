"""Alert rules: validation, the query parser, the matcher and one alert per (rule, story)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from pipeline.rules import (
    REDACTED,
    AlertRule,
    AlertState,
    AllOf,
    AnyOf,
    EmailChannel,
    Not,
    Phrase,
    RuleError,
    RuleMatch,
    RuleMatcher,
    Term,
    WebhookChannel,
    _RuleCheck,
    alert_id,
    decide,
    delivery_id,
    fold,
    parse_query,
    redacted,
    stem,
    validate_rule,
)

SECRET = "correct-horse-battery-staple"
NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def rule(**fields: Any) -> AlertRule:
    return validate_rule({"name": "Test rule", **fields})


def document(doc_id: str = "d1", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "doc_id": doc_id,
        "story_id": fields.pop("story_id", doc_id),
        "title": "",
        "summary": "",
        "body": "",
        "language": "en",
        "source": "Reuters",
        "persons": [],
        "organisations": [],
        "places": [],
        "categories": [],
        "actors": [],
        "actor_names": [],
        "published_at": "2026-03-01T07:00:00+00:00",
        "version": 1,
    }
    base.update(fields)
    return base


def matched(rules: list[AlertRule], *documents: dict[str, Any]) -> set[tuple[str, str]]:
    return {(m.rule_id, m.doc_id) for m in RuleMatcher.build(rules).match(documents)}


# -- validation --------------------------------------------------------------------------------
FULL_RULE = {
    "id": "gerasimov-desk",
    "name": "Gerasimov for the Kyiv desk",
    "owner": "desk@example.org",
    "actors": ["valery-gerasimov", "sergei-shoigu"],
    "actors_mode": "all",
    "query": '"general staff" -exercise',
    "filters": {"place": ["Kursk"]},
    "languages": ["en", "ru"],
    "sources": ["Reuters", "TASS"],
    "exclude_actors": ["vladimir-putin"],
    "exclude_terms": ["opinion"],
    "channels": [
        {"type": "webhook", "url": "https://hooks.example.org/a", "secret": SECRET},
        {
            "type": "webhook",
            "url": "https://hooks.slack.test/x",
            "secret": SECRET,
            "format": "slack",
        },
        {"type": "email", "to": ["desk@example.org", "night@example.org"]},
    ],
    "frequency": "daily",
    "timezone": "Europe/Kyiv",
    "quiet": {"snoozed_until": "2026-03-02T06:00:00Z", "start": "22:00", "end": "07:00"},
    "notify_updates": True,
    "enabled": False,
    "created_at": "2026-03-01T08:00:00+00:00",
    "updated_at": "2026-03-01T09:00:00+00:00",
}


def test_a_full_rule_survives_json_both_ways() -> None:
    parsed = validate_rule(FULL_RULE)
    assert parsed.actors == ("valery-gerasimov", "sergei-shoigu")
    assert parsed.channels[1] == WebhookChannel("https://hooks.slack.test/x", SECRET, "slack")
    assert parsed.channels[2] == EmailChannel(("desk@example.org", "night@example.org"))
    stored = json.loads(json.dumps(parsed.to_dict()))
    assert AlertRule.from_dict(stored) == parsed
    assert validate_rule(stored) == parsed


def test_defaults_and_an_id_from_the_name() -> None:
    parsed = validate_rule({"name": "Герасимов: Генштаб", "actors": ["valery-gerasimov"]})
    assert parsed.id == "gerasimov-genshtab"
    assert (parsed.frequency, parsed.actors_mode, parsed.timezone) == ("instant", "any", "UTC")
    assert parsed.enabled
    assert not parsed.notify_updates


def test_listings_hide_webhook_secrets() -> None:
    shown = redacted(validate_rule(FULL_RULE))
    assert SECRET not in json.dumps(shown)
    assert [c.get("secret") for c in shown["channels"]] == [REDACTED, REDACTED, None]
    assert shown["channels"][2]["to"] == ["desk@example.org", "night@example.org"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"actor_mode": "any"}, "unknown field"),
        ({"name": " "}, "name is required"),
        ({"id": "Not A Slug"}, "lowercase letters"),
        ({"actors_mode": "most"}, "actors_mode must be one of"),
        ({"actors": "a, b", "query": 3}, "query must be a string"),
        ({"filters": {"colour": ["red"]}}, "unknown filter"),
        ({"frequency": "weekly"}, "frequency must be one of"),
        ({"timezone": "Mars/Olympus"}, "IANA zone"),
        ({"channels": [{"type": "pager"}]}, "channels[0].type"),
        ({"channels": [{"type": "webhook", "url": "ftp://x", "secret": SECRET}]}, "http(s) URL"),
        ({"channels": [{"type": "webhook", "url": "https://x.org", "secret": "short"}]}, "secret"),
        ({"channels": [{"type": "email", "to": ["not an address"]}]}, "not an e-mail address"),
        ({"channels": [{"type": "email", "to": []}]}, "at least one address"),
        ({"quiet": {"start": "22:00"}}, "both start and end"),
        ({"quiet": {"start": "25:00", "end": "07:00"}}, "24-hour time"),
        ({"quiet": {"snoozed_until": "2026-03-01T08:00:00"}}, "time zone offset"),
        ({"query": "putin~2"}, "fuzzy and proximity"),
        ({"query": '"general staff"~3'}, "fuzzy and proximity"),
        ({"exclude_actors": ["valery-gerasimov"]}, "both required and excluded"),
        ({"enabled": "yes"}, "enabled must be true or false"),
    ],
)
def test_invalid_rules_say_what_is_wrong(change: dict[str, Any], message: str) -> None:
    data = {"name": "Rule", "actors": ["valery-gerasimov"], **change}
    with pytest.raises(
        RuleError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
    ):
        validate_rule(data)


@pytest.mark.parametrize(
    "data",
    [
        {"name": "Nothing"},
        {"name": "Only a language", "languages": ["ru"]},
        {"name": "Only a language filter", "filters": {"language": ["ru"]}},
        {"name": "Only exclusions", "query": "-sport -weather"},
        {"name": "Only punctuation", "query": "+++ ||| ()"},
    ],
)
def test_a_rule_must_match_something(data: dict[str, Any]) -> None:
    with pytest.raises(RuleError, match="must match something"):
        validate_rule(data)


@pytest.mark.parametrize(
    "data",
    [
        {"name": "Actors", "actors": ["valery-gerasimov"]},
        {"name": "Query", "query": "ceasefire -sport"},
        {"name": "Filter", "filters": {"person": ["Valery Gerasimov"]}},
        {"name": "Source", "sources": ["TASS"]},
    ],
)
def test_any_one_criterion_is_enough(data: dict[str, Any]) -> None:
    assert validate_rule(data).name == data["name"]


# -- the query language ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "tree"),
    [
        ("ceasefire", Term("ceasefire")),
        ("a b", AllOf((Term("a"), Term("b")))),
        ("a + b", AllOf((Term("a"), Term("b")))),
        ("a | b", AnyOf((Term("a"), Term("b")))),
        # Left to right, as Lucene's SimpleQueryParser: a change of operator closes the group.
        ("a b | c", AnyOf((AllOf((Term("a"), Term("b"))), Term("c")))),
        ("a | b c", AllOf((AnyOf((Term("a"), Term("b"))), Term("c")))),
        ("a (b | c)", AllOf((Term("a"), AnyOf((Term("b"), Term("c")))))),
        ('"general staff" -exercise', AllOf((Phrase("general staff"), Not(Term("exercise"))))),
        ("--a", Term("a")),
        ("negot*", Term("negot", prefix=True)),
        ("e-mail", Term("e-mail")),
        (r"a\|b", Term("a|b")),
        # Never fails: unbalanced brackets and quotes are read as far as they go.
        ("(a | b", AnyOf((Term("a"), Term("b")))),
        ("a) b", AllOf((Term("a"), Term("b")))),
        ('"open phrase', Phrase("open phrase")),
        ("!!! a", Term("a")),
        ("", None),
        ("( ) + |", None),
    ],
)
def test_parse_query_follows_simple_query_string(query: str, tree: object) -> None:
    assert parse_query(query) == tree


def test_folding_and_stemming_as_the_index_does() -> None:
    assert fold("Zürich") == "zurich"
    assert fold("Straße") == "strasse"
    # ASCII folding leaves other scripts alone: "Курск" is not transliterated.
    assert fold("Курск") == "курск"
    assert stem("negotiations", "en") == stem("negotiation", "en")
    assert stem("переговоров", "ru") == stem("переговоры", "ru")
    assert stem("l'OTAN", "fr") == stem("OTAN", "fr")
    assert stem("Putin's", "en") == stem("Putin", "en")


# -- matching ----------------------------------------------------------------------------------
def test_query_words_match_inflected_forms_in_the_document_language() -> None:
    rules = [
        rule(id="talks", query="negotiation ceasefire"),
        rule(id="peregovory", query="переговоры"),
        rule(id="otan", query="OTAN"),
    ]
    docs = [
        document("en", title="Negotiations on a ceasefire resume"),
        document("ru", language="ru", title="Переговоров не будет", body="Сказал министр."),
        document("fr", language="fr", body="Le sommet de l'OTAN s'ouvre à Vilnius."),
        document("de", language="de", title="Verhandlungen über eine Waffenruhe"),
    ]
    assert matched(rules, *docs) == {("talks", "en"), ("peregovory", "ru"), ("otan", "fr")}


def test_neutral_fields_fold_accents_and_keep_scripts_apart() -> None:
    rules = [rule(id="zurich", query="Zurich"), rule(id="kursk", query="Kursk")]
    docs = [
        document("de", language="de", body="Gespräche in Zürich."),
        document("ru", language="ru", body="Бои в Курской области."),
        # The gazetteer's actor_names carry every spelling of a tracked actor it found.
        document("ru2", language="ru", body="Бои под Курском.", actor_names=["Kursk", "Курск"]),
    ]
    assert matched(rules, *docs) == {("zurich", "de"), ("kursk", "ru2")}


def test_phrases_need_adjacent_words_within_one_value() -> None:
    rules = [rule(id="staff", query='"general staff"')]
    docs = [
        document("yes", body="The General Staff said on Monday."),
        document("apart", body="The general said the staff would stay."),
        document("stemmed", body="Generals staff the post."),
        document("names", actor_names=["Valery General", "Staff Sergeant"]),
    ]
    assert matched(rules, *docs) == {("staff", "yes"), ("staff", "stemmed")}


def test_operators_combine_left_to_right_on_documents() -> None:
    rules = [rule(id="q", query="kursk sudzha | kharkiv")]
    docs = [
        document("both", body="Kursk and Sudzha."),
        document("kharkiv", body="Kharkiv only."),
        document("kursk", body="Kursk only."),
    ]
    assert matched(rules, *docs) == {("q", "both"), ("q", "kharkiv")}


def test_prefix_terms() -> None:
    rules = [rule(id="p", query="sanction*"), rule(id="short", query="sa* kremlin")]
    docs = [
        document("a", body="New sanctions announced."),
        document("b", body="The Kremlin said Saturday."),
        document("c", body="Nothing relevant."),
    ]
    assert matched(rules, *docs) == {("p", "a"), ("short", "b")}


def test_actors_any_all_and_exclusions() -> None:
    rules = [
        rule(id="any", actors=["valery-gerasimov", "sergei-shoigu"]),
        rule(id="all", actors=["valery-gerasimov", "sergei-shoigu"], actors_mode="all"),
        rule(id="no-putin", actors=["valery-gerasimov"], exclude_actors=["vladimir-putin"]),
        rule(id="no-opinion", actors=["valery-gerasimov"], exclude_terms=["opinion column"]),
    ]
    docs = [
        document("g", actors=["valery-gerasimov"]),
        document("gs", actors=["valery-gerasimov", "sergei-shoigu"]),
        document("gp", actors=["valery-gerasimov", "vladimir-putin"]),
        document("go", actors=["valery-gerasimov"], title="Opinion column: the general"),
    ]
    assert matched(rules, *docs) == {
        ("any", "g"),
        ("any", "gs"),
        ("any", "gp"),
        ("any", "go"),
        ("all", "gs"),
        ("no-putin", "g"),
        ("no-putin", "gs"),
        ("no-putin", "go"),
        ("no-opinion", "g"),
        ("no-opinion", "gs"),
        ("no-opinion", "gp"),
    }


def test_filters_languages_sources_and_disabled_rules() -> None:
    rules = [
        rule(id="place", filters={"place": ["Kursk"], "language": ["ru"]}),
        rule(id="tass", sources=["TASS"], query="kursk"),
        rule(id="en-only", query="kursk", languages=["en"]),
        rule(id="off", query="kursk", enabled=False),
    ]
    docs = [
        document("ru", language="ru", source="TASS", places=["Kursk"], body="Kursk"),
        document("en", places=["Kursk"], body="Kursk"),
    ]
    assert matched(rules, *docs) == {("place", "ru"), ("tass", "ru"), ("en-only", "en")}


def test_agency_urgency_and_subjects_filter_as_the_index_does() -> None:
    # The document holds urgency as a number; the keyword field (and the filter) as a string.
    rules = [
        rule(id="flash", filters={"urgency": ["1", "2", "3"]}),
        rule(id="quake", filters={"subject": ["medtop:20000151"]}),
    ]
    docs = [
        document("urgent", urgency=3, subjects=["medtop:20000151"], body="Cosenza"),
        document("routine", urgency=5, subjects=[], body="Cosenza"),
        document("plain", body="Cosenza"),
    ]
    assert matched(rules, *docs) == {("flash", "urgent"), ("quake", "urgent")}


def test_a_match_carries_story_and_version() -> None:
    matcher = RuleMatcher.build([rule(id="q", query="kursk")])
    found = matcher.match([document("d", story_id="s", version=3, body="Kursk")])
    assert found == [RuleMatch("q", "d", "s", 3)]


def test_a_document_checks_only_rules_filed_under_its_words() -> None:
    rules = [rule(id=f"r{i}", query=f"word{i}") for i in range(200)]
    # A prefix shorter than three letters cannot be filed: checked for every document.
    rules.append(rule(id="short-prefix", query="wo*"))
    matcher = RuleMatcher.build(rules)
    from pipeline.rules import DocumentView

    view = DocumentView.of(document(body="word7 and word9"))
    candidates = {matcher.checks[i].rule.id for i in matcher.candidates(view)}
    assert candidates == {"r7", "r9", "short-prefix"}


def test_the_index_never_misses_what_checking_every_rule_finds() -> None:
    rng = random.Random(7)
    vocabulary = ["kursk", "sudzha", "gerasimov", "ceasefire", "talks", "general", "staff"]
    vocabulary += ["negotiations", "kremlin", "sanctions", "zürich", "курск", "переговоры"]
    actors = ["valery-gerasimov", "sergei-shoigu", "vladimir-putin"]
    rules = []
    for number in range(150):
        words = rng.sample(vocabulary, rng.randint(1, 3))
        pieces = [rng.choice(["", "-", '"']) + w for w in words]
        query = " ".join(p + '"' if p.startswith('"') else p for p in pieces)
        if rng.random() < 0.3:
            query = query.replace(" ", " | ", 1)
        if rng.random() < 0.2:
            query += " talk*"
        data: dict[str, Any] = {"id": f"r{number}", "query": query}
        if rng.random() < 0.3:
            data["actors"] = rng.sample(actors, rng.randint(1, 2))
            data["actors_mode"] = rng.choice(["any", "all"])
        if rng.random() < 0.2:
            data["languages"] = [rng.choice(["en", "ru"])]
        try:
            rules.append(rule(**data))
        except RuleError:
            continue
    docs = []
    for number in range(150):
        language = rng.choice(["en", "ru", "de", "und"])
        body = " ".join(rng.choices(vocabulary, k=rng.randint(0, 8)))
        picked = rng.sample(actors, rng.randint(0, 2))
        docs.append(document(f"d{number}", language=language, body=body, actors=picked))
    indexed = matched(rules, *docs)
    from pipeline.rules import DocumentView

    every_rule = {
        (check.rule.id, doc["doc_id"])
        for doc in docs
        for check in (_RuleCheck.of(r) for r in rules)
        if check.matches(DocumentView.of(doc))
    }
    assert indexed == every_rule
    assert len(indexed) > 50


# -- one alert per (rule, story) ---------------------------------------------------------------
def test_first_match_alerts_copies_append_and_reruns_are_ignored() -> None:
    gerasimov = rule(id="g", actors=["valery-gerasimov"])
    first = decide(RuleMatch("g", "en-1", "story"), None, rule=gerasimov, now=NOW)
    assert first.action == "alert"
    assert first.deliver
    assert first.changed
    assert first.state.alert_id == alert_id("g", "story")
    assert first.state.articles == {"en-1": 1}

    again = decide(RuleMatch("g", "en-1", "story"), first.state, rule=gerasimov, now=NOW)
    assert again.action == "ignore"
    assert not again.deliver
    assert not again.changed

    translation = decide(RuleMatch("g", "ru-1", "story"), first.state, rule=gerasimov, now=NOW)
    assert translation.action == "append"
    assert not translation.deliver
    assert translation.state.articles == {"en-1": 1, "ru-1": 1}
    assert translation.state.sequence == 1
    assert translation.state.alert_id == first.state.alert_id


def test_a_later_version_alerts_again_only_when_the_rule_asks() -> None:
    quiet = rule(id="g", actors=["valery-gerasimov"])
    loud = rule(id="g", actors=["valery-gerasimov"], notify_updates=True)
    state = decide(RuleMatch("g", "d", "s"), None, rule=quiet, now=NOW).state
    newer = RuleMatch("g", "d", "s", version=2)

    recorded = decide(newer, state, rule=quiet, now=NOW)
    assert recorded.action == "record"
    assert not recorded.deliver
    assert recorded.changed
    assert recorded.state.articles == {"d": 2}
    assert recorded.state.sequence == 1

    updated = decide(newer, state, rule=loud, now=NOW)
    assert updated.action == "update"
    assert updated.deliver
    assert updated.state.sequence == 2
    assert decide(newer, updated.state, rule=loud, now=NOW).action == "ignore"


def test_ids_are_stable_and_distinct() -> None:
    assert alert_id("g", "s") == alert_id("g", "s")
    assert len({alert_id("g", "s"), alert_id("g", "t"), alert_id("h", "s")}) == 3
    one = delivery_id(alert_id("g", "s"), "webhook:https://a", 1)
    assert one == delivery_id(alert_id("g", "s"), "webhook:https://a", 1)
    others = {
        delivery_id(alert_id("g", "s"), "webhook:https://b", 1),
        delivery_id(alert_id("g", "s"), "webhook:https://a", 2),
    }
    assert one not in others
    assert len(others) == 2


def test_alert_state_round_trips_json() -> None:
    state = decide(RuleMatch("g", "d", "s"), None, rule=rule(id="g", query="x"), now=NOW).state
    assert AlertState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
