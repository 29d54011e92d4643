"""Accuracy of detect_language on the hand-labelled sentence and headline sets (issue 14).

tests/data/language_sentences.jsonl: 336 news sentences in 60 languages (8 each for the confusable
pairs hr/bs/sr, sl, cs/sk, ro, ms/id, da/no/sv). tests/data/language_headlines.jsonl: 20 headlines
of two to five words in each of en, ru, uk, de, fr, es, it, pt, pl, ar, tr. Run with -s for the
report. Thresholds are the figures measured on 2026-12-02 (bench/bench_language.py) less about
one item per language, so a regression fails and the same code always passes.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from pipeline.language import detect_language

DATA = Path(__file__).resolve().parents[2] / "data"
# Measured 0.990 (the old lite-only stage: 0.901).
SENTENCE_MEAN_MIN = 0.97
# Measured: every language 5/5 or 8/8 except id 7/8 and sr 4/8; the Latin-script Serbian
# sentences go to bs/hr, as with every open detector (lingua's Serbian model is Cyrillic).
SENTENCE_LANGUAGE_MIN = 0.75
SENTENCE_LANGUAGE_MIN_EXCEPTIONS = {"sr": 0.5}
# Measured 0.945 (old 0.786); worst pt 16/20, es 17/20.
HEADLINE_MEAN_MIN = 0.92
HEADLINE_LANGUAGE_MIN = 0.75
# Two-word headlines of the newsroom's main languages: measured 44/46 (aim of issue 14: 0.90).
WORKING_LANGUAGES = frozenset({"en", "ru", "uk", "de", "fr", "es"})
TWO_WORD_WORKING_MIN = 0.90


def load(name: str) -> list[dict[str, Any]]:
    with (DATA / name).open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def per_language(items: list[dict[str, Any]]) -> dict[str, float]:
    right: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for item in items:
        guess = detect_language(item["title"], item["body"])
        right[item["lang"]][0] += guess.code == item["lang"]
        right[item["lang"]][1] += 1
    print()
    print(" ".join(f"{code} {r}/{n}" for code, (r, n) in sorted(right.items())))
    return {code: r / n for code, (r, n) in right.items()}


@pytest.fixture(scope="module")
def sentences() -> dict[str, float]:
    return per_language(load("language_sentences.jsonl"))


@pytest.fixture(scope="module")
def headlines() -> dict[str, float]:
    return per_language(load("language_headlines.jsonl"))


def test_sets_are_well_formed():
    sentence_items = load("language_sentences.jsonl")
    headline_items = load("language_headlines.jsonl")
    for items in (sentence_items, headline_items):
        assert len({item["id"] for item in items}) == len(items)
    languages = {item["lang"] for item in sentence_items}
    assert len(languages) >= 40
    assert all(sum(i["lang"] == code for i in sentence_items) >= 5 for code in languages)
    assert all(2 <= len(item["title"].split()) <= 5 for item in headline_items)
    assert {item["lang"] for item in headline_items} >= WORKING_LANGUAGES


def test_sentence_accuracy(sentences):
    mean = sum(sentences.values()) / len(sentences)
    print(f"sentences: mean {mean:.3f} over {len(sentences)} languages")
    assert mean >= SENTENCE_MEAN_MIN
    for code, accuracy in sentences.items():
        assert accuracy >= SENTENCE_LANGUAGE_MIN_EXCEPTIONS.get(code, SENTENCE_LANGUAGE_MIN), code


def test_headline_accuracy(headlines):
    mean = sum(headlines.values()) / len(headlines)
    print(f"headlines: mean {mean:.3f}")
    assert mean >= HEADLINE_MEAN_MIN
    assert min(headlines.values()) >= HEADLINE_LANGUAGE_MIN, headlines


def test_two_word_headlines_of_the_working_languages():
    items = [
        item
        for item in load("language_headlines.jsonl")
        if item["lang"] in WORKING_LANGUAGES and len(item["title"].split()) == 2
    ]
    right = sum(detect_language(item["title"], "").code == item["lang"] for item in items)
    print(f"two-word working-language headlines: {right}/{len(items)}")
    assert right / len(items) >= TWO_WORD_WORKING_MIN
