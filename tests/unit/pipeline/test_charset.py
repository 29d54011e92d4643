"""Finding a fetched feed's real encoding, whatever its declarations say."""

from __future__ import annotations

import codecs

import pytest

from pipeline.charset import declared_charset, decode_feed, header_charset, to_utf8
from pipeline.feeds import parse_feed

RUSSIAN = "Россия передала США требования для переговоров по Украине, сообщил Косачев"
GERMAN = "Gespräche über Waffenruhe in Genf: Außenminister äußern sich zurückhaltend"


def _rss(title: str, declaration: str = "utf-8") -> str:
    return (
        f'<?xml version="1.0" encoding="{declaration}"?><rss version="2.0"><channel>'
        f"<title>t</title><item><guid>1</guid><title>{title}</title></item></channel></rss>"
    )


def _title(content: bytes, content_type: str | None = None) -> str:
    return parse_feed(to_utf8(content, content_type), feed_id="f").entries[0].title


def test_header_and_declared_charsets_are_read():
    assert header_charset('text/xml; charset="Windows-1251"') == "windows-1251"
    assert header_charset("application/rss+xml") is None
    assert header_charset(None) is None
    assert declared_charset(b"<?xml version='1.0' encoding='KOI8-R'?><rss/>") == "koi8-r"
    assert declared_charset(b"<rss/>") is None


def test_declared_single_byte_encoding_that_is_true():
    content = _rss(RUSSIAN, "windows-1251").encode("windows-1251")
    assert _title(content) == RUSSIAN


def test_http_charset_beats_a_wrong_xml_declaration():
    content = _rss(RUSSIAN, "utf-8").encode("koi8-r")
    assert _title(content, "application/rss+xml; charset=koi8-r") == RUSSIAN


def test_utf8_body_with_a_wrong_latin1_declaration_and_header():
    content = _rss(RUSSIAN, "iso-8859-1").encode("utf-8")
    assert _title(content, "text/xml; charset=ISO-8859-1") == RUSSIAN


def test_wrong_utf8_declaration_without_header_is_detected():
    content = _rss(RUSSIAN * 3, "utf-8").encode("windows-1251")
    text, encoding = decode_feed(content)
    assert RUSSIAN in text
    assert encoding.replace("_", "").replace("-", "").lower() in {"cp1251", "windows1251"}


def test_latin_text_in_windows_1252_declared_as_utf8():
    content = _rss(GERMAN, "utf-8").encode("windows-1252")
    assert _title(content, "text/xml; charset=windows-1252") == GERMAN


@pytest.mark.parametrize(
    ("bom", "codec"),
    [
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ],
)
def test_byte_order_marks_are_authoritative(bom, codec):
    content = bom + _rss(RUSSIAN, "iso-8859-1").encode(codec)
    assert _title(content) == RUSSIAN


def test_declared_utf16_without_bom():
    content = _rss(GERMAN, "utf-16-le").encode("utf-16-le")
    assert _title(content) == GERMAN


def test_declaration_is_rewritten_to_utf8():
    out = to_utf8(_rss(GERMAN, "windows-1252").encode("windows-1252"))
    assert out.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    assert GERMAN.encode() in out


def test_undecodable_garbage_still_yields_text():
    text, _ = decode_feed(bytes(range(128, 256)) * 4, "text/xml; charset=unknown-charset")
    assert isinstance(text, str)
    assert text
