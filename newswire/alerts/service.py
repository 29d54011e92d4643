"""Alert rules as the CLI, the API and the web pages use them: list, create, edit, delete, test
against the last days (backfill), snooze; the inbox with read marks; delivery status, the
outbox and dead letters with replay. RuleError carries every message meant for the user."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from newswire.alerts import delivery
from newswire.alerts.rule_store import RuleExists, RuleStore, UnknownRule, rule_store_for
from newswire.alerts.store import AlertStore
from newswire.feeds.fetch import BlockedAddress, FetchError, check_url
from newswire.search.store import SearchStore
from newswire.settings import Settings
from pipeline.rules import (
    REDACTED,
    AlertRule,
    RuleError,
    RuleMatcher,
    WebhookChannel,
    alert_id,
    redacted,
    validate_rule,
)
from pipeline.search import SearchRequest, build_search_body

MAX_BACKFILL_DAYS = 90
# Backfill reads at most this many articles; a rule matching more is too broad to list.
BACKFILL_LIMIT = 1000
_NEUTRAL_FIELDS = ("title", "summary", "body", "actor_names")


class RuleNotFound(LookupError):
    """No rule with this id (HTTP 404)."""


def backfill_body(rule: AlertRule, *, since: str, size: int) -> dict[str, Any]:
    """The search for a rule's candidates indexed since a moment (what would have alerted):
    the search page's query and filters plus the rule's own conditions. The in-memory matcher
    then confirms each hit."""
    request = SearchRequest(query=rule.query, filters=dict(rule.filters), collapse_stories=False)
    query = build_search_body(request)["query"]
    filters: list[dict[str, Any]] = query["bool"]["filter"]
    filters.append({"range": {"indexed_at": {"gte": since}}})
    if rule.actors and rule.actors_mode == "all":
        filters.extend({"term": {"actors": a}} for a in rule.actors)
    elif rule.actors:
        filters.append({"terms": {"actors": list(rule.actors)}})
    if rule.languages:
        filters.append({"terms": {"language": list(rule.languages)}})
    if rule.sources:
        filters.append({"terms": {"source": list(rule.sources)}})
    # Extended, not replaced: the search page's query may exclude some documents already.
    must_not: list[dict[str, Any]] = query["bool"].setdefault("must_not", [])
    if rule.exclude_actors:
        must_not.append({"terms": {"actors": list(rule.exclude_actors)}})
    must_not.extend(
        {"multi_match": {"query": t, "type": "phrase", "fields": list(_NEUTRAL_FIELDS)}}
        for t in rule.exclude_terms
    )
    return {
        "query": query,
        "size": size,
        "track_total_hits": True,
        "sort": [{"published_at": "desc"}, {"doc_id": "asc"}],
        "_source": {"excludes": ["body_html", "content_*", "mentions", "previous_versions"]},
    }


@dataclass(frozen=True, slots=True)
class AlertsService:
    """The alerts feature's operations over its stores."""

    rules: RuleStore
    search: SearchStore
    settings: Settings

    @classmethod
    def from_stores(
        cls, search: SearchStore, redis_client: Any, settings: Settings
    ) -> AlertsService:
        """The service on existing clients (deps.py builds them once per process)."""
        return cls(rule_store_for(redis_client, settings), search, settings)

    @property
    def alert_store(self) -> AlertStore:
        return AlertStore.of(self.search)

    # -- rules ----------------------------------------------------------------------------
    def _get(self, rule_id: str) -> AlertRule:
        rule = self.rules.get(rule_id)
        if rule is None:
            raise RuleNotFound(f"no rule {rule_id!r}")
        return rule

    def view(self, rule: AlertRule) -> dict[str, Any]:
        """A rule as listings show it: secrets hidden, each channel's delivery status."""
        status = self.rules.status(rule.id)
        data = redacted(rule)
        for channel, shown in zip(rule.channels, data["channels"], strict=True):
            shown["key"] = channel.key
            shown["status"] = status.get(channel.key, {})
        data["pending_digest"] = len(self.rules.pending_digest(rule.id))
        return data

    def list_rules(self) -> list[dict[str, Any]]:
        """Every stored rule, secrets hidden, with delivery status."""
        return [self.view(r) for r in self.rules.rules()]

    def get_rule(self, rule_id: str) -> dict[str, Any]:
        """One rule with its delivery status and owed deliveries; RuleNotFound."""
        data = self.view(self._get(rule_id))
        data["outbox"] = delivery.job_rows(self.rules, rules={rule_id: self._get(rule_id)})
        return data

    def _check_channels(self, rule: AlertRule) -> None:
        for position, channel in enumerate(rule.channels):
            if not isinstance(channel, WebhookChannel):
                continue
            try:
                check_url(channel.url, self.settings.webhook_allowed_networks)
            except BlockedAddress as exc:
                raise RuleError(
                    f"channels[{position}].url: {exc} (or NEWSWIRE_WEBHOOK_ALLOW_NETWORKS)"
                ) from exc
            except FetchError:
                pass  # unresolvable today is no policy breach; each send checks again

    def create_rule(
        self, data: Mapping[str, Any], *, now: datetime | None = None
    ) -> dict[str, Any]:
        """Validate and store a new rule; RuleError (bad field, taken id, blocked webhook)."""
        stamp = (now or datetime.now(UTC)).isoformat()
        rule = validate_rule({**data, "created_at": stamp, "updated_at": stamp})
        self._check_channels(rule)
        try:
            self.rules.create(rule)
        except RuleExists as exc:
            raise RuleError(
                f"a rule with id {rule.id!r} exists; edit it or choose another id"
            ) from exc
        return self.view(rule)

    def update_rule(
        self, rule_id: str, changes: Mapping[str, Any], *, now: datetime | None = None
    ) -> dict[str, Any]:
        """Apply changed fields to a rule; a webhook secret shown hidden keeps its value."""
        current = self._get(rule_id)
        if "id" in changes and changes["id"] != rule_id:
            raise RuleError("a rule's id cannot change; create a new rule instead")
        merged = {**current.to_dict(), **changes, "id": rule_id}
        merged["created_at"] = current.created_at
        merged["updated_at"] = (now or datetime.now(UTC)).isoformat()
        merged["channels"] = _keep_secrets(merged.get("channels"), current)
        rule = validate_rule(merged)
        self._check_channels(rule)
        try:
            self.rules.replace(rule)
        except UnknownRule as exc:
            raise RuleNotFound(f"no rule {rule_id!r}") from exc
        return self.view(rule)

    def delete_rule(self, rule_id: str) -> None:
        """Remove a rule (its alert records stay in the inbox); RuleNotFound."""
        if not self.rules.delete(rule_id):
            raise RuleNotFound(f"no rule {rule_id!r}")

    def snooze(self, rule_id: str, until: datetime | None) -> dict[str, Any]:
        """Hold the rule's deliveries until a moment (None: lift the snooze)."""
        rule = self._get(rule_id)
        quiet = {
            "snoozed_until": until.astimezone(UTC).isoformat() if until else None,
            "start": rule.quiet.start,
            "end": rule.quiet.end,
        }
        return self.update_rule(rule_id, {"quiet": quiet})

    def test_rule(
        self, rule: AlertRule | str, *, days: int = 7, now: datetime | None = None
    ) -> dict[str, Any]:
        """Backfill: the stories the rule matches among articles of the last `days` days.

        Elasticsearch finds the candidates; the same matcher the workers run confirms each,
        so the list is what the rule would have alerted on. `search_only` lists hits the
        matcher refused (an analysis difference worth a look), normally none.
        """
        if not 1 <= days <= MAX_BACKFILL_DAYS:
            raise RuleError(f"days must be between 1 and {MAX_BACKFILL_DAYS}")
        chosen = self._get(rule) if isinstance(rule, str) else rule
        since = ((now or datetime.now(UTC)) - timedelta(days=days)).isoformat()
        response = self.search.search(backfill_body(chosen, since=since, size=BACKFILL_LIMIT))
        hits = [h["_source"] for h in response["hits"]["hits"]]
        matcher = RuleMatcher.build([replace(chosen, enabled=True)])
        confirmed = {m.doc_id for m in matcher.match(hits)}
        stories: dict[str, dict[str, Any]] = {}
        for hit in hits:
            if hit["doc_id"] not in confirmed:
                continue
            story_id = hit.get("story_id") or hit["doc_id"]
            story = stories.setdefault(
                story_id,
                {
                    "story_id": story_id,
                    "alert_id": alert_id(chosen.id, story_id),
                    "title": hit.get("title") or "",
                    "published_at": hit.get("published_at"),
                    "articles": [],
                },
            )
            story["articles"].append(
                {k: hit.get(k) for k in ("doc_id", "title", "source", "language", "published_at")}
            )
        return {
            "rule": chosen.id,
            "days": days,
            "since": since,
            "searched": int(response["hits"]["total"]["value"]),
            "articles": len(confirmed),
            "stories": list(stories.values()),
            "search_only": sorted({h["doc_id"] for h in hits} - confirmed),
        }

    # -- inbox ----------------------------------------------------------------------------
    def inbox(
        self, *, rule_id: str | None = None, unread: bool = False, size: int = 50
    ) -> list[dict[str, Any]]:
        """Alerts newest first (one per rule and story), with their read mark."""
        return self.alert_store.inbox(rule_id=rule_id, unread=unread, size=size)

    def mark_read(self, alert: str, *, read: bool = True) -> None:
        """Mark an alert read or unread; RuleNotFound when there is no such alert."""
        if not self.alert_store.mark_read(alert, read=read, now=datetime.now(UTC)):
            raise RuleNotFound(f"no alert {alert!r}")

    # -- deliveries -----------------------------------------------------------------------
    def delivery_status(self, rule_id: str) -> dict[str, dict[str, Any]]:
        """Per channel of the rule: last success, last error, counts."""
        self._get(rule_id)
        return self.rules.status(rule_id)

    def outbox(self) -> list[dict[str, Any]]:
        """Deliveries owed: new, retrying or held, with their next attempt."""
        return delivery.job_rows(self.rules)

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """Deliveries given up, newest first: the job (message included) and the reason."""
        rows = []
        for entry in self.rules.dead_letters(limit):
            job = entry["job"]
            rows.append(
                {
                    "job": job["id"],
                    "rule": job["rule_id"],
                    "channel": job["channel"],
                    "kind": job["kind"],
                    "attempts": job["attempts"],
                    "reason": entry["reason"],
                    "at": entry["at"],
                }
            )
        return rows

    def replay(self, job_ids: list[str] | None) -> list[str]:
        """Owe dead-lettered deliveries again (all when None); the sweep sends them."""
        replayed = self.rules.replay(job_ids, now=datetime.now(UTC).timestamp())
        delivery.dispatch(replayed)
        return replayed


def _keep_secrets(channels: Any, current: AlertRule) -> Any:
    if not isinstance(channels, list):
        return channels
    secrets = {c.url: c.secret for c in current.channels if isinstance(c, WebhookChannel)}
    kept = []
    for channel in channels:
        if (
            isinstance(channel, Mapping)
            and channel.get("type") == "webhook"
            and channel.get("secret") in (None, "", REDACTED)
            and channel.get("url") in secrets
        ):
            kept.append({**channel, "secret": secrets[channel["url"]]})
        else:
            kept.append(channel)
    return kept


def service() -> AlertsService:
    """The service on this process's shared clients (CLI, API, web pages)."""
    from newswire.deps import redis_store, search_store
    from newswire.settings import get_settings

    return AlertsService.from_stores(search_store(), redis_store().client, get_settings())
