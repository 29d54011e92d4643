"""sanitize_html (display allowlist) and html_to_text (analysis text)."""

from __future__ import annotations

import pytest

from pipeline.feeds import parse_feed
from pipeline.text import html_to_text, sanitize_html


def _inosmi_reuters_html(seed_bytes) -> str:
    entries = parse_feed(seed_bytes("inosmi-world.rss"), feed_id="inosmi-world").entries
    return next(e for e in entries if e.guid == "inosmi-271234567").content_html


def test_seed_bait_loses_script_and_onerror_but_keeps_link(seed_bytes):
    raw = _inosmi_reuters_html(seed_bytes)
    clean = sanitize_html(raw)
    assert "<script" not in clean
    assert "alert(" not in clean
    assert "onerror" not in clean
    assert "<img" not in clean
    assert '<a href="https://inosmi.ru/tags/reuters/" rel="noopener noreferrer nofollow">' in clean
    assert "the Reuters news agency</a> reported that Putin" in clean


def test_sanitize_keeps_allowed_structure_and_attributes():
    fragment = (
        '<h2 class="x">Head</h2><p style="color:red">A <strong>b</strong> '
        '<abbr title="North Atlantic Treaty Organization">NATO</abbr> '
        '<time datetime="2025-03-12">today</time></p>'
    )
    assert sanitize_html(fragment) == (
        "<h2>Head</h2><p>A <strong>b</strong> "
        '<abbr title="North Atlantic Treaty Organization">NATO</abbr> '
        '<time datetime="2025-03-12">today</time></p>'
    )


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        ('<a href="javascript:alert(1)">x</a>', '<a rel="noopener noreferrer nofollow">x</a>'),
        (
            '<a href="mailto:desk@example.org">m</a>',
            '<a href="mailto:desk@example.org" rel="noopener noreferrer nofollow">m</a>',
        ),
        ('<iframe src="https://evil.example"></iframe>ok', "ok"),
        ('<img src="https://tracker.example/p.gif">', ""),
        ("<style>p{color:red}</style>text", "text"),
        ('<p onclick="steal()">hi</p>', "<p>hi</p>"),
    ],
)
def test_sanitize_removes_unsafe_markup(fragment, expected):
    assert sanitize_html(fragment) == expected


def test_text_keeps_paragraph_breaks():
    assert html_to_text("<p>One</p>\n<p>Two</p><p>Three</p>") == "One\n\nTwo\n\nThree"


def test_text_breaks_on_br_headings_and_list_items():
    assert html_to_text("<h3>Head</h3><p>line<br>next</p><ul><li>a</li><li>b</li></ul>") == (
        "Head\n\nline\n\nnext\n\na\n\nb"
    )


def test_text_drops_script_and_style_contents():
    assert html_to_text("<script>var x = 1;</script>Hello <style>p {}</style>world") == (
        "Hello world"
    )


def test_text_unescapes_entities_and_collapses_spaces():
    assert html_to_text("<p>Tom&nbsp;&amp;\t Jerry &lt;3</p>") == "Tom & Jerry <3"


def test_text_normalises_to_nfc():
    decomposed = "Mu\u0308nchen"
    assert html_to_text(decomposed) == "M\u00fcnchen"


def test_text_of_empty_fragment_is_empty():
    assert html_to_text("") == ""


def test_seed_text_has_no_script_payload(seed_bytes):
    text = html_to_text(_inosmi_reuters_html(seed_bytes))
    assert "alert" not in text
    assert "<" not in text
    assert "the Reuters news agency reported that Putin" in text
    assert text.startswith("Moscow — The Kremlin said on Wednesday")


@pytest.mark.parametrize(
    "fragment",
    ["<div>Kyiv<div>Moscow</div></div>", "<p>Kyiv<p>Moscow", "<ul><li>Kyiv<li>Moscow</ul>"],
)
def test_text_separates_words_of_adjacent_blocks(fragment):
    assert html_to_text(fragment).split() == ["Kyiv", "Moscow"]


def test_an_overlong_fragment_is_cut_at_a_tag_start_before_sanitising() -> None:
    from pipeline.text import MAX_HTML_CHARS

    paragraph = "<p>Wire copy that runs on and on.</p>"
    fragment = paragraph * (MAX_HTML_CHARS // len(paragraph) + 50)
    cleaned = sanitize_html(fragment)
    assert len(cleaned) <= MAX_HTML_CHARS
    assert cleaned.endswith("</p>")
    assert cleaned.count("<p>") == cleaned.count("</p>")
    assert html_to_text(fragment).endswith("Wire copy that runs on and on.")
