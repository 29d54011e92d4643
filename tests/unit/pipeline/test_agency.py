"""parse_document, detect_format, item_links and the helpers the agency parsers share."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.agency import (
    is_kill_advisory,
    iso_utc,
    mentions_correction,
    pubstatus,
    qcode,
    split_dateline,
    subject_fields,
    urgency,
)
from pipeline.dedup import agency_version_relation, dedup_keys
from pipeline.feeds import FeedParseError
from pipeline.normalise import normalise_entry
from pipeline.wire_formats import detect_format, item_links, parse_document

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "agency"


def _sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("calabria-v1.newsml.xml", "newsml-g2"),
        ("morning-report.newsmessage.xml", "newsml-g2"),
        ("port-package.newsml.xml", "newsml-g2"),
        ("media-topics.knowledgeitem.xml", "newsml-g2"),
        ("baltic-storm.nitf.xml", "nitf"),
        ("baltic-storm.ninjs2.json", "ninjs"),
        ("novosibirsk-bridge.ninjs1.json", "ninjs"),
        ("baltic-storm.iptc7901.txt", "iptc7901"),
        ("bahnstreik.iptc7901.txt", "iptc7901"),
        ("disaster-aid.anpa1312.tst", "anpa1312"),
        ("index.atom.xml", None),
        ("unknown-root.xml", None),
        ("unknown.json", None),
    ],
)
def test_format_is_detected_from_the_content(name, expected):
    assert detect_format(_sample(name)) == expected


def test_detection_ignores_the_file_name_and_a_byte_order_mark(tmp_path):
    misnamed = tmp_path / "story.json"
    misnamed.write_bytes(b"\xef\xbb\xbf" + _sample("baltic-storm.nitf.xml"))
    assert detect_format(misnamed.read_bytes()) == "nitf"
    assert parse_document(misnamed.read_bytes(), feed_id="drop").format == "nitf"


def test_a_json_feed_is_not_mistaken_for_ninjs():
    feed = b'{"version": "https://jsonfeed.org/version/1.1", "title": "T", "items": []}'
    assert detect_format(feed) is None
    assert parse_document(feed, feed_id="json").format == "json1.1"


def test_feeds_fall_through_to_the_feed_parser(seed_bytes):
    parsed = parse_document(seed_bytes("reuters-world.atom"), feed_id="reuters-world")
    assert parsed.format == "atom10"
    assert parsed.entries[0].pubstatus == "usable"
    assert parsed.entries[0].agency_guid is None


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("truncated.newsml.xml", "NewsML-G2 document is not well-formed XML"),
        ("truncated.iptc7901.txt", "truncated: no ETX"),
        ("entity-bomb.newsml.xml", "XML entity declarations are refused"),
        ("media-topics.knowledgeitem.xml", "knowledgeItem holds controlled-vocabulary concepts"),
        ("headless.nitf.xml", "neither headline nor body"),
        ("unknown-root.xml", "no RSS, Atom or RDF root element"),
        ("unknown.json", "not a JSON Feed"),
    ],
)
def test_bad_documents_are_refused_with_their_reason(name, reason):
    with pytest.raises(FeedParseError, match=reason):
        parse_document(_sample(name), feed_id="drop")


@pytest.mark.parametrize(
    "content", [b"", b"   \n", b"\x00\x01\x02binary\xff\xfe", b"\x16\x16\x01", b"[1, 2]"]
)
def test_garbage_is_refused_not_crashed_on(content):
    with pytest.raises(FeedParseError):
        parse_document(content, feed_id="drop")


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.iterdir()))
def test_no_cut_of_any_sample_escapes_as_anything_but_feed_parse_error(name):
    content = _sample(name)
    reasons = []
    for end in range(0, len(content), max(1, len(content) // 40)):
        try:
            parse_document(content[:end], feed_id="drop")
        except FeedParseError as exc:  # the only exception a cut may raise
            reasons.append(str(exc))
    assert all(reasons)


def test_max_entries_bounds_a_message():
    parsed = parse_document(_sample("morning-report.newsmessage.xml"), feed_id="g2", max_entries=1)
    assert len(parsed.entries) == 1


def test_source_name_overrides_the_agency_as_source_but_not_as_agency():
    entry = parse_document(
        _sample("baltic-storm.nitf.xml"), feed_id="drop", source_name="BWS drop folder"
    ).entries[0]
    assert (entry.source, entry.agency) == ("BWS drop folder", "BWS")


# --- one story in three formats ----------------------------------------------------------------


def test_the_same_story_as_nitf_ninjs_and_iptc7901_shares_one_text_key(fetched_at):
    articles = [
        normalise_entry(
            parse_document(_sample(name), feed_id=name).entries[0], fetched_at=fetched_at
        )
        for name in (
            "baltic-storm.nitf.xml",
            "baltic-storm.ninjs2.json",
            "baltic-storm.iptc7901.txt",
        )
    ]
    keys = [dedup_keys(article) for article in articles]
    assert len({article.title for article in articles}) == 1
    assert len({k.content_hash for k in keys}) == 1
    # Each copy keeps its own agency id; the shared text key is what joins them.
    assert len({k.primary for k in keys}) == 3
    assert all(f"text:{keys[0].content_hash}" in k.keys for k in keys)


def test_versions_of_one_newsml_item_are_one_document_in_order(fetched_at):
    names = (
        "calabria-v1.newsml.xml",
        "calabria-v2-correction.newsml.xml",
        "calabria-v3-kill.newsml.xml",
    )
    articles = [
        normalise_entry(
            parse_document(_sample(n), feed_id="drop").entries[0], fetched_at=fetched_at
        )
        for n in names
    ]
    over_http = normalise_entry(
        parse_document(_sample(names[0]), feed_id="ast-http").entries[0], fetched_at=fetched_at
    )
    ids = {dedup_keys(article).doc_id for article in [*articles, over_http]}
    assert len(ids) == 1
    assert [a.agency_version for a in articles] == [1, 2, 3]
    assert [a.is_correction for a in articles] == [False, True, False]
    assert [a.pubstatus for a in articles] == ["usable", "usable", "canceled"]
    assert (
        agency_version_relation(articles[1].agency_version, articles[0].agency_version) == "newer"
    )


# --- index documents ---------------------------------------------------------------------------


def test_package_links_put_the_lead_first_and_resolve_against_the_base():
    links = item_links(
        _sample("port-package.newsml.xml"), base_url="https://bws.example/g2/pkg.xml"
    )
    assert links == [
        "https://bws.example/g2/items/storm-0117.xml",
        "https://bws.example/g2/items/port-0121.xml",
        "https://bws.example/g2/photo-77.xml",
    ]


def test_a_package_alone_yields_no_entries_but_says_it_is_one():
    parsed = parse_document(_sample("port-package.newsml.xml"), feed_id="g2")
    assert (parsed.format, parsed.entries, parsed.title) == (
        "newsml-g2-package",
        (),
        "Baltic storm",
    )


def test_atom_index_links_only_agency_media_types():
    links = item_links(_sample("index.atom.xml"), base_url="https://bws.example/g2/index")
    assert links == [
        "https://bws.example/g2/items/storm-0117.xml",
        "https://bws.example/nitf/port-0121.xml",
    ]


def test_uri_list_links_skip_comments():
    assert item_links(_sample("index.urilist.txt")) == [
        "https://bws.example/g2/storm-0117.xml",
        "https://bws.example/g2/port-0121.xml",
    ]


@pytest.mark.parametrize(
    "content",
    [
        _sample("calabria-v1.newsml.xml"),
        _sample("baltic-storm.iptc7901.txt"),
        _sample("baltic-storm.ninjs2.json"),
        b"just some words\nnot urls",
        b"\xff\xfe\x00garbage",
        _sample("truncated.newsml.xml"),
    ],
)
def test_items_and_garbage_are_no_index(content):
    assert item_links(content) == []


# --- helpers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20251203T091500+0100", "2025-12-03T08:15:00+00:00"),
        ("2025-12-03T06:42:00+01:00", "2025-12-03T05:42:00+00:00"),
        ("2025-12-03T06:42:00Z", "2025-12-03T06:42:00+00:00"),
        ("2025-12-03T06:42:00", "2025-12-03T06:42:00+00:00"),
        ("20251203", "2025-12-03T00:00:00+00:00"),
        ("next Tuesday", None),
        ("", None),
        (None, None),
    ],
)
def test_iso_utc_reads_extended_and_basic_iso_8601(value, expected):
    assert iso_utc(value) == expected


@pytest.mark.parametrize(
    ("identifier", "expected"),
    [
        ("http://cv.iptc.org/newscodes/mediatopic/20000763", "medtop:20000763"),
        ("https://cv.iptc.org/newscodes/subjectcode/11000000/", "subj:11000000"),
        ("http://cv.iptc.org/newscodes/genre/Current", "genre:Current"),
        ("medtop:20000763", "medtop:20000763"),
        ("http://vocab.example/topics/9", "http://vocab.example/topics/9"),
        ("http://cv.iptc.org/newscodes/mediatopic/", "http://cv.iptc.org/newscodes/mediatopic/"),
        ("  ", None),
    ],
)
def test_qcode_turns_iptc_uris_into_catalog_qcodes(identifier, expected):
    assert qcode(identifier) == expected


def test_subject_fields_keep_labels_parallel_and_fill_top_level_names():
    ids, labels = subject_fields(
        [
            ("medtop:20000151", "earthquake"),
            ("http://cv.iptc.org/newscodes/mediatopic/03000000", None),
            ("medtop:20000151", "later label is ignored"),
            ("medtop:99999999", ""),
            (None, "no id"),
        ]
    )
    assert ids == ("medtop:20000151", "medtop:03000000", "medtop:99999999")
    assert labels == ("earthquake", "disaster, accident and emergency incident", "medtop:99999999")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("stat:canceled", "canceled"),
        ("cancelled", "canceled"),
        ("stat:withheld", "withheld"),
        ("http://cv.iptc.org/newscodes/pubstatusg2/usable", "usable"),
        ("embargoed", "usable"),
        (None, "usable"),
    ],
)
def test_pubstatus_reads_qcodes_uris_and_words(value, expected):
    assert pubstatus(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, 1), ("9", 9), (3.0, 3), (0, None), (10, None), ("high", None), (True, None), (None, None)],
)
def test_urgency_stays_on_the_iptc_scale(value, expected):
    assert urgency(value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ROME (ANSA) - Il governo ha approvato", ("ROME", "ANSA")),
        ("Frankfurt/Main (dpa) - Wegen eines Streiks", ("Frankfurt/Main", "dpa")),
        ("WASHINGTON (AW) _ The Senate passed", ("WASHINGTON", "AW")),
        ("НОВОСИБИРСК (Восток-Пресс) - Новый мост", ("НОВОСИБИРСК", "Восток-Пресс")),
        ("The minister (right) - seen here - said", (None, None)),
        ("No dateline here.", (None, None)),
    ],
)
def test_split_dateline(text, expected):
    assert split_dateline(text) == expected


def test_markers_of_corrections_and_kills_in_several_languages():
    assert mentions_correction("Eds: CORRECTS spelling of name")
    assert mentions_correction(None, "Berichtigung: 4,0 statt 4,2")
    assert not mentions_correction("Eds: UPDATES with vote count", None)
    assert all(is_kill_advisory(word) for word in ("KILL", "STORNO", "ANNULATION"))
    assert not is_kill_advisory("1stLd-Writethru", "Kills-Storm")
