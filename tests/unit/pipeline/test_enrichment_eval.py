"""Hand-labelled evaluation of the language and entity stages (issue 5, item 5).

Data (written for this project, invented but plausible wire copy):

* tests/data/language_eval.jsonl: {"id", "title", "body", "lang", "kind"}; kind is "headline"
  (title only), "short" (title + one sentence) or "article" (title + 3-6 sentences). Ids starting
  "hard-" are deliberately difficult (Ukrainian vs Russian, name-heavy headlines, quoted foreign
  phrases, all caps); ids starting "und-" have no determinable language (gold "und").
* tests/data/entities_eval.jsonl: {"id", "lang", "text", "persons", "organisations", "places"}
  with gold canonical names: a tracked actor's name from config/actors.yaml whatever the text's
  spelling; otherwise the full name as first written, in the text's script (nominative for
  Russian). Only clear mentions are labelled: no nationalities, dates or products.

Entity scores are micro-averaged over documents: per document the predicted canonical names of a
type are compared, as sets, with the gold ones (case-insensitive, NFKC, whitespace collapsed,
ё = е). A right name under the wrong type counts as one miss and one false positive.

`pytest tests/unit/pipeline/test_enrichment_eval.py -s` prints the report;
`enrichment_report()` returns it for other tools.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.alerts import parse_actors
from pipeline.entities import extract_entities
from pipeline.gazetteer import build_gazetteer
from pipeline.language import UNDETERMINED, detect_language

REPO = Path(__file__).resolve().parents[3]
LANGUAGE_DATA = REPO / "tests" / "data" / "language_eval.jsonl"
ENTITY_DATA = REPO / "tests" / "data" / "entities_eval.jsonl"
ACTORS_FILE = REPO / "config" / "actors.yaml"

KINDS = ("headline", "short", "article")
TYPES = ("persons", "organisations", "places")
# The production default (newswire settings: language_min_confidence).
LANG_MIN_CONFIDENCE = 0.5

# Thresholds: what the implementation measured on 2026-11-25 (commit b528890) minus a margin of
# one or two items, so a regression fails; the lead tunes them (and the README) as the stages
# improve. Language: fastText lid.176 lite; entities: spaCy sm / natasha + tracked-actor gazetteer.
# Overall language accuracy, und items included (measured 0.958 = 114/119; allows 2 more misses).
LANG_ACCURACY_MIN = 0.94
# Headlines are fastText's weak spot: few words, many names (measured 0.946 = 53/56; allows 2).
LANG_HEADLINE_ACCURACY_MIN = 0.91
# Title + one sentence gives fastText enough words (measured 1.000 = 29/29; allows 1).
LANG_SHORT_ACCURACY_MIN = 0.96
# Three or more sentences should almost never miss (measured 0.963 = 26/27, pt read as es).
LANG_ARTICLE_ACCURACY_MIN = 0.92
# Floor for each language, 10-16 items each (worst measured: pt 0.818 = 9/11; allows 1 more).
LANG_PER_LANGUAGE_ACCURACY_MIN = 0.72
# Share of the no-language items left "und" (measured 6/7, "Live: 14:05 GMT" -> en; allows 1).
UND_CORRECT_MIN = 0.70
# Entities, English and Russian pooled; about 0.03 below measured, i.e. 2-4 names per type.
# Measured 2026-12-02 (issue 14) on 34 documents: the 24 above plus 8 English wire stories with
# datelines, a headline in capitals, reporter credits, surname joins (Clarke, Major, Havel),
# homonyms (two Kims) and apposition-typed names (Deep State), and 2 Russian ones.
# Persons: measured P 0.940 R 0.949 (before issue 14 on the same set: P 0.920 R 0.929).
# Organisations: spaCy sm's misses (Energoatom, Glencore, IndiGo) and NORP for parties (SPD)
# (measured P 0.912 R 0.849; before P 0.739 R 0.791). Places: measured P 0.950 R 0.964
# (before P 0.933 R 0.899).
ENTITY_PRECISION_MIN = {"persons": 0.91, "organisations": 0.88, "places": 0.92}
ENTITY_RECALL_MIN = {"persons": 0.92, "organisations": 0.82, "places": 0.93}
# F1 per type (measured persons 0.945, organisations 0.880, places 0.957).
ENTITY_TYPE_F1_MIN = {"persons": 0.92, "organisations": 0.85, "places": 0.93}
# F1 per language, types pooled (measured en 0.908, ru 0.986; before en 0.847, ru 0.938).
ENTITY_LANGUAGE_F1_MIN = {"en": 0.88, "ru": 0.96}


# ---------------------------------------------------------------------------------------------
# Data


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_language_items(path: Path = LANGUAGE_DATA) -> list[dict[str, Any]]:
    return _read_jsonl(path)


def load_entity_docs(path: Path = ENTITY_DATA) -> list[dict[str, Any]]:
    return _read_jsonl(path)


def normalise_name(name: str) -> str:
    """The form names are compared in: case, Unicode form, spacing and ё/е do not matter."""
    folded = unicodedata.normalize("NFKC", name).casefold().replace("ё", "е")
    return " ".join(folded.split())


# ---------------------------------------------------------------------------------------------
# Scores


@dataclass
class Score:
    """True positives, false positives and false negatives, with the derived ratios."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: Score) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Ratio:
    right: int = 0
    total: int = 0

    @property
    def value(self) -> float:
        return self.right / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"{self.value:.3f} ({self.right}/{self.total})"


@dataclass
class LanguageEval:
    overall: Ratio = field(default_factory=Ratio)
    by_kind: dict[str, Ratio] = field(default_factory=lambda: defaultdict(Ratio))
    by_language: dict[str, Ratio] = field(default_factory=lambda: defaultdict(Ratio))
    hard: Ratio = field(default_factory=Ratio)
    und: Ratio = field(default_factory=Ratio)
    false_und: int = 0
    confusions: Counter[tuple[str, str]] = field(default_factory=Counter)
    # (id, gold, predicted, confidence, title)
    errors: list[tuple[str, str, str, float, str]] = field(default_factory=list)


def evaluate_language(
    items: Iterable[dict[str, Any]], *, min_confidence: float = LANG_MIN_CONFIDENCE
) -> LanguageEval:
    """Run detect_language on every item and tally accuracy by kind, language and subset."""
    result = LanguageEval()
    for item in items:
        guess = detect_language(item["title"], item["body"], min_confidence=min_confidence)
        gold, ok = item["lang"], guess.code == item["lang"]
        result.overall.total += 1
        result.overall.right += ok
        if gold == UNDETERMINED:
            result.und.total += 1
            result.und.right += ok
        else:
            for ratio in (result.by_kind[item["kind"]], result.by_language[gold]):
                ratio.total += 1
                ratio.right += ok
            result.false_und += guess.code == UNDETERMINED
        if item["id"].startswith("hard-"):
            result.hard.total += 1
            result.hard.right += ok
        if not ok:
            result.confusions[gold, guess.code] += 1
            result.errors.append((item["id"], gold, guess.code, guess.confidence, item["title"]))
    return result


@dataclass
class EntityEval:
    # (language, type) -> score; the views below pool it.
    cells: dict[tuple[str, str], Score] = field(default_factory=lambda: defaultdict(Score))
    # (doc id, type, missed, spurious) for every document and type with a difference.
    errors: list[tuple[str, str, list[str], list[str]]] = field(default_factory=list)

    def pooled(self, *, lang: str | None = None, kind: str | None = None) -> Score:
        total = Score()
        for (cell_lang, cell_type), score in self.cells.items():
            if lang in (None, cell_lang) and kind in (None, cell_type):
                total.add(score)
        return total

    @property
    def languages(self) -> list[str]:
        return sorted({lang for lang, _ in self.cells})


@cache
def tracked_actor_gazetteer() -> Any:
    return build_gazetteer(parse_actors(ACTORS_FILE.read_text(encoding="utf-8")))


def evaluate_entities(docs: Sequence[dict[str, Any]]) -> EntityEval:
    """Run extract_entities (with the tracked-actor gazetteer) and score it against the gold."""
    predicted = extract_entities(
        ((doc["lang"], doc["text"]) for doc in docs), gazetteer=tracked_actor_gazetteer()
    )
    result = EntityEval()
    for doc, entities in zip(docs, predicted, strict=True):
        for kind in TYPES:
            gold = {normalise_name(n): n for n in doc[kind]}
            pred = {normalise_name(n): n for n in getattr(entities, kind)}
            hits = gold.keys() & pred.keys()
            missed = sorted(gold[k] for k in gold.keys() - hits)
            spurious = sorted(pred[k] for k in pred.keys() - hits)
            result.cells[doc["lang"], kind].add(Score(len(hits), len(spurious), len(missed)))
            if missed or spurious:
                result.errors.append((doc["id"], kind, missed, spurious))
    return result


# ---------------------------------------------------------------------------------------------
# Report


def _prf(score: Score) -> str:
    return (
        f"P {score.precision:.3f}  R {score.recall:.3f}  F1 {score.f1:.3f}  "
        f"(tp {score.tp} fp {score.fp} fn {score.fn})"
    )


def format_report(lang: LanguageEval, ents: EntityEval, *, max_errors: int = 40) -> str:
    lines = [
        f"LANGUAGE  accuracy {lang.overall}  (min {LANG_ACCURACY_MIN})",
        "  by kind: "
        + "  ".join(f"{kind} {lang.by_kind[kind]}" for kind in KINDS if kind in lang.by_kind),
        "  by lang: "
        + "  ".join(
            f"{code} {ratio.value:.2f}" for code, ratio in sorted(lang.by_language.items())
        ),
        f"  hard cases {lang.hard}   und items left und {lang.und}   "
        f"real text called und: {lang.false_und}",
    ]
    for item_id, gold, pred, confidence, title in lang.errors:
        lines.append(f"    x {item_id:<12} {gold} -> {pred} ({confidence:.2f})  {title[:60]!r}")
    docs = len({e[0] for e in ents.errors})
    lines.append(f"ENTITIES  all  {_prf(ents.pooled())}  ({docs} docs with differences)")
    for kind in TYPES:
        lines.append(f"  {kind:<13} {_prf(ents.pooled(kind=kind))}")
    for code in ents.languages:
        per_type = "  ".join(f"{k[:3]} {ents.pooled(lang=code, kind=k).f1:.2f}" for k in TYPES)
        lines.append(f"  lang {code:<8} {_prf(ents.pooled(lang=code))}  F1 {per_type}")
    for doc_id, kind, missed, spurious in ents.errors[:max_errors]:
        lines.append(f"    x {doc_id:<6} {kind[:3]}  missed {missed}  spurious {spurious}")
    if len(ents.errors) > max_errors:
        lines.append(f"    ... {len(ents.errors) - max_errors} more")
    return "\n".join(lines)


def enrichment_report() -> str:
    """Evaluate both stages on the hand-labelled sets and return the printable report."""
    return format_report(
        evaluate_language(load_language_items()), evaluate_entities(load_entity_docs())
    )


# ---------------------------------------------------------------------------------------------
# Tests


@pytest.fixture(scope="module")
def language_items() -> list[dict[str, Any]]:
    return load_language_items()


@pytest.fixture(scope="module")
def entity_docs() -> list[dict[str, Any]]:
    return load_entity_docs()


@pytest.fixture(scope="module")
def language_eval(language_items) -> LanguageEval:
    return evaluate_language(language_items)


@pytest.fixture(scope="module")
def entity_eval(entity_docs) -> EntityEval:
    return evaluate_entities(entity_docs)


def test_language_set_is_well_formed(language_items):
    assert len({item["id"] for item in language_items}) == len(language_items)
    per_cell = Counter((item["lang"], item["kind"]) for item in language_items)
    for item in language_items:
        assert set(item) == {"id", "title", "body", "lang", "kind"}, item["id"]
        assert item["kind"] in KINDS, item["id"]
        assert (item["kind"] == "headline") == (item["body"] == ""), item["id"]
    for code in ("en", "ru", "uk", "de", "fr", "es", "ar", "it", "pt"):
        assert per_cell[code, "headline"] >= 4, code
        assert per_cell[code, "short"] >= 3, code
        assert per_cell[code, "article"] >= 3, code
    assert sum(item["lang"] == UNDETERMINED for item in language_items) >= 5


def test_entity_gold_uses_canonical_actor_names(entity_docs):
    """A gold name spelled like a tracked actor's alias must be the actor's canonical name."""
    actors = yaml.safe_load(ACTORS_FILE.read_text(encoding="utf-8"))["actors"]
    canonical = {}
    for actor in actors:
        for name in [actor["name"], *actor.get("aliases", [])]:
            canonical[normalise_name(str(name))] = (actor["name"], actor["type"])
    types = {"persons": "person", "organisations": "organisation", "places": "place"}
    assert len({doc["id"] for doc in entity_docs}) == len(entity_docs)
    for doc in entity_docs:
        assert doc["lang"] in ("en", "ru"), doc["id"]
        for kind in TYPES:
            for name in doc[kind]:
                actor = canonical.get(normalise_name(name))
                assert actor is None or actor == (name, types[kind]), (doc["id"], name, actor)


def test_report(language_eval, entity_eval):
    print()
    print(format_report(language_eval, entity_eval))


def test_language_accuracy(language_eval):
    assert language_eval.overall.value >= LANG_ACCURACY_MIN, language_eval.errors
    assert language_eval.by_kind["headline"].value >= LANG_HEADLINE_ACCURACY_MIN
    assert language_eval.by_kind["short"].value >= LANG_SHORT_ACCURACY_MIN
    assert language_eval.by_kind["article"].value >= LANG_ARTICLE_ACCURACY_MIN


def test_language_accuracy_per_language(language_eval):
    low = {
        code: round(ratio.value, 3)
        for code, ratio in language_eval.by_language.items()
        if ratio.value < LANG_PER_LANGUAGE_ACCURACY_MIN
    }
    assert not low, low


def test_undetermined_items(language_eval):
    assert language_eval.und.value >= UND_CORRECT_MIN, language_eval.errors


@pytest.mark.parametrize("kind", TYPES)
def test_entity_scores_per_type(entity_eval, kind):
    score = entity_eval.pooled(kind=kind)
    assert score.precision >= ENTITY_PRECISION_MIN[kind], _prf(score)
    assert score.recall >= ENTITY_RECALL_MIN[kind], _prf(score)
    assert score.f1 >= ENTITY_TYPE_F1_MIN[kind], _prf(score)


@pytest.mark.parametrize("code", sorted(ENTITY_LANGUAGE_F1_MIN))
def test_entity_f1_per_language(entity_eval, code):
    score = entity_eval.pooled(lang=code)
    assert score.f1 >= ENTITY_LANGUAGE_F1_MIN[code], _prf(score)


if __name__ == "__main__":
    print(enrichment_report())
