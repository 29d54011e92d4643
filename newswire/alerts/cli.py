"""`newswire actors ...`, `newswire alerts` and `newswire rules ...`: tracked actors, alert rules,
the alerts they raised and their deliveries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.table import Table

from newswire.console import JsonFlag, console, err, print_json
from newswire.settings import get_settings

actors_app = typer.Typer(help="Tracked actors (people, organisations, places).")


@actors_app.command("list")
def actors_list(as_json: JsonFlag = False) -> None:
    """List tracked actors as stored in Elasticsearch."""
    from newswire.deps import alert_store

    actors = alert_store().actors()
    if as_json:
        print_json([{k: v for k, v in a.items() if k != "query"} for a in actors])
        return
    table = Table("id", "name", "type", "aliases")
    for actor in actors:
        table.add_row(actor["id"], actor["name"], actor["type"], ", ".join(actor["aliases"]))
    console.print(table)


@actors_app.command("sync")
def actors_sync(
    path: Annotated[
        Path | None, typer.Argument(help="Actors YAML (default config/actors.yaml)")
    ] = None,
) -> None:
    """Load tracked actors from YAML into Elasticsearch (removing ones no longer listed)."""
    from newswire.deps import alert_store
    from pipeline.alerts import ActorConfigError, parse_actors

    settings = get_settings()
    try:
        actors = parse_actors((path or settings.actors_file).read_text(encoding="utf-8"))
    except ActorConfigError as exc:
        err.print(f"[red]invalid actors file:[/red] {exc}")
        raise typer.Exit(2) from exc
    console.print(f"{alert_store().sync_actors(actors)} actors loaded")


def alerts(
    actor: Annotated[str | None, typer.Option(help="Only this actor id")] = None,
    size: Annotated[int, typer.Option(help="How many")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """List alerts: articles that mention a tracked actor, newest first."""
    from newswire.deps import alert_store

    rows = alert_store().alerts(actor_id=actor, size=size)
    if as_json:
        print_json(rows)
        return
    table = Table("actor", "published", "source", "title")
    for row in rows:
        table.add_row(
            row["actor_name"],
            (row.get("published_at") or "")[:16],
            row.get("source") or "",
            row["title"],
        )
    console.print(table)


# -- `newswire rules ...` ------------------------------------------------------------------------
rules_app = typer.Typer(
    help="Alert rules: what to match, how and how often to deliver it.", no_args_is_help=True
)
deliveries_app = typer.Typer(help="Owed and dead-lettered deliveries.", no_args_is_help=True)
rules_app.add_typer(deliveries_app, name="deliveries")

RuleFile = Annotated[
    Path | None, typer.Option("--file", help="Rule as JSON (options given override it)")
]
Name = Annotated[str | None, typer.Option(help="Rule name")]
Owner = Annotated[str | None, typer.Option(help="Owner (free text or e-mail)")]
Actors = Annotated[list[str] | None, typer.Option("--actor", help="Tracked actor id (repeatable)")]
AllActors = Annotated[
    bool | None, typer.Option("--all-actors/--any-actor", help="Need every actor, or any")
]
Query = Annotated[str | None, typer.Option(help='Search syntax: words, "phrases", -not, a | b')]
Filters = Annotated[
    list[str] | None, typer.Option("--filter", help="Facet filter FACET=VALUE (repeatable)")
]
Languages = Annotated[list[str] | None, typer.Option("--language", help="Language (repeatable)")]
Sources = Annotated[list[str] | None, typer.Option("--source", help="Source (repeatable)")]
ExcludeActors = Annotated[
    list[str] | None, typer.Option("--exclude-actor", help="Never when this actor is named")
]
ExcludeTerms = Annotated[
    list[str] | None, typer.Option("--exclude-term", help="Never when this phrase appears")
]
Webhook = Annotated[str | None, typer.Option(help="Webhook URL (signed POST)")]
Secret = Annotated[str | None, typer.Option(help="Webhook signing secret (16+ characters)")]
Slack = Annotated[bool, typer.Option("--slack", help="Send the webhook as a Slack payload")]
Emails = Annotated[list[str] | None, typer.Option("--email", help="E-mail address (repeatable)")]
Frequency = Annotated[str | None, typer.Option(help="instant, hourly or daily")]
Timezone = Annotated[str | None, typer.Option(help="IANA zone for digests and quiet hours")]
QuietHours = Annotated[
    str | None, typer.Option("--quiet-hours", help="No deliveries between, like 22:00-07:00")
]
Updates = Annotated[
    bool | None, typer.Option("--notify-updates/--no-updates", help="Alert again on new versions")
]
Group = Annotated[
    str | None, typer.Option(help="story or event: one alert per story, or per event")
]


def _service() -> Any:
    from newswire.alerts.service import service

    return service()


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _rule_data(file: Path | None, **options: Any) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if file is not None:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            _fail(f"cannot read {file}: {exc}")
    filters: dict[str, list[str]] = {}
    for item in options.pop("filter") or []:
        facet, sep, value = item.partition("=")
        if not sep:
            _fail(f"--filter needs FACET=VALUE, not {item!r}")
        filters.setdefault(facet.strip(), []).append(value.strip())
    if filters:
        data["filters"] = filters
    webhook, secret, slack = options.pop("webhook"), options.pop("secret"), options.pop("slack")
    emails = options.pop("email")
    if webhook or emails:
        channels: list[dict[str, Any]] = []
        if webhook:
            fmt = "slack" if slack else "json"
            channels.append({"type": "webhook", "url": webhook, "secret": secret, "format": fmt})
        if emails:
            channels.append({"type": "email", "to": emails})
        data["channels"] = channels
    quiet = options.pop("quiet_hours")
    if quiet is not None:
        start, _, end = quiet.partition("-")
        data["quiet"] = {"start": start.strip() or None, "end": end.strip() or None}
    all_actors = options.pop("all_actors")
    if all_actors is not None:
        data["actors_mode"] = "all" if all_actors else "any"
    data.update({k: v for k, v in options.items() if v is not None})
    return data


def _show_rule(rule: dict[str, Any]) -> None:
    console.print(f"[bold]{rule['id']}[/bold]  {rule['name']}  ({rule['frequency']})")
    what = {
        "actors": f"{rule['actors_mode']} of {', '.join(rule['actors'])}" if rule["actors"] else "",
        "query": rule["query"],
        "filters": ", ".join(f"{k}={'|'.join(v)}" for k, v in rule["filters"].items()),
        "languages": ", ".join(rule["languages"]),
        "sources": ", ".join(rule["sources"]),
        "exclude": ", ".join([*rule["exclude_actors"], *rule["exclude_terms"]]),
        "owner": rule["owner"],
        "enabled": "yes" if rule["enabled"] else "no",
        "snoozed until": rule["quiet"].get("snoozed_until") or "",
        "quiet hours": "-".join(filter(None, (rule["quiet"]["start"], rule["quiet"]["end"]))),
    }
    for label, value in what.items():
        if value:
            console.print(f"  {label}: {value}", highlight=False)
    table = Table("channel", "last success", "last error", "error at", "delivered", "errors")
    for channel in rule["channels"]:
        status = channel["status"]
        table.add_row(
            channel["key"],
            status.get("last_success_at") or "",
            status.get("last_error") or "",
            status.get("last_error_at") or "",
            str(status.get("delivered", 0)),
            str(status.get("errors", 0)),
        )
    if rule["channels"]:
        console.print(table)


@rules_app.command("add")
def rules_add(
    file: RuleFile = None,
    name: Name = None,
    rule_id: Annotated[
        str | None, typer.Option("--id", help="Rule id (default: from name)")
    ] = None,
    owner: Owner = None,
    actor: Actors = None,
    all_actors: AllActors = None,
    query: Query = None,
    facet_filter: Filters = None,
    language: Languages = None,
    source: Sources = None,
    exclude_actor: ExcludeActors = None,
    exclude_term: ExcludeTerms = None,
    webhook: Webhook = None,
    secret: Secret = None,
    slack: Slack = False,
    email: Emails = None,
    frequency: Frequency = None,
    timezone: Timezone = None,
    quiet_hours: QuietHours = None,
    notify_updates: Updates = None,
    group: Group = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a rule from options and/or a JSON file."""
    from pipeline.rules import RuleError

    data = _rule_data(
        file,
        name=name,
        id=rule_id,
        owner=owner,
        actors=actor,
        all_actors=all_actors,
        query=query,
        filter=facet_filter,
        languages=language,
        sources=source,
        exclude_actors=exclude_actor,
        exclude_terms=exclude_term,
        webhook=webhook,
        secret=secret,
        slack=slack,
        email=email,
        frequency=frequency,
        timezone=timezone,
        quiet_hours=quiet_hours,
        notify_updates=notify_updates,
        group=group,
    )
    try:
        rule = _service().create_rule(data)
    except RuleError as exc:
        _fail(str(exc))
    if as_json:
        print_json(rule)
        return
    console.print(f"rule {rule['id']} created")


@rules_app.command("list")
def rules_list(as_json: JsonFlag = False) -> None:
    """List rules with their channels' last delivery."""
    rules = _service().list_rules()
    if as_json:
        print_json(rules)
        return
    table = Table("id", "name", "matches", "frequency", "channels", "enabled")
    for rule in rules:
        matches = " ".join(filter(None, [" ".join(f"@{a}" for a in rule["actors"]), rule["query"]]))
        table.add_row(
            rule["id"],
            rule["name"],
            matches,
            rule["frequency"],
            ", ".join(c["key"] for c in rule["channels"]),
            "yes" if rule["enabled"] else "no",
        )
    console.print(table)


RuleId = Annotated[str, typer.Argument(help="Rule id")]


@rules_app.command("show")
def rules_show(rule_id: RuleId, as_json: JsonFlag = False) -> None:
    """A rule with each channel's last success and last error, and owed deliveries."""
    from newswire.alerts.service import RuleNotFound

    try:
        rule = _service().get_rule(rule_id)
    except RuleNotFound as exc:
        _fail(str(exc))
    if as_json:
        print_json(rule)
        return
    _show_rule(rule)
    for job in rule["outbox"]:
        console.print(
            f"  owed: {job['kind']} to {job['channel']}, attempt {job['attempts'] + 1} "
            f"due {job['due']}"
            + (f" (last error: {job['last_error']})" if job["last_error"] else ""),
            highlight=False,
        )


@rules_app.command("edit")
def rules_edit(
    rule_id: RuleId,
    file: RuleFile = None,
    name: Name = None,
    owner: Owner = None,
    actor: Actors = None,
    all_actors: AllActors = None,
    query: Query = None,
    facet_filter: Filters = None,
    language: Languages = None,
    source: Sources = None,
    exclude_actor: ExcludeActors = None,
    exclude_term: ExcludeTerms = None,
    webhook: Webhook = None,
    secret: Secret = None,
    slack: Slack = False,
    email: Emails = None,
    frequency: Frequency = None,
    timezone: Timezone = None,
    quiet_hours: QuietHours = None,
    notify_updates: Updates = None,
    group: Group = None,
    enabled: Annotated[bool | None, typer.Option("--enable/--disable", help="On or off")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change the given fields of a rule (channels given replace the rule's channels)."""
    from newswire.alerts.service import RuleNotFound
    from pipeline.rules import RuleError

    data = _rule_data(
        file,
        name=name,
        owner=owner,
        actors=actor,
        all_actors=all_actors,
        query=query,
        filter=facet_filter,
        languages=language,
        sources=source,
        exclude_actors=exclude_actor,
        exclude_terms=exclude_term,
        webhook=webhook,
        secret=secret,
        slack=slack,
        email=email,
        frequency=frequency,
        timezone=timezone,
        quiet_hours=quiet_hours,
        notify_updates=notify_updates,
        group=group,
        enabled=enabled,
    )
    try:
        rule = _service().update_rule(rule_id, data)
    except (RuleError, RuleNotFound) as exc:
        _fail(str(exc))
    if as_json:
        print_json(rule)
        return
    console.print(f"rule {rule['id']} updated")


@rules_app.command("remove")
def rules_remove(rule_id: RuleId) -> None:
    """Delete a rule (its alerts stay in the inbox)."""
    from newswire.alerts.service import RuleNotFound

    try:
        _service().delete_rule(rule_id)
    except RuleNotFound as exc:
        _fail(str(exc))
    console.print(f"rule {rule_id} removed")


@rules_app.command("test")
def rules_test(
    rule_id: RuleId,
    days: Annotated[int, typer.Option(help="Look this many days back")] = 7,
    as_json: JsonFlag = False,
) -> None:
    """Backfill: the stories the rule matches in the last N days, at once."""
    from newswire.alerts.service import RuleNotFound
    from pipeline.rules import RuleError

    try:
        result = _service().test_rule(rule_id, days=days)
    except (RuleError, RuleNotFound) as exc:
        _fail(str(exc))
    if as_json:
        print_json(result)
        return
    console.print(
        f"{len(result['stories'])} stories, {result['articles']} articles since {result['since']}"
    )
    table = Table("published", "story", "articles", "headline")
    for story in result["stories"]:
        table.add_row(
            (story["published_at"] or "")[:16],
            story["story_id"][:12],
            str(len(story["articles"])),
            story["title"],
        )
    console.print(table)


def _moment(text: str) -> datetime:
    amount, unit = text[:-1], text[-1:].lower()
    spans = {"m": 60, "h": 3600, "d": 86_400}
    if unit in spans and amount.isdigit():
        return datetime.now(UTC) + timedelta(seconds=int(amount) * spans[unit])
    _fail(f"--for takes a span like 30m, 2h or 1d, not {text!r}")


@rules_app.command("snooze")
def rules_snooze(
    rule_id: RuleId,
    span: Annotated[str | None, typer.Option("--for", help="How long: 30m, 2h, 1d")] = None,
    until: Annotated[str | None, typer.Option(help="Until an ISO 8601 time with zone")] = None,
    off: Annotated[bool, typer.Option("--off", help="Lift the snooze")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Hold a rule's deliveries for a while (they go out when the snooze ends)."""
    from newswire.alerts.service import RuleNotFound
    from pipeline.rules import RuleError

    if off:
        moment = None
    elif span:
        moment = _moment(span)
    elif until:
        try:
            moment = datetime.fromisoformat(until.replace("Z", "+00:00"))
        except ValueError:
            _fail(f"--until must be an ISO 8601 time, not {until!r}")
        if moment.tzinfo is None:
            _fail("--until needs a zone offset, like 2026-03-01T08:00:00+01:00")
    else:
        _fail("say --for, --until or --off")
    try:
        rule = _service().snooze(rule_id, moment)
    except (RuleError, RuleNotFound) as exc:
        _fail(str(exc))
    if as_json:
        print_json(rule)
        return
    held = rule["quiet"]["snoozed_until"]
    console.print(f"rule {rule_id} snoozed until {held}" if held else f"rule {rule_id} awake")


@rules_app.command("inbox")
def rules_inbox(
    rule: Annotated[str | None, typer.Option(help="Only this rule id")] = None,
    unread: Annotated[bool, typer.Option("--unread", help="Only unread alerts")] = False,
    size: Annotated[int, typer.Option(help="How many")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """Alerts newest first, one per rule and story."""
    rows = _service().inbox(rule_id=rule, unread=unread, size=size)
    if as_json:
        print_json(rows)
        return
    table = Table("", "alert", "rule", "matched", "articles", "headline")
    for row in rows:
        table.add_row(
            " " if row.get("read_at") else "•",
            row["id"][:12],
            row.get("rule_name") or row.get("rule_id") or "",
            (row.get("matched_at") or "")[:16],
            str(len(row.get("doc_ids") or [])),
            row.get("title") or "",
        )
    console.print(table)


@rules_app.command("read")
def rules_read(
    alert: Annotated[str, typer.Argument(help="Alert id")],
    unread: Annotated[bool, typer.Option("--unread", help="Mark unread instead")] = False,
) -> None:
    """Mark an alert read (or unread)."""
    from newswire.alerts.service import RuleNotFound

    try:
        _service().mark_read(alert, read=not unread)
    except RuleNotFound as exc:
        _fail(str(exc))
    console.print(f"alert {alert} marked {'unread' if unread else 'read'}")


@deliveries_app.command("list")
def deliveries_list(as_json: JsonFlag = False) -> None:
    """Deliveries owed (new, retrying, held) and dead-lettered ones with their reason."""
    service = _service()
    owed, dead = service.outbox(), service.dead_letters()
    if as_json:
        print_json({"owed": owed, "dead_letters": dead})
        return
    table = Table("state", "job", "rule", "channel", "attempts", "when", "reason")
    for job in owed:
        table.add_row(
            "owed",
            job["job"][:12],
            job["rule"],
            job["channel"],
            str(job["attempts"]),
            job["due"][:19],
            job["last_error"] or "",
        )
    for job in dead:
        table.add_row(
            "dead",
            job["job"][:12],
            job["rule"],
            job["channel"],
            str(job["attempts"]),
            job["at"][:19],
            job["reason"],
        )
    console.print(table)


@deliveries_app.command("replay")
def deliveries_replay(
    jobs: Annotated[list[str] | None, typer.Argument(help="Job ids (default: with --all)")] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Every dead letter")] = False,
) -> None:
    """Send dead-lettered deliveries again, with the same delivery ids."""
    if not jobs and not replay_all:
        _fail("name the jobs to replay, or --all")
    replayed = _service().replay(None if replay_all else list(jobs or []))
    console.print(f"{len(replayed)} deliveries owed again")
