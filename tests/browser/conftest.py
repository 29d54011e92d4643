"""Browser fixtures: the real stack from tests/integration/conftest.py (its Redis database, its
Elasticsearch, real Celery workers) under an index prefix and queue of their own, the API app
served by uvicorn on a loopback port, and Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from newswire.alerts.store import AlertStore
from newswire.feeds.polling import articles_from_feed
from newswire.feeds.store import FeedStore
from newswire.search.store import SearchStore
from newswire.settings import Settings
from pipeline.alerts import parse_actors
from pipeline.feedlist import FeedConfig
from pipeline.models import Article

# Importing the integration conftest points the settings at the test services (its TEST_ENV).
from tests.integration.conftest import RUN_ID, TEST_ENV, start_worker, stop_worker
from tests.integration.helpers import seed_articles, wait_all
from workers.tasks import process_articles

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Apart from the integration tests' own prefix and queue, so their counts never see ours.
WEB_PREFIX = f"{TEST_ENV['NEWSWIRE_INDEX_PREFIX']}-web"
WEB_QUEUE = f"{TEST_ENV['NEWSWIRE_QUEUE']}-web"
ADMIN_TOKEN = secrets.token_urlsafe(24)
HOSTILE_FEED = ROOT / "tests" / "browser" / "hostile.rss"
AGENCY = ROOT / "tests" / "data" / "agency"
# Agency samples in the order a wire sends them: first versions, then a correction and a kill.
AGENCY_FIRST = (
    "calabria-v1.newsml.xml",
    "disaster-aid.anpa1312.tst",
    "qualite-air-embargo.newsml.xml",
)
AGENCY_LATER = ("calabria-v2-correction.newsml.xml", "disaster-aid-kill.anpa1312.tst")
# The sample's embargo ended long ago; moved into the future it holds the item back.
EMBARGO_SAMPLE = (b"2025-12-04T06:00:00+01:00", b"2099-12-04T06:00:00+01:00")


@dataclass(frozen=True)
class Stack:
    """The running stack a browser test talks to."""

    url: str
    settings: Settings
    search: SearchStore
    feeds: FeedStore
    env: dict[str, str]

    def ingest(self, articles: list[Article]) -> list[dict[str, Any]]:
        """Process articles on this stack's workers, wait, and make them searchable."""
        size = self.settings.batch_size
        results = [
            process_articles.apply_async(
                args=[[a.to_dict() for a in articles[i : i + size]]], queue=WEB_QUEUE
            )
            for i in range(0, len(articles), size)
        ]
        outcomes = wait_all(results)
        self.search.refresh()
        return outcomes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_api(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The project's API app under uvicorn on a free loopback port; returns once it answers."""
    port = free_port()
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "newswire.api:app"),
            *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
        ],
        cwd=ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"uvicorn exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            httpx.get(f"{url}/static/app.css", timeout=1)
        except httpx.HTTPError:
            time.sleep(0.2)
            continue
        return process, url
    process.kill()
    pytest.fail(f"uvicorn did not answer within 60 s:\n{log_path.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def hostile_articles(settings: Settings) -> list[Article]:
    """The hostile feed as the poller would ingest it."""
    return articles_from_feed(
        HOSTILE_FEED.read_bytes(), feed_id="hostile", source=None, settings=settings
    )


def agency_articles(names: tuple[str, ...], settings: Settings) -> list[Article]:
    """Agency sample files as the drop folder would ingest them (the embargo moved ahead)."""
    articles: list[Article] = []
    for name in names:
        content = (AGENCY / name).read_bytes().replace(*EMBARGO_SAMPLE)
        articles += articles_from_feed(content, feed_id="agency", source=None, settings=settings)
    return articles


@pytest.fixture(scope="session", autouse=True)
def release_redis_db() -> Iterator[None]:
    """Give the run's Redis database back at the end, as the integration fixtures do: a
    browser-only run never uses them, and its claim would otherwise hold the database for
    hours (fifteen such runs and no test run finds a free one)."""
    yield
    client = redis.Redis.from_url(TEST_ENV["NEWSWIRE_REDIS_URL"])
    try:
        if client.get("newswire-test-run") == RUN_ID.encode():
            client.flushdb()  # also releases the claim
    finally:
        client.close()


# Package scope: its worker and uvicorn stop once the browser tests are done.
@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not CHROMIUM.exists() or not AXE.exists():
        pytest.fail("chromium or axe-core is missing: run scripts/browser", pytrace=False)
    env = {
        **os.environ,
        **TEST_ENV,
        "NEWSWIRE_INDEX_PREFIX": WEB_PREFIX,
        "NEWSWIRE_QUEUE": WEB_QUEUE,
        "NEWSWIRE_ADMIN_TOKEN": ADMIN_TOKEN,
        "NEWSWIRE_LOG_FORMAT": "json",
    }
    settings = Settings(index_prefix=WEB_PREFIX, queue=WEB_QUEUE, admin_token=ADMIN_TOKEN)
    search = SearchStore.from_settings(settings)
    try:
        search.es.cluster.health(wait_for_status="yellow", timeout="30s")
    except Exception as exc:  # noqa: BLE001 - any failure means the same thing here
        pytest.fail(f"Elasticsearch is not reachable ({exc}); run scripts/services up", False)
    search.ensure_indices()
    AlertStore.of(search).sync_actors(
        parse_actors(settings.actors_file.read_text(encoding="utf-8"))
    )
    feeds = FeedStore.from_url(settings.redis_url, WEB_PREFIX)
    logs = tmp_path_factory.mktemp("browser")
    worker = start_worker(
        logs / "worker.log", queue=WEB_QUEUE, extra_env={"NEWSWIRE_INDEX_PREFIX": WEB_PREFIX}
    )
    server, url = serve_api(env, logs / "uvicorn.log")
    running = Stack(url=url, settings=settings, search=search, feeds=feeds, env=env)
    try:
        running.ingest(seed_articles(settings) + hostile_articles(settings))
        running.ingest(agency_articles(AGENCY_FIRST, settings))
        running.ingest(agency_articles(AGENCY_LATER, settings))
        for path in sorted((ROOT / "seeds" / "feeds").iterdir()):
            feeds.add(FeedConfig(id=path.stem, url=f"https://feeds.example.org/{path.name}"))
        # A feed whose id, address and last error are hostile text, as a broken feed's can be.
        hostile = FeedConfig(
            id="hostile<svg onload=alert(1)>", url="javascript:alert(document.cookie)"
        )
        feeds.add(hostile)
        feeds.pause(hostile.id, reason='</title><script>alert("reason")</script><img src=x>')
        yield running
    finally:
        stop(server)
        stop_worker(worker)
        search.drop_all()
        keys = list(feeds.client.scan_iter(match=f"{WEB_PREFIX}*", count=1000))
        if keys:
            feeds.client.delete(*keys)


# Package scope, not session: while Playwright's sync API is open it leaves an asyncio loop
# marked as running on this thread, and every later asyncio.run() (the feed fetcher, the
# webhook sender) in the rest of the suite would fail.
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Playwright gives the browser a fresh temporary profile (user-data dir) of its own.
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A new browser context (no cookies) with a page that records CSP violations."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    yield opened
    context.close()


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)
