"""IPTC 7901 and ANPA 1312 wire messages (SOH header, STX text ETX, post-text, EOT) -> FeedEntry.

Neither format carries a unique item id. An agency re-sends a story under the same keyword
(slug) with a version mark ("1stLd-Writethru", "2. Fassung"), and a kill advisory repeats that
keyword. So the item id is built from agency, day and keyword, with version, correction and kill
marks taken off: every version and the kill of one story then share it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from pipeline.agency import (
    blank_line_paragraphs,
    is_kill_advisory,
    mentions_correction,
    paragraphs_html,
    split_dateline,
    subject_fields,
)
from pipeline.charset import decode_feed
from pipeline.feeds import FeedParseError
from pipeline.models import FeedEntry, ParsedFeed

SOH, STX, ETX, EOT, SYN = "\x01", "\x02", "\x03", "\x04", "\x16"

# 7901 heading: source letters and message number, priority digit, category, word count, rest.
_IPTC_HEADING = re.compile(
    r"^(?P<source>[A-Za-z]*)(?P<number>\d+)\s+(?P<priority>\d)\s+(?P<category>[A-Za-z]{1,3})"
    r"\s+(?P<words>\d+)\s*(?P<extra>.*)$"
)
# ANPA first line: service level letter, four-digit sequence, US (0x1f), selector code.
_ANPA_SEQUENCE = re.compile(r"^(?P<service>[A-Za-z])(?P<number>\d{4})\x1f(?P<selector>\S*)")
# ANPA second line: priority, category, format codes (DC1-DC4), keyword, version, MM-DD, words.
_ANPA_HEADER = re.compile(
    r"^(?P<priority>[A-Za-z])\s(?P<category>[A-Za-z])[\x11-\x14]*\s+(?P<keyword>\S+)"
    r"(?P<version>.*?)\s+(?P<month>\d{1,2})-(?P<day>\d{1,2})\s+(?P<words>\d{0,4})\s*$"
)
# Post-text time stamps: 7901 "212101 GMT Nov 18" (day, hour, minute, month, year) and
# ANPA "AP-WF-12-03-25 1015GMT" (agency, desk, month, day, year, time).
_IPTC_STAMP = re.compile(
    r"(?P<day>\d{2})(?P<hour>\d{2})(?P<minute>\d{2})\s*(?:GMT|UTC|Z)?\s+(?P<month>[A-Za-z]{3})\w*"
    r"\s+(?P<year>\d{2,4})"
)
_ANPA_STAMP = re.compile(
    r"(?P<agency>[A-Z]{2,6})-[A-Z]{2}-(?P<month>\d{2})-(?P<day>\d{2})-(?P<year>\d{2})"
    r"\s+(?P<hour>\d{2})(?P<minute>\d{2})\s*GMT"
)
_MONTH_NAMES = "jan feb mar apr may jun jul aug sep oct nov dec"
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES.split(), 1)}
_LEAD = re.compile(r"(\d+)(?:st|nd|rd|th)\s*Ld", re.IGNORECASE)
_NUMBERED_VERSION = re.compile(
    r"\b(\d+)\.\s*(?:Fassung|Version|Zusammenfassung|versione|version)\b|\bV(\d+)\b",
    re.IGNORECASE,
)
_CYCLE_PREFIX = re.compile(r"^(?:AM|PM|BC|AP)-", re.IGNORECASE)
# Editors' notes that follow the story in 7901 text are not for publication.
_NOT_FOR_PUBLICATION = re.compile(r"not (?:intended )?for publication", re.IGNORECASE)
# dpa-style sign-off: agency and editors' initials ("dpa grj rmo").
_SIGN_OFF = re.compile(r"^[A-Za-z]{2,6}(?: [a-z]{2,4}){1,5}$")

# ANPA 1312 priority letters on the IPTC urgency scale (1 flash, 5 routine, 9 least).
ANPA_URGENCY = {"f": 1, "b": 2, "u": 3, "r": 5, "d": 7}
# AP's ANPA category letters.
ANPA_CATEGORIES = {
    "a": "Domestic news",
    "b": "Special events",
    "e": "Entertainment",
    "f": "Financial",
    "i": "International",
    "k": "Commentary",
    "l": "Lifestyle",
    "n": "State and regional",
    "p": "Politics",
    "q": "Sports results",
    "s": "Sports",
    "t": "Travel",
    "v": "Advisories",
    "w": "Washington",
}
# IIM/7901 three-letter categories and the top-level IPTC Subject Code each stands for.
IPTC_CATEGORIES = {
    "ACE": "01000000",
    "CLJ": "02000000",
    "DIS": "03000000",
    "FIN": "04000000",
    "EDU": "05000000",
    "EVN": "06000000",
    "HTH": "07000000",
    "HUM": "08000000",
    "LAB": "09000000",
    "LIF": "10000000",
    "POL": "11000000",
    "REL": "12000000",
    "SCI": "13000000",
    "SOI": "14000000",
    "SPO": "15000000",
    "WAR": "16000000",
    "WEA": "17000000",
}


@dataclass(frozen=True, slots=True)
class _Message:
    """One message's parts between the control characters."""

    heading: list[str]
    text: str
    post_text: str


def parse_iptc7901(
    content: bytes, *, feed_id: str, source_name: str | None, max_entries: int
) -> ParsedFeed:
    """Parse one or more IPTC 7901 messages into entries."""
    messages = _messages(content, "IPTC 7901")[:max_entries]
    entries = tuple(_iptc_entry(m, feed_id=feed_id, source_name=source_name) for m in messages)
    return _parsed(entries, "iptc7901")


def parse_anpa1312(
    content: bytes, *, feed_id: str, source_name: str | None, max_entries: int
) -> ParsedFeed:
    """Parse one or more ANPA 1312 messages into entries."""
    messages = _messages(content, "ANPA 1312")[:max_entries]
    entries = tuple(_anpa_entry(m, feed_id=feed_id, source_name=source_name) for m in messages)
    return _parsed(entries, "anpa1312")


def _parsed(entries: tuple[FeedEntry, ...], document_format: str) -> ParsedFeed:
    return ParsedFeed(
        title=entries[0].title if len(entries) == 1 else "",
        link=None,
        language=None,
        entries=entries,
        format=document_format,
    )


def _messages(content: bytes, name: str) -> list[_Message]:
    text, _ = decode_feed(content)
    chunks = [chunk for chunk in text.replace("\r\n", "\n").split(SOH)[1:] if chunk.strip()]
    if not chunks:
        raise FeedParseError(f"{name}: no message (no SOH)")
    messages = []
    for number, chunk in enumerate(chunks, 1):
        heading, stx, rest = chunk.partition(STX)
        if not stx:
            raise FeedParseError(f"{name} message {number} is truncated: no STX before its text")
        body, etx, post = rest.partition(ETX)
        if not etx:
            raise FeedParseError(f"{name} message {number} is truncated: no ETX after its text")
        lines = [line.strip(SYN + " \t") for line in heading.split("\n")]
        messages.append(
            _Message(
                heading=[line for line in lines if line],
                text=body,
                post_text=post.split(EOT, 1)[0].strip(),
            )
        )
    return messages


def _stamp(post_text: str) -> datetime | None:
    found = _ANPA_STAMP.search(post_text)
    try:
        if found:
            month = int(found.group("month"))
        else:
            found = _IPTC_STAMP.search(post_text)
            if not found:
                return None
            month = _MONTHS[found.group("month").lower()[:3]]
        year = int(found.group("year"))
        return datetime(
            year + 2000 if year < 100 else year,
            month,
            int(found.group("day")),
            int(found.group("hour")),
            int(found.group("minute")),
            tzinfo=UTC,
        )
    except (KeyError, ValueError):  # a month name or a day that does not exist
        return None


def _version(*marks: str) -> int | None:
    for mark in marks:
        if lead := _LEAD.search(mark):
            # The first new lead is the story's second version.
            return int(lead.group(1)) + 1
        if numbered := _NUMBERED_VERSION.search(mark):
            return int(numbered.group(1) or numbered.group(2))
    return None


def _item_id(agency: str | None, moment: datetime | None, keyword: str | None) -> str | None:
    if not (agency and moment and keyword):
        return None
    return f"{agency.casefold()}:{moment.date().isoformat()}:{keyword.casefold()}"


def _iptc_entry(message: _Message, *, feed_id: str, source_name: str | None) -> FeedEntry:
    if not message.heading:
        raise FeedParseError("IPTC 7901 message has no heading line")
    heading = _IPTC_HEADING.match(message.heading[0])
    if not heading:
        raise FeedParseError(f"IPTC 7901 heading not understood: {message.heading[0][:80]!r}")
    keyword_lines = message.heading[1:]
    slugline = keyword_lines[0].strip("/ ") if keyword_lines else None
    text, _, note = _split_note(message.text)
    paragraphs = [p for p in blank_line_paragraphs(text) if p.strip()]
    if not paragraphs:
        raise FeedParseError("IPTC 7901 message has no text")
    headline = " ".join(paragraphs[0].split()).rstrip(" =")
    body = paragraphs[1:]
    if body and _SIGN_OFF.match(body[-1].strip()):
        body = body[:-1]
    place, dateline_agency = split_dateline(body[0]) if body else (None, None)
    extra_words = heading.group("extra").split()
    agency = (
        dateline_agency
        or (extra_words[0] if extra_words and extra_words[0].isalpha() else None)
        or heading.group("source").upper()
        or None
    )
    moment = _stamp(message.post_text)
    marks = [heading.group("extra"), *keyword_lines[1:]]
    category = heading.group("category")
    subject_code = IPTC_CATEGORIES.get(category.upper())
    subjects, labels = subject_fields([(f"subj:{subject_code}", None)] if subject_code else [])
    return FeedEntry(
        feed_id=feed_id,
        source=source_name or agency or feed_id,
        guid=None,
        link=None,
        title=headline,
        summary_html="",
        content_html=paragraphs_html(body),
        published=moment.isoformat() if moment else None,
        updated=None,
        categories=(labels[0] if labels else category,),
        slugline=slugline,
        dateline=place,
        urgency=int(heading.group("priority")) or None,
        subjects=subjects,
        subject_labels=labels,
        keywords=tuple(k.strip() for k in (slugline or "").split("/") if k.strip()),
        agency=agency,
        agency_guid=_item_id(agency, moment, slugline),
        agency_version=_version(*marks),
        pubstatus="canceled" if is_kill_advisory(*marks) else "usable",
        is_correction=mentions_correction(*marks, note),
    )


def _split_note(text: str) -> tuple[str, str, str]:
    found = _NOT_FOR_PUBLICATION.search(text)
    if not found:
        return text, "", ""
    start = text.rfind("\n", 0, found.start()) + 1
    return text[:start], found.group(0), text[start:]


def _anpa_lines(text: str) -> tuple[list[str], list[str]]:
    """Header lines ("^…<" or "^…=") and body paragraphs (each starts with a tab)."""
    header: list[str] = []
    paragraphs: list[str] = []
    for line in text.split("\n"):
        if line.startswith("^"):
            header.append(line.strip("^<=\t ").strip())
        elif line.startswith("\t"):
            paragraphs.append(line.strip())
        elif line.strip() and paragraphs:
            paragraphs[-1] += " " + line.strip()  # a wrapped line continues its paragraph
    return [h for h in header if h], [p for p in paragraphs if p]


def _anpa_entry(message: _Message, *, feed_id: str, source_name: str | None) -> FeedEntry:
    if len(message.heading) < 2 or not _ANPA_SEQUENCE.match(message.heading[0]):
        raise FeedParseError("ANPA 1312 message lacks its sequence or header line")
    header = _ANPA_HEADER.match(message.heading[1])
    if not header:
        raise FeedParseError(f"ANPA 1312 header not understood: {message.heading[1][:80]!r}")
    header_lines, paragraphs = _anpa_lines(message.text)
    if not header_lines and not paragraphs:
        raise FeedParseError("ANPA 1312 message has no text")
    # The first header line repeats keyword and version; the headline follows it.
    headline = header_lines[1] if len(header_lines) > 1 else header_lines[0] if header_lines else ""
    notes = [h for h in header_lines if h.lower().startswith(("eds:", "editor's note"))]
    bylines = [h for h in header_lines if h.lower().startswith("by ")]
    keyword = _CYCLE_PREFIX.sub("", header.group("keyword"))
    slugline = keyword.split("--", 1)[-1]
    place, dateline_agency = split_dateline(paragraphs[0]) if paragraphs else (None, None)
    stamp = _ANPA_STAMP.search(message.post_text)
    agency = dateline_agency or (stamp.group("agency") if stamp else None)
    moment = _stamp(message.post_text)
    version_field = header.group("version").strip()
    kill_marks = (version_field, header_lines[0] if header_lines else "")
    category = header.group("category").lower()
    return FeedEntry(
        feed_id=feed_id,
        source=source_name or agency or feed_id,
        guid=None,
        link=None,
        title=headline,
        summary_html="",
        content_html=paragraphs_html(paragraphs),
        published=moment.isoformat() if moment else None,
        updated=None,
        authors=tuple(b[3:].strip().title() for b in bylines),
        categories=(ANPA_CATEGORIES.get(category, category),),
        slugline=slugline,
        byline=bylines[0] if bylines else None,
        dateline=place,
        urgency=ANPA_URGENCY.get(header.group("priority").lower()),
        keywords=tuple(k for k in slugline.split("-") if k),
        agency=agency,
        agency_guid=_item_id(agency, moment, slugline),
        agency_version=_version(version_field),
        pubstatus="canceled" if is_kill_advisory(*kill_marks) else "usable",
        is_correction=mentions_correction(version_field, *notes),
    )
