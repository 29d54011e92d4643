"""Reading indexed articles while Elasticsearch recovers: a per-document error is "not now"
(the batch is retried), never "not there"."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from newswire.backends import Unavailable
from newswire.ingest.service import is_transient
from newswire.stories.service import get_articles


class RecoveringIndex:
    """An mget answer as a restarted node gives it before its shard is assigned."""

    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs

    def mget(self, *, index: str, ids: list[str]) -> dict[str, Any]:
        return {"docs": self.docs}


def _store(docs: list[dict[str, Any]]) -> Any:
    return SimpleNamespace(
        es=RecoveringIndex(docs), settings=SimpleNamespace(articles_alias="t-articles")
    )


def test_an_unreadable_shard_is_unavailable_and_transient() -> None:
    docs = [
        {"_id": "a", "found": True, "_source": {"doc_id": "a"}},
        {"_id": "b", "error": {"type": "no_shard_available_action_exception"}},
    ]
    with pytest.raises(Unavailable, match="no_shard_available") as raised:
        get_articles(_store(docs), ["a", "b"])
    assert is_transient(raised.value)


def test_not_found_is_missing() -> None:
    docs = [
        {"_id": "a", "found": True, "_source": {"doc_id": "a"}},
        {"_id": "b", "found": False},
    ]
    assert get_articles(_store(docs), ["a", "b"]) == {"a": {"doc_id": "a"}}
