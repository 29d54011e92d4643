"""A real HTTP server on 127.0.0.1 for the tests: scriptable routes, a request log, slow drips.

Routes map a path to a `Reply` (or a function returning one). The server records every
request (path, headers, start and end) and how many requests for one path were in flight at
once, which is how the tests prove that a feed is never polled twice at the same time.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    """One response; `etag` makes the route answer 304 to a matching If-None-Match."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    delay: float = 0.0  # before the status line
    drip: float | None = None  # seconds between single body bytes
    gzip: bool = False


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    started: float
    ended: float | None = None


Route = Reply | Callable[[dict[str, str]], Reply]


def rss(items: list[tuple[str, str, datetime | None]], *, title: str = "Test feed") -> bytes:
    """An RSS 2.0 document with (guid, title, published) items."""
    parts = []
    for guid, item_title, published in items:
        date = f"<pubDate>{format_datetime(published)}</pubDate>" if published else ""
        parts.append(
            f"<item><guid>{guid}</guid><title>{item_title}</title>"
            f"<link>https://news.example/{guid}</link>{date}"
            f"<description>{item_title}. A report with enough words to index.</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>https://news.example/</link>{''.join(parts)}"
        "</channel></rss>"
    ).encode()


def hours_ago(hours: float) -> datetime:
    return datetime.fromtimestamp(time.time() - hours * 3600, UTC)


class FeedServer:
    """Start with `with FeedServer() as server:`; `server.url('/path')` is the address."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.log: list[Seen] = []
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                owner._serve(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_port
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def requests(self, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.log if s.path == path]

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path
        headers = {k.lower(): v for k, v in handler.headers.items()}
        seen = Seen(path, headers, time.monotonic())
        with self._lock:
            self.log.append(seen)
            self.in_flight[path] = self.in_flight.get(path, 0) + 1
            self.max_in_flight[path] = max(self.max_in_flight.get(path, 0), self.in_flight[path])
        try:
            route = self.routes.get(path)
            reply = route(headers) if callable(route) else route
            self._send(handler, reply or Reply(404, b"not found"), headers)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (timeouts, size limits)
        finally:
            with self._lock:
                self.in_flight[path] -= 1
                seen.ended = time.monotonic()

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, reply: Reply, headers: dict[str, str]) -> None:
        if reply.delay:
            time.sleep(reply.delay)
        if reply.etag and headers.get("if-none-match") == reply.etag:
            handler.send_response(304)
            handler.send_header("ETag", reply.etag)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        body = gzip.compress(reply.body) if reply.gzip else reply.body
        handler.send_response(reply.status)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        if reply.etag:
            handler.send_header("ETag", reply.etag)
        if reply.gzip:
            handler.send_header("Content-Encoding", "gzip")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if reply.drip is None:
            handler.wfile.write(body)
            return
        for i in range(len(body)):
            handler.wfile.write(body[i : i + 1])
            handler.wfile.flush()
            time.sleep(reply.drip)
