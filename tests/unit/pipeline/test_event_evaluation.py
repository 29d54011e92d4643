"""The event stage on the labelled sets in tests/data/events/: pairwise and B-cubed precision,
recall and F1, same-language and cross-language, on the development part (the thresholds were
tuned on it) and on the held-out part (written after the tuning).

Floors are the measured figures less a margin (notes: "Evaluation"): on dev about 0.05, which is
three or four missed pairs; on the held-out part, whose same-language pairs are few (4), the
floor allows the one miss measured and no second one. Precision has the issue's floor, 0.9, on
both, and no hard negative (same topic, another event) may join.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

import pipeline.events
from pipeline.events import EventConfig
from tests.unit.pipeline.event_eval import evaluate, load, report

FLOORS = {
    # part: {measure: (precision, F1)}
    "dev": {
        "pairwise same-language": (0.95, 0.93),
        "pairwise cross-language": (0.95, 0.94),
        "B-cubed all": (0.95, 0.94),
    },
    "heldout": {
        "pairwise same-language": (0.9, 0.8),
        "pairwise cross-language": (0.9, 0.83),
        "B-cubed all": (0.9, 0.85),
    },
}


@pytest.fixture(scope="module", params=sorted(FLOORS))
def scored(request):
    result = evaluate(request.param)
    print("\n" + "\n".join(report(result, request.param)))  # pytest -s shows the table
    return request.param, result


def test_the_sets_are_realistic_enough():
    for part, events, articles in (("dev", 15, 60), ("heldout", 5, 20)):
        arts = load(part)
        assert len({a.event for a in arts}) >= events
        assert len(arts) >= articles
        assert {"en", "ru", "de", "fr", "es"} <= {a.language for a in arts}
        topics: dict[str, set[str]] = {}
        for a in arts:
            topics.setdefault(a.topic, set()).add(a.event)
        assert any(len(e) > 1 for e in topics.values()), "no hard negatives"
        assert all(3 <= sum(1 for a in arts if a.event == e) <= 10 for e in {a.event for a in arts})


def test_precision_and_f1_floors(scored):
    part, result = scored
    for measure, (precision, f1) in FLOORS[part].items():
        kind, name = measure.split(" ", 1)
        scores = (result.pairwise if kind == "pairwise" else result.bcubed)[name]
        assert scores.precision >= precision, (measure, scores, result.false_joins)
        assert scores.f1 >= f1, (measure, scores, result.missed)


def test_hard_negatives_stay_apart(scored):
    _, result = scored
    assert result.hard_negative_joins == 0, result.false_joins


def test_the_seed_event_is_one_and_its_same_actors_story_apart():
    result = evaluate("dev")
    seed = {"reuters", "inosmi-ru", "cp", "aem", "rnd"}
    missed = [pair for pair in result.missed if set(pair) <= seed]
    assert not missed
    assert not [p for p in result.false_joins if {"cp-presser", "reuters"} & set(p)]


def test_the_thresholds_matter(monkeypatch):
    # Looser cross-language joins merge the two Kharkiv strikes; no date check joins hard
    # negatives; a far stricter threshold loses recall: the set can see a bad setting.
    loose = evaluate("dev", replace(EventConfig(), cross_language_threshold=0.25))
    assert loose.pairwise["all"].precision < 0.95
    strict = evaluate(
        "dev", replace(EventConfig(), same_language_threshold=0.7, cross_language_threshold=0.7)
    )
    assert strict.pairwise["all"].recall < 0.8
    monkeypatch.setattr(pipeline.events, "DATE_CONFLICT_PENALTY", 0.0)
    undated = evaluate("dev", replace(EventConfig(), cross_language_threshold=0.35))
    assert undated.hard_negative_joins > 0
