"""fetch_feed against a real HTTP server on 127.0.0.1, and check_url's address policy.

Nothing here leaves loopback: the server binds 127.0.0.1, proxies are switched off, and URLs
that point elsewhere are refused by check_url before any connection is made.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from newswire.fetch import BlockedAddress, FetchError, FetchResult, check_url, fetch_feed

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]
FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
ETAG = '"v1"'
LAST_MODIFIED = "Wed, 12 Mar 2025 10:00:00 GMT"
MAX_BYTES = 4096


# Fixed responses: path -> (status, body, headers).
STATIC: dict[str, tuple[int, bytes, dict[str, str]]] = {
    "/r2": (302, b"", {"Location": "/r3"}),
    "/r3": (307, b"", {"Location": "feed"}),  # relative to /r3
    "/loop": (302, b"", {"Location": "/loop"}),
    "/to-private": (302, b"", {"Location": "http://10.0.0.1/feed"}),
    "/to-metadata": (302, b"", {"Location": "http://169.254.169.254/latest/meta-data/"}),
    "/to-file": (302, b"", {"Location": "file:///etc/passwd"}),
    "/no-location": (301, b"moved somewhere", {}),
    "/huge": (200, b"x" * (MAX_BYTES * 16), {}),
    "/exact": (200, b"y" * MAX_BYTES, {}),
}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass  # keep pytest output clean

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        try:
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (timeout and size-limit tests)

    def do_GET(self) -> None:
        path = self.path
        if path in STATIC:
            self._send(*STATIC[path])
        elif path == "/feed":
            if self.headers.get("If-None-Match") == ETAG:
                self._send(304, headers={"ETag": ETAG})
            else:
                self._send(200, FEED, {"ETag": ETAG, "Last-Modified": LAST_MODIFIED})
        elif path == "/echo":
            seen = "|".join(
                str(self.headers.get(name))
                for name in ("User-Agent", "If-Modified-Since", "Accept")
            )
            self._send(200, seen.encode())
        elif path == "/r1":
            self._send(301, headers={"Location": f"http://127.0.0.1:{self.server.server_port}/r2"})
        elif path == "/slow":
            time.sleep(1.5)
            self._send(200, FEED)
        elif path.startswith("/status/"):
            self._send(int(path.rsplit("/", 1)[-1]), b"error page")
        else:
            self._send(404, b"not found")


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _fetch(url: str, **overrides: object) -> FetchResult:
    options: dict[str, object] = {
        "allowed": LOOPBACK,
        "timeout": 2.0,
        "max_bytes": MAX_BYTES,
        "max_redirects": 3,
        "user_agent": "newswire-test/1.0",
    }
    options.update(overrides)
    return fetch_feed(url, **options)  # type: ignore[arg-type]


# --- fetch_feed ------------------------------------------------------------------------------


def test_200_returns_body_and_validators(server):
    result = _fetch(f"{server}/feed")
    assert result == FetchResult(
        url=f"{server}/feed",
        status=200,
        content=FEED,
        etag=ETAG,
        last_modified=LAST_MODIFIED,
        not_modified=False,
    )


def test_matching_etag_gives_304_not_modified(server):
    result = _fetch(f"{server}/feed", etag=ETAG, last_modified=LAST_MODIFIED)
    assert result == FetchResult(
        url=f"{server}/feed",
        status=304,
        content=b"",
        etag=ETAG,
        last_modified=LAST_MODIFIED,
        not_modified=True,
    )


def test_stale_etag_gets_the_full_document(server):
    result = _fetch(f"{server}/feed", etag='"v0"')
    assert (result.status, result.content, result.not_modified) == (200, FEED, False)


def test_sends_user_agent_accept_and_if_modified_since(server):
    result = _fetch(f"{server}/echo", last_modified=LAST_MODIFIED)
    user_agent, since, accept = result.content.decode().split("|")
    assert user_agent == "newswire-test/1.0"
    assert since == LAST_MODIFIED
    assert accept.startswith("application/rss+xml, application/atom+xml")


def test_redirect_chain_is_followed_to_the_final_url(server):
    result = _fetch(f"{server}/r1")
    assert result.url == f"{server}/feed"
    assert (result.status, result.content) == (200, FEED)


def test_redirect_chain_longer_than_the_limit_fails(server):
    with pytest.raises(FetchError, match="more than 2 redirects") as caught:
        _fetch(f"{server}/r1", max_redirects=2)
    assert caught.value.transient is False


def test_redirect_loop_fails_permanently(server):
    with pytest.raises(FetchError, match="more than 3 redirects") as caught:
        _fetch(f"{server}/loop")
    assert caught.value.transient is False


@pytest.mark.parametrize(
    ("path", "blocked"),
    [("/to-private", "10.0.0.1"), ("/to-metadata", "169.254.169.254"), ("/to-file", "'file'")],
)
def test_redirect_hop_to_a_forbidden_target_is_refused(server, path, blocked):
    with pytest.raises(BlockedAddress, match=blocked) as caught:
        _fetch(f"{server}{path}")
    assert caught.value.transient is False


def test_redirect_without_location_is_an_error(server):
    with pytest.raises(FetchError, match="redirect without Location") as caught:
        _fetch(f"{server}/no-location")
    assert (caught.value.status, caught.value.transient) == (301, False)


@pytest.mark.parametrize(
    ("status", "transient"),
    [(404, False), (410, False), (403, False), (429, True), (408, True), (500, True), (503, True)],
)
def test_http_errors_carry_status_and_transience(server, status, transient):
    with pytest.raises(FetchError, match=f"HTTP {status}") as caught:
        _fetch(f"{server}/status/{status}")
    assert caught.value.status == status
    assert caught.value.transient is transient


def test_unknown_path_is_a_permanent_404(server):
    with pytest.raises(FetchError) as caught:
        _fetch(f"{server}/missing")
    assert (caught.value.status, caught.value.transient) == (404, False)


def test_body_over_max_bytes_is_refused(server):
    with pytest.raises(FetchError, match=f"body larger than {MAX_BYTES} bytes") as caught:
        _fetch(f"{server}/huge")
    assert (caught.value.status, caught.value.transient) == (200, False)


def test_body_of_exactly_max_bytes_is_accepted(server):
    assert _fetch(f"{server}/exact").content == b"y" * MAX_BYTES


def test_timeout_is_transient(server):
    with pytest.raises(FetchError, match="timeout") as caught:
        _fetch(f"{server}/slow", timeout=0.2)
    assert caught.value.transient is True


def test_connection_refused_is_transient():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchError, match="connection failed") as caught:
        _fetch(f"http://127.0.0.1:{port}/feed")
    assert caught.value.transient is True


def test_loopback_is_refused_without_the_allowance(server):
    with pytest.raises(BlockedAddress, match="non-public address"):
        _fetch(f"{server}/feed", allowed=[])


# --- check_url -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/feed",
        "http://10.0.0.1/feed",
        "http://192.168.1.10/feed",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/feed",
        "http://[::ffff:127.0.0.1]/feed",
        "http://0.0.0.0/feed",
        "http://224.0.0.1/feed",
    ],
)
def test_check_url_refuses_non_public_addresses(url):
    with pytest.raises(BlockedAddress, match="non-public address") as caught:
        check_url(url, [])
    assert caught.value.transient is False


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("file:///etc/passwd", "file"),
        ("ftp://8.8.8.8/feed.xml", "ftp"),
        ("gopher://8.8.8.8/", "gopher"),
    ],
)
def test_check_url_refuses_other_schemes(url, scheme):
    with pytest.raises(BlockedAddress, match=f"not '{scheme}'"):
        check_url(url, [])


def test_check_url_refuses_a_url_without_host():
    with pytest.raises(BlockedAddress, match="no host"):
        check_url("http:///feed", [])


def test_check_url_allows_public_address_and_allowed_network():
    check_url("https://8.8.8.8/feed", [])  # no connection is made; only the address is judged
    check_url("http://127.0.0.1:8765/feed", LOOPBACK)
    check_url("http://10.1.2.3/feed", [ipaddress.ip_network("10.0.0.0/8")])


def test_allowance_is_specific_to_its_network():
    with pytest.raises(BlockedAddress, match=r"10\.0\.0\.1"):
        check_url("http://10.0.0.1/feed", LOOPBACK)


def test_check_url_invalid_port_is_a_fetch_error():
    with pytest.raises(FetchError):
        check_url("http://127.0.0.1:99999/feed", LOOPBACK)
