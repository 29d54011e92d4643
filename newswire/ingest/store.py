"""Redis state: atomic exact-dedup claims and the dead-letter queue (feeds: feeds_store.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from pipeline.models import DedupKeys

# KEYS: the article's dedup keys; ARGV: doc id, ttl seconds. Returns {owner, fresh}: the id that
# owns the keys, and 1 when none of them was set before this call (the article cannot have been
# indexed by anyone yet, so the batch need not look it up in Elasticsearch).
# In one script so that two workers racing on the same story cannot both become its owner.
_CLAIM_SCRIPT = """
local owner = false
local fresh = 1
for i, key in ipairs(KEYS) do
  local current = redis.call('GET', key)
  if current then
    fresh = 0
    if not owner then owner = current end
    if owner ~= ARGV[1] then break end
  end
end
if not owner then owner = ARGV[1] end
if owner == ARGV[1] then
  for i, key in ipairs(KEYS) do
    redis.call('SET', key, owner, 'EX', tonumber(ARGV[2]), 'NX')
  end
end
return {owner, fresh}
"""


@dataclass(frozen=True, slots=True)
class Claim:
    """Outcome of claiming an article's dedup keys: is it ours to index, or a duplicate of?"""

    doc_id: str
    owner: str
    # No key of the article was claimed before: nothing of it can be in Elasticsearch yet (a
    # dedup key outlived by its document, past NEWSWIRE_DEDUP_TTL_DAYS, still meets the
    # create-only write, which reports it as existing).
    fresh: bool = False

    @property
    def is_duplicate(self) -> bool:
        return self.owner != self.doc_id


class RedisStore:
    """All of the project's Redis keys live behind this class, under one prefix."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._claim = client.register_script(_CLAIM_SCRIPT)

    @classmethod
    def from_url(cls, url: str, prefix: str) -> RedisStore:
        return cls(redis.Redis.from_url(url, decode_responses=True), prefix)

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def claim(self, batch: Sequence[DedupKeys], ttl_seconds: int) -> list[Claim]:
        """Claim every article's keys in one round trip; a retry of the same article re-owns
        (and is not fresh, so its earlier attempt is looked for)."""
        pipe = self.client.pipeline(transaction=False)
        for keys in batch:
            self._claim(
                keys=[self._key("seen", k) for k in keys.keys],
                args=[keys.doc_id, ttl_seconds],
                client=pipe,
            )
        replies = pipe.execute()
        return [
            Claim(doc_id=k.doc_id, owner=str(owner), fresh=bool(int(fresh)))
            for k, (owner, fresh) in zip(batch, replies, strict=True)
        ]

    def owners(self, keys: Sequence[str]) -> list[str | None]:
        """Which article owns each dedup key ("text:<hash>", "url:<url>"), None if unclaimed."""
        if not keys:
            return []
        found = self.client.mget([self._key("seen", k) for k in keys])
        return [None if owner is None else str(owner) for owner in found]

    # -- dead letters -------------------------------------------------------------------
    def dead_letter(self, kind: str, reason: str, payload: Any) -> None:
        """Keep a payload that cannot be processed, with why, for inspection and replay."""
        record = {"kind": kind, "reason": reason, "at": time.time(), "payload": payload}
        self.client.rpush(self._key("deadletter"), json.dumps(record, ensure_ascii=False))

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        raw = self.client.lrange(self._key("deadletter"), 0, limit - 1)
        return [json.loads(str(item)) for item in raw]

    def dead_letter_entries(self, limit: int) -> list[tuple[str, dict[str, Any]]]:
        """The oldest dead letters with their stored text, which `forget_dead_letter` takes."""
        raw = self.client.lrange(self._key("deadletter"), 0, limit - 1)
        return [(str(item), json.loads(str(item))) for item in raw]

    def forget_dead_letter(self, stored: str) -> None:
        """Remove one dead letter (by its stored text) once what it held is safe elsewhere."""
        self.client.lrem(self._key("deadletter"), 1, stored)

    def dead_letter_count(self) -> int:
        return int(self.client.llen(self._key("deadletter")))
