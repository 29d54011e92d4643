"""Poison in the queue: an entry that is no kombu envelope, and an envelope whose body is not
JSON, both land in the dead-letter list with their raw text, and the worker goes on with the
next task (before workers/broker.py, the first one made the whole worker exit)."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import pytest
import redis

from newswire.ingest.store import RedisStore
from newswire.search.store import SearchStore
from newswire.settings import Settings
from tests.integration.conftest import RUN_ID, start_worker, stop_worker
from workers.tasks import process_articles

pytestmark = pytest.mark.integration


def _envelope(queue: str, body: bytes) -> str:
    task_id = str(uuid.uuid4())
    return json.dumps(
        {
            "body": base64.b64encode(body).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {"lang": "py", "task": "newswire.process_articles", "id": task_id},
            "properties": {
                "delivery_tag": task_id,
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": queue},
                "priority": 0,
                "body_encoding": "base64",
            },
        }
    )


def test_malformed_queue_entries_are_dead_lettered_and_the_worker_goes_on(
    tmp_path: Path, settings: Settings, redis_store: RedisStore, search_store: SearchStore
) -> None:
    queue = f"test-{RUN_ID}-poison"
    client = redis.Redis.from_url(settings.redis_url)
    not_an_envelope = "{not json " + uuid.uuid4().hex
    bad_body = b'[[{"title": "unterminated ' + uuid.uuid4().hex.encode()
    worker = start_worker(tmp_path / "worker.log", concurrency=1, queue=queue)
    try:
        client.lpush(queue, not_an_envelope)
        client.lpush(queue, _envelope(queue, bad_body))
        # Queued behind the poison: answered only if the worker is still consuming.
        report = process_articles.apply_async(args=[[{"title": 5}]], queue=queue).get(timeout=120)
        assert report == {"dead_letters": 1}
        kept = {
            d["payload"]: d["reason"]
            for d in redis_store.dead_letters(1000)
            if d["kind"] == "message"
        }
        assert kept[not_an_envelope].startswith("queue entry is not a message")
        assert kept[bad_body.decode()].startswith("message body cannot be decoded")
        assert worker.poll() is None
        assert "Unrecoverable error" not in (tmp_path / "worker.log").read_text()
    finally:
        stop_worker(worker)
        client.close()
