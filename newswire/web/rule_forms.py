"""The alert-rule form as plain data: posted fields -> the rule dict the alerts service
validates, a stored rule -> the values the form shows, and how rules and channels read in a
listing. Secrets stay server-side: the form never carries a stored webhook secret, and webhook
addresses (a Slack webhook's path is its credential) are shown masked. No I/O."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from newswire.web.views import FACET_LABELS, SearchState
from pipeline.rules import WEBHOOK_FORMATS, RuleError
from pipeline.search import FACETS

Form = Mapping[str, Sequence[str]]
# Language codes and e-mail addresses never hold commas or spaces; sources and phrases can.
_WORDS = re.compile(r"[\s,;]+")
_FACET_BY_WORD = {
    **{name: name for name in FACETS},
    **{label.lower(): name for name, label in FACET_LABELS.items()},
}


def first(form: Form, name: str) -> str:
    """The first posted value of a field, trimmed (empty when absent)."""
    values = form.get(name) or [""]
    return values[0].strip()


def _all(form: Form, name: str) -> list[str]:
    return [v.strip() for v in form.get(name) or () if v.strip()]


def split_words(text: str) -> list[str]:
    """Values separated by commas, semicolons, spaces or lines (language codes, addresses)."""
    return list(dict.fromkeys(w for w in _WORDS.split(text) if w))


def split_lines(text: str) -> list[str]:
    """One value per line (source names and phrases, which may hold commas)."""
    return list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))


def parse_filters(text: str) -> dict[str, list[str]]:
    """Facet filters written one per line as `facet: value` (`person: Valery Gerasimov`)."""
    filters: dict[str, list[str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        facet, colon, value = line.partition(":")
        name = _FACET_BY_WORD.get(facet.strip().lower())
        if not colon or name is None or not value.strip():
            known = ", ".join(FACETS)
            raise RuleError(
                f"filters, line {number}: write 'facet: value' with a facet among {known}"
            )
        chosen = filters.setdefault(name, [])
        if value.strip() not in chosen:
            chosen.append(value.strip())
    return filters


def filters_text(filters: Mapping[str, Sequence[str]]) -> str:
    """The filters as the form's text, one `facet: value` per line."""
    return "\n".join(f"{name}: {value}" for name, values in filters.items() for value in values)


def mask_url(url: str) -> str:
    """A webhook address as listings show it: scheme and host, the path hidden."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(hidden address)"
    if not parts.hostname:
        return "(hidden address)"
    host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    hidden = "/…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{host}{hidden}"


_URL = re.compile(r"\bhttps?://[^\s'\"<>()]+", re.IGNORECASE)


def scrub_urls(text: str) -> str:
    """`text` (a delivery error) with every address masked: an error may quote the webhook's
    URL, whose path can be its credential."""
    return _URL.sub(lambda m: mask_url(m.group(0)), text)


def channel_key_label(key: str) -> str:
    """A delivery's channel as a row shows it: `webhook:<url>` with the address masked."""
    kind, _, target = key.partition(":")
    if kind == "webhook":
        return f"webhook {mask_url(target)}"
    if kind == "email":
        return f"e-mail {target.replace(',', ', ')}"
    return "(unknown channel)"


def delivery_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Owed or dead-lettered deliveries as the page lists them: channel masked, errors
    scrubbed of addresses."""
    shown = []
    for row in rows:
        error = row.get("last_error") or row.get("reason") or ""
        shown.append(
            {
                **{k: row.get(k) for k in ("job", "rule", "kind", "attempts", "due", "at")},
                "channel": channel_key_label(str(row.get("channel") or "")),
                "error": scrub_urls(str(error)),
            }
        )
    return shown


def channel_rows(
    channels: Sequence[Mapping[str, Any]], form: Form | None = None
) -> list[dict[str, Any]]:
    """A rule's channels as the form and the listing show them (posted values win)."""
    rows = []
    for index, channel in enumerate(channels):
        prefix = f"channel-{index}-"
        row: dict[str, Any] = {
            "index": index,
            "type": channel.get("type"),
            "status": _shown_status(channel.get("status") or {}),
            "remove": bool(form and form.get(prefix + "remove")),
        }
        if channel.get("type") == "email":
            addresses = ", ".join(channel.get("to") or ())
            row["target"] = addresses
            row["to"] = first(form, prefix + "to") if form else addresses
        else:
            row["target"] = mask_url(str(channel.get("url") or ""))
            row["format"] = (first(form, prefix + "format") if form else "") or channel.get(
                "format", "json"
            )
        rows.append(row)
    return rows


def _shown_status(status: Mapping[str, Any]) -> dict[str, Any]:
    shown = dict(status)
    shown.pop("last_delivery_id", None)
    if shown.get("last_error"):
        shown["last_error"] = scrub_urls(str(shown["last_error"]))
    return shown


def channels_from_form(form: Form, current: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rule's channels after the form: each stored one kept, changed or removed (an empty
    address or secret keeps the stored one), then the new webhook and e-mail rows if filled."""
    channels: list[dict[str, Any]] = []
    for index, channel in enumerate(current):
        prefix = f"channel-{index}-"
        if form.get(prefix + "remove"):
            continue
        if channel.get("type") == "email":
            to = split_words(first(form, prefix + "to"))
            if to:
                channels.append({"type": "email", "to": to})
            continue
        channels.append(
            {
                "type": "webhook",
                "url": first(form, prefix + "url") or channel.get("url"),
                "secret": first(form, prefix + "secret") or channel.get("secret"),
                "format": first(form, prefix + "format") or channel.get("format", "json"),
            }
        )
    url, secret = first(form, "new-webhook-url"), first(form, "new-webhook-secret")
    if url:
        fmt = first(form, "new-webhook-format") or WEBHOOK_FORMATS[0]
        channels.append({"type": "webhook", "url": url, "secret": secret, "format": fmt})
    elif secret:
        raise RuleError("new webhook: give its URL as well as its secret")
    to = split_words(first(form, "new-email-to"))
    if to:
        channels.append({"type": "email", "to": to})
    return channels


def rule_data_from_form(form: Form, current: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The rule fields a posted form asks for; `current` is the stored rule when editing (with
    its secrets, which the form never carries). RuleError for a line the form cannot read."""
    quiet = (current or {}).get("quiet") or {}
    data: dict[str, Any] = {
        "name": first(form, "name"),
        "owner": first(form, "owner"),
        "actors": _all(form, "actors"),
        "actors_mode": first(form, "actors_mode") or "any",
        "query": first(form, "query"),
        "filters": parse_filters(first(form, "filters")),
        "languages": split_words(first(form, "languages")),
        "sources": split_lines(first(form, "sources")),
        "exclude_actors": _all(form, "exclude_actors"),
        "exclude_terms": split_lines(first(form, "exclude_terms")),
        "channels": channels_from_form(form, (current or {}).get("channels") or ()),
        "frequency": first(form, "frequency") or "instant",
        "group": first(form, "group") or "story",
        "timezone": first(form, "timezone") or "UTC",
        "quiet": {
            "start": first(form, "quiet_start") or None,
            "end": first(form, "quiet_end") or None,
            # Snoozing is its own action; saving the form leaves a snooze as it was.
            "snoozed_until": quiet.get("snoozed_until"),
        },
        "notify_updates": bool(form.get("notify_updates")),
        "enabled": bool(form.get("enabled")),
    }
    if current is None and first(form, "id"):
        data["id"] = first(form, "id")
    return data


def form_values(rule: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the form shows for a stored rule (redacted), or a new rule's defaults."""
    rule = rule or {}
    quiet = rule.get("quiet") or {}
    return {
        "id": rule.get("id", ""),
        "name": rule.get("name", ""),
        "owner": rule.get("owner", ""),
        "actors": list(rule.get("actors") or ()),
        "actors_mode": rule.get("actors_mode", "any"),
        "query": rule.get("query", ""),
        "filters": filters_text(rule.get("filters") or {}),
        "languages": ", ".join(rule.get("languages") or ()),
        "sources": "\n".join(rule.get("sources") or ()),
        "exclude_actors": list(rule.get("exclude_actors") or ()),
        "exclude_terms": "\n".join(rule.get("exclude_terms") or ()),
        "frequency": rule.get("frequency", "instant"),
        "group": rule.get("group", "story"),
        "timezone": rule.get("timezone", "UTC"),
        "quiet_start": quiet.get("start") or "",
        "quiet_end": quiet.get("end") or "",
        "notify_updates": bool(rule.get("notify_updates", False)),
        "enabled": bool(rule.get("enabled", True)),
        "new_webhook_url": "",
        "new_webhook_format": "json",
        "new_email_to": "",
    }


def form_values_from_post(form: Form) -> dict[str, Any]:
    """The form as it was posted, to show again with a message or test results. Secrets are
    left out: the user types them again."""
    return {
        "id": first(form, "id"),
        "name": first(form, "name"),
        "owner": first(form, "owner"),
        "actors": _all(form, "actors"),
        "actors_mode": first(form, "actors_mode") or "any",
        "query": first(form, "query"),
        "filters": first(form, "filters"),
        "languages": first(form, "languages"),
        "sources": first(form, "sources"),
        "exclude_actors": _all(form, "exclude_actors"),
        "exclude_terms": first(form, "exclude_terms"),
        "frequency": first(form, "frequency") or "instant",
        "group": first(form, "group") or "story",
        "timezone": first(form, "timezone") or "UTC",
        "quiet_start": first(form, "quiet_start"),
        "quiet_end": first(form, "quiet_end"),
        "notify_updates": bool(form.get("notify_updates")),
        "enabled": bool(form.get("enabled")),
        "new_webhook_url": first(form, "new-webhook-url"),
        "new_webhook_format": first(form, "new-webhook-format") or "json",
        "new_email_to": first(form, "new-email-to"),
    }


def form_values_from_search(state: SearchState) -> dict[str, Any]:
    """A new rule's form prefilled from a search page's state ("alert me on this search")."""
    values = form_values()
    filters = dict(state.filters)
    actors = list(filters.pop("actor", ()))
    values.update(
        query=state.q,
        actors=actors,
        languages=", ".join(filters.pop("language", ())),
        sources="\n".join(filters.pop("source", ())),
        filters=filters_text(filters),
    )
    return values


def rule_search_url(rule: Mapping[str, Any]) -> str:
    """The search page showing roughly what a rule matches (its query and facet filters)."""
    filters = {name: tuple(values) for name, values in (rule.get("filters") or {}).items()}
    for facet, field in (("language", "languages"), ("source", "sources"), ("actor", "actors")):
        if rule.get(field):
            filters[facet] = tuple(dict.fromkeys((*filters.get(facet, ()), *rule[field])))
    return SearchState(q=rule.get("query") or "", filters=filters, sort="newest").url()


def rule_conditions(rule: Mapping[str, Any], known_names: Mapping[str, str]) -> list[str]:
    """What a rule matches, one readable line per condition; ids (tracked actors, registry
    entities) read as their names where `known_names` has them."""

    def names(ids: Sequence[str]) -> str:
        return ", ".join(known_names.get(a, a) for a in ids)

    lines = []
    if rule.get("actors"):
        mode = "all of" if rule.get("actors_mode") == "all" else "any of"
        lines.append(f"Actors ({mode}): {names(rule['actors'])}")
    if rule.get("query"):
        lines.append(f"Query: {rule['query']}")
    for name, values in (rule.get("filters") or {}).items():
        lines.append(f"{FACET_LABELS.get(name, name)}: {names(values)}")
    if rule.get("languages"):
        lines.append(f"Languages: {', '.join(rule['languages'])}")
    if rule.get("sources"):
        lines.append(f"Sources: {', '.join(rule['sources'])}")
    if rule.get("exclude_actors"):
        lines.append(f"Not with: {names(rule['exclude_actors'])}")
    if rule.get("exclude_terms"):
        lines.append(f"Not containing: {', '.join(rule['exclude_terms'])}")
    return lines
