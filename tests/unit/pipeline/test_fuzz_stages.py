"""Hostile input through parse -> normalise -> dedup -> document, fuzzed with hypothesis.

The one failure allowed is the parse stage's documented one: FeedParseError with a reason.
Whatever parses must pass every later stage, keep the records' types, and end as a document
that serialises to JSON. Examples are derandomised and no example database is kept, so a CI
run is reproducible; each test stays within a few seconds.
"""

from __future__ import annotations

import json
import time
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.charset import to_utf8
from pipeline.dedup import dedup_keys
from pipeline.document import build_document
from pipeline.feeds import FeedParseError, parse_feed
from pipeline.models import Article, Entities, FeedEntry, LanguageGuess
from pipeline.normalise import normalise_entry
from pipeline.text import html_to_text

SEEDS = Path(__file__).resolve().parents[3] / "seeds" / "feeds"
SEED_FEEDS = {path.name: path.read_bytes() for path in sorted(SEEDS.iterdir())}
FETCHED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def fuzz(max_examples: int, seconds: float | None = 2.0) -> Any:
    """Reproducible, database-free hypothesis settings with a per-example deadline."""
    return settings(
        max_examples=max_examples,
        deadline=None if seconds is None else seconds * 1000,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def _conforms(value: Any, annotation: Any) -> bool:
    if annotation is Any:
        return True
    origin = get_origin(annotation)
    if origin in (Union, UnionType):
        return any(_conforms(value, option) for option in get_args(annotation))
    if origin is tuple:
        item_type = get_args(annotation)[0]
        return isinstance(value, tuple) and all(_conforms(item, item_type) for item in value)
    if origin is not None:
        return isinstance(value, origin)
    if annotation is type(None):
        return value is None
    return isinstance(value, annotation) and not (annotation is int and isinstance(value, bool))


def _assert_field_types(record: FeedEntry | Article) -> None:
    # A JSON Feed may put a number or an object where a string belongs; the records must not.
    hints = get_type_hints(type(record))
    for spec in fields(record):
        value = getattr(record, spec.name)
        assert _conforms(value, hints[spec.name]), (spec.name, value)


def through_every_stage(content: bytes, content_type: str | None = None) -> list[dict[str, Any]]:
    """Run one document through all stages, both as `newswire ingest` and as a feed poll does
    (re-encoded to UTF-8 first); return the documents, or none when parsing refused it."""
    documents: list[dict[str, Any]] = []
    for variant in (content, to_utf8(content, content_type)):
        try:
            parsed = parse_feed(variant, feed_id="fuzz", max_entries=20)
        except FeedParseError as refused:
            reason = str(refused).strip()
            assert reason, "a refusal must carry a reason"
            continue
        assert isinstance(parsed.title, str)
        assert parsed.link is None or isinstance(parsed.link, str)
        assert parsed.language is None or isinstance(parsed.language, str)
        for entry in parsed.entries:
            _assert_field_types(entry)
            assert FeedEntry.from_dict(json.loads(json.dumps(entry.to_dict()))) == entry
            article = normalise_entry(entry, fetched_at=FETCHED_AT)
            _assert_field_types(article)
            assert Article.from_dict(json.loads(json.dumps(article.to_dict()))) == article
            keys = dedup_keys(article)
            assert keys.doc_id
            assert keys.primary in keys.keys
            document = build_document(
                article,
                keys=keys,
                language=LanguageGuess("en", 0.9),
                entities=Entities(),
                working_languages=frozenset({"en"}),
                indexed_at=FETCHED_AT,
            )
            documents.append(json.loads(json.dumps(document, ensure_ascii=False)))
    return documents


def test_every_seed_feed_goes_through_every_stage() -> None:
    for name, content in SEED_FEEDS.items():
        assert through_every_stage(content), name


@fuzz(max_examples=200)
@given(st.binary(max_size=4096))
def test_random_bytes(content: bytes) -> None:
    through_every_stage(content)


@fuzz(max_examples=150)
@given(st.sampled_from(sorted(SEED_FEEDS)), st.floats(0, 1))
def test_truncated_real_feeds(name: str, fraction: float) -> None:
    content = SEED_FEEDS[name]
    through_every_stage(content[: int(len(content) * fraction)])


# Bytes and tokens that matter to XML, HTML, JSON and the decoders.
HOSTILE_TOKENS = [
    b"<",
    b">",
    b"&",
    b"&amp;",
    b"&#0;",
    b"&#x110000;",
    b"&nbsp;",
    b"<item>",
    b"</item>",
    b"<entry>",
    b"<![CDATA[",
    b"]]>",
    b"<!--",
    b"-->",
    b"<!DOCTYPE rss>",
    b'<!ENTITY x "y">',
    b"&x;",
    b"<?xml version='1.0' encoding='bogus'?>",
    b'encoding="utf-16"',
    b"\x00",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"\xc3",
    b"\xed\xa0\x80",
    b'"',
    b"{",
    b"}",
    b"[",
    b"]",
    b'"items":',
    b"1e99999",
    b"null",
    b"<script>alert(1)</script>",
    b"<p",
    b"javascript:",
    b"http://[::1",
    b"https://exa mple.com/%zz?utm_source=x#frag",
]


@st.composite
def mutated_feed(draw: st.DrawFn) -> bytes:
    content = bytearray(SEED_FEEDS[draw(st.sampled_from(sorted(SEED_FEEDS)))])
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(content)))
        action = draw(st.sampled_from(["flip", "insert", "delete", "token"]))
        if action == "flip" and at < len(content):
            content[at] = draw(st.integers(0, 255))
        elif action == "insert":
            content[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif action == "delete":
            del content[at : at + draw(st.integers(1, 64))]
        else:
            content[at:at] = draw(st.sampled_from(HOSTILE_TOKENS))
    return bytes(content)


@fuzz(max_examples=150)
@given(mutated_feed())
def test_mutated_real_feeds(content: bytes) -> None:
    through_every_stage(content)


RSS_TEMPLATE = """<?xml version="1.0" encoding="{declared}"?>
<rss version="2.0"><channel><title>Лента новостей</title><link>https://wire.example/</link>
<item><title>{title}</title><link>https://wire.example/1</link><guid>wire-1</guid>
<description>Москва — Kyiv — Zürich — 東京 — {title}</description></item></channel></rss>"""

ENCODINGS = [
    "bogus",
    "x-unknown-charset",
    "utf-8",
    "UTF-16",
    "utf-16-le",
    "utf-32",
    "iso-8859-1",
    "latin1",
    "windows-1251",
    "koi8-r",
    "cp1252",
    "shift_jis",
    "euc-jp",
    "gb18030",
    "big5",
    "utf-7",
    "cp500",
    "mac-cyrillic",
    "rot13",
    "hex",
    "base64",
    "idna",
    "punycode",
    "undefined",
    "palmos",
]


@fuzz(max_examples=150)
@given(
    declared=st.sampled_from(ENCODINGS),
    actual=st.sampled_from([e for e in ENCODINGS if e not in {"bogus", "x-unknown-charset"}]),
    header=st.one_of(st.none(), st.sampled_from(ENCODINGS).map(lambda e: f"text/xml; charset={e}")),
    title=st.text(max_size=40),
)
def test_wrong_and_unknown_encodings(
    declared: str, actual: str, header: str | None, title: str
) -> None:
    text = RSS_TEMPLATE.format(declared=declared, title=title.replace("<", "").replace("&", ""))
    try:
        content = text.encode(actual, errors="xmlcharrefreplace")
    except (LookupError, UnicodeError):
        content = text.encode("utf-8")
    through_every_stage(content, header)


def test_an_unknown_declared_encoding_is_decoded() -> None:
    content = RSS_TEMPLATE.format(declared="bogus", title="Kursk").encode()
    for documents in (through_every_stage(content), through_every_stage(content, "text/xml")):
        assert [d["title"] for d in documents] == ["Kursk", "Kursk"]


ATOM_HUGE = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title {attr}="{value}">Wire</title>
<link href="{href}"/><id>urn:wire</id>
<entry><title>Huge</title><id>urn:1</id><link href="{href}"/>
<content type="html">&lt;a href="{href}" title="{value}"&gt;x&lt;/a&gt;</content></entry></feed>"""


# Big inputs: their time depends on the machine's load, so no per-example deadline here;
# test_pathological_html_stays_linear is the guard against quadratic time.
@fuzz(max_examples=10, seconds=None)
@given(
    size=st.integers(10_000, 3_000_000),
    attr=st.sampled_from(["lang", "xml:base", "type", "x"]),
    in_href=st.booleans(),
)
def test_huge_attributes(size: int, attr: str, in_href: bool) -> None:
    value = "a" * size
    href = f"https://wire.example/{value}" if in_href else "https://wire.example/1"
    documents = through_every_stage(ATOM_HUGE.format(attr=attr, value=value, href=href).encode())
    assert [d["title"] for d in documents] == ["Huge", "Huge"]


@fuzz(max_examples=10, seconds=None)
@given(
    depth=st.integers(1_000, 30_000),
    where=st.sampled_from(["channel", "item", "description", "html", "json"]),
)
def test_deeply_nested_elements(depth: int, where: str) -> None:
    if where == "json":
        content = (
            b'{"version":"https://jsonfeed.org/version/1.1","items":[{"id":"1","title":'
            + b"[" * depth
            + b"]" * depth
            + b"}]}"
        )
    else:
        nest = "<x>" * depth + "deep" + "</x>" * depth
        html = "&lt;div&gt;" * depth + "deep"
        parts = {"channel": "", "item": "", "description": "", "html": ""}
        parts[where] = html if where == "html" else nest
        content = (
            (
                '<rss version="2.0"><channel><title>Deep</title>{channel}<item><title>t</title>'
                "<link>https://wire.example/1</link>{item}<description>{description}{html}"
                "</description></item></channel></rss>"
            )
            .format(**parts)
            .encode()
        )
    through_every_stage(content)


@pytest.mark.parametrize(
    "fragment",
    [
        pytest.param("<p" * 100_000, id="unclosed-block-tags"),
        pytest.param("<div x='" * 50_000, id="unclosed-attributes"),
        pytest.param("<br" * 100_000, id="unclosed-breaks"),
        pytest.param(
            "\u3000" * 50_000 + "\n" + "\u3000" * 50_000 + "x", id="one-newline-in-spaces"
        ),
        pytest.param("\n \n" * 100_000, id="blank-lines"),
    ],
)
def test_pathological_html_stays_linear(fragment: str) -> None:
    # Quadratic time here (as the block-edge and blank-line patterns once took) is minutes.
    started = time.monotonic()
    html_to_text(fragment)
    assert time.monotonic() - started < 15
    escaped = fragment.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    feed = (
        '<rss version="2.0"><channel><title>x</title><item><title>t</title>'
        f"<description>{escaped}</description></item></channel></rss>"
    )
    through_every_stage(feed.encode())
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    "item",
    [
        pytest.param(b'{"id": 1e999999, "title": "x"}', id="infinite-number"),
        pytest.param(b'{"id": ' + b"9" * 5000 + b', "title": "x"}', id="5000-digit-number"),
        pytest.param(b'{"id": "1", "title": {"a": 1}, "url": 5, "language": 7}', id="wrong-types"),
        pytest.param(b'{"id": "1", "authors": [{"name": 3}], "tags": [1, null]}', id="odd-lists"),
        pytest.param(b'{"id": "1", "date_published": "9999-99-99", "url": ["x"]}', id="odd-values"),
    ],
)
def test_json_feed_items_of_the_wrong_shape(item: bytes) -> None:
    feed = b'{"version": "https://jsonfeed.org/version/1.1", "title": 1, "items": [' + item + b"]}"
    through_every_stage(feed)
