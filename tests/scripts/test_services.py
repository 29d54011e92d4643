"""scripts/services from a fresh clone in a private (mode 700) folder, on ports of its own.

The clone gets its own ports, so the services other test runs use are never touched, and
everything it starts is stopped (and, as root, its Elasticsearch folder removed) at the end.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Clone:
    path: Path
    env: dict[str, str]
    redis_port: int
    es_port: int

    def services(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["scripts/services", *args],
            cwd=self.path,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def redis(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.redis_port, socket_timeout=5)

    def es(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.es_port}{path}", timeout=10)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _private_clone(parent: Path) -> Path:
    parent.chmod(0o700)
    target = parent / "newswire"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(target)], check=True)
    return target


def _clean_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
    return env | {"NEWSWIRE_ES_HEAP": "512m"} | settings


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clone]:
    redis_port, es_port, transport_port = _free_ports(3)
    env = _clean_env(
        NEWSWIRE_REDIS_PORT=str(redis_port),
        NEWSWIRE_ES_PORT=str(es_port),
        NEWSWIRE_ES_TRANSPORT_PORT=str(transport_port),
    )
    started = Clone(_private_clone(tmp_path_factory.mktemp("private")), env, redis_port, es_port)
    try:
        yield started
    finally:
        started.services("down", timeout=120)
        es_home = started.path / ".runtime" / "elasticsearch"  # as root: outside the clone
        if es_home.is_symlink():
            shutil.rmtree(es_home.resolve(), ignore_errors=True)


def _pid(path: Path) -> int:
    return int(path.read_text().strip())


def test_both_services_start_from_a_private_clone_and_answer(clone: Clone) -> None:
    assert (clone.path.parent.stat().st_mode & 0o777) == 0o700
    result = clone.services("up")
    assert result.returncode == 0, result.stderr
    assert f"NEWSWIRE_ES_URL=http://127.0.0.1:{clone.es_port}" in result.stdout
    assert f"NEWSWIRE_REDIS_URL=redis://127.0.0.1:{clone.redis_port}/0" in result.stdout

    redis_pid = _pid(clone.path / ".runtime" / "redis.pid")
    assert clone.redis().info("server")["process_id"] == redis_pid
    assert clone.redis().config_get("appendonly") == {"appendonly": "yes"}
    assert clone.redis().config_get("appendfsync") == {"appendfsync": "everysec"}
    runtime = clone.path / ".runtime"
    # As root Elasticsearch runs as newswire-es from a folder outside the private clone.
    es_base = (runtime / "elasticsearch").resolve() if os.geteuid() == 0 else runtime
    assert not es_base.is_relative_to(clone.path) or os.geteuid() != 0
    nodes = clone.es("/_nodes/_local/process").json()["nodes"]
    es_pid = _pid(es_base / "es-run" / "elasticsearch.pid")
    assert [node["process"]["id"] for node in nodes.values()] == [es_pid]
    assert clone.es("/_cluster/health").json()["cluster_name"] == "newswire"

    # Already up: answers at once instead of waiting for a start (the timeout bounds it).
    again = clone.services("up", timeout=60)
    assert again.returncode == 0, again.stderr
    assert "already" in again.stderr or "up on" in again.stderr


def test_redis_and_elasticsearch_state_survive_down_and_up(clone: Clone) -> None:
    assert clone.services("up").returncode == 0
    clone.redis().set("newswire-survivor", "still here")
    created = httpx.put(
        f"http://127.0.0.1:{clone.es_port}/survivor/_doc/1?refresh=true",
        json={"title": "still indexed"},
        timeout=30,
    )
    assert created.status_code == 201, created.text

    down = clone.services("down", timeout=120)
    assert down.returncode == 0, down.stderr
    with pytest.raises(redis.ConnectionError):
        clone.redis().ping()

    up = clone.services("up")
    assert up.returncode == 0, up.stderr
    assert clone.redis().get("newswire-survivor") == b"still here"
    assert clone.es("/survivor/_doc/1").json()["_source"] == {"title": "still indexed"}


def test_feeds_claims_stories_and_dead_letters_survive_a_redis_restart(clone: Clone) -> None:
    """The project's own Redis state, written through its stores, after `down` and `up`."""
    from newswire.feeds.store import FeedStore
    from newswire.ingest.store import RedisStore
    from newswire.stories.store import StoryStore
    from pipeline.cluster import ClusterConfig, fingerprint
    from pipeline.dedup import dedup_keys
    from pipeline.feedlist import FeedConfig
    from pipeline.models import Article

    assert clone.services("up").returncode == 0
    url = f"redis://127.0.0.1:{clone.redis_port}/0"
    prefix = "survivor"
    article = Article(
        feed_id="wire",
        source="Wire",
        guid="wire-1",
        url="https://wire.example/kursk-ceasefire",
        original_url="https://wire.example/kursk-ceasefire",
        title="Kremlin sends Washington its terms for a ceasefire",
        summary="",
        body="Russia set out its terms for a thirty-day ceasefire on Thursday, officials said. "
        * 8,
        body_html="",
        published_at="2025-03-12T19:25:00+00:00",
        fetched_at="2025-03-12T19:30:00+00:00",
    )
    keys = dedup_keys(article)

    def stores() -> tuple[FeedStore, RedisStore, StoryStore]:
        client = redis.Redis.from_url(url, decode_responses=True)
        return (
            FeedStore.from_url(url, prefix),
            RedisStore(client, prefix),
            StoryStore(client, prefix, clock=lambda: 1_741_807_800.0),
        )

    def story_of(story_store: StoryStore) -> str:
        fp = fingerprint(
            doc_id=keys.doc_id,
            content_hash=keys.doc_id,
            title=article.title,
            body=article.body,
            language="en",
            published_at=article.published_at,
        )
        return story_store.assign([fp], ClusterConfig())[0].story_id

    feeds, claims, stories = stores()
    feeds.add(FeedConfig(id="wire", url="https://wire.example/feed.xml"))
    feeds.pause("wire", reason="checked after a restart")
    assert not claims.claim([keys], ttl_seconds=3600)[0].is_duplicate
    claims.dead_letter("article", "unparseable date", {"guid": "poison-1"})
    story = story_of(stories)

    assert clone.services("down", timeout=120).returncode == 0
    assert clone.services("up").returncode == 0

    feeds, claims, stories = stores()
    record = feeds.get("wire")
    assert record.config.url == "https://wire.example/feed.xml"
    assert (record.state.status, record.state.reason) == ("paused", "checked after a restart")
    # The claim is still held: the same article again is recognised, not indexed twice.
    again = claims.claim([keys], ttl_seconds=3600)[0]
    assert again.owner == keys.doc_id
    assert [d["payload"] for d in claims.dead_letters(10)] == [{"guid": "poison-1"}]
    # The story record is there: the same text is given the same story, not a new one.
    assert story_of(stories) == story


@pytest.fixture
def occupied_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.mark.parametrize(
    ("setting", "others"),
    [
        ("NEWSWIRE_REDIS_PORT", {}),
        # Redis is someone else's here, so only Elasticsearch is managed and checked.
        ("NEWSWIRE_ES_PORT", {"NEWSWIRE_REDIS_URL": "redis://127.0.0.1:1/0"}),
        ("NEWSWIRE_ES_TRANSPORT_PORT", {"NEWSWIRE_REDIS_URL": "redis://127.0.0.1:1/0"}),
    ],
)
def test_a_port_held_by_another_program_fails_at_once_naming_port_and_setting(
    tmp_path: Path, occupied_port: int, setting: str, others: dict[str, str]
) -> None:
    path = _private_clone(tmp_path)
    free = dict(
        zip(
            ("NEWSWIRE_REDIS_PORT", "NEWSWIRE_ES_PORT", "NEWSWIRE_ES_TRANSPORT_PORT"),
            map(str, _free_ports(3)),
            strict=True,
        )
    )
    env = _clean_env(**(free | others | {setting: str(occupied_port)}))
    # At once, not after the 180 s start wait of old: the timeout fails the test otherwise.
    result = Clone(path, env, occupied_port, occupied_port).services("up", timeout=30)
    assert result.returncode != 0
    assert f"port {occupied_port} is taken by another program" in result.stderr
    assert setting in result.stderr
    assert not (path / ".runtime" / "redis.pid").exists()
