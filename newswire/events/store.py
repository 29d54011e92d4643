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
* `seq`: the write sequence, bumped by every write of the script: a commit that finds it as the
  query left it writes without reading again.
* `df:<language>:<day>`: hash of stem -> articles published that day using it, and "#" -> all
  articles of that language and day: the IDF statistics (pipeline.events.TermStats).
* `m:<event_id>`: the event it was merged into; `ms:<event_id>`: the events merged into it;
  `mlog`: the last 1,000 merges as JSON. Kept `merge_ttl` (the dedup memory, 90 days by default).
* `e:<event_id>`: hash of created, last, first (doc id), articles; `a:<event_id>`: the doc ids
  that joined it (a merged event keeps its own: the page reads every member event's);
  `recent`: sorted set of event ids by last article. Kept `merge_ttl`.

Atomicity, per batch: one Lua run reads, for every article of the batch, the index slots of its
window, its story's event and the candidates' records with their events resolved through merges,
with a SHA-1 of everything each article read (its fence). Python decides the articles in batch
order (pipeline.events.decide), each also against the batch's earlier articles, as if they had
been written first. A second run checks every fence on the state before the batch and, only if
all still hold, writes the whole batch (when no batch was written in between, which the write
sequence tells, without reading again); else it hands back the reads as they are now and the batch
is decided again. So concurrent workers reach the events one worker would in some serial order,
in two round trips per batch. A retried article finds its record and keeps its event. The script
derives its hash keys from its arguments, so the state must live on one Redis, not across a
cluster's slots.
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
    resolve,
)

log = structlog.get_logger(__name__)

_SCRIPT = """
local mode, prefix, cap = ARGV[1], ARGV[2], tonumber(ARGV[3])
local record_ttl, part_ttl, merge_ttl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local now, max_candidates, fields = tonumber(ARGV[7]), tonumber(ARGV[8]), 12
-- The write sequence the decisions were taken at ('' for a query): every write bumps it, so
-- a commit that finds it unchanged knows nothing it read has changed and skips reading again.
local seen_seq, seq_key, header = ARGV[9], ARGV[2] .. ':seq', 9
local resolved, records = {}, {}

local function resolve(event)
  if resolved[event] then return resolved[event] end
  local asked = event
  for _ = 1, 16 do
    local into = redis.call('GET', prefix .. ':m:' .. event)
    if not into then break end
    event = into
  end
  -- Within one run nothing is written before every read is done: the answer holds for it.
  resolved[asked] = event
  return event
end

local function recorded_event(record, default)
  return string.match(record, '^[^|]*|[^|]*|[^|]*|([^|]*)|') or default
end

local articles = {}
for a = 1, (#ARGV - header) / fields do
  local b = header + (a - 1) * fields
  articles[a] = {
    doc_id = ARGV[b + 1], story_id = ARGV[b + 2], first_day = tonumber(ARGV[b + 3]),
    last_day = tonumber(ARGV[b + 4]), write_day = tonumber(ARGV[b + 5]), items = ARGV[b + 6],
    record = ARGV[b + 7], fence = ARGV[b + 8], event_id = ARGV[b + 9], merged = ARGV[b + 10],
    language = ARGV[b + 11], terms = ARGV[b + 12],
  }
end

-- The index slots of an article's window: {hash key, field, written by this article}.
local function slots_of(article)
  local slots = {}
  for d = article.first_day, article.last_day do
    for item in string.gmatch(article.items, '%S+') do
      local shard, key = string.match(item, '^(%d+):(.+)$')
      slots[#slots + 1] = {prefix .. ':x:' .. d .. ':' .. shard, key, d == article.write_day}
    end
  end
  return slots
end

-- A candidate's record, read once per run however many articles of the batch name it.
local function record_of(id)
  if records[id] == nil then records[id] = redis.call('GET', prefix .. ':r:' .. id) or false end
  return records[id]
end

-- What one article reads: its own record (a retry), its story's event, the index slots of its
-- window and the ids of the records they name with their events, with a SHA-1 of all of it
-- (the fence). The records themselves go back once per run (see the end).
local function read(article)
  local doc_id = article.doc_id
  local existing = redis.call('GET', prefix .. ':r:' .. doc_id)
  if existing then return {'done', resolve(recorded_event(existing, doc_id)), existing} end
  local story_event = redis.call('GET', prefix .. ':s:' .. article.story_id) or ''
  if story_event ~= '' then story_event = resolve(story_event) end
  local slots = slots_of(article)
  article.slots = slots
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
  table.sort(ranked, function(x, y)
    if shared[x] ~= shared[y] then return shared[x] > shared[y] end
    return x < y
  end)
  local reply = {'candidates', '', story_event}
  local seen = {table.concat(observed, '\\n'), story_event}
  for i = 1, math.min(#ranked, max_candidates) do
    local candidate = record_of(ranked[i])
    if candidate then
      local event = resolve(recorded_event(candidate, ranked[i]))
      reply[#reply + 1] = ranked[i]
      reply[#reply + 1] = event
      seen[#seen + 1] = event
    end
  end
  reply[2] = redis.sha1hex(table.concat(seen, '\\n'))
  return reply
end

local function write(article)
  local doc_id, event = article.doc_id, article.event_id
  -- Recorded already (an unfenced write racing a retry): the first record stands.
  if not article.slots or redis.call('EXISTS', prefix .. ':r:' .. doc_id) == 1 then return end
  local member = ',' .. doc_id .. ','
  for _, slot in ipairs(article.slots) do
    if slot[3] then
      -- Read again: an earlier article of the batch may have just written this slot.
      local current = redis.call('HGET', slot[1], slot[2]) or ''
      if current == '' then
        redis.call('HSET', slot[1], slot[2], doc_id)
      elseif current ~= '*' and not string.find(',' .. current .. ',', member, 1, true) then
        local count = select(2, string.gsub(current, ',', '')) + 1
        redis.call('HSET', slot[1], slot[2], count < cap and (current .. ',' .. doc_id) or '*')
      end
      redis.call('EXPIRE', slot[1], part_ttl, 'NX')
    end
  end
  local stats = prefix .. ':df:' .. article.language .. ':' .. article.write_day
  for term in string.gmatch(article.terms, '%S+') do redis.call('HINCRBY', stats, term, 1) end
  redis.call('HINCRBY', stats, '#', 1)
  redis.call('EXPIRE', stats, part_ttl, 'NX')
  redis.call('SET', prefix .. ':r:' .. doc_id, article.record, 'EX', record_ttl)
  redis.call('SET', prefix .. ':s:' .. article.story_id, event, 'NX', 'EX', record_ttl)
  for loser in string.gmatch(article.merged, '%S+') do
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

if mode == 'commit' and seen_seq ~= '' and (redis.call('GET', seq_key) or '0') == seen_seq then
  for _, article in ipairs(articles) do
    if article.fence ~= 'done' then article.slots = slots_of(article) end
  end
  for _, article in ipairs(articles) do write(article) end
  redis.call('INCR', seq_key)
  redis.call('EXPIRE', seq_key, merge_ttl)
  return {'ok'}
end

-- Every read comes first, on the state before the batch: that is what the decisions saw.
local replies, stale = {'read', redis.call('GET', seq_key) or '0', {}}, false
for _, article in ipairs(articles) do
  local reply = read(article)
  replies[#replies + 1] = reply
  if mode == 'commit' then
    if reply[1] == 'done' then
      stale = stale or article.fence ~= 'done'
    else
      stale = stale or reply[2] ~= article.fence
    end
  end
end
if mode == 'query' or stale then
  for id, record in pairs(records) do
    if record then
      replies[3][#replies[3] + 1] = id
      replies[3][#replies[3] + 1] = record
    end
  end
  return replies
end
for _, article in ipairs(articles) do write(article) end
redis.call('INCR', seq_key)
redis.call('EXPIRE', seq_key, merge_ttl)
return {'ok'}
"""

DAY_SECONDS = 86_400
# After this many broken fences the article is written unfenced: an event may then be split in
# two (a later article can still merge them), but the article is never held up.
MAX_ATTEMPTS = 8
MAX_CANDIDATES = 40
STATS_TTL_SECONDS = 60.0
STATS_CACHE_TERMS = 200_000
# The fence of an article recorded by an earlier attempt: it is not written again.
RECORDED = "done"


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
        """Document frequencies of `terms` ("lang:stem") among the window's articles."""
        return self.term_stats_many([(language, terms, published)])[0]

    def term_stats_many(
        self, requests: Sequence[tuple[str, Sequence[str], float]]
    ) -> list[TermStats]:
        """term_stats for each (language, terms, published) of a batch, in one round trip.

        Counts are cached in the process for STATS_TTL_SECONDS: an IDF a minute old ranks
        terms as well as a fresh one, and most terms of an article were looked up recently.
        """
        now = self.clock()
        if now - self._stats_at > STATS_TTL_SECONDS or len(self._stats) > STATS_CACHE_TERMS:
            self._stats.clear()
            self._stats_at = now
        wanted: list[list[str]] = []
        # (language, first day, last day) -> the cache keys and stems to read there
        missing: dict[tuple[str, int, int], dict[str, str]] = {}
        for language, terms, published in requests:
            first, _, today = self._days(published)
            keys = [f"#{language}:{first}:{today}", *(f"{t}:{first}:{today}" for t in terms)]
            wanted.append(keys)
            stems = ["#", *(t.split(":", 1)[1] for t in terms)]
            for key, stem in zip(keys, stems, strict=True):
                if key not in self._stats:
                    missing.setdefault((language, first, today), {})[key] = stem
        if missing:
            pipe = self.client.pipeline(transaction=False)
            reads = []
            for (language, first, today), wanted_here in missing.items():
                # The window before the article: what it is compared with (later days are
                # seldom written yet, and reading them would cost a look-up per term each).
                for day in range(first, today + 1):
                    pipe.hmget(f"{self.prefix}:df:{language}:{day}", list(wanted_here.values()))
                    reads.append(list(wanted_here))
            totals: dict[str, int] = {}
            for keys, values in zip(reads, pipe.execute(), strict=True):
                for key, value in zip(keys, values, strict=True):
                    totals[key] = totals.get(key, 0) + int(value or 0)
            self._stats.update(totals)
        stats = []
        for (language, terms, _), keys in zip(requests, wanted, strict=True):
            stats.append(
                TermStats(
                    {language: self._stats[keys[0]]},
                    {term: self._stats[key] for term, key in zip(terms, keys[1:], strict=True)},
                )
            )
        return stats

    # -- assignment ------------------------------------------------------------------------
    def _run(
        self,
        mode: str,
        fingerprints: Sequence[EventFingerprint],
        plans: Sequence[tuple[str, str, EventDecision | None]],
        seen_seq: str = "",
    ) -> Any:
        """One run of the script over the batch; `plans` are each article's (record, fence,
        decision) for a commit, taken when the write sequence was `seen_seq`."""
        window = int(self.window_hours * 3600)
        args: list[Any] = [
            mode,
            self.prefix,
            self.cap,
            window + DAY_SECONDS,
            window + 2 * DAY_SECONDS,
            self.merge_ttl_seconds,
            self.clock(),
            MAX_CANDIDATES,
            seen_seq,
        ]
        for fp, (record, fence, decision) in zip(fingerprints, plans, strict=True):
            first, last, day = self._days(fp.published)
            items = " ".join(
                f"{zlib.crc32(key.encode()) % self.shards}:{key}" for key in fp.index_keys()
            )
            args += [
                fp.doc_id,
                fp.story_id,
                first,
                last,
                day,
                items,
                record,
                fence,
                decision.event_id if decision else "",
                " ".join(decision.merged) if decision else "",
                fp.language,
                " ".join(t.split(":", 1)[1] for t, _ in fp.terms),
            ]
        return self._script(keys=[], args=args)

    def assign(self, fp: EventFingerprint, config: EventConfig) -> EventDecision:
        """The event of one article (assign_many of one)."""
        return self.assign_many([fp], config)[0]

    def assign_many(
        self, fingerprints: Sequence[EventFingerprint], config: EventConfig
    ) -> list[EventDecision]:
        """The event of each article of a batch, in batch order, recorded so later articles (on
        any worker) find them: two round trips per batch, not two per article.

        One run reads what every article of the batch sees; Python decides them in order, each
        with the batch's earlier articles as extra candidates (as if they had been written
        first); a second run writes them all if nothing any of them read has changed, or else
        hands back the reads as they are now and the batch is decided again. Idempotent: an
        article already recorded keeps its event (resolved through merges). Candidates carry
        their TF-IDF weights from their own arrival, so no statistics are read here.
        """
        if not fingerprints:
            return []
        reply = self._run("query", fingerprints, [("", "", None)] * len(fingerprints))
        for attempt in range(1, MAX_ATTEMPTS + 2):
            seen_seq, flat = _text(reply[1]), reply[2]
            records = {_text(k): _text(v) for k, v in zip(flat[::2], flat[1::2], strict=True)}
            decisions, fences = self._decide(fingerprints, reply[3:], records, config)
            if all(fence == RECORDED for fence in fences):
                return decisions
            plans = [
                (encode_record(fp, d.event_id), fence, d)
                for fp, d, fence in zip(fingerprints, decisions, fences, strict=True)
            ]
            mode = "commit" if attempt <= MAX_ATTEMPTS else "force"
            reply = self._run(mode, fingerprints, plans, seen_seq)
            if _text(reply[0]) == "ok":
                return decisions
            log.debug("event assignment conflict, deciding again", articles=len(fingerprints))
        raise AssertionError("event assignment did not settle")  # pragma: no cover - force ends it

    def _decide(
        self,
        fingerprints: Sequence[EventFingerprint],
        replies: Sequence[Any],
        records: dict[str, str],
        config: EventConfig,
    ) -> tuple[list[EventDecision], list[str]]:
        """Decide a batch on what the script read (each article's candidate ids with their
        events, and the candidates' records once): (decisions, fences) in batch order."""
        decoded_records: dict[str, EventFingerprint | None] = {}
        decisions: list[EventDecision] = []
        fences: list[str] = []
        # The batch's articles as the next ones would read them once written, the merges the
        # batch decided and the events of its stories.
        earlier: list[tuple[EventFingerprint, frozenset[str], int]] = []
        merged_into: dict[str, str] = {}
        story_events: dict[str, str] = {}
        for fp, reply in zip(fingerprints, replies, strict=True):
            kind = _text(reply[0])
            first, last, day = self._days(fp.published)
            keys = frozenset(fp.index_keys())
            if kind == "done":
                event_id = resolve(_text(reply[1]), merged_into)
                decisions.append(EventDecision(event_id, "recorded", 1.0, None))
                fences.append(RECORDED)
                story_events.setdefault(fp.story_id, event_id)
                earlier.append((replace(fp, event_id=event_id), keys, day))
                continue
            digest, story_event = _text(reply[1]), _text(reply[2])
            candidates = []
            for raw_id, event in zip(reply[3::2], reply[4::2], strict=True):
                candidate_id = _text(raw_id)
                if candidate_id not in decoded_records:
                    decoded_records[candidate_id] = decode_record(records[candidate_id])
                decoded = decoded_records[candidate_id]
                if decoded is not None:
                    event_id = resolve(_text(event), merged_into)
                    same = decoded.event_id == event_id
                    candidates.append(decoded if same else replace(decoded, event_id=event_id))
            # An earlier article of the batch is a candidate where the script would have found
            # it: two shared index keys, written on a day of this article's window.
            candidates += [
                replace(other, event_id=resolve(other.event_id, merged_into))
                for other, other_keys, written in earlier
                if first <= written <= last
                and other.doc_id != fp.doc_id
                and len(keys & other_keys) >= 2
            ]
            story_event = resolve(story_event or story_events.get(fp.story_id, ""), merged_into)
            decision = decide(fp, candidates, config, story_event=story_event)
            for loser in decision.merged:
                if loser != decision.event_id:
                    merged_into[loser] = decision.event_id
            story_events.setdefault(fp.story_id, decision.event_id)
            earlier.append((replace(fp, event_id=decision.event_id), keys, day))
            decisions.append(decision)
            fences.append(digest)
        return decisions, fences

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
