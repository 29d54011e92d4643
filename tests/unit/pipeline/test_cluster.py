"""Story clustering: numbers and names across languages, MinHash similarity, the join decision,
record encoding and the sentence diff."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.cluster import (
    LSH_BANDS,
    NUM_PERM,
    ClusterConfig,
    Fingerprint,
    decide,
    decode_record,
    encode_record,
    entity_keys,
    evidence_keys,
    fingerprint,
    internal_id,
    name_key,
    number_tokens,
    number_weight,
    sentence_diff,
    similarity,
    split_sentences,
    translation_evidence,
)
from tests.unit.pipeline.story_eval import load_articles

CONFIG = ClusterConfig()


def _article(article_id: str):
    return next(a for a in load_articles() if a.id == article_id)


def _fp(article_id: str, story_id: str = "") -> Fingerprint:
    article = _article(article_id)
    fp = fingerprint(
        doc_id=article.id,
        content_hash=f"hash-{article.id}",
        title=article.title,
        body=article.body,
        language=article.language,
        published_at=article.published_at,
    )
    return dataclasses.replace(fp, story_id=story_id)


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("liberated 1,100 square kilometers", "en", {"1100"}),
        ("освободили 1100 квадратных километров", "ru", {"1100"}),
        ("1 100 км", "ru", {"1100"}),
        ("1.100 Quadratkilometer", "de", {"1100"}),
        ("from 86% of territory", "en", {"86%"}),
        ("86 процентов", "ru", {"86%"}),
        ("86 Prozent", "de", {"86%"}),
        ("a rate of 2,50 %", "de", {"2.5%"}),
        ("rate at 2.50%", "en", {"2.5%"}),
        ("a thirty-day cease-fire", "en", {"30"}),
        ("тридцатидневного прекращения огня", "ru", {"30"}),
        ("March 12 (Reuters)", "en", {"d03-12"}),
        ("12 марта", "ru", {"d03-12"}),
        ("le 12 mars", "fr", {"d03-12"}),
        ("since Feb. 19 earlier", "en", {"d02-19"}),
        ("five days, 3 ships", "en", set()),
        ("magnitude 6,1", "fr", {"6.1"}),
        ("$9,815 a ton", "en", {"9815"}),
    ],
)
def test_numbers_are_spelled_one_way_in_every_language(text, language, expected):
    assert number_tokens(text, language) == expected


def test_number_weights_favour_specific_figures():
    assert number_weight("1100") == number_weight("86%") == number_weight("6.1") == 1.0
    assert number_weight("15") == 0.5
    assert number_weight("2024") == number_weight("d03-12") == 0.25


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Герасимов", "Gerasimov"),
        ("Лекорню", "Lecornu"),
        ("Путина", "Putin"),
        ("Курскую", "Kursk"),
        ("Зеленский", "Zelensky"),
        ("Хили", "Healey"),
        ("Вашингтон", "Washington"),
        ("Суджа", "Sudzha"),
    ],
)
def test_names_in_two_scripts_share_a_key(left, right):
    assert name_key(left) == name_key(right)


def test_different_names_have_different_keys():
    assert name_key("Gerasimov") != name_key("Zelensky")


def test_entity_keys_skip_sentence_starts_and_month_names():
    keys = entity_keys("Moscow said so. On Wednesday Valery Gerasimov met «Putin» in Kursk.")
    assert keys == {name_key("Valery"), name_key("Gerasimov"), name_key("Putin"), "karsk"}


def test_fingerprint_is_deterministic_and_has_one_key_per_band():
    first, second = _fp("ceasefire"), _fp("ceasefire")
    assert first == second
    assert len(first.signature) == NUM_PERM
    assert len(first.bands) == LSH_BANDS
    assert first.iid == internal_id("ceasefire", "hash-ceasefire")


def test_a_short_text_gets_no_band_keys():
    fp = fingerprint(
        doc_id="x",
        content_hash="h",
        title="Breaking",
        body="Markets closed.",
        language="en",
        published_at="2025-03-12T00:00:00+00:00",
    )
    assert fp.bands == ()
    assert 0 < fp.shingles < 12


def test_similarity_of_a_trimmed_repost_and_of_an_unrelated_story():
    jaccard, containment = similarity(_fp("ceasefire"), _fp("ceasefire-aggregator"))
    assert 0.6 < jaccard < 0.95
    assert containment > 0.85
    assert similarity(_fp("ceasefire"), _fp("copper"))[1] < 0.1
    assert similarity(_fp("ceasefire"), dataclasses.replace(_fp("copper"), signature=b"")) == (
        0.0,
        0.0,
    )


def test_decide_joins_the_story_of_a_near_duplicate():
    assignment = decide(_fp("ceasefire-inosmi-en"), [_fp("ceasefire", "story-1")], CONFIG)
    assert assignment.story_id == "story-1"
    assert assignment.method == "near_duplicate"
    assert assignment.matched_doc_id == "ceasefire"
    assert assignment.evidence["containment"] > 0.9


def test_decide_joins_a_translation_on_numbers_names_and_time():
    assignment = decide(_fp("ceasefire-ru"), [_fp("ceasefire", "story-1")], CONFIG)
    assert assignment.method == "translation"
    assert assignment.story_id == "story-1"
    assert {"1100", "259", "86%", "30"} <= set(assignment.evidence["shared_numbers"])
    assert {name_key("Gerasimov"), name_key("Lecornu")} <= set(assignment.evidence["shared_names"])


def test_a_translation_outside_the_time_window_starts_its_own_story():
    late = dataclasses.replace(
        _fp("ceasefire-ru"), published=_fp("ceasefire").published + 4 * 86400
    )
    assert decide(late, [_fp("ceasefire", "story-1")], CONFIG).method == "new"
    narrow = ClusterConfig(translation_window_hours=6)
    assert decide(_fp("ceasefire-ru"), [_fp("ceasefire", "story-1")], narrow).method == "new"


def test_same_topic_stories_do_not_join():
    candidates = [_fp("ceasefire", "story-1"), _fp("ceasefire-ru", "story-1")]
    for other in ("ceasefire-kremlin-call", "ceasefire-kursk-ru", "ceasefire-coalition-de"):
        assignment = decide(_fp(other), candidates, CONFIG)
        assert assignment.method == "new", other
        assert assignment.story_id == other


def test_same_language_articles_never_join_on_numbers_alone():
    # Same numbers, names and time, but another text: only MinHash may join same-language pairs.
    copy = dataclasses.replace(_fp("ceasefire-ru"), language="en", doc_id="other")
    candidate = dataclasses.replace(_fp("ceasefire", "story-1"))
    assert translation_evidence(copy, candidate, CONFIG).strong
    assert decide(copy, [candidate], CONFIG).method == "new"


def test_decide_prefers_the_closest_near_duplicate_and_ignores_itself():
    arriving = _fp("ceasefire-update")
    own_old_text = dataclasses.replace(arriving, story_id="own")
    candidates = [own_old_text, _fp("ceasefire-aggregator", "s-agg"), _fp("ceasefire", "s-orig")]
    assert decide(arriving, candidates, CONFIG).story_id == "s-orig"


def test_evidence_keys_are_specific_numbers_then_long_names():
    keys = evidence_keys(_fp("ceasefire"))
    assert keys[:3] == ("n1100", "n259", "n86%")
    assert "n2024" not in keys
    assert all(k.startswith(("n", "e")) for k in keys)
    assert len(keys) <= 12


def test_records_round_trip_and_other_versions_are_ignored():
    fp = _fp("ceasefire-ru")
    assignment = decide(fp, [_fp("ceasefire", "story-1")], CONFIG)
    decoded = decode_record(encode_record(fp, assignment))
    assert decoded is not None
    stored, stored_assignment = decoded
    assert stored.signature == fp.signature
    assert stored.numbers == fp.numbers
    assert stored.entities == fp.entities
    assert stored.story_id == "story-1"
    assert stored.published == int(fp.published)
    assert stored_assignment.method == "translation"
    assert stored_assignment.matched_doc_id == "ceasefire"
    assert decode_record("0|" + encode_record(fp, assignment)[2:]) is None
    assert decode_record("garbage") is None


def test_assignment_as_document_field():
    field = decide(_fp("ceasefire-aggregator"), [_fp("ceasefire", "s")], CONFIG).as_document_field()
    assert set(field) == {"method", "score", "matched_doc_id", "evidence"}
    assert field["method"] == "near_duplicate"


def test_sentences_split_outside_brackets_and_at_line_breaks():
    text = (
        "It began in 2022 (the authors are silent. InoSMI). Then U.S. talks!\n"
        "New paragraph? Yes… «Quoted.» End"
    )
    assert split_sentences(text) == [
        "It began in 2022 (the authors are silent. InoSMI).",
        "Then U.S. talks!",
        "New paragraph?",
        "Yes…",
        "«Quoted.»",
        "End",
    ]


def test_diff_shows_the_sentence_a_republisher_inserted_into():
    original, republished = _article("ceasefire"), _article("ceasefire-inosmi-en")
    diff = sentence_diff(original.body, republished.body)
    inserted = [" ".join(c.inserted) for c in diff.changed]
    assert any("InoSMI" in text and "deliberately silent" in text for text in inserted)
    spellings = {(c.inserted, c.deleted) for c in diff.changed}
    assert (("Kiev",), ("Kyiv",)) in spellings
    assert (("Suju",), ("Sudzha",)) in spellings
    assert diff.added == ()
    assert diff.unchanged >= 20
    assert diff.removed == ()
    assert diff.as_dict()["changed"][0]["inserted"]


def test_diff_lists_added_and_removed_sentences():
    diff = sentence_diff(
        "Rates were held. Lagarde spoke. Markets fell.",
        "A new lead sentence about something else entirely. Rates were held. Markets fell.",
    )
    assert diff.added == ("A new lead sentence about something else entirely.",)
    assert diff.removed == ("Lagarde spoke.",)
    assert diff.changed == ()
    assert diff.unchanged == 2
    assert 0 < diff.similarity < 1


def test_month_word_before_a_number_is_read_whole_even_far_into_a_long_text() -> None:
    # The month is looked for just before each number; a long text must not change that.
    filler = "Officials said more talks would follow. " * 200
    assert "d03-12" in number_tokens(f"{filler}On March 12 the talks resumed.")
    # A word longer than the look-back reach is not cut into a month word ("mar..."): the
    # number stays a plain number.
    long_word = "zz" + "mar" + "x" * 28
    assert number_tokens(f"{filler}{long_word} 15 delegates") == frozenset({"15"})
