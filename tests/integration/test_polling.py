"""Polling through the real worker: a local feed server on 127.0.0.1, good and broken feeds."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from newswire.es_store import SearchStore
from newswire.redis_store import RedisStore
from tests.integration.helpers import SEEDS, wait_all
from workers.tasks import poll_feed

pytestmark = pytest.mark.integration

ROUTES = {
    "/good.atom": (200, "application/atom+xml", (SEEDS / "reuters-world.atom").read_bytes()),
    "/html": (200, "text/html", b"<html><body><h1>Not a feed</h1></body></html>"),
    "/gone": (410, "text/plain", b"gone"),
}


class FeedHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, content_type, body = ROUTES.get(self.path, (404, "text/plain", b"no"))
        if self.path == "/good.atom" and self.headers.get("If-None-Match") == '"v1"':
            self.send_response(304)
            self.end_headers()
            return
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("ETag", '"v1"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def feed_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FeedHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_broken_feed_is_recorded_on_the_feed_and_polling_goes_on(
    feed_server: str,
    worker: subprocess.Popen[bytes],
    search_store: SearchStore,
    redis_store: RedisStore,
) -> None:
    feeds = [
        {"id": "poll-good", "url": f"{feed_server}/good.atom", "source": "Reuters"},
        {"id": "poll-html", "url": f"{feed_server}/html"},
        {"id": "poll-gone", "url": f"{feed_server}/gone"},
    ]
    outcomes = {
        f["id"]: o
        for f, o in zip(feeds, wait_all([poll_feed.delay(f) for f in feeds]), strict=True)
    }
    assert outcomes["poll-good"]["status"] == "ok"
    assert outcomes["poll-good"]["articles"] == 4
    assert outcomes["poll-html"]["status"] == "error"
    assert "not a feed" in outcomes["poll-html"]["error"]
    assert outcomes["poll-gone"]["error"] == "HTTP 410"

    html_state = redis_store.feed_state("poll-html")
    assert html_state["consecutive_errors"] == "1"
    assert "not a feed" in html_state["last_error"]
    assert redis_store.feed_state("poll-gone")["last_status"] == "410"
    good_state = redis_store.feed_state("poll-good")
    assert good_state["last_status"] == "200"
    assert good_state["etag"] == '"v1"'

    # The next poll of the unchanged feed is a conditional GET answered 304: nothing parsed.
    again = wait_all([poll_feed.delay(feeds[0])])[0]
    assert again == {"status": "not_modified", "articles": 0, "batches": 0, "error": None}
    assert redis_store.feed_state("poll-good")["last_status"] == "304"


def test_a_feed_on_a_private_address_is_refused_without_an_allowance(
    worker: subprocess.Popen[bytes],
    redis_store: RedisStore,
) -> None:
    # 10.0.0.0/8 is not in the tests' allowance (only 127.0.0.1/32); no request is made.
    outcome = wait_all([poll_feed.delay({"id": "poll-private", "url": "http://10.1.2.3/feed"})])[0]
    assert outcome["status"] == "error"
    assert "non-public address" in outcome["error"]
    assert "NEWSWIRE_FEED_ALLOW_NETWORKS" in redis_store.feed_state("poll-private")["last_error"]
