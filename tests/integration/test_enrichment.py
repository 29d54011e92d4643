"""Enrichment through the real stack: per-language analysis, cross-script actors, canonical
facets, translation flags."""

from __future__ import annotations

from typing import Any

import pytest

from newswire.search.service import run_search
from newswire.search.store import SearchStore
from pipeline.search import SearchRequest, build_search_body, parse_search_response

pytestmark = pytest.mark.integration

RU_TITLE = "Reuters: Россия передала США требования для переговоров по Украине"
INOSMI_EN_TITLE = (
    "Reuters: Russia has handed over demands to the United States for negotiations on Ukraine"
)


def _search(store: SearchStore, query: str = "", **kwargs: Any) -> Any:
    request = SearchRequest(query=query, collapse_stories=False, size=50, **kwargs)
    return parse_search_response(store.search(build_search_body(request)))


def _titles(result: Any) -> set[str]:
    return {hit.title for hit in result.hits}


def test_english_stemming_finds_other_word_forms(
    ingested: list[dict[str, Any]], search_store: SearchStore
) -> None:
    # The seed text says "negotiations"; the neutral fields alone would miss "negotiation".
    assert INOSMI_EN_TITLE in _titles(_search(search_store, "negotiation"))
    assert _search(search_store, "negotiation", filters={"language": ("de",)}).total == 0


def test_russian_stemming_finds_inflected_forms(
    ingested: list[dict[str, Any]], search_store: SearchStore
) -> None:
    # "переговоры" (nominative) against "переговоров" (genitive) in the Russian headline.
    assert RU_TITLE in _titles(_search(search_store, "переговоры"))


def test_a_query_in_either_script_finds_both_versions(
    ingested: list[dict[str, Any]], search_store: SearchStore
) -> None:
    for query in ("Kursk", "Курск", "Зеленский", "Zelenskyy"):
        titles = _titles(_search(search_store, query))
        assert RU_TITLE in titles, query
        assert INOSMI_EN_TITLE in titles, query


def test_facets_show_one_canonical_name_per_actor(
    ingested: list[dict[str, Any]], search_store: SearchStore
) -> None:
    request = SearchRequest(query="Kursk", collapse_stories=False, size=50)
    result = run_search(search_store, build_search_body(request))
    # Entity facets count registry ids, shown under their display names.
    persons, places = (
        {result.facet_labels[name].get(k, k): n for k, n in result.facets[name]}
        for name in ("person", "place")
    )
    for name in ("Vladimir Putin", "Valery Gerasimov", "Marco Rubio", "Volodymyr Zelensky"):
        assert persons.get(name) == result.total, name
    for name in ("Kursk", "Sudzha"):
        assert places.get(name) == result.total, name
    for variant in ("Putin", "Путин", "Путина", "Zelensky", "Зеленский", "Суджа"):
        assert variant not in persons
        assert variant not in places
    assert dict(result.facets["actor"])["valery-gerasimov"] == result.total


def test_articles_outside_working_languages_are_flagged_and_headlines_translated(
    ingested: list[dict[str, Any]], search_store: SearchStore
) -> None:
    search_store.refresh()
    response = search_store.es.search(
        index=search_store.settings.articles_alias,
        size=50,
        source=["title", "language", "needs_translation", "title_translated"],
        query={"match_all": {}},
    )
    docs = [hit["_source"] for hit in response["hits"]["hits"]]
    russian = next(d for d in docs if d["title"] == RU_TITLE)
    assert russian["needs_translation"] is True
    assert russian["title_translated"] == f"[ru->en] {RU_TITLE}"
    german = [d for d in docs if d["language"] == "de"]
    assert german
    assert all(
        d["needs_translation"] and d["title_translated"].startswith("[de->en]") for d in german
    )
    english = [d for d in docs if d["language"] == "en"]
    assert english
    assert not any(d["needs_translation"] or "title_translated" in d for d in english)
