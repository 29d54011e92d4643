"""Hand-labelled evaluation of tracked-actor matching, the ids alerts fire on (issue 10, item 2).

Data (written for this project: invented but plausible wire sentences in en, ru, uk, de, fr, es):

* tests/data/alerts_eval.jsonl: the development set, written before and used while fixing the
  rules; every error class of the issue (names inside longer names, homonyms, short keys,
  inflection, elision, romanisations, exonyms) plus ordinary mentions and texts naming no actor.
* tests/data/alerts_eval_holdout.jsonl: written after the rules were fixed and never used to
  change them; its figures are the honest estimate for unseen text.

Each line is {"id", "lang", "text", "actors"}: the ids of config/actors.yaml that a newsroom
tracking those actors would want alerted. The text goes through the real path:
`extract_entities([(lang, text)], gazetteer=build_gazetteer(parse_actors(actors.yaml)))`.
A pair (item, actor) is a true positive when predicted and labelled, and so on; precision and
recall are micro-averaged overall, per language and per actor.

`pytest tests/unit/pipeline/test_alert_matching_eval.py -s` prints the report.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from pipeline.alerts import parse_actors
from pipeline.entities import extract_entities
from pipeline.gazetteer import Gazetteer, build_gazetteer

REPO = Path(__file__).resolve().parents[3]
DEVELOPMENT = REPO / "tests" / "data" / "alerts_eval.jsonl"
HOLDOUT = REPO / "tests" / "data" / "alerts_eval_holdout.jsonl"
ACTORS_FILE = REPO / "config" / "actors.yaml"
LANGUAGES = ("en", "ru", "uk", "de", "fr", "es")

# Thresholds. Development set: the aim (0.97 overall, 0.90 per language), which it meets
# (measured P 0.974 R 0.980; worst language P 0.955 R 0.955). Held-out set: written after the rules
# were fixed, measured P 0.929 R 0.981 (worst: de and es P 0.889 with 8 hits, ru R 0.875 with 8);
# the floors are those figures less about one item, so a regression fails but one new hard item
# in a 10-12 item language does not.
MIN_OVERALL = {"development": (0.97, 0.97), "holdout": (0.90, 0.95)}  # (precision, recall)
MIN_PER_LANGUAGE = {"development": (0.90, 0.90), "holdout": (0.85, 0.85)}


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def __str__(self) -> str:
        return (
            f"P {self.precision:.3f} R {self.recall:.3f} (tp {self.tp} fp {self.fp} fn {self.fn})"
        )


@dataclass
class Evaluation:
    overall: Score = field(default_factory=Score)
    by_language: dict[str, Score] = field(default_factory=lambda: defaultdict(Score))
    by_actor: dict[str, Score] = field(default_factory=lambda: defaultdict(Score))
    # (id, missed, spurious, text)
    errors: list[tuple[str, list[str], list[str], str]] = field(default_factory=list)


def load_items(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@cache
def tracked_actors() -> Gazetteer:
    return build_gazetteer(parse_actors(ACTORS_FILE.read_text(encoding="utf-8")))


def evaluate(items: list[dict[str, Any]]) -> Evaluation:
    """Run the real matching path over `items` and count (item, actor) pairs."""
    predicted = extract_entities(
        [(item["lang"], item["text"]) for item in items], gazetteer=tracked_actors()
    )
    result = Evaluation()
    for item, entities in zip(items, predicted, strict=True):
        gold, found = set(item["actors"]), set(entities.actors)
        for scores in (result.overall, result.by_language[item["lang"]]):
            scores.tp += len(gold & found)
            scores.fp += len(found - gold)
            scores.fn += len(gold - found)
        for actor_id in gold | found:
            score = result.by_actor[actor_id]
            score.tp += actor_id in gold and actor_id in found
            score.fp += actor_id in found and actor_id not in gold
            score.fn += actor_id in gold and actor_id not in found
        if gold != found:
            result.errors.append(
                (item["id"], sorted(gold - found), sorted(found - gold), item["text"])
            )
    return result


def format_report(name: str, result: Evaluation) -> str:
    lines = [f"{name.upper()}  overall {result.overall}"]
    lines += [f"  {lang:<3} {result.by_language[lang]}" for lang in LANGUAGES]
    lines += [f"  {actor:<22} {score}" for actor, score in sorted(result.by_actor.items())]
    lines += [
        f"    x {item_id:<7} missed {missed} spurious {spurious}  {text[:70]!r}"
        for item_id, missed, spurious, text in result.errors
    ]
    return "\n".join(lines)


SETS = {"development": DEVELOPMENT, "holdout": HOLDOUT}


@pytest.fixture(scope="module", params=sorted(SETS))
def evaluated(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]], Evaluation]:
    items = load_items(SETS[request.param])
    return request.param, items, evaluate(items)


def test_set_is_well_formed(evaluated):
    name, items, _ = evaluated
    actor_ids = set(tracked_actors().actors)
    assert len({item["id"] for item in items}) == len(items)
    for item in items:
        assert set(item) == {"id", "lang", "text", "actors"}, item["id"]
        assert item["lang"] in LANGUAGES, item["id"]
        assert set(item["actors"]) <= actor_ids, item["id"]
    per_language = {lang: sum(i["lang"] == lang for i in items) for lang in LANGUAGES}
    no_actor = sum(not item["actors"] for item in items)
    if name == "development":
        assert len(items) >= 180
        assert min(per_language.values()) >= 25, per_language
        assert no_actor >= 30
    else:
        assert len(items) >= 60
        assert min(per_language.values()) >= 10, per_language
        assert no_actor >= 12


def test_report(evaluated):
    name, _, result = evaluated
    print()
    print(format_report(name, result))


def test_overall_precision_and_recall(evaluated):
    name, _, result = evaluated
    precision, recall = MIN_OVERALL[name]
    assert result.overall.precision >= precision, format_report(name, result)
    assert result.overall.recall >= recall, format_report(name, result)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_precision_and_recall_per_language(evaluated, lang):
    name, _, result = evaluated
    precision, recall = MIN_PER_LANGUAGE[name]
    score = result.by_language[lang]
    assert score.precision >= precision, (lang, str(score))
    assert score.recall >= recall, (lang, str(score))
