"""The rule form's pure parts: posted fields -> rule data (channels kept, changed, removed and
added without the form ever carrying a stored secret), stored rule -> form values, filters
text, masked webhook addresses, conditions and the search link of a rule."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from newswire.web.rule_forms import (
    channel_key_label,
    channel_rows,
    channels_from_form,
    delivery_rows,
    filters_text,
    form_values,
    form_values_from_post,
    form_values_from_search,
    mask_url,
    parse_filters,
    rule_conditions,
    rule_data_from_form,
    rule_search_url,
    scrub_urls,
    split_lines,
    split_words,
)
from newswire.web.views import SearchState
from pipeline.rules import REDACTED, AlertRule, RuleError, redacted, validate_rule

SECRET = "stored-secret-0123456789"
HOOK = "https://hooks.example.org/services/T0/B0/credential"


def stored_rule() -> AlertRule:
    return validate_rule(
        {
            "id": "kursk-desk",
            "name": "Kursk desk",
            "query": "Kursk",
            "filters": {"person": ["Valery Gerasimov"]},
            "channels": [
                {"type": "webhook", "url": HOOK, "secret": SECRET, "format": "slack"},
                {"type": "email", "to": ["desk@example.org"]},
            ],
            "quiet": {"snoozed_until": "2026-03-01T08:00:00Z"},
        }
    )


def test_lists_split_by_their_own_separators():
    assert split_words("en, ru;uk\nde  en") == ["en", "ru", "uk", "de"]
    assert split_lines("Reuters, World\n\n  InoSMI \nReuters, World") == [
        "Reuters, World",
        "InoSMI",
    ]


def test_filters_read_by_facet_name_or_label_and_round_trip():
    text = (
        "person: Valery Gerasimov\nPlace: Kursk\n\n"
        "subject: medtop:20000151\nperson: Valery Gerasimov"
    )
    filters = parse_filters(text)
    assert filters == {
        "person": ["Valery Gerasimov"],
        "place": ["Kursk"],
        "subject": ["medtop:20000151"],
    }
    assert parse_filters(filters_text(filters)) == filters


@pytest.mark.parametrize("line", ["nonsense", "colour: red", "person:   "])
def test_an_unreadable_filter_line_says_which_line(line):
    with pytest.raises(RuleError, match="filters, line 2"):
        parse_filters(f"place: Kursk\n{line}")


def test_webhook_addresses_are_masked():
    assert mask_url(HOOK) == "https://hooks.example.org/…"
    assert mask_url("https://hooks.example.org:8443/") == "https://hooks.example.org:8443"
    assert mask_url("https://hooks.example.org?token=abc") == "https://hooks.example.org/…"
    assert mask_url("not a url") == "(hidden address)"


def test_an_untouched_form_keeps_every_stored_channel_and_its_secret():
    current = stored_rule().to_dict()["channels"]
    form = {"channel-1-to": ["desk@example.org"]}
    assert channels_from_form(form, current) == [
        {"type": "webhook", "url": HOOK, "secret": SECRET, "format": "slack"},
        {"type": "email", "to": ["desk@example.org"]},
    ]


def test_channels_are_changed_removed_and_added():
    current = stored_rule().to_dict()["channels"]
    form = {
        "channel-0-url": ["https://hooks.example.org/new"],
        "channel-0-format": ["json"],
        "channel-1-remove": ["1"],
        "channel-1-to": ["desk@example.org"],
        "new-webhook-url": ["https://other.example.org/hook"],
        "new-webhook-secret": ["new-secret-0123456789"],
        "new-email-to": ["a@example.org, b@example.org"],
    }
    assert channels_from_form(form, current) == [
        {
            "type": "webhook",
            "url": "https://hooks.example.org/new",
            "secret": SECRET,
            "format": "json",
        },
        {
            "type": "webhook",
            "url": "https://other.example.org/hook",
            "secret": "new-secret-0123456789",
            "format": "json",
        },
        {"type": "email", "to": ["a@example.org", "b@example.org"]},
    ]


def test_an_emptied_address_list_drops_that_email_channel():
    current = stored_rule().to_dict()["channels"]
    assert [c["type"] for c in channels_from_form({"channel-1-to": [""]}, current)] == ["webhook"]


def test_a_new_secret_without_its_url_is_refused():
    with pytest.raises(RuleError, match="give its URL"):
        channels_from_form({"new-webhook-secret": ["x" * 20]}, [])


def test_a_posted_form_is_the_rule_it_shows():
    form = {
        "id": ["night-desk"],
        "name": [" Night desk "],
        "owner": ["Desk"],
        "actors": ["valery-gerasimov", "vladimir-putin"],
        "actors_mode": ["all"],
        "query": ['"Kursk region" -drill'],
        "filters": ["place: Kursk"],
        "languages": ["en, ru"],
        "sources": ["Reuters World News"],
        "exclude_actors": ["sergei-shoigu"],
        "exclude_terms": ["exercise\nwar game"],
        "frequency": ["daily"],
        "timezone": ["Europe/Kyiv"],
        "quiet_start": ["22:00"],
        "quiet_end": ["07:00"],
        "enabled": ["1"],
        "new-email-to": ["desk@example.org"],
    }
    rule = validate_rule(rule_data_from_form(form))
    assert rule.id == "night-desk"
    assert rule.name == "Night desk"
    assert rule.actors == ("valery-gerasimov", "vladimir-putin")
    assert rule.actors_mode == "all"
    assert rule.filters == {"place": ("Kursk",)}
    assert rule.languages == ("en", "ru")
    assert rule.exclude_terms == ("exercise", "war game")
    assert (rule.frequency, rule.timezone, rule.quiet.start, rule.quiet.end) == (
        "daily",
        "Europe/Kyiv",
        "22:00",
        "07:00",
    )
    assert rule.enabled is True
    assert rule.notify_updates is False
    assert rule.channels[0].key == "email:desk@example.org"


def test_editing_keeps_the_id_out_and_the_snooze_as_it_was():
    current = stored_rule().to_dict()
    data = rule_data_from_form({"id": ["other"], "name": ["Kursk desk"]}, current)
    assert "id" not in data
    assert data["quiet"]["snoozed_until"] == "2026-03-01T08:00:00Z"
    assert data["enabled"] is False  # an unticked box posts nothing


def test_a_stored_rule_fills_the_form_without_its_secrets():
    shown = redacted(stored_rule())
    values = form_values(shown)
    assert values["filters"] == "person: Valery Gerasimov"
    assert values["query"] == "Kursk"
    assert SECRET not in repr(values)
    rows = channel_rows(shown["channels"])
    assert rows[0]["target"] == "https://hooks.example.org/…"
    assert rows[0]["format"] == "slack"
    assert rows[1]["to"] == "desk@example.org"
    assert SECRET not in repr(rows)
    assert "credential" not in repr(rows)
    assert shown["channels"][0]["secret"] == REDACTED


def test_a_posted_form_comes_back_without_secrets_and_with_posted_channel_choices():
    form = {
        "name": ["x"],
        "new-webhook-url": [HOOK],
        "new-webhook-secret": [SECRET],
        "channel-0-format": ["json"],
        "channel-0-remove": ["1"],
    }
    assert SECRET not in repr(form_values_from_post(form))
    rows = channel_rows(redacted(stored_rule())["channels"], form)
    assert (rows[0]["format"], rows[0]["remove"], rows[1]["remove"]) == ("json", True, False)


def test_a_search_prefills_a_new_rule():
    state = SearchState(
        q="Kursk",
        filters={"actor": ("valery-gerasimov",), "language": ("ru",), "place": ("Kursk",)},
    )
    values = form_values_from_search(state)
    assert values["query"] == "Kursk"
    assert values["actors"] == ["valery-gerasimov"]
    assert values["languages"] == "ru"
    assert values["filters"] == "place: Kursk"


def test_a_rule_reads_as_conditions_and_opens_as_a_search():
    rule = validate_rule(
        {
            "name": "Desk",
            "actors": ["valery-gerasimov"],
            "query": "Kursk",
            "languages": ["ru"],
            "exclude_terms": ["drill"],
        }
    ).to_dict()
    assert rule_conditions(rule, {"valery-gerasimov": "Valery Gerasimov"}) == [
        "Actors (any of): Valery Gerasimov",
        "Query: Kursk",
        "Languages: ru",
        "Not containing: drill",
    ]
    by_entity = validate_rule({"name": "E", "filters": {"person": ["p-1", "Jane Roe"]}})
    assert rule_conditions(by_entity.to_dict(), {"p-1": "Valery Gerasimov"}) == [
        "Person: Valery Gerasimov, Jane Roe"
    ]
    params = parse_qs(urlsplit(rule_search_url(rule)).query)
    assert params == {
        "q": ["Kursk"],
        "language": ["ru"],
        "actor": ["valery-gerasimov"],
        "sort": ["newest"],
    }


def test_delivery_errors_never_show_a_webhook_path():
    error = f"connection failed: ConnectError for url '{HOOK}' (see http://docs.example.org/x)"
    assert scrub_urls(error) == (
        "connection failed: ConnectError for url 'https://hooks.example.org/…' "
        "(see http://docs.example.org/…)"
    )
    channel = {
        **redacted(stored_rule())["channels"][0],
        "status": {"last_error": f"HTTP 404 from {HOOK}", "last_delivery_id": "d1"},
    }
    (row,) = channel_rows([channel])
    assert row["status"] == {"last_error": "HTTP 404 from https://hooks.example.org/…"}


def test_deliveries_list_channels_masked_and_errors_scrubbed():
    assert channel_key_label(f"webhook:{HOOK}") == "webhook https://hooks.example.org/…"
    assert channel_key_label("email:a@example.org,b@example.org") == (
        "e-mail a@example.org, b@example.org"
    )
    assert channel_key_label("carrier-pigeon") == "(unknown channel)"
    dead = {
        "job": "j1",
        "rule": "kursk-desk",
        "channel": f"webhook:{HOOK}",
        "kind": "alert",
        "attempts": 8,
        "reason": f"after 8 attempt(s): HTTP 410 from {HOOK}",
        "at": "2026-03-01T08:00:00+00:00",
    }
    (row,) = delivery_rows([dead])
    assert row["error"] == "after 8 attempt(s): HTTP 410 from https://hooks.example.org/…"
    assert "credential" not in repr(row)


def test_the_alert_grouping_survives_the_form_both_ways():
    posted = {"name": ["Full coverage"], "query": ["Kursk"], "group": ["event"]}
    assert validate_rule(rule_data_from_form(posted)).group == "event"
    assert validate_rule(rule_data_from_form({"name": ["Desk"], "query": ["x"]})).group == "story"
    stored = validate_rule(rule_data_from_form(posted)).to_dict()
    assert form_values(stored)["group"] == "event"
    # Editing a rule by the form keeps its grouping instead of resetting it to "story".
    assert rule_data_from_form({"name": ["Full coverage"], "group": ["event"]}, stored)[
        "group"
    ] == ("event")
