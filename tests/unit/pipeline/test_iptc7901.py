"""parse_iptc7901 and parse_anpa1312: control-character wire messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.feeds import FeedParseError
from pipeline.iptc7901 import parse_anpa1312, parse_iptc7901
from pipeline.normalise import normalise_entry

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "agency"
SOH, STX, ETX, EOT = "\x01", "\x02", "\x03", "\x04"


def _iptc(content: bytes):
    return parse_iptc7901(content, feed_id="wire", source_name=None, max_entries=500)


def _anpa(content: bytes):
    return parse_anpa1312(content, feed_id="wire", source_name=None, max_entries=500)


def _sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def test_iptc7901_maps_heading_keyword_and_text(fetched_at):
    entry = _iptc(_sample("baltic-storm.iptc7901.txt")).entries[0]
    assert entry.title == "Storm closes Baltic ferry routes, strands 4,000 passengers"
    assert (entry.agency, entry.urgency, entry.slugline, entry.dateline) == (
        "BWS",
        3,
        "Baltic-Storm",
        "GDANSK",
    )
    assert (entry.subjects, entry.subject_labels, entry.categories) == (
        ("subj:17000000",),
        ("weather",),
        ("weather",),
    )
    assert entry.published == "2025-12-03T08:15:00+00:00"
    assert entry.agency_guid == "bws:2025-12-03:baltic-storm"
    article = normalise_entry(entry, fetched_at=fetched_at)
    # Wrapped lines join into four paragraphs; the sign-off "bws ak lh" is not text.
    assert article.body.count("\n\n") == 3
    assert "bws ak lh" not in article.body
    assert "southern Baltic on Wednesday" in article.body


def test_latin1_text_version_mark_and_editors_note():
    entry = _iptc(_sample("bahnstreik.iptc7901.txt")).entries[0]
    assert entry.title == "Bahnstreik: Fernverkehr am Donnerstag stark eingeschränkt"
    assert (entry.agency, entry.agency_version, entry.dateline) == ("sdn", 2, "Frankfurt/Main")
    assert entry.keywords == ("Verkehr", "Bahn", "Streik")
    assert "Baden-Württemberg" in entry.content_html
    assert "Rückfragen" not in entry.content_html


def test_storno_kills_the_item_with_the_same_keyword_and_day():
    story = _iptc(_sample("bahnstreik.iptc7901.txt")).entries[0]
    kill = _iptc(_sample("bahnstreik-storno.iptc7901.txt")).entries[0]
    assert kill.pubstatus == "canceled"
    assert kill.agency_guid == story.agency_guid
    assert story.pubstatus == "usable"


def test_several_messages_in_one_file():
    content = _sample("baltic-storm.iptc7901.txt") + b"\r\n" + _sample("bahnstreik.iptc7901.txt")
    assert len(_iptc(content).entries) == 2


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"no control characters", "no message"),
        (f"{SOH}xyz 3 WEA 10\n{STX}text{ETX}{EOT}".encode(), "heading not understood"),
        (f"{SOH}bws0001 3 WEA 10\nSlug/\nno text start{ETX}{EOT}".encode(), "no STX"),
        (f"{SOH}bws0001 3 WEA 10\n{STX}\n\n{ETX}{EOT}".encode(), "has no text"),
    ],
)
def test_bad_iptc7901_is_refused_with_why(content, reason):
    with pytest.raises(FeedParseError, match=reason):
        _iptc(content)


def test_without_a_time_stamp_there_is_no_item_id():
    content = f"{SOH}bws0001 4 XYZ 10\nSlug/\n{STX}Head =\n\nText.\n{ETX}{EOT}".encode()
    entry = _iptc(content).entries[0]
    assert (entry.agency_guid, entry.published, entry.subjects, entry.categories) == (
        None,
        None,
        (),
        ("XYZ",),
    )


def test_anpa_maps_priority_category_keyword_and_lead_version():
    entry = _anpa(_sample("disaster-aid.anpa1312.tst")).entries[0]
    assert entry.title == "Senate passes $95 billion disaster relief bill"
    assert (entry.urgency, entry.categories, entry.slugline, entry.agency_version) == (
        3,
        ("Domestic news",),
        "Disaster-Aid",
        2,
    )
    assert (entry.agency, entry.dateline, entry.byline, entry.authors) == (
        "AW",
        "WASHINGTON",
        "By JANE MILLER",
        ("Jane Miller",),
    )
    assert entry.published == "2025-12-03T21:14:00+00:00"
    assert entry.content_html.count("<p>") == 3
    assert not entry.is_correction


def test_anpa_kill_advisory_cancels_the_same_keyword():
    story = _anpa(_sample("disaster-aid.anpa1312.tst")).entries[0]
    kill = _anpa(_sample("disaster-aid-kill.anpa1312.tst")).entries[0]
    assert (kill.pubstatus, kill.urgency, kill.categories) == ("canceled", 2, ("Advisories",))
    assert kill.agency_guid == story.agency_guid == "aw:2025-12-03:disaster-aid"


def _anpa_message(version: str, headline: str, note: str) -> bytes:
    return (
        f"\x16\x16{SOH}a0600\x1fAAAA\r\nr a\x13\x11 BC-US--Police-Raid {version} 12-03 0100\r\n"
        f"{STX}^BC-US--Police-Raid<\r\n^{headline}<\r\n^Eds: {note}<\r\n"
        f"\t   CHICAGO (AW) _ Text. \r\n{ETX}AW-CH-12-03-25 1200GMT<\r\n{EOT}"
    ).encode()


def test_a_headline_about_killing_is_no_kill_advisory():
    entry = _anpa(_anpa_message("", "Police kill suspect in raid", "UPDATES")).entries[0]
    assert (entry.pubstatus, entry.agency_version) == ("usable", None)


def test_anpa_correction_is_flagged_from_the_editors_note():
    entry = _anpa(_anpa_message("Correction", "Police raid", "CORRECTS name")).entries[0]
    assert entry.is_correction


def test_bad_anpa_is_refused_with_why():
    with pytest.raises(FeedParseError, match="header not understood"):
        _anpa(f"\x16\x16{SOH}a0600\x1fAAAA\r\ngarbage\r\n{STX}x{ETX}{EOT}".encode())
    with pytest.raises(FeedParseError, match="lacks its sequence"):
        _anpa(f"\x16\x16{SOH}\r\n{STX}x{ETX}{EOT}".encode())
