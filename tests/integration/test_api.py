"""The HTTP API against the real Elasticsearch and Redis (in-process ASGI client)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from newswire.api import app
from newswire.search.store import SearchStore

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(search_store: SearchStore) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def test_search_returns_hits_highlights_and_facets(
    client: TestClient, ingested: list[dict[str, Any]]
) -> None:
    response = client.get("/search", params={"q": "Kursk", "size": 5, "collapse": "false"})
    assert response.status_code == 200
    body = response.json()
    assert body["total"] >= 3
    assert "<mark>Kursk</mark>" in " ".join(body["hits"][0]["highlights"]["body"])
    assert {"source", "language", "person", "organisation", "place", "category"} <= set(
        body["facets"]
    )
    filtered = client.get("/search", params={"language": "de", "collapse": "false"}).json()
    assert filtered["total"] == 1
    assert filtered["hits"][0]["language"] == "de"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"size": 0}, "size"),
        ({"from": "yesterday"}, "from must be a date"),
        ({"from": "2025-03-13", "to": "2025-03-01"}, "'from' is after 'to'"),
        ({"sort": "random"}, "sort"),
        ({"page": 2000, "size": 100}, "page"),
    ],
)
def test_a_bad_query_gets_400_with_a_message(
    client: TestClient, params: dict[str, Any], message: str
) -> None:
    response = client.get("/search", params=params)
    assert response.status_code == 400
    assert message in str(response.json()["detail"])
    assert "Traceback" not in response.text


def test_article_html_is_sanitised(client: TestClient, ingested: list[dict[str, Any]]) -> None:
    hits = client.get(
        "/search", params={"q": "Deep State", "source": "InoSMI — World (English)"}
    ).json()
    doc = client.get(f"/articles/{hits['hits'][0]['doc_id']}").json()
    assert '<a href="https://inosmi.ru/tags/reuters/"' in doc["body_html"]
    assert "<script" not in doc["body_html"]
    assert "onerror" not in doc["body_html"]
    assert client.get("/articles/does-not-exist").status_code == 404


def test_alerts_actors_health_and_metrics(
    client: TestClient, ingested: list[dict[str, Any]], search_store: SearchStore
) -> None:
    actors = {a["id"] for a in client.get("/actors").json()}
    assert {"valery-gerasimov", "sudzha"} <= actors
    alerts = client.get("/alerts", params={"actor": "sudzha"}).json()
    assert alerts
    assert all(a["actor_id"] == "sudzha" for a in alerts)
    assert client.get("/health").json()["redis"] is True
    metrics = client.get("/metrics").text
    indexed = next(
        line for line in metrics.splitlines() if line.startswith("newswire_indexed_articles ")
    )
    assert float(indexed.split()[1]) == search_store.count()
    assert search_store.count() > 0
    assert "newswire_queue_length" in metrics


def test_admin_endpoints_need_the_token(client: TestClient) -> None:
    # No NEWSWIRE_ADMIN_TOKEN in the test settings: admin is switched off entirely.
    assert client.get("/admin/deadletter").status_code == 403
    assert client.post("/admin/ingest", json={"url": "http://10.0.0.1/"}).status_code == 403
