"""Character encodings of fetched feeds: find the real one, hand the parser UTF-8.

Servers and documents disagree often: a Content-Type charset that the document contradicts,
an XML declaration that lies, or none at all. The rules, in order:

1. a byte-order mark is authoritative;
2. a declared UTF-16/32 (HTTP header, then XML declaration) is tried first;
3. bytes that decode as UTF-8 are UTF-8: non-ASCII text in a single-byte encoding almost never
   forms valid UTF-8 sequences, whatever the declarations say;
4. otherwise the HTTP charset, then the XML declaration, the first that decodes cleanly;
5. otherwise charset-normalizer's guess, and as a last resort windows-1252 (which decodes any
   byte string).
The document is returned as UTF-8 with its XML declaration saying so. A declared name that is
no codec ("bogus"), or a codec that is not a text encoding ("rot13", "hex"), counts as absent.
"""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

_XML_DECL = re.compile(rb"^(\s*<\?xml[^>]*?encoding\s*=\s*)([\"'])([A-Za-z0-9._:-]+)\2")
# Anchored and without nested repetition: one linear scan even over megabytes with no ">".
_ANY_XML_DECL = re.compile(rb"^\s*<\?xml(?=[\s?])[^>]*>")
_UTF8_XML_DECL = b'<?xml version="1.0" encoding="utf-8"?>'
_CHARSET = re.compile(r"charset\s*=\s*\"?([A-Za-z0-9._:-]+)", re.IGNORECASE)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def header_charset(content_type: str | None) -> str | None:
    """The charset parameter of a Content-Type header, if any."""
    found = _CHARSET.search(content_type or "")
    return found.group(1).lower() if found else None


def declared_charset(content: bytes) -> str | None:
    """The encoding named by the document's XML declaration, if any."""
    found = _XML_DECL.match(content[:512])
    return found.group(3).decode("ascii").lower() if found else None


def _decode(content: bytes, encoding: str | None) -> str | None:
    if not encoding:
        return None
    try:
        return content.decode(encoding)
    # A name the document chose may be no codec at all (LookupError), a codec that always
    # fails ("undefined": UnicodeError) or one whose name Python rejects (ValueError).
    except (LookupError, ValueError):
        return None


def decode_feed(content: bytes, content_type: str | None = None) -> tuple[str, str]:
    """The document as text and the encoding it was decoded with (see the module's rules)."""
    for bom, name in _BOMS:
        if content.startswith(bom):
            return content[len(bom) :].decode(name, errors="replace"), name
    declared = [e for e in (header_charset(content_type), declared_charset(content)) if e]
    for encoding in declared:
        if encoding.replace("-", "").replace("_", "").startswith(("utf16", "utf32")):
            text = _decode(content, encoding)
            if text is not None:
                return text, encoding
    text = _decode(content, "utf-8")
    if text is not None:
        return text, "utf-8"
    for encoding in declared:
        text = _decode(content, encoding)
        if text is not None:
            return text, encoding
    best = from_bytes(content).best()
    if best is not None and best.encoding:
        return str(best), best.encoding
    return content.decode("windows-1252", errors="replace"), "windows-1252"


def to_utf8(content: bytes, content_type: str | None = None) -> bytes:
    """The document re-encoded as UTF-8, its XML declaration (if any) rewritten to match."""
    text, _ = decode_feed(content, content_type)
    # A decoder may yield lone surrogates ("utf-7" over hostile bytes), which UTF-8 cannot hold.
    data = text.encode("utf-8", errors="replace")
    # The whole declaration is replaced, not only its encoding: parsers trust it and fail on a
    # garbled one (encoding="\x80tf-8") that the strict pattern above does not even match.
    return _ANY_XML_DECL.sub(_UTF8_XML_DECL, data, count=1)
