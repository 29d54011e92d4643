"""Unit tests for pipeline/events.py: fingerprints, term statistics, pair scores, decisions,
merges and records."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pipeline.events import (
    EventConfig,
    EventFingerprint,
    TermStats,
    cluster_stream,
    decide,
    decode_record,
    encode_record,
    event_dates,
    fingerprint,
    pair_evidence,
    resolve,
    salient_terms,
    term_stats,
)

CONFIG = EventConfig()
THURSDAY = "2025-03-13T09:00:00+00:00"


def _fp(
    doc_id: str, title: str, body: str, language: str = "en", **kwargs: object
) -> EventFingerprint:
    return fingerprint(
        doc_id=doc_id,
        story_id=str(kwargs.pop("story_id", doc_id)),
        title=title,
        body=body,
        language=language,
        published_at=str(kwargs.pop("published_at", THURSDAY)),
        **kwargs,  # type: ignore[arg-type]
    )


QUAKE_EN = _fp(
    "quake-en",
    "Magnitude 5.9 quake shakes eastern Turkey, 2 dead",
    "A magnitude 5.9 earthquake struck Malatya province on Wednesday, killing two people; "
    "Interior Minister Ali Yerlikaya said 87 people were injured.",
)
QUAKE_EN_2 = _fp(
    "quake-en-2",
    "Deadly 5.9 tremor hits Malatya",
    "Two people died and 87 were injured when a 5.9-magnitude earthquake hit Malatya on "
    "Wednesday, Ali Yerlikaya said.",
)
QUAKE_DE = _fp(
    "quake-de",
    "Erdbeben der Stärke 5,9 erschüttert Osttürkei",
    "Ein Erdbeben der Stärke 5,9 hat am Mittwoch die Provinz Malatya erschüttert; "
    "Innenminister Ali Yerlikaya sagte, 87 Menschen seien verletzt.",
    "de",
)
QUAKE_NEXT_DAY = _fp(
    "quake-thu",
    "Magnitude 5.2 aftershock shakes Malatya",
    "A magnitude 5.2 earthquake struck Malatya province on Thursday, Ali Yerlikaya said, "
    "damaging 12 buildings.",
)
UNRELATED = _fp(
    "rates",
    "Bank of England holds rates at 4.5%",
    "The Bank of England kept its key interest rate at 4.5% on Wednesday, Andrew Bailey said.",
)


def test_term_stats_count_articles_per_language_and_terms_per_article():
    stats = term_stats([QUAKE_EN, QUAKE_EN_2, QUAKE_DE, QUAKE_NEXT_DAY, UNRELATED])
    assert stats.documents == {"en": 4, "de": 1}
    assert stats.frequencies["en:malatya"] == 3
    # Weighted by these statistics, a term most articles use weighs less, an unseen one more.
    flat = dict(_fp("w", "Malatya vineyards", "Malatya vineyards").terms)
    weighted = dict(_fp("w", "Malatya vineyards", "Malatya vineyards", stats=stats).terms)
    assert weighted["en:malatya"] < flat["en:malatya"]
    assert weighted["en:vineyard"] >= flat["en:vineyard"]


def test_salient_terms_are_stemmed_without_stop_words_and_the_headline_counts_twice():
    terms = salient_terms("Earthquakes strike", "The earthquake struck and killed", "en")
    assert terms["en:earthquak"] == 3
    assert "en:the" not in terms
    assert "en:and" not in terms
    assert all(t.startswith("en:") for t in terms)
    assert "ru:землетрясен" in salient_terms("Землетрясения", "землетрясение", "ru")


def test_idf_falls_with_document_frequency_and_is_flat_without_data():
    stats = TermStats({"en": 10}, {"en:quak": 8, "en:malatya": 1})
    assert stats.idf("en:quak") < stats.idf("en:malatya") < stats.idf("en:unseen")
    empty = TermStats()
    assert empty.idf("en:a") == empty.idf("de:b") > 0


def test_weekdays_and_yesterday_become_event_days_counted_back_from_publication():
    published = 1741856400.0  # Thursday 2025-03-13 09:00 UTC
    assert event_dates("The Kremlin said on Wednesday", "en", published) == {"d03-12"}
    assert event_dates("Кремль в среду заявил", "ru", published) == {"d03-12"}
    assert event_dates("gestern und am 10. März", "de", published) == {"d03-12", "d03-10"}
    assert event_dates("hier", "de", published) == frozenset()
    assert event_dates("hier soir", "fr", published) == {"d03-12"}


def test_the_fingerprint_holds_names_actors_figures_and_dates():
    fp = _fp(
        "x",
        "Putin visits Kursk",
        "Valery Gerasimov said troops retook 86% of the area, 1,100 square kilometres, "
        "on Wednesday.",
        actors=["vladimir-putin"],
        names=["Valery Gerasimov"],
    )
    assert "@vladimir-putin" in fp.names
    assert "garas" in fp.names  # skeleton of Gerasimov
    assert {"86%", "1100"} <= fp.numbers
    assert fp.dates == {"d03-12"}
    assert fp.index_keys()[0] == "e@vladimir-putin"
    assert any(k.startswith("t") for k in fp.index_keys())


def test_same_language_reports_score_on_words_and_figures():
    evidence = pair_evidence(QUAKE_EN, QUAKE_EN_2, CONFIG)
    assert not evidence.cross_language
    assert evidence.lexical > 0.3
    assert "87" in evidence.shared_numbers
    assert evidence.score >= CONFIG.same_language_threshold
    assert pair_evidence(QUAKE_EN, UNRELATED, CONFIG).score < CONFIG.same_language_threshold


def test_across_languages_names_and_figures_carry_the_score():
    evidence = pair_evidence(QUAKE_EN, QUAKE_DE, CONFIG)
    assert evidence.cross_language
    assert evidence.lexical == 0.0
    assert evidence.score >= CONFIG.cross_language_threshold, evidence


def test_a_contradicting_event_day_and_the_window_keep_events_apart():
    evidence = pair_evidence(QUAKE_EN, QUAKE_NEXT_DAY, CONFIG)
    assert evidence.date_conflict
    assert evidence.score < CONFIG.same_language_threshold
    late = replace(QUAKE_EN_2, published=QUAKE_EN.published + 3600 * (CONFIG.window_hours + 1))
    assert pair_evidence(QUAKE_EN, late, CONFIG).score == 0.0


def _as_event(fp: EventFingerprint, event_id: str) -> EventFingerprint:
    return replace(fp, event_id=event_id)


def test_decide_new_join_and_its_story_event():
    assert decide(QUAKE_EN, [], CONFIG).method == "new"
    assert decide(QUAKE_EN, [], CONFIG).event_id == "quake-en"
    joined = decide(QUAKE_EN_2, [_as_event(QUAKE_EN, "E1"), _as_event(UNRELATED, "E2")], CONFIG)
    assert (joined.event_id, joined.method, joined.matched_doc_id) == ("E1", "join", "quake-en")
    assert joined.as_document_field()["evidence"]["shared_numbers"]
    copy = decide(QUAKE_EN_2, [], CONFIG, story_event="E7")
    assert (copy.event_id, copy.method) == ("E7", "story")


def test_an_article_strong_with_two_events_merges_them_into_the_earlier_whatever_the_order():
    early = _as_event(replace(QUAKE_EN, published=QUAKE_EN.published - 600), "E-early")
    late = _as_event(QUAKE_DE, "E-late")
    for candidates in ([early, late], [late, early]):
        decision = decide(QUAKE_EN_2, candidates, CONFIG)
        assert (decision.event_id, decision.method, decision.merged) == (
            "E-early",
            "merge",
            ("E-late",),
        )
    # ...but not when it only just clears the threshold with the second one.
    cautious = replace(CONFIG, merge_margin=1.0)
    assert decide(QUAKE_EN_2, [early, late], cautious).method == "join"


def test_merges_resolve_transitively_and_cycles_end():
    assert resolve("a", {"a": "b", "b": "c"}) == "c"
    assert resolve("a", {"a": "b", "b": "a"}) in {"a", "b"}
    assert resolve("z", {}) == "z"


def test_the_stream_groups_reports_and_keeps_the_next_day_apart():
    events = cluster_stream([QUAKE_DE, QUAKE_EN_2, QUAKE_EN, QUAKE_NEXT_DAY, UNRELATED], CONFIG)
    assert events["quake-en"] == events["quake-en-2"] == events["quake-de"]
    assert events["quake-thu"] != events["quake-en"]
    assert events["rates"] not in {events["quake-en"], events["quake-thu"]}
    # The event's id is its first-published article's, whatever order the list had.
    assert (
        events["quake-en"]
        == min((QUAKE_EN, QUAKE_EN_2, QUAKE_DE), key=lambda f: (f.published, f.doc_id)).doc_id
    )


def test_records_round_trip_and_other_versions_are_ignored():
    record = encode_record(QUAKE_DE, "E9")
    decoded = decode_record(record)
    assert decoded is not None
    assert decoded == replace(QUAKE_DE, event_id="E9", published=float(int(QUAKE_DE.published)))
    assert decode_record("0|" + record.split("|", 1)[1]) is None
    assert decode_record("garbage") is None


@pytest.mark.parametrize("published_at", ["", "not a date", "2025-03-13T09:00:00"])
def test_missing_or_naive_times_do_not_fail(published_at):
    fp = _fp("t", "Title", "Body text on Wednesday", published_at=published_at)
    assert fp.published >= 0
