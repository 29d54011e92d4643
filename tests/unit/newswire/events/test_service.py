"""Unit tests for newswire/events/service.py: the coverage line and the settings it reads."""

from __future__ import annotations

from newswire.events.service import coverage_line, event_config, fingerprint_document
from newswire.settings import Settings


def test_the_coverage_line_counts_stories_outlets_and_languages():
    assert coverage_line(9, 7, 3) == "Full coverage: 9 stories from 7 outlets in 3 languages"
    assert coverage_line(1, 1, 1) == "Full coverage: 1 story from 1 outlet in 1 language"


def test_thresholds_come_from_the_settings():
    config = event_config(
        Settings(event_window_hours=12, event_cross_language_threshold=0.6, event_merge_margin=0)
    )
    assert config.window_hours == 12
    assert config.cross_language_threshold == 0.6
    assert config.merge_margin == 0
    assert config.same_language_threshold == Settings().event_same_language_threshold


def test_a_document_fingerprint_uses_its_story_actors_and_entity_names():
    fp = fingerprint_document(
        {
            "doc_id": "d1",
            "story_id": "s1",
            "title": "Gerasimov reports to Putin",
            "body": "The chief of staff spoke in the Kursk region on Wednesday.",
            "language": "en",
            "published_at": "2025-03-13T09:00:00Z",
            "actors": ["vladimir-putin"],
            "persons": ["Valery Gerasimov"],
            "places": ["Kursk"],
        },
        event_config(Settings()),
    )
    assert fp.story_id == "s1"
    assert {"@vladimir-putin", "garas", "karsk"} <= fp.names
    assert fp.dates == {"d03-12"}
