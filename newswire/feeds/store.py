"""Managed feeds in Redis: configuration, poll state, the due schedule, leases and host gates.

Keys, all under the index prefix:

* `feeds` (set): every feed id;
* `feed:<id>` (hash): the feed's configuration and its poll state (pipeline.schedule.FeedState);
* `feeds:due` (sorted set): active feeds by next due time in epoch milliseconds;
* `feed:<id>:lease` (string, expiring): the token of the poll in progress;
* `feed:<id>:seen` (sorted set): dedup ids of entries seen in the feed, by last sighting;
* `feed:<id>:daily` (hash): new entries per UTC day (the last 30 days);
* `host:<host>:slots` / `host:<host>:next`: requests in flight to a host, next allowed start.

Every step that decides who polls what is one Lua script, so two ticks, two workers or a worker
and an operator can never both own a feed's poll.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

import redis
import redis.asyncio

from pipeline.feedlist import FeedConfig
from pipeline.schedule import ACTIVE, DISABLED, PAUSED, FeedState, resumed

DAILY_DAYS = 30

_CONFIG_FIELDS = ("url", "source", "language", "tags", "min_interval", "max_interval")
_STATE_FIELDS = tuple(f.name for f in fields(FeedState))
_INT_FIELDS = frozenset({"consecutive_errors", "last_new_entries", "polls"})
_FLOAT_FIELDS = frozenset(
    {
        "next_due",
        "interval",
        "last_poll",
        "last_new_entry_at",
        "last_duration",
        "entries_per_day",
    }
)

# KEYS: due. ARGV: now_ms, lease_ms, limit. Due feeds are pushed to now + lease, so the next
# tick does not enqueue them again, and they come back by themselves if their poll never ends.
_CLAIM_DUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local claim = tonumber(ARGV[1]) + tonumber(ARGV[2])
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], claim, id) end
table.insert(ids, 1, tostring(claim))
return ids
"""

# KEYS: lease, due, feed. ARGV: token, lease_ms, feed id, claim ('' = a poll asked for by hand),
# now_ms. A claimed poll runs only if the feed still carries the claim its task was sent with:
# a redelivered or duplicated task finds another score and stands down ("stale").
_ACQUIRE = """
if redis.call('EXISTS', KEYS[3]) == 0 then return {'missing'} end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'busy'} end
local score = redis.call('ZSCORE', KEYS[2], ARGV[3])
if ARGV[4] ~= '' and ((not score) or tonumber(score) ~= tonumber(ARGV[4])) then
  return {'stale'}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
if score then
  redis.call('ZADD', KEYS[2], tonumber(ARGV[5]) + tonumber(ARGV[2]), ARGV[3])
end
local out = redis.call('HGETALL', KEYS[3])
table.insert(out, 1, 'ok')
return out
"""

# KEYS: lease, due, feed, seen, daily. ARGV: token, feed id, next_due_ms ('' = none), new status
# ('' = unchanged), now_ms, day, day count, oldest day kept, seen kept, n_set, (field, value) *
# n_set, n_del, field * n_del, seen key... Writes only while the lease is ours (or expired and
# not taken), never resurrects a removed feed, and never overrides a pause made meanwhile.
_COMMIT = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[3]) == 0 then return -1 end
local i = 10
local n_set = tonumber(ARGV[i])
for j = 1, n_set do
  redis.call('HSET', KEYS[3], ARGV[i + 2 * j - 1], ARGV[i + 2 * j])
end
i = i + 2 * n_set + 1
local n_del = tonumber(ARGV[i])
for j = 1, n_del do redis.call('HDEL', KEYS[3], ARGV[i + j]) end
i = i + n_del + 1
local current = redis.call('HGET', KEYS[3], 'status') or 'active'
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[3], 'status', ARGV[4])
  current = ARGV[4]
end
if current == 'active' and ARGV[3] ~= '' then
  redis.call('ZADD', KEYS[2], tonumber(ARGV[3]), ARGV[2])
else
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('HDEL', KEYS[3], 'next_due')
end
for j = i, #ARGV do redis.call('ZADD', KEYS[4], tonumber(ARGV[5]), ARGV[j]) end
local keep = tonumber(ARGV[9])
if #ARGV >= i and redis.call('ZCARD', KEYS[4]) > keep then
  redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -(keep + 1))
end
if tonumber(ARGV[7]) > 0 then redis.call('HINCRBY', KEYS[5], ARGV[6], tonumber(ARGV[7])) end
for _, day in ipairs(redis.call('HKEYS', KEYS[5])) do
  if day < ARGV[8] then redis.call('HDEL', KEYS[5], day) end
end
if holder then redis.call('DEL', KEYS[1]) end
return 1
"""

# KEYS: slots, next. ARGV: now_ms, token, limit, delay_ms, lease_ms. Returns 0 when the request
# may start (and records it), else how many milliseconds to wait before asking again.
_HOST_ACQUIRE = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 25 end
local next_start = tonumber(redis.call('GET', KEYS[2]) or '0')
if next_start > now then return next_start - now end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[5]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]))
local delay = tonumber(ARGV[4])
if delay > 0 then redis.call('SET', KEYS[2], now + delay, 'PX', delay + 1000) end
return 0
"""


class FeedExists(ValueError):
    """A feed with that id is already managed."""


class UnknownFeed(KeyError):
    """No managed feed has that id."""


@dataclass(frozen=True, slots=True)
class FeedRecord:
    """A managed feed: its configuration, its poll state and its new entries per day."""

    config: FeedConfig
    state: FeedState
    added_at: float | None = None
    daily: Mapping[str, int] | None = None

    @property
    def id(self) -> str:
        return self.config.id

    def to_dict(self) -> dict[str, Any]:
        data = {**self.config.to_dict(), **_state_dict(self.state), "added_at": self.added_at}
        data["tags"] = list(self.config.tags)
        if self.daily is not None:
            data["entries_per_day_seen"] = dict(sorted(self.daily.items()))
        return data


def _state_dict(state: FeedState) -> dict[str, Any]:
    return {name: getattr(state, name) for name in _STATE_FIELDS}


def host_of(url: str) -> str:
    """The host part that per-host politeness is keyed on."""
    return (urlsplit(url).hostname or "").lower()


def now_ms(now: float) -> int:
    return int(now * 1000)


def encode_config(config: FeedConfig) -> tuple[dict[str, str], list[str]]:
    """Hash fields to set and to delete for a configuration."""
    values: dict[str, Any] = {
        "url": config.url,
        "source": config.source,
        "language": config.language,
        "tags": ",".join(config.tags) or None,
        "min_interval": config.min_interval,
        "max_interval": config.max_interval,
    }
    return (
        {k: str(v) for k, v in values.items() if v is not None},
        [k for k, v in values.items() if v is None],
    )


def encode_state(state: FeedState) -> tuple[dict[str, str], list[str]]:
    """Hash fields to set and to delete for a poll state (None deletes)."""
    values = _state_dict(state)
    return (
        {
            k: repr(v) if isinstance(v, float) else str(v)
            for k, v in values.items()
            if v is not None
        },
        [k for k, v in values.items() if v is None],
    )


def decode_record(feed_id: str, raw: Mapping[str, str]) -> FeedRecord:
    """A FeedRecord from the feed's hash."""
    state_values: dict[str, Any] = {}
    for name in _STATE_FIELDS:
        value = raw.get(name)
        if value is None or value == "":
            continue
        if name in _INT_FIELDS:
            state_values[name] = int(value)
        elif name in _FLOAT_FIELDS:
            state_values[name] = float(value)
        else:
            state_values[name] = value
    config = FeedConfig(
        id=feed_id,
        url=raw.get("url", ""),
        source=raw.get("source") or None,
        language=raw.get("language") or None,
        tags=tuple(t for t in raw.get("tags", "").split(",") if t),
        min_interval=int(raw["min_interval"]) if raw.get("min_interval") else None,
        max_interval=int(raw["max_interval"]) if raw.get("max_interval") else None,
    )
    added = raw.get("added_at")
    return FeedRecord(config, FeedState(**state_values), float(added) if added else None)


def _pairs(raw: Sequence[Any]) -> dict[str, str]:
    return {str(raw[i]): str(raw[i + 1]) for i in range(0, len(raw) - 1, 2)}


class _Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.ids = f"{prefix}:feeds"
        self.due = f"{prefix}:feeds:due"
        self.seeded = f"{prefix}:feeds:seeded"

    def feed(self, feed_id: str, *suffix: str) -> str:
        return ":".join((self.prefix, "feed", feed_id, *suffix))

    def host(self, host: str, what: str) -> str:
        return f"{self.prefix}:host:{host}:{what}"


class FeedStore:
    """Feed management and scheduling (synchronous: the CLI, the API and the beat tick)."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.keys = _Keys(prefix)
        self._claim_due = client.register_script(_CLAIM_DUE)

    @classmethod
    def from_url(cls, url: str, prefix: str) -> FeedStore:
        return cls(redis.Redis.from_url(url, decode_responses=True), prefix)

    # -- management ----------------------------------------------------------------------
    def add(self, config: FeedConfig, *, now: float | None = None) -> FeedRecord:
        """Start managing a feed; it is due at once. FeedExists if the id is taken."""
        now = time.time() if now is None else now
        key = self.keys.feed(config.id)
        to_set, _ = encode_config(config)
        state_set, _ = encode_state(FeedState(next_due=now))
        if not self.client.hsetnx(key, "added_at", repr(now)):
            raise FeedExists(f"feed {config.id!r} already exists")
        pipe = self.client.pipeline()
        pipe.hset(key, mapping=cast("Any", {**to_set, **state_set}))
        pipe.sadd(self.keys.ids, config.id)
        pipe.zadd(self.keys.due, {config.id: now_ms(now)})
        pipe.execute()
        return self.get(config.id)

    def update(self, config: FeedConfig) -> FeedRecord:
        """Replace a feed's configuration; its state (validators, errors, schedule) is kept."""
        key = self.keys.feed(config.id)
        if not self.client.exists(key):
            raise UnknownFeed(config.id)
        to_set, to_delete = encode_config(config)
        pipe = self.client.pipeline()
        pipe.hset(key, mapping=cast("Any", to_set))
        if to_delete:
            pipe.hdel(key, *to_delete)
        pipe.execute()
        return self.get(config.id)

    def upsert(self, configs: Iterable[FeedConfig], *, now: float | None = None) -> dict[str, int]:
        """Import: add new feeds, update the configuration of known ones."""
        counts = {"added": 0, "updated": 0}
        for config in configs:
            try:
                self.add(config, now=now)
                counts["added"] += 1
            except FeedExists:
                self.update(config)
                counts["updated"] += 1
        return counts

    def seed_once(self, configs: Iterable[FeedConfig]) -> int:
        """Add the feed list file's feeds the first time a store is used; 0 afterwards."""
        if not self.client.set(self.keys.seeded, repr(time.time()), nx=True):
            return 0
        return self.upsert(configs)["added"]

    def remove(self, feed_id: str) -> bool:
        """Forget a feed: configuration, state, schedule, seen entries."""
        pipe = self.client.pipeline()
        pipe.srem(self.keys.ids, feed_id)
        pipe.zrem(self.keys.due, feed_id)
        pipe.delete(
            self.keys.feed(feed_id),
            self.keys.feed(feed_id, "seen"),
            self.keys.feed(feed_id, "daily"),
        )
        return bool(pipe.execute()[0])

    def pause(self, feed_id: str, reason: str = "paused by an operator") -> FeedRecord:
        """Take a feed out of rotation until resumed."""
        return self._set_status(feed_id, PAUSED, reason, due=None)

    def resume(self, feed_id: str, *, now: float | None = None) -> FeedRecord:
        """Back into rotation (also a disabled feed), errors forgiven, due at once."""
        now = time.time() if now is None else now
        record = self.get(feed_id)
        state = resumed(record.state, now)
        to_set, to_delete = encode_state(state)
        pipe = self.client.pipeline()
        pipe.hset(self.keys.feed(feed_id), mapping=cast("Any", to_set))
        pipe.hdel(self.keys.feed(feed_id), *to_delete)
        pipe.zadd(self.keys.due, {feed_id: now_ms(now)})
        pipe.execute()
        return self.get(feed_id)

    def _set_status(self, feed_id: str, status: str, reason: str, due: float | None) -> FeedRecord:
        key = self.keys.feed(feed_id)
        if not self.client.exists(key):
            raise UnknownFeed(feed_id)
        pipe = self.client.pipeline()
        pipe.hset(key, mapping={"status": status, "reason": reason})
        pipe.hdel(key, "next_due")
        pipe.zrem(self.keys.due, feed_id)
        pipe.execute()
        return self.get(feed_id)

    # -- reading -------------------------------------------------------------------------
    def ids(self) -> list[str]:
        return sorted(str(m) for m in self.client.smembers(self.keys.ids))

    def get(self, feed_id: str, *, daily: bool = False) -> FeedRecord:
        raw = self.client.hgetall(self.keys.feed(feed_id))
        if not raw:
            raise UnknownFeed(feed_id)
        record = decode_record(feed_id, {str(k): str(v) for k, v in raw.items()})
        if daily:
            counts = self.client.hgetall(self.keys.feed(feed_id, "daily"))
            record = replace(record, daily={str(k): int(v) for k, v in counts.items()})
        return record

    def all(self, ids: Sequence[str] | None = None) -> list[FeedRecord]:
        wanted = list(ids) if ids is not None else self.ids()
        pipe = self.client.pipeline(transaction=False)
        for feed_id in wanted:
            pipe.hgetall(self.keys.feed(feed_id))
        records = []
        for feed_id, raw in zip(wanted, pipe.execute(), strict=True):
            if raw:
                records.append(decode_record(feed_id, {str(k): str(v) for k, v in raw.items()}))
        return records

    def status_counts(self) -> dict[str, int]:
        counts = {ACTIVE: 0, PAUSED: 0, DISABLED: 0}
        for record in self.all():
            counts[record.state.status] = counts.get(record.state.status, 0) + 1
        return counts

    def overdue(self, now: float | None = None) -> int:
        """Active feeds whose due time has passed (a backlog when it keeps growing)."""
        now = time.time() if now is None else now
        return int(self.client.zcount(self.keys.due, "-inf", now_ms(now)))

    # -- scheduling ----------------------------------------------------------------------
    def claim_due(
        self, *, now: float, lease_seconds: float, limit: int = 100_000
    ) -> tuple[int, list[str]]:
        """Claim the feeds due at `now`: returns the claim value their poll tasks must carry."""
        raw = self._claim_due(
            keys=[self.keys.due], args=[now_ms(now), int(lease_seconds * 1000), limit]
        )
        return int(raw[0]), [str(i) for i in raw[1:]]

    def urls(self, ids: Sequence[str]) -> list[str]:
        pipe = self.client.pipeline(transaction=False)
        for feed_id in ids:
            pipe.hget(self.keys.feed(feed_id), "url")
        return [str(u or "") for u in pipe.execute()]


class AsyncFeedStore:
    """The poll path's side of the store (asyncio: many feeds in flight per process)."""

    def __init__(self, client: redis.asyncio.Redis, prefix: str) -> None:
        self.client = client
        self.keys = _Keys(prefix)
        self._acquire = client.register_script(_ACQUIRE)
        self._commit = client.register_script(_COMMIT)
        self._host_acquire = client.register_script(_HOST_ACQUIRE)

    @classmethod
    def from_url(cls, url: str, prefix: str) -> AsyncFeedStore:
        return cls(redis.asyncio.Redis.from_url(url, decode_responses=True), prefix)

    async def acquire(
        self, feed_id: str, *, token: str, claim: int | None, lease_seconds: float, now: float
    ) -> tuple[str, FeedRecord | None]:
        """Take the feed's poll lease: ("ok", record), or "busy" / "stale" / "missing"."""
        raw = await self._acquire(
            keys=[self.keys.feed(feed_id, "lease"), self.keys.due, self.keys.feed(feed_id)],
            args=[
                token,
                int(lease_seconds * 1000),
                feed_id,
                "" if claim is None else claim,
                now_ms(now),
            ],
        )
        verdict = str(raw[0])
        if verdict != "ok":
            return verdict, None
        return verdict, decode_record(feed_id, _pairs(raw[1:]))

    async def daily(self, feed_id: str) -> dict[str, int]:
        raw = await self.client.hgetall(self.keys.feed(feed_id, "daily"))
        return {str(k): int(v) for k, v in raw.items()}

    async def unseen(self, feed_id: str, keys: Sequence[str]) -> set[str]:
        """Which of `keys` this feed has not shown before."""
        if not keys:
            return set()
        scores = await self.client.zmscore(self.keys.feed(feed_id, "seen"), list(keys))
        return {k for k, s in zip(keys, scores, strict=True) if s is None}

    async def commit(
        self,
        feed_id: str,
        *,
        token: str,
        state: FeedState,
        now: float,
        url: str | None = None,
        seen: Sequence[str] = (),
        new_entries: int = 0,
        seen_keep: int = 1000,
    ) -> int:
        """Write a poll's outcome: 1 written, 0 the lease was taken by another poll, -1 removed."""
        to_set, to_delete = encode_state(state)
        status = to_set.pop("status", ACTIVE)
        if url:
            to_set["url"] = url
        next_due = "" if state.next_due is None else str(now_ms(state.next_due))
        oldest = (datetime.fromtimestamp(now, UTC) - timedelta(days=DAILY_DAYS)).date()
        args: list[Any] = [
            token,
            feed_id,
            next_due,
            DISABLED if status == DISABLED else "",
            now_ms(now),
            datetime.fromtimestamp(now, UTC).date().isoformat(),
            new_entries,
            oldest.isoformat(),
            seen_keep,
            len(to_set),
        ]
        for name, value in to_set.items():
            args += [name, value]
        deletable = [d for d in to_delete if d not in {"status", "reason"}]
        args += [len(deletable), *deletable, *seen]
        keys = [
            self.keys.feed(feed_id, "lease"),
            self.keys.due,
            self.keys.feed(feed_id),
            self.keys.feed(feed_id, "seen"),
            self.keys.feed(feed_id, "daily"),
        ]
        return int(await self._commit(keys=keys, args=args))

    async def release(self, feed_id: str, token: str) -> None:
        """Give the lease back without writing (the poll was abandoned)."""
        key = self.keys.feed(feed_id, "lease")
        if await self.client.get(key) == token:
            await self.client.delete(key)

    async def host_acquire(
        self, host: str, *, token: str, limit: int, delay: float, lease: float
    ) -> float:
        """0 when a request to `host` may start now (recorded), else seconds to wait first."""
        wait_ms = await self._host_acquire(
            keys=[self.keys.host(host, "slots"), self.keys.host(host, "next")],
            args=[now_ms(time.time()), token, limit, int(delay * 1000), int(lease * 1000)],
        )
        return int(wait_ms) / 1000

    async def host_release(self, host: str, token: str) -> None:
        await self.client.zrem(self.keys.host(host, "slots"), token)

    async def aclose(self) -> None:
        await self.client.aclose()
