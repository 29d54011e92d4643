"""HTML handling: sanitise feed HTML for display and reduce it to plain text for analysis."""

from __future__ import annotations

import html
import re
import unicodedata

import nh3

# What a newsroom page may show from a feed: structure and links, never scripts, styles,
# event handlers, iframes or images that could track readers.
ALLOWED_TAGS = frozenset(
    {
        "a",
        "p",
        "br",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "blockquote",
        "q",
        "ul",
        "ol",
        "li",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "pre",
        "code",
        "sub",
        "sup",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "figure",
        "figcaption",
        "abbr",
        "cite",
        "time",
    }
)
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "time": {"datetime"}}

# Opening or closing a block element, or a line break, separates words. Only the start of the
# tag is matched: a break before it separates the words on both sides, and a pattern that ran on
# to the tag's ">" would rescan the rest of the text from every "<p" that never closes.
_BLOCK_EDGE = re.compile(
    r"(?i)</?(?:p|div|li|ul|ol|h[1-6]|blockquote|tr|td|th|pre|figure|section|article|br)\b"
)
# Every whitespace character but the newline; paragraphs are then found line by line, because
# a pattern for "blank lines" with nested repetition backtracks quadratically on long runs.
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")


# The HTML5 parser behind nh3 is quadratic in the depth of unclosed elements (a 400 KB run of
# "<div x='" costs seconds per call); the longest real wire bodies are well under 100 KB, so
# longer fragments are cut, at a tag's start so that no half tag reaches the parser.
MAX_HTML_CHARS = 200_000


def _bounded(fragment: str) -> str:
    if len(fragment) <= MAX_HTML_CHARS:
        return fragment
    cut = fragment.rfind("<", MAX_HTML_CHARS // 2, MAX_HTML_CHARS)
    return fragment[: cut if cut > 0 else MAX_HTML_CHARS]


def sanitize_html(fragment: str) -> str:
    """Return feed HTML reduced to an allowlist safe to show on a newsroom page (fragments
    longer than MAX_HTML_CHARS are cut first)."""
    return nh3.clean(
        _bounded(fragment),
        tags=set(ALLOWED_TAGS),
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def html_to_text(fragment: str) -> str:
    """Return the readable text of an HTML fragment, paragraphs separated by blank lines
    (fragments longer than MAX_HTML_CHARS are cut first)."""
    if not fragment:
        return ""
    marked = _BLOCK_EDGE.sub(lambda m: "\n\n" + m.group(0), _bounded(fragment))
    # nh3 with no allowed tags drops markup and the contents of script/style elements.
    stripped = nh3.clean(marked, tags=set(), attributes={})
    text = html.unescape(stripped)
    text = unicodedata.normalize("NFC", text)
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()
