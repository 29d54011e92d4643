"""The translator adapters against a real LibreTranslate-compatible server on loopback."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from newswire.ingest.translate import LibreTranslate, NoTranslator, make_translator

RECEIVED: list[dict[str, str]] = []


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        RECEIVED.append(request)
        if self.path == "/broken/translate":
            self.send_response(500)
            self.end_headers()
            return
        if self.path == "/garbage/translate":
            body = b"<html>not json</html>"
        else:
            body = json.dumps({"translatedText": request["q"].upper()}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_libretranslate_sends_the_protocol_fields_and_returns_the_translation(server: str) -> None:
    translator = LibreTranslate(server, api_key="k")
    assert translator.translate("привет", source="ru", target="en") == "ПРИВЕТ"
    assert RECEIVED[-1] == {
        "q": "привет",
        "source": "ru",
        "target": "en",
        "format": "text",
        "api_key": "k",
    }


@pytest.mark.parametrize("path", ["/broken", "/garbage"])
def test_a_failing_service_gives_no_translation_instead_of_an_error(server: str, path: str) -> None:
    assert LibreTranslate(server + path).translate("x", source="de", target="en") is None


def test_an_unreachable_service_gives_no_translation() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before use: nothing listens there
    translator = LibreTranslate(f"http://127.0.0.1:{port}", timeout=1)
    assert translator.translate("x", source="de", target="en") is None


def test_make_translator_is_off_without_a_url(server: str) -> None:
    assert isinstance(make_translator(None, None, 5), NoTranslator)
    assert NoTranslator().translate("x", source="de", target="en") is None
    assert isinstance(make_translator(server, None, 5), LibreTranslate)
