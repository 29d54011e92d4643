"""/feeds over HTTP against the real Redis: open reads, admin-only changes, OPML, metrics."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

import newswire.deps
from newswire.api import app
from newswire.ingest.store import RedisStore
from newswire.search.store import SearchStore
from newswire.settings import Settings

pytestmark = pytest.mark.integration
TOKEN = secrets.token_urlsafe(12)
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(
    settings: Settings, redis_store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    with_token = settings.model_copy(update={"admin_token": TOKEN})
    monkeypatch.setattr(newswire.deps, "get_settings", lambda: with_token)
    with TestClient(app) as test_client:
        yield test_client


def test_feeds_lifecycle_over_http(client: TestClient) -> None:
    feed_id = f"api-{secrets.token_hex(3)}"
    body = {"id": feed_id, "url": "https://api.example/feed.rss", "tags": ["Wire"]}
    assert client.post("/feeds", json=body).status_code == 401
    created = client.post("/feeds", json=body, headers=AUTH)
    assert created.status_code == 201
    assert created.json()["tags"] == ["wire"]
    assert client.post("/feeds", json=body, headers=AUTH).status_code == 409
    bad = client.post("/feeds", json={"url": "ftp://x.example/f"}, headers=AUTH)
    assert bad.status_code == 400
    assert "url must be http" in bad.json()["detail"]
    assert any(f["id"] == feed_id for f in client.get("/feeds", params={"tag": "wire"}).json())
    patched = client.patch(f"/feeds/{feed_id}", json={"language": "uk"}, headers=AUTH)
    assert patched.json()["language"] == "uk"
    assert client.post(f"/feeds/{feed_id}/pause", headers=AUTH).json()["status"] == "paused"
    status = {r["feed"]: r for r in client.get("/feeds/status").json()}
    assert status[feed_id]["state"] == "paused"
    assert client.post(f"/feeds/{feed_id}/resume", headers=AUTH).json()["status"] == "active"
    assert client.get(f"/feeds/{feed_id}").json()["entries_per_day_seen"] == {}
    opml = client.get("/feeds/export.opml")
    assert opml.headers["content-type"].startswith("text/x-opml")
    assert f'newswireId="{feed_id}"' in opml.text
    assert client.delete(f"/feeds/{feed_id}", headers=AUTH).status_code == 204
    assert client.get(f"/feeds/{feed_id}").status_code == 404
    assert client.delete(f"/feeds/{feed_id}", headers=AUTH).status_code == 404
    assert client.post(f"/feeds/{feed_id}/pause", headers=AUTH).status_code == 404


def test_opml_import_and_poll_requests(client: TestClient) -> None:
    run = secrets.token_hex(3)
    document = (
        f'<opml version="2.0"><body><outline text="Api {run}" '
        f'xmlUrl="https://api.example/{run}.xml"/></body></opml>'
    ).encode()
    headers = {**AUTH, "Content-Type": "text/x-opml"}
    assert client.post("/feeds/import", content=document, headers=headers).json() == {
        "added": 1,
        "updated": 0,
    }
    assert client.post("/feeds/import", content=document, headers=headers).json() == {
        "added": 0,
        "updated": 1,
    }
    refused = client.post("/feeds/import", content=b"<html/>", headers=headers)
    assert refused.status_code == 400
    missing = client.post("/feeds/poll", json={"feeds": ["no-such-feed"]}, headers=AUTH)
    assert missing.status_code == 404
    queued = client.post("/feeds/poll", json={"feeds": [f"api-{run}"]}, headers=AUTH)
    assert queued.status_code == 202
    assert (queued.json()["feeds"], len(queued.json()["tasks"])) == (1, 1)
    client.delete(f"/feeds/api-{run}", headers=AUTH)


def test_metrics_report_feeds_by_state(client: TestClient, search_store: SearchStore) -> None:
    text = client.get("/metrics").text
    assert 'newswire_feeds{state="active"}' in text
    assert "newswire_feeds_overdue" in text
