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

from newswire.feeds.fetch import BlockedAddress, FetchError, FetchResult, check_url, fetch_feed

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


# --- the async client: encodings, limits, redirects, cache hints, connect-time address checks --


import asyncio  # noqa: E402
import zlib  # noqa: E402

from newswire.feeds.fetch import fetch, make_client  # noqa: E402
from tests.feedserver import FeedServer, Reply  # noqa: E402


@pytest.fixture(scope="module")
def _feed_server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


@pytest.fixture
def feeds(_feed_server: FeedServer) -> FeedServer:
    _feed_server.routes.clear()
    _feed_server.log.clear()
    return _feed_server


def _afetch(url: str, *, resolver=None, allowed=LOOPBACK, **overrides: object) -> FetchResult:
    options: dict[str, object] = {
        "max_bytes": MAX_BYTES,
        "max_redirects": 3,
        "user_agent": "newswire-test/1.0",
        "deadline": 2.0,
    }
    options.update(overrides)

    async def run() -> FetchResult:
        async with make_client(
            allowed, connect_timeout=1.0, read_timeout=1.0, resolver=resolver
        ) as client:
            return await fetch(client, url, **options)  # type: ignore[arg-type]

    return asyncio.run(run())


def test_gzip_body_is_decoded_and_gzip_deflate_are_offered(feeds):
    feeds.routes["/gz"] = Reply(body=FEED, gzip=True)
    assert _afetch(feeds.url("/gz")).content == FEED
    assert feeds.requests("/gz")[0].headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
def test_deflate_body_is_decoded_with_or_without_the_zlib_header(feeds, wbits):
    packer = zlib.compressobj(wbits=wbits)
    body = packer.compress(FEED) + packer.flush()
    feeds.routes["/deflate"] = Reply(body=body, headers={"Content-Encoding": "deflate"})
    assert _afetch(feeds.url("/deflate")).content == FEED


def test_a_gzip_bomb_stops_at_max_bytes_of_decoded_body(feeds):
    # 64 KiB of zeros compress to ~100 bytes: only the decoded size can catch it.
    feeds.routes["/bomb"] = Reply(body=b"\0" * (MAX_BYTES * 16), gzip=True)
    with pytest.raises(FetchError, match=f"body larger than {MAX_BYTES} bytes") as caught:
        _afetch(feeds.url("/bomb"))
    assert (caught.value.kind, caught.value.transient) == ("too_large", False)


def test_corrupt_gzip_and_unknown_encodings_are_permanent_errors(feeds):
    feeds.routes["/corrupt"] = Reply(body=b"not gzip at all", headers={"Content-Encoding": "gzip"})
    feeds.routes["/br"] = Reply(body=b"x", headers={"Content-Encoding": "br"})
    for path, message in (("/corrupt", "corrupt compressed body"), ("/br", "unsupported")):
        with pytest.raises(FetchError, match=message) as caught:
            _afetch(feeds.url(path))
        assert caught.value.kind == "encoding"


def test_a_slow_drip_is_cut_by_the_whole_fetch_deadline(feeds):
    # Each byte arrives well within the read timeout; only the overall deadline stops it.
    feeds.routes["/drip"] = Reply(body=FEED, drip=0.05)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"no complete answer within 0\.5 s") as caught:
        _afetch(feeds.url("/drip"), deadline=0.5)
    assert time.monotonic() - started < 1.5
    assert (caught.value.kind, caught.value.transient) == ("timeout", True)


def test_a_silent_server_trips_the_read_timeout(feeds):
    feeds.routes["/silent"] = Reply(body=FEED, delay=1.5)
    with pytest.raises(FetchError, match="timeout") as caught:
        _afetch(feeds.url("/silent"), deadline=5.0)
    assert caught.value.kind == "timeout"


def test_only_permanent_redirect_chains_report_the_new_address(feeds):
    feeds.routes["/feed"] = Reply(body=FEED)
    feeds.routes["/old"] = Reply(301, headers={"Location": "/older"})
    feeds.routes["/older"] = Reply(308, headers={"Location": "/feed"})
    feeds.routes["/temp"] = Reply(301, headers={"Location": "/temp2"})
    feeds.routes["/temp2"] = Reply(302, headers={"Location": "/feed"})
    moved = _afetch(feeds.url("/old"))
    assert (moved.url, moved.moved_to) == (feeds.url("/feed"), feeds.url("/feed"))
    assert _afetch(feeds.url("/temp")).moved_to is None


def test_error_carries_retry_after_and_success_carries_cache_hints(feeds):
    feeds.routes["/busy"] = Reply(429, b"slow down", headers={"Retry-After": "120"})
    feeds.routes["/cached"] = Reply(
        body=FEED,
        headers={
            "Cache-Control": "public, max-age=900",
            "Content-Type": "text/xml; charset=koi8-r",
        },
    )
    with pytest.raises(FetchError) as caught:
        _afetch(feeds.url("/busy"))
    assert (caught.value.status, caught.value.retry_after, caught.value.transient) == (
        429,
        "120",
        True,
    )
    cached = _afetch(feeds.url("/cached"))
    assert cached.cache_control == "public, max-age=900"
    assert cached.content_type == "text/xml; charset=koi8-r"


def test_connection_goes_to_the_checked_address_not_a_second_lookup(feeds):
    # DNS rebinding: the first answer is the allowed loopback address, any later one is not.
    # The backend must resolve once, check, and connect to that very address; a client that
    # looked the name up again (as httpx does by itself) would get 127.0.0.2 or fail.
    feeds.routes["/feed"] = Reply(body=FEED)
    lookups: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"] if len(lookups) == 1 else ["127.0.0.2"]

    url = f"http://rebind.test:{feeds.port}/feed"
    result = _afetch(url, resolver=rebinding, allowed=[ipaddress.ip_network("127.0.0.1/32")])
    assert result.content == FEED
    assert lookups == ["rebind.test"]
    assert feeds.requests("/feed")[0].headers["host"] == f"rebind.test:{feeds.port}"


def test_a_name_with_any_forbidden_answer_is_refused_before_connecting(feeds):
    feeds.routes["/feed"] = Reply(body=FEED)

    async def mixed(host: str, port: int) -> list[str]:
        return ["127.0.0.1", "10.0.0.7"]

    with pytest.raises(BlockedAddress, match=r"10\.0\.0\.7"):
        _afetch(f"http://mixed.test:{feeds.port}/feed", resolver=mixed)
    assert feeds.requests("/feed") == []


def test_redirect_to_a_name_resolving_privately_is_refused_at_connect(feeds):
    feeds.routes["/hop"] = Reply(302, headers={"Location": f"http://inside.test:{feeds.port}/feed"})

    async def resolver(host: str, port: int) -> list[str]:
        return ["127.0.0.1"] if host == "127.0.0.1" else ["192.168.0.10"]

    with pytest.raises(BlockedAddress, match=r"inside\.test resolves to 192\.168\.0\.10"):
        _afetch(feeds.url("/hop"), resolver=resolver)


def test_unresolvable_names_are_transient_dns_errors(feeds):
    async def nothing(host: str, port: int) -> list[str]:
        return []

    with pytest.raises(FetchError, match="cannot resolve") as caught:
        _afetch("http://nowhere.test/feed", resolver=nothing)
    assert (caught.value.kind, caught.value.transient) == ("dns", True)


def test_environment_proxies_are_ignored(feeds, monkeypatch):
    # A proxy would connect on our behalf, to whatever the name resolves to then.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9/")
    feeds.routes["/feed"] = Reply(body=FEED)
    assert _afetch(feeds.url("/feed")).content == FEED
