"""Rebuilding the articles index behind its alias, on the real Elasticsearch."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from typer.testing import CliRunner

from newswire.cli import app
from newswire.search.store import SearchStore
from newswire.settings import Settings

pytestmark = pytest.mark.integration


def test_reindex_copies_every_document_swaps_the_alias_and_drops_the_old_index(
    settings: Settings, search_store: SearchStore
) -> None:
    own = Settings(**{**settings.model_dump(), "index_prefix": f"reindex-{secrets.token_hex(3)}"})
    store = SearchStore(search_store.es, own)
    store.ensure_indices()
    try:
        old, version = store.current_index()
        assert version == store.template_version
        docs: list[dict[str, Any]] = [
            {
                "doc_id": f"d{i}",
                "title": f"Title {i}",
                "body": "Body text",
                "language": "en",
                "published_at": "2025-03-12T12:00:00+00:00",
            }
            for i in range(1200)
        ]
        assert len(store.create_articles(docs).created) == 1200
        seen: list[tuple[int, int]] = []
        new = store.reindex(lambda done, total: seen.append((done, total)))
        assert new != old
        assert store.current_index()[0] == new
        assert not store.es.indices.exists(index=old)
        assert store.count() == 1200
        assert seen[-1] == (1200, 1200)
        assert store.get_article("d7")["title"] == "Title 7"
        # Writes through the alias land in the new index.
        assert store.create_articles([{"doc_id": "after", "title": "x"}]).created == ["after"]
    finally:
        store.drop_all()


def test_reindex_command_reports_the_new_index(
    ingested: list[dict[str, Any]], search_store: SearchStore
) -> None:
    before = search_store.count()
    result = CliRunner().invoke(app, ["reindex"])
    assert result.exit_code == 0, result.output
    assert f"articles now served from {search_store.settings.articles_alias}-v" in result.stdout
    search_store.refresh()
    assert search_store.count() == before
