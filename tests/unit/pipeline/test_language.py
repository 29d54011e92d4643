"""detect_language (fastText lid.176 lite) and needs_translation."""

from __future__ import annotations

import pytest

from pipeline.feeds import parse_feed
from pipeline.language import UNDETERMINED, detect_language, needs_translation
from pipeline.models import LanguageGuess
from pipeline.normalise import normalise_entry


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Russia hands US list of demands for ending Ukraine war, sources say", "en"),
        ("Россия передала США требования для переговоров по Украине", "ru"),
        ("Warnstreik bei Lufthansa: Hunderte Flüge am Frankfurter Flughafen gestrichen", "de"),
    ],
)
def test_headline_language(title, expected):
    guess = detect_language(title, "")
    assert guess.code == expected
    assert 0.5 <= guess.confidence <= 1.0


@pytest.mark.parametrize("title", ["", " . ", "..", "  \n "])
def test_empty_text_is_undetermined_with_zero_confidence(title):
    assert detect_language(title, "") == LanguageGuess(UNDETERMINED, 0.0)


@pytest.mark.parametrize("title", ["xqzt vbnm plork", "12345 67890"])
def test_gibberish_is_undetermined(title):
    guess = detect_language(title, "")
    assert guess.code == UNDETERMINED
    assert guess.confidence < 0.5


def test_min_confidence_threshold_decides():
    title = "Russia hands US list of demands for ending Ukraine war"
    confident = detect_language(title, "")
    assert detect_language(title, "", min_confidence=0.999).code == UNDETERMINED
    assert detect_language(title, "", min_confidence=0.999).confidence == confident.confidence


def test_seed_russian_article_is_ru(seed_bytes, fetched_at):
    entry = parse_feed(seed_bytes("inosmi-ru.rss"), feed_id="inosmi-ru").entries[0]
    article = normalise_entry(entry, fetched_at=fetched_at)
    assert detect_language(article.title, article.body).code == "ru"


def test_seed_german_json_item_is_de_although_the_feed_says_en(seed_bytes, fetched_at):
    parsed = parse_feed(seed_bytes("newsdesk.json"), feed_id="newsdesk")
    assert parsed.language == "en"
    article = normalise_entry(parsed.entries[0], fetched_at=fetched_at)
    assert detect_language(article.title, article.body).code == "de"
    english = normalise_entry(parsed.entries[1], fetched_at=fetched_at)
    assert detect_language(english.title, english.body).code == "en"


@pytest.mark.parametrize(
    ("language", "working", "expected"),
    [
        ("ru", frozenset({"en"}), True),
        ("en", frozenset({"en"}), False),
        ("ru", frozenset({"en", "ru"}), False),
        (UNDETERMINED, frozenset({"en"}), False),
        ("de", frozenset(), True),
    ],
)
def test_needs_translation(language, working, expected):
    assert needs_translation(language, working) is expected


def test_the_feed_language_decides_only_when_the_text_is_uncertain():
    # Name-heavy German headline: fastText is below 0.5 on it.
    uncertain = detect_language("Merz trifft Macron in Paris", "", min_confidence=0.5)
    assert uncertain.code == "und"
    hinted = detect_language("Merz trifft Macron in Paris", "", min_confidence=0.5, hint="de")
    assert hinted == LanguageGuess("de", uncertain.confidence)
    # A confident guess is not overruled by a wrong feed declaration.
    confident = detect_language(
        "Russia hands US list of demands",
        "The Kremlin said on Wednesday it would review the "
        "details of a proposed ceasefire and give its response.",
        hint="fr",
    )
    assert confident.code == "en"
    assert detect_language("", "", hint="ru") == LanguageGuess("ru", 0.0)
