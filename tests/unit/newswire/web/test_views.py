"""The web pages' pure parts: URL state, facet toggles, chips, text direction, safe links,
highlight cleaning, histogram and sparkline geometry, word-marked diffs."""

from __future__ import annotations

from datetime import date

import pytest

from newswire.web.views import (
    MORE_FACET_SIZE,
    SearchState,
    Segment,
    histogram_bars,
    iso_minute,
    lang_attribute,
    marked_fragment,
    member_changes,
    safe_url,
    sparkline_points,
    state_from_params,
    text_direction,
    word_diff,
)
from pipeline.search import InvalidSearch, encode_cursor, validate


def test_state_round_trips_through_its_url():
    state = SearchState(
        q='"Kursk region" -drill',
        filters={"person": ("Valery Gerasimov", "Владимир Путин"), "language": ("ru",)},
        date_from="2025-03-01",
        date_to="2025-03-12",
        sort="newest",
        page=3,
        more=("person",),
    )
    from urllib.parse import parse_qs, urlsplit

    params = parse_qs(urlsplit(state.url()).query)
    assert state_from_params(params) == state


def test_defaults_stay_out_of_the_url():
    assert SearchState().url() == "/"
    assert SearchState(q="Kursk").url() == "/?q=Kursk"


def test_empty_and_repeated_values_are_dropped_and_bad_pages_refused_later():
    state = state_from_params(
        {"q": ["  Kursk "], "source": ["", "Reuters", "Reuters"], "page": ["x"], "more": ["no"]}
    )
    assert state.q == "Kursk"
    assert state.filters == {"source": ("Reuters",)}
    assert state.more == ()
    with pytest.raises(InvalidSearch, match="page must be"):
        validate(state.to_request())


def test_toggling_a_facet_adds_then_removes_it_and_restarts_paging():
    state = SearchState(q="x", page=4)
    chosen = state.toggled("person", "Valery Gerasimov")
    assert chosen.filters == {"person": ("Valery Gerasimov",)}
    assert chosen.page == 1
    assert chosen.toggled("person", "Valery Gerasimov").filters == {}


def test_chips_link_to_the_search_without_them():
    state = SearchState(q="x", filters={"place": ("Kursk",)}, date_from="2025-03-01")
    chips = state.chips()
    assert chips == [
        ("Place", "Kursk", "/?q=x&from=2025-03-01"),
        ("From", "2025-03-01", "/?q=x&place=Kursk"),
    ]


def test_articles_page_by_cursor_and_expanded_facets_count_more():
    first = SearchState(q="x", collapse=False, more=("place",)).to_request()
    assert (first.cursor, first.collapse_stories) == (True, False)
    assert first.facet_sizes == {"place": MORE_FACET_SIZE}
    token = encode_cursor([1.5, 1741737600000, "d1"])
    later = SearchState(q="x", collapse=False, after=token).to_request()
    assert later.search_after == (1.5, 1741737600000, "d1")
    assert SearchState(collapse=False, page=2).to_request().cursor is False
    assert SearchState(q="x").to_request().cursor is False


@pytest.mark.parametrize(
    ("language", "direction", "lang"),
    [
        ("ar", "rtl", "ar"),
        ("he", "rtl", "he"),
        ("ru", "ltr", "ru"),
        ("und", "auto", None),
        (None, "auto", None),
    ],
)
def test_text_direction_and_lang(language, direction, lang):
    assert text_direction(language) == direction
    assert lang_attribute(language) == lang


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("https://reuters.com/a", "https://reuters.com/a"),
        ("javascript:alert(1)", None),
        (" JavaScript:alert(1)", None),
        ("data:text/html,<script>", None),
        ("//evil.example/x", None),
        ("http://[::1", None),
        ("", None),
        (None, None),
    ],
)
def test_only_http_links_are_kept(value, safe):
    assert safe_url(value) == safe


def test_highlights_keep_only_mark():
    fragment = "<mark>Kursk</mark> <img src=x onerror=alert(1)><script>x</script>&lt;b&gt;"
    assert marked_fragment(fragment) == "<mark>Kursk</mark> &lt;b&gt;"


def test_iso_minute_shows_utc_and_leaves_odd_values():
    assert iso_minute("2025-03-12T13:20:05+00:00") == "2025-03-12 13:20 UTC"
    assert iso_minute("soon") == "soon"
    assert iso_minute(None) == ""


def test_histogram_fills_empty_days_and_scales_to_the_tallest():
    bars = histogram_bars([("2025-03-10", 10), ("2025-03-12", 5)], width=300, height=60)
    assert [b.day for b in bars] == ["2025-03-10", "2025-03-11", "2025-03-12"]
    assert [b.height for b in bars] == [60.0, 1.0, 30.0]
    assert [b.x for b in bars] == [0.0, 100.0, 200.0]
    assert bars[1].y == 59.0
    assert histogram_bars([]) == []


def test_histogram_keeps_only_the_last_days_of_a_long_range():
    bars = histogram_bars([("2024-01-01", 1), ("2025-03-12", 1)])
    assert len(bars) == 120
    assert bars[-1].day == "2025-03-12"


def test_sparkline_points_span_the_box():
    points = sparkline_points({"2025-03-12": 4, "2025-03-11": 2}, date(2025, 3, 12), days=3)
    assert points == "0.0,20.0 50.0,11.0 100.0,2.0"


def test_word_diff_marks_deleted_and_inserted_words():
    before, after = word_diff("troops near Sudzha held", "troops near Suju held firm")
    assert before == [
        Segment("same", "troops near"),
        Segment("deleted", "Sudzha"),
        Segment("same", "held"),
    ]
    assert after == [
        Segment("same", "troops near"),
        Segment("inserted", "Suju"),
        Segment("same", "held"),
        Segment("inserted", "firm"),
    ]


def test_member_changes_split_edited_sentences():
    changes = {
        "added": ["New sentence."],
        "removed": [],
        "changed": [
            {"representative": "a b c", "member": "a x c", "inserted": ["x"], "deleted": ["b"]}
        ],
        "unchanged": 7,
        "similarity": 0.9,
    }
    view = member_changes(changes)
    assert view is not None
    assert view["added"] == ["New sentence."]
    assert view["edited"][0]["after"][1] == Segment("inserted", "x")
    assert view["unchanged"] == 7
    assert member_changes(None) is None


def test_corrections_and_hidden_live_in_the_url_and_hidden_is_for_admins_only():
    from newswire.web.views import SearchState as State

    state = state_from_params({"q": ["x"], "corrections": ["true"], "hidden": ["true"]})
    assert (state.corrections, state.hidden) == (True, True)
    assert state.url() == "/?q=x&corrections=true&hidden=true"
    assert state.to_request().corrections_only is True
    assert state.to_request().include_hidden is False
    assert state.to_request(admin=True).include_hidden is True
    assert [label for label, _, _ in state.chips()] == ["Only", "Including"]
    assert state.chips()[0][2] == "/?q=x&hidden=true"
    assert State(q="x").to_request(admin=True).include_hidden is False


def test_facet_values_read_as_names():
    from newswire.web.views import facet_value_label

    labels = {"subject": {"medtop:20000151": "earthquake"}}
    names = {"valery-gerasimov": "Valery Gerasimov"}
    assert facet_value_label("subject", "medtop:20000151", labels, names) == "earthquake"
    assert facet_value_label("subject", "medtop:1", labels, names) == "medtop:1"
    assert facet_value_label("actor", "valery-gerasimov", labels, names) == "Valery Gerasimov"
    assert facet_value_label("urgency", "1", labels, names) == "1 (flash)"
    assert facet_value_label("urgency", "5", labels, names) == "5"


def test_lifecycle_marks():
    from newswire.web.views import lifecycle_marks

    assert lifecycle_marks({})["hidden"] is False
    withdrawn = lifecycle_marks({"visibility": "withdrawn", "withdrawal": {"at": "t"}})
    assert (withdrawn["hidden"], withdrawn["withdrawn"], withdrawn["withdrawal"]) == (
        True,
        True,
        {"at": "t"},
    )
    embargoed = lifecycle_marks({"visibility": "embargoed", "embargo_until": "2099-01-01"})
    assert (embargoed["embargoed"], embargoed["embargo_until"]) == (True, "2099-01-01")
    corrected = lifecycle_marks({"corrected": True})
    assert (corrected["corrected"], corrected["is_correction"]) == (True, False)
