"""build_document: the indexed document must fit the strict articles mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from pipeline.dedup import dedup_keys
from pipeline.document import ANALYSED_LANGUAGES, build_document
from pipeline.models import Article, Entities, LanguageGuess, Mention

CONTENT_FIELDS = {f"content_{code}" for code in ANALYSED_LANGUAGES}
INDEXED_AT = datetime(2025, 3, 13, 12, 5, tzinfo=UTC)
ENTITIES = Entities(
    persons=("Vladimir Putin",),
    organisations=("NATO",),
    places=("Moscow",),
    mentions=(Mention("Putin", "persons", "Vladimir Putin"),),
)


@pytest.fixture(scope="module")
def mapping_properties(repo_root) -> dict[str, object]:
    template = json.loads((repo_root / "config/elasticsearch/articles.json").read_text("utf-8"))
    return template["template"]["mappings"]["properties"]


@pytest.fixture
def article() -> Article:
    return Article(
        feed_id="wire",
        source="Wire",
        guid="g-1",
        url="https://example.com/story",
        original_url="https://www.example.com/story?utm_source=x",
        title="Kremlin sends terms",
        summary="Short",
        body="Russia has sent the United States a list of demands.",
        body_html="<p>Russia has sent the United States a list of demands.</p>",
        published_at="2025-03-12T19:25:00+00:00",
        fetched_at="2025-03-13T12:00:00+00:00",
        authors=("Ann Author",),
        categories=("World",),
    )


def _build(article: Article, code: str, working: frozenset[str] = frozenset({"en"})) -> dict:
    return build_document(
        article,
        keys=dedup_keys(article),
        language=LanguageGuess(code, 0.91),
        entities=ENTITIES,
        working_languages=working,
        indexed_at=INDEXED_AT,
    )


def test_mapping_has_a_content_field_for_every_analysed_language(mapping_properties):
    assert set(mapping_properties) >= CONTENT_FIELDS


@pytest.mark.parametrize("code", [*sorted(ANALYSED_LANGUAGES), "und", "zh"])
def test_document_keys_are_mapping_properties(article, mapping_properties, code):
    assert set(_build(article, code)) <= set(mapping_properties)


def test_content_field_only_for_the_analysed_language(article):
    document = _build(article, "ru", frozenset({"en"}))
    assert document["content_ru"] == (
        "Kremlin sends terms\n\nRussia has sent the United States a list of demands."
    )
    assert set(document) & CONTENT_FIELDS == {"content_ru"}


@pytest.mark.parametrize("code", ["und", "zh"])
def test_no_content_field_for_unanalysed_languages(article, code):
    assert not set(_build(article, code)) & CONTENT_FIELDS


def test_document_values(article):
    keys = dedup_keys(article)
    document = _build(article, "ru", frozenset({"en"}))
    assert document["doc_id"] == keys.doc_id
    assert document["story_id"] == keys.doc_id
    assert document["dedup_keys"] == list(keys.keys)
    assert document["content_hash"] == keys.content_hash
    assert document["indexed_at"] == "2025-03-13T12:05:00+00:00"
    assert document["language"] == "ru"
    assert document["language_confidence"] == 0.91
    assert document["needs_translation"] is True
    assert document["persons"] == ["Vladimir Putin"]
    assert document["organisations"] == ["NATO"]
    assert document["places"] == ["Moscow"]
    assert document["authors"] == ["Ann Author"]
    assert document["mentions"] == [
        {"text": "Putin", "type": "persons", "canonical": "Vladimir Putin"}
    ]
    assert document["original_url"] == "https://www.example.com/story?utm_source=x"


def test_working_language_needs_no_translation(article):
    assert _build(article, "en", frozenset({"en"}))["needs_translation"] is False


def test_document_is_json_serialisable(article):
    document = _build(article, "en")
    assert json.loads(json.dumps(document)) == document


def test_agency_fields_travel_into_the_document(article):
    from dataclasses import replace

    agency = replace(
        article,
        slugline="Calabria-sisma",
        urgency=3,
        subjects=("medtop:20000151", "subj:03015000"),
        subject_labels=("terremoto", "earthquake"),
        agency="AST",
        agency_guid="urn:newsml:ast.example:1",
        agency_version=2,
        is_correction=True,
    )
    document = _build(agency, "it")
    assert document["subjects"] == ["medtop:20000151", "subj:03015000"]
    assert document["subject_labels"] == ["terremoto", "earthquake"]
    assert (document["urgency"], document["agency_version"]) == (3, 2)
    assert document["is_correction"] is True
    assert document["corrected"] is True
    assert document["visibility"] == "public"


@pytest.mark.parametrize(
    ("pubstatus", "embargo_until", "expected"),
    [
        ("usable", None, "public"),
        ("usable", "2025-03-13T12:05:01+00:00", "embargoed"),
        ("usable", "2025-03-13T12:05:00+00:00", "public"),
        ("canceled", None, "withdrawn"),
        ("withheld", None, "withdrawn"),
    ],
)
def test_visibility_is_decided_at_indexing(article, pubstatus, embargo_until, expected):
    from dataclasses import replace

    changed = replace(article, pubstatus=pubstatus, embargo_until=embargo_until)
    assert _build(changed, "en")["visibility"] == expected


def test_feed_articles_are_public_and_uncorrected(article):
    document = _build(article, "en")
    assert (document["visibility"], document["pubstatus"], document["corrected"]) == (
        "public",
        "usable",
        False,
    )
    assert document["subjects"] == []
    assert document["urgency"] is None
