"""An alert's articles read while Elasticsearch recovers: a per-document error keeps the job
for the next sweep (Unavailable), instead of dead-lettering it as "no longer public"."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from newswire.alerts.delivery import _articles
from newswire.backends import Unavailable


def _store(docs: list[dict[str, Any]]) -> Any:
    def mget(**_: Any) -> dict[str, Any]:
        return {"docs": docs}

    return SimpleNamespace(
        es=SimpleNamespace(mget=mget), settings=SimpleNamespace(articles_alias="t-articles")
    )


def test_an_unreadable_shard_is_unavailable() -> None:
    docs = [{"_id": "a", "error": {"type": "no_shard_available_action_exception"}}]
    with pytest.raises(Unavailable, match="no_shard_available"):
        _articles(_store(docs), ["a"])


def test_only_public_articles_that_exist_are_sent() -> None:
    docs = [
        {"_id": "a", "found": True, "_source": {"doc_id": "a"}},
        {"_id": "b", "found": True, "_source": {"doc_id": "b", "visibility": "withdrawn"}},
        {"_id": "c", "found": False},
    ]
    assert _articles(_store(docs), ["a", "b", "c"]) == [{"doc_id": "a"}]
