"""Entities in German, French, Spanish and Ukrainian, which have no NER model here (issue 14,
item 3): what the tracked-actor gazetteer and the place gazetteer find.

tests/data/entities_eval_other.jsonl: 12 wire paragraphs, 3 per language, written for this
project, labelled like tests/data/entities_eval.jsonl (tracked actors under their canonical
names, other names as written, in the nominative). Persons and organisations are found only
where they are tracked actors, so their recall measures the gap a model would fill; places come
from the place gazetteer. `pytest tests/unit/pipeline/test_entities_other_languages_eval.py -s`
prints the report. Thresholds: measured on 2026-12-02 less about one name per language.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.pipeline.test_enrichment_eval import TYPES, EntityEval, evaluate_entities
from tests.unit.pipeline.test_enrichment_eval import load_entity_docs as _load

DATA = Path(__file__).resolve().parents[2] / "data" / "entities_eval_other.jsonl"
LANGUAGES = ("de", "fr", "es", "uk")
# Places per language, F1: measured de 0.889 (tp 12 fp 1 fn 2: Frankfurt and München are below
# the million people a German city needs, "US-Außenminister" gives US), fr 0.952, es 0.960,
# uk 0.960 (Сумська область is an oblast, not in the data). About one place less each.
PLACE_F1_MIN = {"de": 0.82, "fr": 0.88, "es": 0.88, "uk": 0.88}
# Whatever is found is right: measured P 0.983 (tp 58 fp 1), all types pooled; recall of
# persons and organisations is only the tracked actors' (0.20-0.50): that is the missing model.
PRECISION_MIN = 0.95


@pytest.fixture(scope="module")
def scores() -> EntityEval:
    return evaluate_entities(_load(DATA))


def test_report(scores):
    print()
    for lang in LANGUAGES:
        cells = "  ".join(
            f"{kind[:3]} P {s.precision:.2f} R {s.recall:.2f} F1 {s.f1:.2f}"
            for kind in TYPES
            for s in [scores.pooled(lang=lang, kind=kind)]
        )
        print(f"{lang}  {cells}")
    for doc_id, kind, missed, spurious in scores.errors:
        print(f"    x {doc_id:<6} {kind[:3]}  missed {missed}  spurious {spurious}")


def test_the_set_covers_each_language():
    docs = _load(DATA)
    assert sorted({doc["lang"] for doc in docs}) == sorted(LANGUAGES)
    assert all(sum(doc["lang"] == lang for doc in docs) >= 3 for lang in LANGUAGES)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_places_per_language(scores, lang):
    assert scores.pooled(lang=lang, kind="places").f1 >= PLACE_F1_MIN[lang]


def test_what_is_found_is_right(scores):
    assert scores.pooled().precision >= PRECISION_MIN
