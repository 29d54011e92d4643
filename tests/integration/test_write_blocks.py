"""A write refused for now (the disk flood-stage watermark's read-only block) makes the batch
wait and retry, like an outage, instead of dead-lettering the articles."""

from __future__ import annotations

import secrets

import pytest

from newswire.backends import Unavailable
from newswire.ingest.service import is_transient
from newswire.search.store import SearchStore
from newswire.settings import Settings

pytestmark = pytest.mark.integration


def test_a_read_only_index_refuses_creates_as_unavailable(
    settings: Settings, search_store: SearchStore
) -> None:
    es = search_store.es
    index, _ = search_store.current_index()
    doc_id = f"blocked-{secrets.token_hex(4)}"
    es.indices.put_settings(index=index, settings={"index.blocks.read_only_allow_delete": True})
    try:
        with pytest.raises(Unavailable, match="cluster_block_exception") as raised:
            search_store.create_articles([{"doc_id": doc_id}])
        assert is_transient(raised.value)
    finally:
        es.indices.put_settings(index=index, settings={"index.blocks.read_only_allow_delete": None})
    assert not es.exists(index=settings.articles_alias, id=doc_id)
