"""Alert rules through the CLI (real `newswire rules` processes) and the API, against the real
Redis and Elasticsearch: create, list, show, test against the last days, edit, snooze, remove."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

import newswire.deps
from newswire.api import app
from newswire.ingest.store import RedisStore
from newswire.search.store import SearchStore
from newswire.settings import Settings
from tests.integration.conftest import ROOT, TEST_ENV

pytestmark = pytest.mark.integration
TOKEN = secrets.token_urlsafe(12)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SECRET = secrets.token_urlsafe(24)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "newswire.cli", "rules", *args],
        cwd=ROOT,
        env={**os.environ, **TEST_ENV},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _json(*args: str) -> Any:
    done = _cli(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_rules_lifecycle_from_the_command_line(
    ingested: list[dict[str, Any]], search_store: SearchStore
) -> None:
    rule_id = f"cli-{secrets.token_hex(3)}"
    created = _json(
        "add",
        "--id",
        rule_id,
        "--name",
        "Gerasimov from the CLI",
        "--actor",
        "valery-gerasimov",
        "--webhook",
        "https://hooks.example/newswire",
        "--secret",
        SECRET,
        "--quiet-hours",
        "22:00-07:00",
    )
    assert created["id"] == rule_id
    assert created["channels"][0]["secret"] == "(hidden)"
    assert created["quiet"] == {"snoozed_until": None, "start": "22:00", "end": "07:00"}
    assert rule_id in {r["id"] for r in _json("list")}

    again = _cli("add", "--id", rule_id, "--name", "Gerasimov from the CLI", "--query", "x")
    assert again.returncode == 2
    assert "exists" in again.stderr
    bad = _cli("add", "--name", "Nothing", "--language", "en")
    assert bad.returncode == 2
    assert "must match something" in bad.stderr

    tested = _json("test", rule_id, "--days", "7")
    titles = {a["title"] for story in tested["stories"] for a in story["articles"]}
    assert "Reuters: Россия передала США требования для переговоров по Украине" in titles
    assert not any("Bank of Russia" in t for t in titles)
    assert len({s["story_id"] for s in tested["stories"]}) == len(tested["stories"])
    assert tested["search_only"] == []

    edited = _json("edit", rule_id, "--query", "Kursk", "--disable")
    assert edited["query"] == "Kursk"
    assert edited["enabled"] is False
    # The secret was not given again, and the hidden value did not replace it.
    shown = _json("show", rule_id)
    assert shown["channels"][0]["secret"] == "(hidden)"
    assert "status" in shown["channels"][0]

    snoozed = _json("snooze", rule_id, "--for", "2h")
    assert snoozed["quiet"]["snoozed_until"]
    assert _json("snooze", rule_id, "--off")["quiet"]["snoozed_until"] is None

    assert _cli("remove", rule_id).returncode == 0
    missing = _cli("show", rule_id)
    assert missing.returncode == 2
    assert "no rule" in missing.stderr


@pytest.fixture
def client(
    settings: Settings,
    redis_store: RedisStore,
    search_store: SearchStore,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[TestClient]:
    with_token = settings.model_copy(update={"admin_token": TOKEN})
    monkeypatch.setattr(newswire.deps, "get_settings", lambda: with_token)
    with TestClient(app) as test_client:
        yield test_client


def test_rules_over_http_need_the_token_for_changes_and_explain_bad_rules(
    client: TestClient, ingested: list[dict[str, Any]]
) -> None:
    rule_id = f"api-{secrets.token_hex(3)}"
    body = {"id": rule_id, "name": "Kursk over HTTP", "query": "Kursk", "languages": ["en"]}
    assert client.post("/rules", json=body).status_code == 401
    created = client.post("/rules", json=body, headers=AUTH)
    assert created.status_code == 201, created.text
    assert client.post("/rules", json=body, headers=AUTH).status_code == 400
    bad = client.post("/rules", json={"name": "x", "query": "a~2"}, headers=AUTH)
    assert bad.status_code == 400
    assert "not supported" in bad.json()["detail"]
    blocked = client.post(
        "/rules",
        json={
            "name": "Loopback hook",
            "query": "Kursk",
            "channels": [{"type": "webhook", "url": "http://127.0.0.2:9/h", "secret": SECRET}],
        },
        headers=AUTH,
    )
    assert blocked.status_code == 400
    assert "non-public" in blocked.json()["detail"]

    assert rule_id in {r["id"] for r in client.get("/rules").json()}
    assert client.get(f"/rules/{rule_id}").json()["query"] == "Kursk"
    tested = client.get(f"/rules/{rule_id}/test", params={"days": 7}).json()
    assert tested["articles"] >= 1
    assert all(a["language"] == "en" for story in tested["stories"] for a in story["articles"])
    assert client.get(f"/rules/{rule_id}/test", params={"days": 0}).status_code == 400

    patched = client.patch(f"/rules/{rule_id}", json={"frequency": "daily"}, headers=AUTH)
    assert patched.json()["frequency"] == "daily"
    assert (
        client.patch(f"/rules/{rule_id}", json={"frequency": "weekly"}, headers=AUTH).status_code
        == 400
    )
    snoozed = client.post(
        f"/rules/{rule_id}/snooze", json={"until": "2030-01-01T08:00:00Z"}, headers=AUTH
    )
    assert snoozed.json()["quiet"]["snoozed_until"].startswith("2030-01-01T08:00")

    assert client.delete(f"/rules/{rule_id}").status_code == 401
    assert client.delete(f"/rules/{rule_id}", headers=AUTH).status_code == 204
    assert client.get(f"/rules/{rule_id}").status_code == 404

    inbox = client.get("/rules/inbox", params={"size": 5}).json()
    assert inbox
    first = inbox[0]["id"]
    assert client.post(f"/rules/inbox/{first}/read", json={"read": True}).status_code == 401
    assert (
        client.post(f"/rules/inbox/{first}/read", json={"read": True}, headers=AUTH).status_code
        == 204
    )
    unread = {
        a["id"] for a in client.get("/rules/inbox", params={"unread": True, "size": 500}).json()
    }
    assert first not in unread
    deliveries = client.get("/rules/deliveries").json()
    assert set(deliveries) == {"owed", "dead_letters"}
