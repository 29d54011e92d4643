"""The one settings object, read from NEWSWIRE_* environment variables (nothing else reads env)."""

from __future__ import annotations

import ipaddress
from functools import cache
from pathlib import Path
from typing import Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Every knob of the system; the README's configuration table is generated from this."""

    model_config = SettingsConfigDict(env_prefix="NEWSWIRE_", frozen=True)

    es_port: int = Field(
        9280, ge=1, le=65535, description="scripts/services: Elasticsearch HTTP port"
    )
    es_transport_port: int = Field(
        9380, ge=1, le=65535, description="scripts/services: Elasticsearch transport port"
    )
    redis_port: int = Field(6380, ge=1, le=65535, description="scripts/services: Redis port")
    # Empty means "the servers scripts/services runs", so changing a port moves the URLs too.
    es_url: str = Field("", description="Elasticsearch URL (unset: http://127.0.0.1:<es_port>)")
    redis_url: str = Field(
        "", description="Redis: broker, dedup state (unset: redis://127.0.0.1:<redis_port>/0)"
    )
    index_prefix: str = Field("newswire", description="Prefix of every index and Redis key")
    queue: str = Field("newswire", description="Celery queue the workers consume")
    config_dir: Path = Field(REPO_ROOT / "config", description="Folder of feeds/actors/mappings")
    feeds_path: Path | None = Field(None, description="Feed list (default config/feeds.yaml)")
    working_languages: str = Field("en", description="Languages the newsroom reads (comma list)")
    translate_url: str | None = Field(
        None, description="LibreTranslate-compatible service for headlines; unset: off"
    )
    translate_api_key: str | None = Field(None, description="API key for the translate service")
    translate_timeout_seconds: float = Field(10.0, gt=0, description="Translate request timeout")
    language_min_confidence: float = Field(0.5, description="Below this a language is 'und'")
    language_accurate: str = Field(
        "en,ru,uk,de,fr,es,it,pt,pl,ar,tr",
        description="Languages whose accurate short-text models load (about 40 MB each, on top "
        "of the working languages); 'all' loads every one (about 1.1 GB per worker)",
    )
    batch_size: int = Field(16, ge=1, le=500, description="Articles per processing task")
    dedup_ttl_days: int = Field(90, ge=1, description="How long an exact-dup key is remembered")
    story_window_days: int = Field(
        3, ge=1, description="Stories: days an article can be joined by re-posts or translations"
    )
    story_near_duplicate_containment: float = Field(
        0.5, gt=0, le=1, description="Stories: share of the shorter text in the other (MinHash)"
    )
    story_near_duplicate_min_jaccard: float = Field(
        0.15, ge=0, le=1, description="Stories: minimum Jaccard of a near-duplicate (MinHash)"
    )
    story_translation_min_points: float = Field(
        3.0, gt=0, description="Stories: cross-language evidence (shared numbers, names) to join"
    )
    story_translation_window_hours: float = Field(
        72.0, gt=0, description="Stories: largest publication-time gap of a translation"
    )
    event_window_hours: float = Field(
        48.0, gt=0, description="Events: largest publication-time gap of two reports of one event"
    )
    event_same_language_threshold: float = Field(
        0.35, gt=0, le=1, description="Events: pair score to join a report in the same language"
    )
    event_cross_language_threshold: float = Field(
        0.40, gt=0, le=1, description="Events: pair score to join a report in another language"
    )
    event_merge_margin: float = Field(
        0.10, ge=0, description="Events: score over the threshold with two events to merge them"
    )
    poll_tick_seconds: float = Field(
        15.0, gt=0, description="Beat: how often the feeds that are due are enqueued"
    )
    poll_min_interval_seconds: int = Field(
        300, ge=1, description="Shortest interval between polls of a feed (per-feed override)"
    )
    poll_max_interval_seconds: int = Field(
        3600, ge=1, description="Longest interval between polls of a feed (per-feed override)"
    )
    poll_interval_factor: float = Field(
        1.0, gt=0, description="Poll this many times per mean gap between a feed's entries"
    )
    poll_jitter: float = Field(0.1, ge=0, lt=1, description="± fraction added to each interval")
    poll_max_backoff_seconds: int = Field(
        21600, ge=1, description="Cap of the error backoff and of Retry-After"
    )
    poll_max_errors: int = Field(
        10, ge=1, description="Consecutive failures that disable a feed (410: at once)"
    )
    poll_lease_seconds: int = Field(
        300, ge=1, description="A feed's poll lease; re-polled after this if its worker dies"
    )
    poll_batch_size: int = Field(
        50, ge=1, description="Feeds per poll task, fetched concurrently by one worker process"
    )
    host_max_concurrency: int = Field(
        2, ge=1, description="Requests in flight to one host, across all workers"
    )
    host_min_delay_seconds: float = Field(
        0.25, ge=0, description="Minimum delay between two requests to one host"
    )
    fetch_timeout_seconds: float = Field(
        20.0, gt=0, description="Whole fetch deadline (all hops and the body)"
    )
    fetch_connect_timeout_seconds: float = Field(10.0, gt=0, description="TCP/TLS connect timeout")
    fetch_read_timeout_seconds: float = Field(
        10.0, gt=0, description="Longest silence while reading a response"
    )
    max_feed_bytes: int = Field(15 * 1024 * 1024, description="Largest feed body accepted")
    max_redirects: int = Field(5, ge=0, description="Redirect hops followed per fetch")
    max_entries_per_feed: int = Field(500, ge=1, description="Entries taken from one document")
    max_index_items: int = Field(
        100, ge=0, description="Items fetched from one index document (package, Atom, URI list)"
    )
    embargo_release_seconds: float = Field(
        30.0, gt=0, description="Beat: how often embargoes that have passed are released"
    )
    watch_interval_seconds: float = Field(
        2.0, gt=0, description="`newswire watch`: seconds between scans of the drop folder"
    )
    watch_settle_seconds: float = Field(
        3.0, ge=0, description="Drop folder: a file is read once its size and mtime held this long"
    )
    user_agent: str = Field(
        "newswire/0.1 (feed poller)", description="HTTP User-Agent; add a contact URL"
    )
    feed_allow_networks: str = Field(
        "", description="CIDRs a feed URL may resolve to despite being private/loopback"
    )
    admin_token: str | None = Field(None, description="Bearer token for /admin; unset disables")
    api_host: str = Field("127.0.0.1", description="API bind address")
    api_port: int = Field(8000, description="API port")
    worker_metrics_port: int = Field(9808, description="Worker Prometheus port (0 disables)")
    metrics_dir: Path | None = Field(None, description="prometheus multiprocess dir for workers")
    log_level: str = Field("INFO", description="Log level")
    log_format: str = Field("auto", description="json, console, or auto (console on a tty)")
    task_max_retries: int = Field(
        20,
        ge=0,
        description="Retries of a batch while a backend is down (backoff 2 s doubling to 60 s: "
        "20 retries wait about 16 minutes), then it is dead-lettered",
    )
    alert_state_days: int = Field(
        14, ge=1, description="Alerts: days a (rule, story) alert is remembered (copies join it)"
    )
    alert_public_url: str | None = Field(
        None, description="Alerts: the web app's base URL, for story links in messages"
    )
    webhook_allow_networks: str = Field(
        "",
        description="Alerts: CIDRs a webhook URL may resolve to despite being private/loopback "
        "(NEWSWIRE_FEED_ALLOW_NETWORKS applies too)",
    )
    webhook_timeout_seconds: float = Field(10.0, gt=0, description="Alerts: webhook POST timeout")
    alert_retry_max_attempts: int = Field(
        8, ge=1, description="Alerts: attempts per delivery before it is dead-lettered"
    )
    alert_retry_base_seconds: float = Field(
        10.0, gt=0, description="Alerts: first retry delay, doubling per attempt (with jitter)"
    )
    alert_retry_max_seconds: float = Field(
        3600.0, gt=0, description="Alerts: longest delay between two delivery attempts"
    )
    alert_sweep_seconds: float = Field(
        2.0, gt=0, description="Beat: how often due, retried and held deliveries are sent"
    )
    alert_digest_tick_seconds: float = Field(
        60.0, gt=0, description="Beat: how often finished digest periods are composed"
    )
    smtp_host: str | None = Field(None, description="Alerts: SMTP server; unset: e-mail is off")
    smtp_port: int = Field(587, ge=1, le=65535, description="Alerts: SMTP port")
    smtp_starttls: bool = Field(True, description="Alerts: STARTTLS before authenticating")
    smtp_username: str | None = Field(None, description="Alerts: SMTP user (unset: no login)")
    smtp_password: str | None = Field(None, description="Alerts: SMTP password")
    smtp_sender: str = Field("newswire@localhost", description="Alerts: From address of e-mails")
    smtp_timeout_seconds: float = Field(20.0, gt=0, description="Alerts: SMTP timeout")

    @model_validator(mode="after")
    def _urls_follow_ports(self) -> Self:
        # The settings are frozen; filling a derived default is the one write they allow.
        if not self.es_url:
            object.__setattr__(self, "es_url", f"http://127.0.0.1:{self.es_port}")
        if not self.redis_url:
            object.__setattr__(self, "redis_url", f"redis://127.0.0.1:{self.redis_port}/0")
        return self

    @field_validator("feed_allow_networks", "webhook_allow_networks")
    @classmethod
    def _valid_networks(cls, value: str) -> str:
        for part in filter(None, (p.strip() for p in value.split(","))):
            ipaddress.ip_network(part, strict=False)
        return value

    @property
    def allowed_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        parts = filter(None, (p.strip() for p in self.feed_allow_networks.split(",")))
        return tuple(ipaddress.ip_network(p, strict=False) for p in parts)

    @property
    def webhook_allowed_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """Networks a webhook may reach: the feeds' allowance plus the webhook-only one."""
        parts = filter(None, (p.strip() for p in self.webhook_allow_networks.split(",")))
        own = tuple(ipaddress.ip_network(p, strict=False) for p in parts)
        return self.allowed_networks + own

    @property
    def working_language_set(self) -> frozenset[str]:
        return frozenset(x.strip() for x in self.working_languages.split(",") if x.strip())

    @property
    def accurate_language_set(self) -> frozenset[str] | None:
        """Languages lingua may load its large models for; None means all of them."""
        if self.language_accurate.strip().lower() == "all":
            return None
        chosen = (x.strip() for x in self.language_accurate.split(","))
        return frozenset(x for x in chosen if x) | self.working_language_set

    @property
    def translation_target(self) -> str:
        """Headlines are translated into the first working language."""
        return self.working_languages.split(",")[0].strip() or "en"

    @property
    def articles_alias(self) -> str:
        return f"{self.index_prefix}-articles"

    @property
    def actors_index(self) -> str:
        return f"{self.index_prefix}-actors"

    @property
    def alerts_index(self) -> str:
        return f"{self.index_prefix}-alerts"

    @property
    def feeds_file(self) -> Path:
        return self.feeds_path or self.config_dir / "feeds.yaml"

    @property
    def actors_file(self) -> Path:
        return self.config_dir / "actors.yaml"

    @property
    def mappings_dir(self) -> Path:
        return self.config_dir / "elasticsearch"


@cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
