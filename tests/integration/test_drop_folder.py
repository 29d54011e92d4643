"""Drop folders against the real Redis, worker and Elasticsearch: `newswire watch --once` takes
every complete agency file once, moves it to processed/ or failed/ (with the reason), never reads
a partial upload, and never queues the same content twice."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newswire.cli import app
from newswire.ingest.watch import DropState, drop_folder
from newswire.search.store import SearchStore
from newswire.settings import Settings
from pipeline.models import Article

pytestmark = pytest.mark.integration
AGENCY = Path(__file__).resolve().parents[1] / "data" / "agency"
runner = CliRunner()


def _titles(store: SearchStore, feed_id: str) -> set[str]:
    store.refresh()
    body = {"query": {"term": {"feed_id": feed_id}}, "size": 50, "_source": ["title"]}
    return {hit["_source"]["title"] for hit in store.search(body)["hits"]["hits"]}


def _wait_for_titles(store: SearchStore, feed_id: str, count: int) -> set[str]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        titles = _titles(store, feed_id)
        if len(titles) >= count:
            return titles
        time.sleep(0.5)
    pytest.fail(f"only {_titles(store, feed_id)} of {count} articles arrived from {feed_id}")


def test_watch_once_ingests_complete_files_and_refuses_the_rest_with_a_reason(
    tmp_path: Path,
    worker: subprocess.Popen[bytes],
    search_store: SearchStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drop = tmp_path / f"drop-{os.getpid()}-{time.time_ns()}"
    drop.mkdir()
    shutil.copy(AGENCY / "baltic-storm.nitf.xml", drop / "0117")  # no suffix: known by content
    shutil.copy(AGENCY / "bahnstreik.iptc7901.txt", drop / "bahnstreik.txt")
    shutil.copy(AGENCY / "unknown-root.xml", drop / "unknown.xml")
    (drop / "upload.xml.part").write_bytes(b"<?xml version='1.0'?><nitf><head>")
    (drop / ".hidden.xml").write_bytes((AGENCY / "baltic-storm.nitf.xml").read_bytes())
    monkeypatch.setenv("NEWSWIRE_WATCH_SETTLE_SECONDS", "0.2")
    from newswire.settings import get_settings

    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["watch", str(drop), "--once"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "0117: 1 articles queued" in result.stdout
    assert "unknown.xml failed" in result.output

    assert sorted(p.name for p in (drop / "processed").iterdir()) == ["0117", "bahnstreik.txt"]
    failed = drop / "failed"
    assert sorted(p.name for p in failed.iterdir()) == ["unknown.xml", "unknown.xml.reason"]
    assert (failed / "unknown.xml.reason").read_text().strip()
    # The partial upload and the hidden file stay where they are, unread.
    assert sorted(p.name for p in drop.iterdir() if p.is_file()) == [
        ".hidden.xml",
        "upload.xml.part",
    ]
    titles = _wait_for_titles(search_store, f"folder:{drop.name}", 2)
    assert "Storm closes Baltic ferry routes, strands 4,000 passengers" in titles


def test_the_same_content_dropped_again_or_seen_by_a_second_watcher_is_queued_once(
    tmp_path: Path, settings: Settings
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    queued: list[list[Article]] = []
    first = drop_folder(drop, settings=settings, enqueue=queued.append, settle_seconds=0)
    second = drop_folder(drop, settings=settings, enqueue=queued.append, settle_seconds=0)
    shutil.copy(AGENCY / "baltic-storm.ninjs2.json", drop / "storm.json")
    assert first.scan().processed == {"storm.json": 1}
    shutil.copy(AGENCY / "baltic-storm.ninjs2.json", drop / "storm-again.json")
    report = second.scan()
    assert report.processed == {}
    assert report.already == ["storm-again.json"]
    assert len(queued) == 1
    assert sorted(p.name for p in (drop / "processed").iterdir()) == [
        "storm-again.json",
        "storm.json",
    ]


def test_a_file_still_being_written_is_not_read_until_it_settles(
    tmp_path: Path, settings: Settings
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    queued: list[list[Article]] = []
    clock = [1000.0]
    folder = drop_folder(drop, settings=settings, enqueue=queued.append, settle_seconds=5)
    folder.clock = lambda: clock[0]
    target = drop / "calabria.xml"
    # Content no other test drops: the done marks are shared by this run's tests.
    content = (AGENCY / "calabria-v1.newsml.xml").read_bytes()
    target.write_bytes(content[:200])
    assert folder.scan().settling == ["calabria.xml"]
    clock[0] += 10
    target.write_bytes(content)  # it grew: the settle period starts again
    assert folder.scan().settling == ["calabria.xml"]
    clock[0] += 2
    assert folder.scan().settling == ["calabria.xml"]
    clock[0] += 4
    assert folder.scan().processed == {"calabria.xml": 1}
    assert len(queued) == 1


def test_a_claim_held_by_a_dead_watcher_expires_and_done_marks_outlive_restarts(
    settings: Settings,
) -> None:
    import redis

    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    state = DropState(client, f"{settings.index_prefix}-claims", ttl_seconds=60)
    assert state.claim("abc")
    assert not state.claim("abc")
    assert 0 < client.ttl(f"{settings.index_prefix}-claims:drop:claim:abc") <= 300
    state.finish("abc", "file.xml")
    restarted = DropState(
        redis.Redis.from_url(settings.redis_url, decode_responses=True),
        f"{settings.index_prefix}-claims",
        ttl_seconds=60,
    )
    assert restarted.is_done("abc")
    assert restarted.claim("abc")  # the claim went with finish; done is what stops a repeat
