"""parse_nitf and nitf_body_html: NITF 3.x documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.feeds import FeedParseError
from pipeline.nitf import parse_nitf
from pipeline.normalise import normalise_entry

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "agency"
STORM = (SAMPLES / "baltic-storm.nitf.xml").read_bytes()


def _entry(content: bytes = STORM):
    return parse_nitf(content, feed_id="nitf", source_name=None, max_entries=500).entries[0]


def test_nitf_maps_every_field():
    entry = _entry()
    assert (entry.guid, entry.agency_guid, entry.agency, entry.agency_version) == (
        "BWS-20251203-0117",
        "BWS-20251203-0117",
        "BWS",
        1,
    )
    assert entry.title == "Storm closes Baltic ferry routes, strands 4,000 passengers"
    assert (entry.slugline, entry.dateline, entry.urgency, entry.genre) == (
        "Baltic-Storm",
        "GDANSK, Dec 3",
        3,
        "Current",
    )
    assert entry.byline == "By Anna Kowalczyk, BWS correspondent"
    assert entry.authors == ("Anna Kowalczyk",)
    assert entry.subjects == ("subj:17000000", "subj:04015000")
    assert entry.subject_labels == ("weather", "transport")
    assert entry.keywords == ("storm", "ferries", "Baltic Sea")
    assert (entry.published, entry.embargo_until) == ("2025-12-03T08:15:00+00:00", None)
    assert (entry.pubstatus, entry.is_correction, entry.language_hint) == ("usable", False, "en-GB")
    assert "<p>Ferry crossings between Poland" in entry.summary_html


def test_body_keeps_paragraphs_and_drops_media(fetched_at):
    article = normalise_entry(_entry(), fetched_at=fetched_at)
    assert article.body_html.count("<p>") == 4
    assert "Waves break over the pier" not in article.body
    assert "Reporting by" not in article.body


def _variant(old: str, new: str) -> bytes:
    assert old.encode() in STORM
    return STORM.replace(old.encode(), new.encode())


def test_release_after_issue_is_an_embargo():
    entry = _entry(
        _variant(
            '<date.release norm="20251203T091500+0100"/>',
            '<date.release norm="20251204T000100+0100"/>',
        )
    )
    assert entry.embargo_until == "2025-12-03T23:01:00+00:00"


def test_embargoed_status_uses_the_release_time():
    entry = _entry(_variant('management-status="usable"', 'management-status="embargoed"'))
    assert (entry.embargo_until, entry.pubstatus) == ("2025-12-03T08:15:00+00:00", "usable")


@pytest.mark.parametrize(
    ("status", "expected"), [("canceled", "canceled"), ("withheld", "withheld")]
)
def test_management_status_is_the_pubstatus(status, expected):
    assert (
        _entry(_variant('management-status="usable"', f'management-status="{status}"')).pubstatus
        == expected
    )


def test_correction_element_flags_a_correction_and_du_key_gives_the_version():
    entry = _entry(
        _variant(
            '<du-key generation="1" part="1" version="1" key="Baltic-Storm"/>',
            '<du-key generation="1" part="1" version="2" key="Baltic-Storm"/>'
            '<correction info="Corrects number of passengers" id-string="BWS-20251203-0117"/>',
        )
    )
    assert (entry.agency_version, entry.is_correction) == (2, True)


def test_a_namespaced_nitf_is_read_alike():
    namespaced = _variant("<nitf ", '<nitf xmlns="http://iptc.org/std/NITF/2006-10-18/" ')
    assert _entry(namespaced).title == _entry().title


def test_other_roots_are_refused():
    with pytest.raises(FeedParseError, match="not a NITF document"):
        parse_nitf(b"<news/>", feed_id="nitf", source_name=None, max_entries=5)
