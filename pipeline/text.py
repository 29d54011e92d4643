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

# Opening or closing a block element, or a line break, separates words.
_BLOCK_EDGE = re.compile(
    r"(?i)</?(p|div|li|ul|ol|h[1-6]|blockquote|tr|td|th|pre|figure|section|article)\b[^>]*>"
    r"|<br\s*/?>"
)
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\s*\n\s*(\n\s*)+")


def sanitize_html(fragment: str) -> str:
    """Return feed HTML reduced to an allowlist safe to show on a newsroom page."""
    return nh3.clean(
        fragment,
        tags=set(ALLOWED_TAGS),
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def html_to_text(fragment: str) -> str:
    """Return the readable text of an HTML fragment, paragraphs separated by blank lines."""
    if not fragment:
        return ""
    marked = _BLOCK_EDGE.sub(lambda m: "\n\n" + m.group(0) + "\n\n", fragment)
    # nh3 with no allowed tags drops markup and the contents of script/style elements.
    stripped = nh3.clean(marked, tags=set(), attributes={})
    text = html.unescape(stripped)
    text = unicodedata.normalize("NFC", text)
    text = _SPACES.sub(" ", text)
    text = _BLANK_LINES.sub("\n\n", text)
    return "\n".join(line.strip() for line in text.split("\n")).strip()
