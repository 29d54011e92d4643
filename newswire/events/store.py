"""Redis state of events: a candidate index of recent articles, one record per article, the
event of each story, event records, merges and the term statistics behind the IDF, shared by
every worker and decided atomically.

Keys (all under `<prefix>:event:`):

* `r:<doc_id>`: the article's record (pipeline.events.encode_record): salient terms, names,
  figures, dates and the event it joined. Kept `window + 1 day`.
* `x:<day>:<shard>`: hash of index key (a name, a figure or a salient term; see
  EventFingerprint.index_keys) -> up to `cap` doc ids published that (UTC) day. A key carried by
  more articles that day becomes "*", a stop key: it no longer tells events apart.
* `s:<story_id>`: the event of a story, so every copy of a story follows its first article.
* `df:<language>:<day>`: hash of stem -> articles published that day using it, and "#" -> all
  articles of that language and day: the IDF statistics (pipeline.events.TermStats).
* `m:<event_id>`: the event it was merged into; `ms:<event_id>`: the events merged into it;
  `mlog`: the last 1,000 merges as JSON. Kept `merge_ttl` (the dedup memory, 90 days by default).
* `e:<event_id>`: hash of created, last, first (doc id), articles; `a:<event_id>`: the doc ids
  that joined it (a merged event keeps its own: the page reads every member event's);
  `recent`: sorted set of event ids by last article. Kept `merge_ttl`.

Atomicity, as for stories (newswire/stories/store.py): a Lua run reads the index slots of the
window, the story's event and the candidates' records with their events resolved through merges,
and returns them with a SHA-1 of everything it read (the fence). Python decides
(pipeline.events.decide); a second run writes only if the fence still holds, else the article is
read and decided again. An article with no candidates and no story event is written by the first
run itself. A retried article finds its record and keeps its event. The script derives its hash
keys from its arguments, so the state must live on one Redis, not across a cluster's slots.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import redis
import structlog

from pipeline.events import (
    EventConfig,
    EventDecision,
    EventFingerprint,
    TermStats,
    decide,
    decode_record,
    encode_record,
)

log = structlog.get_logger(__name__)

_SCRIPT = """
local mode, prefix, doc_id, story_id = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local first_day, last_day, write_day = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local items, cap, record = ARGV[8], tonumber(ARGV[9]), ARGV[10]
local record_ttl, part_ttl, merge_ttl = tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13])
local fence, event_id, merged, now = ARGV[14], ARGV[15], ARGV[16], tonumber(ARGV[17])
local language, terms, max_candidates = ARGV[18], ARGV[19], tonumber(ARGV[20])

local function resolve(event)
  for _ = 1, 16 do
    local into = redis.call('GET', prefix .. ':m:' .. event)
    if not into then return event end
    event = into
  end
  return event
end

local existing = redis.call('GET', prefix .. ':r:' .. doc_id)
if existing then
  local recorded = string.match(existing, '^[^|]*|[^|]*|[^|]*|([^|]*)|')
  return {'done', resolve(recorded or doc_id), existing}
end

local story_event = redis.call('GET', prefix .. ':s:' .. story_id) or ''
if story_event ~= '' then story_event = resolve(story_event) end

local slots = {}
for d = first_day, last_day do
  for item in string.gmatch(items, '%S+') do
    local shard, key = string.match(item, '^(%d+):(.+)$')
    slots[#slots + 1] = {prefix .. ':x:' .. d .. ':' .. shard, key, d == write_day}
  end
end
local observed, shared, order = {}, {}, {}
for i, slot in ipairs(slots) do
  local value = redis.call('HGET', slot[1], slot[2]) or ''
  observed[i] = value
  if value ~= '' and value ~= '*' then
    for id in string.gmatch(value, '[^,]+') do
      if id ~= doc_id then
        if not shared[id] then order[#order + 1] = id end
        shared[id] = (shared[id] or 0) + 1
      end
    end
  end
end
local ranked = {}
for _, id in ipairs(order) do
  if shared[id] >= 2 then ranked[#ranked + 1] = id end
end
table.sort(ranked, function(a, b)
  if shared[a] ~= shared[b] then return shared[a] > shared[b] end
  return a < b
end)
local reply = {'candidates', '', story_event}
local read = {table.concat(observed, '\\n'), story_event}
for i = 1, math.min(#ranked, max_candidates) do
  local candidate = redis.call('GET', prefix .. ':r:' .. ranked[i])
  if candidate then
    local recorded = string.match(candidate, '^[^|]*|[^|]*|[^|]*|([^|]*)|') or ranked[i]
    local event = resolve(recorded)
    reply[#reply + 1] = candidate
    reply[#reply + 1] = event
    read[#read + 1] = event
  end
end
local digest = redis.sha1hex(table.concat(read, '\\n'))
reply[2] = digest

local function write(event)
  local member = ',' .. doc_id .. ','
  for i, slot in ipairs(slots) do
    if slot[3] then
      local current = observed[i]
      if current == '' then
        redis.call('HSET', slot[1], slot[2], doc_id)
      elseif current ~= '*' and not string.find(',' .. current .. ',', member, 1, true) then
        local count = select(2, string.gsub(current, ',', '')) + 1
        redis.call('HSET', slot[1], slot[2], count < cap and (current .. ',' .. doc_id) or '*')
      end
      redis.call('EXPIRE', slot[1], part_ttl, 'NX')
    end
  end
  local stats = prefix .. ':df:' .. language .. ':' .. write_day
  for term in string.gmatch(terms, '%S+') do redis.call('HINCRBY', stats, term, 1) end
  redis.call('HINCRBY', stats, '#', 1)
  redis.call('EXPIRE', stats, part_ttl, 'NX')
  redis.call('SET', prefix .. ':r:' .. doc_id, record, 'EX', record_ttl)
  redis.call('SET', prefix .. ':s:' .. story_id, event, 'NX', 'EX', record_ttl)
  for loser in string.gmatch(merged, '%S+') do
    if loser ~= event and resolve(loser) == loser then
      redis.call('SET', prefix .. ':m:' .. loser, event, 'EX', merge_ttl)
      redis.call('SADD', prefix .. ':ms:' .. event, loser)
      redis.call('EXPIRE', prefix .. ':ms:' .. event, merge_ttl)
      redis.call('ZREM', prefix .. ':recent', loser)
      redis.call('LPUSH', prefix .. ':mlog', cjson.encode({event = loser, into = event,
        by = doc_id, at = now}))
      redis.call('LTRIM', prefix .. ':mlog', 0, 999)
      local lost = tonumber(redis.call('HGET', prefix .. ':e:' .. loser, 'articles') or '0')
      redis.call('HINCRBY', prefix .. ':e:' .. event, 'articles', lost)
    end
  end
  redis.call('SADD', prefix .. ':a:' .. event, doc_id)
  redis.call('EXPIRE', prefix .. ':a:' .. event, merge_ttl)
  local info = prefix .. ':e:' .. event
  redis.call('HSETNX', info, 'created', now)
  redis.call('HSETNX', info, 'first', doc_id)
  redis.call('HSET', info, 'last', now)
  redis.call('HINCRBY', info, 'articles', 1)
  redis.call('EXPIRE', info, merge_ttl)
  redis.call('ZADD', prefix .. ':recent', now, event)
  redis.call('EXPIRE', prefix .. ':recent', merge_ttl)
end

if mode == 'query' then
  if #reply == 3 and story_event == '' then
    write(doc_id)
    return {'new'}
  end
  return reply
end
if mode == 'commit' and digest ~= fence then return reply end
write(event_id)
return {'ok'}
"""

DAY_SECONDS = 86_400
# After this many broken fences the article is written unfenced: an event may then be split in
# two (a later article can still merge them), but the article is never held up.
MAX_ATTEMPTS = 8
MAX_CANDIDATES = 40
STATS_TTL_SECONDS = 60.0
STATS_CACHE_TERMS = 200_000


@dataclass(frozen=True, slots=True)
class EventMerge:
    """One recorded merge: `event` now belongs to `into`, shown by article `by`."""

    event: str
    into: str
    by: str
    at: float


class EventStore:
    """Event assignment for fingerprints, consistent across every worker."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        *,
        window_hours: float = 48.0,
        shards: int = 4096,
        cap: int = 24,
        merge_ttl_seconds: int = 90 * DAY_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.prefix = f"{prefix}:event"
        self.window_hours = window_hours
        self.shards = shards
        self.cap = cap
        self.merge_ttl_seconds = merge_ttl_seconds
        self.clock = clock
        self._script = client.register_script(_SCRIPT)
        self._stats: dict[str, int] = {}
        self._stats_at = 0.0

    @property
    def _window_days(self) -> int:
        return int(-(-self.window_hours // 24))

    def _days(self, published: float) -> tuple[int, int, int]:
        day = int((published or self.clock()) // DAY_SECONDS)
        return day - self._window_days, day + self._window_days, day

    # -- term statistics -------------------------------------------------------------------
    def term_stats(self, language: str, terms: Sequence[str], published: float) -> TermStats:
        """Document frequencies of `terms` ("lang:stem") among the window's articles.

        Counts are cached in the process for STATS_TTL_SECONDS: an IDF a minute old ranks
        terms as well as a fresh one, and most terms of an article were looked up recently.
        """
        first, _, today = self._days(published)
        now = self.clock()
        if now - self._stats_at > STATS_TTL_SECONDS or len(self._stats) > STATS_CACHE_TERMS:
            self._stats.clear()
            self._stats_at = now
        wanted = [f"#{language}:{first}:{today}", *(f"{t}:{first}:{today}" for t in terms)]
        missing = [key for key in wanted if key not in self._stats]
        if missing:
            names = [key.rsplit(":", 2)[0] for key in missing]
            stems = ["#" if name.startswith("#") else name.split(":", 1)[1] for name in names]
            pipe = self.client.pipeline(transaction=False)
            # The window before the article: what it is compared with (later days are seldom
            # written yet, and reading them would cost a look-up per term each).
            for day in range(first, today + 1):
                pipe.hmget(f"{self.prefix}:df:{language}:{day}", stems)
            totals = [0] * len(missing)
            for values in pipe.execute():
                for index, value in enumerate(values):
                    totals[index] += int(value or 0)
            self._stats.update(zip(missing, totals, strict=True))
        return TermStats(
            {language: self._stats[wanted[0]]},
            {term: self._stats[key] for term, key in zip(terms, wanted[1:], strict=True)},
        )

    # -- assignment ------------------------------------------------------------------------
    def _call(
        self,
        mode: str,
        fp: EventFingerprint,
        *,
        record: str,
        fence: str = "",
        event_id: str = "",
        merged: Sequence[str] = (),
    ) -> Any:
        first, last, day = self._days(fp.published)
        items = " ".join(
            f"{zlib.crc32(key.encode()) % self.shards}:{key}" for key in fp.index_keys()
        )
        window = int(self.window_hours * 3600)
        return self._script(
            keys=[],
            args=[
                mode,
                self.prefix,
                fp.doc_id,
                fp.story_id,
                first,
                last,
                day,
                items,
                self.cap,
                record,
                window + DAY_SECONDS,
                window + 2 * DAY_SECONDS,
                self.merge_ttl_seconds,
                fence,
                event_id,
                " ".join(merged),
                self.clock(),
                fp.language,
                " ".join(t.split(":", 1)[1] for t, _ in fp.terms),
                MAX_CANDIDATES,
            ],
        )

    def assign(self, fp: EventFingerprint, config: EventConfig) -> EventDecision:
        """The event of one article, recorded so later articles (on any worker) find it.

        Idempotent: an article already recorded keeps its event (resolved through merges).
        Candidates carry their TF-IDF weights from their own arrival, so no statistics are
        read here.
        """
        reply = self._call("query", fp, record=encode_record(fp, fp.doc_id))
        decision = EventDecision(fp.doc_id, "new", 1.0, None)
        for attempt in range(1, MAX_ATTEMPTS + 2):
            kind = _text(reply[0])
            if kind == "new":
                return EventDecision(fp.doc_id, "new", 1.0, None)
            if kind == "done":
                return EventDecision(_text(reply[1]), "recorded", 1.0, None)
            if kind == "ok":
                return decision
            digest, story_event = _text(reply[1]), _text(reply[2])
            candidates = []
            for raw, event in zip(reply[3::2], reply[4::2], strict=True):
                decoded = decode_record(_text(raw))
                if decoded is not None:
                    event_id = _text(event)
                    same = decoded.event_id == event_id
                    candidates.append(decoded if same else replace(decoded, event_id=event_id))
            decision = decide(fp, candidates, config, story_event=story_event)
            if attempt > 1:
                log.debug("event assignment conflict, deciding again", doc_id=fp.doc_id)
            reply = self._call(
                "commit" if attempt <= MAX_ATTEMPTS else "force",
                fp,
                record=encode_record(fp, decision.event_id),
                fence=digest,
                event_id=decision.event_id,
                merged=decision.merged,
            )
        raise AssertionError("event assignment did not settle")  # pragma: no cover - force ends it

    # -- reading ---------------------------------------------------------------------------
    def resolve(self, event_id: str) -> str:
        """The event `event_id` belongs to now (itself unless it was merged)."""
        for _ in range(16):
            into = self.client.get(f"{self.prefix}:m:{event_id}")
            if into is None:
                return event_id
            event_id = _text(into)
        return event_id

    def member_events(self, event_id: str) -> list[str]:
        """`event_id` and every event merged into it, directly or through others."""
        found, queue = [event_id], [event_id]
        while queue:
            merged = self.client.smembers(f"{self.prefix}:ms:{queue.pop()}")
            for item in sorted(_text(m) for m in merged):
                if item not in found:
                    found.append(item)
                    queue.append(item)
        return found

    def event_docs(self, event_ids: Sequence[str]) -> list[str]:
        """Doc ids of the articles that joined any of the events."""
        if not event_ids:
            return []
        keys = [f"{self.prefix}:a:{e}" for e in event_ids]
        return sorted(_text(d) for d in self.client.sunion(keys))

    def event_info(self, event_id: str) -> dict[str, Any]:
        """Created, last (epoch seconds), first (doc id) and articles of an event."""
        raw = self.client.hgetall(f"{self.prefix}:e:{event_id}")
        return {_text(k): _text(v) for k, v in raw.items()}

    def recent(self, limit: int = 20) -> list[tuple[str, float]]:
        """The events with the latest articles, newest first."""
        rows: list[Any] = self.client.zrevrange(
            f"{self.prefix}:recent", 0, limit - 1, withscores=True
        )
        return [(_text(row[0]), float(row[1])) for row in rows]

    def merges(self, limit: int = 100) -> list[EventMerge]:
        """The latest recorded merges, newest first."""
        rows = self.client.lrange(f"{self.prefix}:mlog", 0, limit - 1)
        return [EventMerge(**json.loads(_text(row))) for row in rows]

    def record(self, doc_id: str) -> EventFingerprint | None:
        """The stored fingerprint of an article (its event resolved), if still in the window."""
        raw = self.client.get(f"{self.prefix}:r:{doc_id}")
        decoded = decode_record(_text(raw)) if raw is not None else None
        return replace(decoded, event_id=self.resolve(decoded.event_id)) if decoded else None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
