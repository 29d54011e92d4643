"""Redis state of story clustering: LSH band buckets, cross-language evidence postings and one
record per article text, shared by every worker and decided atomically.

Keys (all under `<prefix>:story:`, all expiring):

* `r:<iid>`: the record of one text version of an article (pipeline.cluster.encode_record):
  its b-bit MinHash signature, numbers, name keys and the story it joined. Kept `window_days + 1`.
* `l:<day>:<shard>`: hash of LSH band key -> iid of the first text seen with that band on that
  (UTC, processing) day. First-writer-wins keeps one entry per band: enough to find a story, and
  a query costs at most one candidate per band and day.
* `x:<day>:<shard>`: hash of evidence token (a specific number or a name key) -> up to
  `evidence_cap` iids. A token carried by more texts that day becomes "*", a stop token: it no
  longer tells stories apart (a common name, a round figure), and it costs no candidates.
* `seq`: the write sequence, bumped by every write; `seq:<call>`: the writes of one `assign`
  call (kept an hour). A fence carries both as its read saw them.

Band and evidence hashes are split into shards so each stays small enough for Redis' compact
listpack encoding (hash-max-listpack-entries); see bench/bench_cluster.py for the memory figures.

Atomicity: the decision which story an article joins is taken in Python (pipeline.cluster.decide)
on candidates read by one run of the Lua script and written by a second run, which first checks
that nothing the first run read has changed since: it compares a SHA-1 of every slot read (the
"fence"; when the write sequence has moved by no more than the call's own writes since, nobody
else wrote and the commit skips that read). If something has, another worker (or an earlier
article of the same batch) has just written a candidate this article should have seen; the
failed commit returns the candidates as they are now, in the same run, and the article is
decided again. So concurrent workers reach the stories one worker would have reached in some
serial order (tests/integration/test_stories.py races eight). An article with no candidates at
all is written as a new story by the read run itself: one round trip in the common case. The
script derives its hash keys from the band keys and tokens it is given (passing ~100 key names
per article cost more than the script itself), so the story state must live on one Redis, not
across a cluster's hash slots.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import redis
import structlog

from pipeline.cluster import (
    Assignment,
    ClusterConfig,
    Fingerprint,
    decide,
    decode_record,
    encode_record,
    evidence_keys,
)
from pipeline.stories import source_key

log = structlog.get_logger(__name__)

_SCRIPT = """
local mode, iid, record = ARGV[1], ARGV[2], ARGV[3]
local record_ttl, part_ttl, cap = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local prefix, day = ARGV[7], tonumber(ARGV[8])
local first_day, last_day = day - tonumber(ARGV[9]), day + tonumber(ARGV[10])
local lsh_shards = tonumber(ARGV[11])
local bands, tokens, fence = ARGV[12], ARGV[13], ARGV[14]
-- Every write bumps the write sequence, and the writes of one assign() call (ARGV[16]) their own
-- counter too. A fence carries both as they were at its read: if the sequence has moved by no
-- more than the call's own writes since, nobody else wrote, and the commit needs no read again.
local seq_key, ours_key = prefix .. ':seq', prefix .. ':seq:' .. ARGV[16]

local existing = redis.call('GET', KEYS[1])
if existing then return {'done', existing} end
local seq_now = tonumber(redis.call('GET', seq_key) or '0')
local ours_now = tonumber(redis.call('GET', ours_key) or '0')

-- The slots this text reads: its band keys and evidence tokens in every day of the window.
local slots = {}
for d = first_day, last_day do
  for band in string.gmatch(bands, '%S+') do
    local shard = tonumber(string.sub(band, 1, 4), 16) % lsh_shards
    slots[#slots + 1] = {prefix .. ':l:' .. d .. ':' .. shard, string.sub(band, 5), true, d == day}
  end
  for item in string.gmatch(tokens, '%S+') do
    local shard, token = string.match(item, '^(%d+):(.+)$')
    slots[#slots + 1] = {prefix .. ':x:' .. d .. ':' .. shard, token, false, d == day}
  end
end

local fence_digest, fence_seq, fence_ours = string.match(fence, '^(%x*)|(%d+)|(%d+)$')
local unchanged = mode == 'commit' and fence_seq ~= nil
  and seq_now - tonumber(fence_seq) == ours_now - tonumber(fence_ours)

local observed = {}
for i, slot in ipairs(slots) do
  -- Unchanged: only the slots this text writes are needed (as they are now, for the write).
  if not unchanged or slot[4] then
    observed[i] = redis.call('HGET', slot[1], slot[2]) or ''
  end
end
local digest = ''
if not unchanged then digest = redis.sha1hex(table.concat(observed, '\\n')) end

local function write()
  local member = ',' .. iid .. ','
  for i, slot in ipairs(slots) do
    if slot[4] then
      -- observed[i] is current: read by this very script run
      local key, field, current = slot[1], slot[2], observed[i]
      if slot[3] then
        if current == '' then redis.call('HSET', key, field, iid) end
      elseif current == '' then
        redis.call('HSET', key, field, iid)
      elseif current ~= '*' and not string.find(',' .. current .. ',', member, 1, true) then
        -- A token this common today tells no story apart: it becomes a stop token.
        local count = select(2, string.gsub(current, ',', '')) + 1
        redis.call('HSET', key, field, count < cap and (current .. ',' .. iid) or '*')
      end
      redis.call('EXPIRE', key, part_ttl, 'NX')
    end
  end
  redis.call('SET', KEYS[1], record, 'EX', record_ttl)
  redis.call('INCR', seq_key)
  redis.call('EXPIRE', seq_key, part_ttl)
  if ARGV[16] ~= '' then
    redis.call('INCR', ours_key)
    redis.call('EXPIRE', ours_key, 3600)
  end
end

if mode == 'force' then
  write()
  return {'ok'}
end
if unchanged then
  write()
  return {'ok'}
end
if mode == 'commit' then
  -- The fence: nothing this text read has changed since its story was decided, except by the
  -- texts of its own batch written since (ARGV[15]), which its decision took as candidates.
  -- Their ids are taken out of what is there now, which gives back what was read if nobody
  -- else wrote meanwhile.
  local fenced = digest
  if ARGV[15] ~= '' and fence_digest ~= digest then
    local ours, before = {}, {}
    for id in string.gmatch(ARGV[15], '%S+') do ours[id] = true end
    for i, slot in ipairs(slots) do
      local value = observed[i]
      if slot[3] then
        if ours[value] then value = '' end
      elseif value ~= '' and value ~= '*' then
        local kept = {}
        for id in string.gmatch(value, '[^,]+') do
          if not ours[id] then kept[#kept + 1] = id end
        end
        value = table.concat(kept, ',')
      end
      before[i] = value
    end
    fenced = redis.sha1hex(table.concat(before, '\\n'))
  end
  if fenced == fence_digest then
    write()
    return {'ok'}
  end
  -- It has (usually an earlier article of the same batch, committed in this very pipeline):
  -- hand back the candidates as they are now, so a retry costs one round trip, not two.
end

-- query: candidates from band buckets, and texts sharing at least two evidence tokens
local order, seen, shared, seen_token = {}, {}, {}, {}
for i, slot in ipairs(slots) do
  local current = observed[i]
  if current ~= '' and current ~= '*' then
    if slot[3] then
      if current ~= iid and not seen[current] then
        seen[current] = true
        order[#order + 1] = current
      end
    else
      for id in string.gmatch(current, '[^,]+') do
        local pair = id .. ' ' .. slot[2]
        if id ~= iid and not seen_token[pair] then
          seen_token[pair] = true
          shared[id] = (shared[id] or 0) + 1
        end
      end
    end
  end
end
local by_evidence = {}
for id, count in pairs(shared) do
  if count >= 2 and not seen[id] then by_evidence[#by_evidence + 1] = {id, count} end
end
table.sort(by_evidence, function(a, b)
  if a[2] ~= b[2] then return a[2] > b[2] end
  return a[1] < b[1]
end)
for i = 1, math.min(#by_evidence, 10) do order[#order + 1] = by_evidence[i][1] end

local reply = {'candidates', digest .. '|' .. seq_now .. '|' .. ours_now}
for _, id in ipairs(order) do
  local candidate = redis.call('GET', prefix .. ':r:' .. id)
  if candidate then reply[#reply + 1] = candidate end
end
if #reply == 2 and mode == 'query' then
  write()
  return {'new'}
end
-- A commit that lost its candidates (their tokens became stop tokens) is decided again too:
-- the record it carries names the story it was about to join.
return reply
"""

DAY_SECONDS = 86_400
SKEW_SECONDS = 600
# After this many fenced attempts an article is written without the fence: a story may then be
# split in two, but the article is never held up or lost.
MAX_ATTEMPTS = 8


class StoryStore:
    """Story assignment for batches of fingerprints, consistent across every worker."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        *,
        window_days: int = 3,
        lsh_shards: int = 8192,
        evidence_shards: int = 4096,
        evidence_cap: int = 8,
        parked_ttl_seconds: int = 90 * 86_400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.prefix = f"{prefix}:story"
        self.window_days = window_days
        self.lsh_shards = lsh_shards
        self.evidence_shards = evidence_shards
        self.evidence_cap = evidence_cap
        self.parked_ttl_seconds = parked_ttl_seconds
        self.clock = clock
        self._script = client.register_script(_SCRIPT)

    def record_key(self, iid: str) -> str:
        return f"{self.prefix}:r:{iid}"

    def _call(
        self,
        pipe: Any,
        mode: str,
        fp: Fingerprint,
        now: float,
        record: str,
        fence: str = "",
        ours: Sequence[str] = (),
        batch: str = "",
    ) -> None:
        day = int(now // DAY_SECONDS)
        tokens = " ".join(
            f"{zlib.crc32(token.encode()) % self.evidence_shards}:{token}"
            for token in evidence_keys(fp)
        )
        args: list[Any] = [
            mode,
            fp.iid,
            record,
            (self.window_days + 1) * DAY_SECONDS,
            (self.window_days + 2) * DAY_SECONDS,
            self.evidence_cap,
            self.prefix,
            day,
            self.window_days - 1,
            # Close to midnight, tomorrow's partition too: a worker whose clock runs ahead may
            # already write there.
            1 if now % DAY_SECONDS > DAY_SECONDS - SKEW_SECONDS else 0,
            self.lsh_shards,
            " ".join(fp.bands),
            tokens,
            fence,
            " ".join(ours),
            batch,
        ]
        self._script(keys=[self.record_key(fp.iid)], args=args, client=pipe)

    def assign(
        self, fingerprints: Sequence[Fingerprint], config: ClusterConfig
    ) -> list[Assignment]:
        """The story of each fingerprint, recorded so later articles (on any worker) find it.

        Idempotent: a text already recorded keeps the story it was given, so a retried batch
        indexes its articles under the same stories as the first attempt.

        Texts of one batch share names and numbers, so each one's write would break the fence
        of every later one. Instead each text is decided with the batch's texts written after
        its read (or committed before it in the same pipeline) as extra candidates, and its
        fence discounts exactly those writes: a batch usually settles in two round trips.
        """
        results: list[Assignment | None] = [None] * len(fingerprints)
        # One clock reading for the whole batch: a commit's fence is a digest of the day
        # partitions its query read, so both must look at the same days.
        now = self.clock()
        # Names this call's writes in the script's counters (see _SCRIPT).
        batch = secrets.token_hex(8)
        keys = [_slot_keys(fp) for fp in fingerprints]
        sequence = itertools.count()
        read_at: dict[int, int] = {}
        # Batch texts recorded by this call: when (op sequence), and as a candidate.
        written: dict[int, tuple[int, Fingerprint]] = {}
        pipe = self.client.pipeline(transaction=False)
        entries: list[tuple[int, Assignment | None, int]] = []
        for i, fp in enumerate(fingerprints):
            self._call(pipe, "query", fp, now, encode_record(fp, _new(fp)), batch=batch)
            entries.append((i, None, next(sequence)))
        replies = pipe.execute()
        attempt = 0
        while True:
            pending = _settle(entries, replies, fingerprints, results, written, read_at)
            if not pending:
                break
            if attempt:
                log.debug("story assignment conflict, deciding again", articles=len(pending))
            attempt += 1
            # After MAX_ATTEMPTS broken fences the article is written unfenced ("force"),
            # which always answers ok or done, so the loop ends.
            mode = "commit" if attempt <= MAX_ATTEMPTS else "force"
            pipe = self.client.pipeline(transaction=False)
            entries, deferred = [], []
            tentative: dict[int, Fingerprint] = {}
            for i, (candidates, digest) in pending.items():
                fp = fingerprints[i]
                later = [j for j, (at, _) in written.items() if at > read_at[i]]
                ours = [*later, *tentative]
                extra = [
                    written[j][1] if j in written else tentative[j]
                    for j in ours
                    if _may_find(keys[i], keys[j])
                ]
                assignment = decide(fp, [*candidates, *extra], config)
                matched = assignment.matched_doc_id
                if mode == "commit" and any(tentative[j].doc_id == matched for j in tentative):
                    # It joins a text whose own commit is in this very pipeline and may yet
                    # fail: read again once that one is settled.
                    deferred.append(i)
                    continue
                self._call(
                    pipe,
                    mode,
                    fp,
                    now,
                    encode_record(fp, assignment),
                    digest,
                    [fingerprints[j].iid for j in ours],
                    batch,
                )
                entries.append((i, assignment, next(sequence)))
                tentative[i] = _as_candidate(fp, assignment)
            for i in deferred:
                fp = fingerprints[i]
                self._call(pipe, "query", fp, now, encode_record(fp, _new(fp)), batch=batch)
                entries.append((i, None, next(sequence)))
            replies = pipe.execute()
        return [r if r is not None else _unreachable() for r in results]

    def register_version(self, fp: Fingerprint, story_id: str) -> Assignment:
        """Record a new text of an existing article under the story it already belongs to."""
        assignment = Assignment(story_id, "version", 1.0, fp.doc_id)
        pipe = self.client.pipeline(transaction=False)
        self._call(pipe, "force", fp, self.clock(), encode_record(fp, assignment))
        reply = pipe.execute()[0]
        if str(reply[0]) == "done":
            return _recorded(str(reply[1]), fp)
        return assignment

    # -- sources of exact copies, parked until their article is indexed ------------------------
    def _parked_key(self, doc_id: str) -> str:
        return f"{self.prefix}:src:{doc_id}"

    def park_sources(self, records: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Remember that (doc id, source record) pairs carried an exact copy of that article."""
        if not records:
            return
        pipe = self.client.pipeline(transaction=False)
        for doc_id, record in records:
            key = self._parked_key(doc_id)
            pipe.hsetnx(key, source_key(record), json.dumps(record, ensure_ascii=False))
            pipe.expire(key, self.parked_ttl_seconds)
        pipe.execute()

    def parked_sources(self, doc_ids: Sequence[str]) -> dict[str, dict[str, dict[str, Any]]]:
        """Parked source records by article id, each keyed by its field name."""
        if not doc_ids:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for doc_id in doc_ids:
            pipe.hgetall(self._parked_key(doc_id))
        return {
            doc_id: {str(k): json.loads(str(v)) for k, v in raw.items()}
            for doc_id, raw in zip(doc_ids, pipe.execute(), strict=True)
            if raw
        }

    def forget_parked(self, doc_id: str, fields: Sequence[str]) -> None:
        """Drop parked records once the article in Elasticsearch holds them."""
        self.forget_parked_many([(doc_id, fields)])

    def forget_parked_many(self, held: Sequence[tuple[str, Sequence[str]]]) -> None:
        """forget_parked for several articles, in one round trip."""
        held = [(doc_id, fields) for doc_id, fields in held if fields]
        if not held:
            return
        pipe = self.client.pipeline(transaction=False)
        for doc_id, fields in held:
            pipe.hdel(self._parked_key(doc_id), *fields)
        pipe.execute()


def _settle(
    entries: Sequence[tuple[int, Assignment | None, int]],
    replies: Sequence[Any],
    fingerprints: Sequence[Fingerprint],
    results: list[Assignment | None],
    written: dict[int, tuple[int, Fingerprint]],
    read_at: dict[int, int],
) -> dict[int, tuple[list[Fingerprint], str]]:
    """Record a pipeline's outcomes; the texts still to decide, with their candidates and
    the digest of what they read."""
    pending: dict[int, tuple[list[Fingerprint], str]] = {}
    for (i, sent, op), reply in zip(entries, replies, strict=True):
        fp, kind = fingerprints[i], str(reply[0])
        if kind == "done":
            results[i] = _recorded(str(reply[1]), fp)
        elif kind in {"new", "ok"}:
            outcome = sent if kind == "ok" and sent is not None else _new(fp)
            results[i] = outcome
            written[i] = (op, _as_candidate(fp, outcome))
        else:  # candidates: from a query, or from a commit whose fence broke
            read_at[i] = op
            candidates = [
                decoded[0] for raw in reply[2:] if (decoded := decode_record(str(raw))) is not None
            ]
            pending[i] = (candidates, str(reply[1]))
    return pending


def _new(fp: Fingerprint) -> Assignment:
    return Assignment(fp.doc_id, "new", 1.0, None)


def _as_candidate(fp: Fingerprint, assignment: Assignment) -> Fingerprint:
    """`fp` as another text would read it from the store, once recorded with `assignment`."""
    decoded = decode_record(encode_record(fp, assignment))
    if decoded is None:  # pragma: no cover - a record this code wrote decodes
        raise AssertionError("story record does not decode")
    return decoded[0]


def _slot_keys(fp: Fingerprint) -> tuple[frozenset[str], frozenset[str]]:
    return frozenset(fp.bands), frozenset(evidence_keys(fp))


def _may_find(
    reader: tuple[frozenset[str], frozenset[str]], writer: tuple[frozenset[str], frozenset[str]]
) -> bool:
    """Whether the store could hand `writer` to `reader` as a candidate: a shared band, or two
    shared evidence tokens (a superset of what the script returns, which only costs a check)."""
    return bool(reader[0] & writer[0]) or len(reader[1] & writer[1]) >= 2


def _recorded(record: str, fp: Fingerprint) -> Assignment:
    decoded = decode_record(record)
    if decoded is None:  # a record of an older format: the article starts its own story
        return Assignment(fp.doc_id, "new", 1.0, None)
    return decoded[1]


def _unreachable() -> Assignment:  # pragma: no cover - every index is filled or retried
    raise AssertionError("story assignment left an article undecided")
