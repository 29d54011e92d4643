"""The Redis broker as the workers read it: a queue entry that is no task goes to the dead-letter
list with its raw text, and the worker goes on.

Two kinds of poison reach a queue (a foreign producer, a truncated write, a hand-made LPUSH):

* An entry that is not a kombu envelope at all. Kombu's Redis transport parses it right after
  BRPOP took it off the list, and the parse error escapes the event loop: Celery logs
  "Unrecoverable error: JSONDecodeError" and the whole worker exits, so one bad entry stops
  ingestion until someone restarts it, and the entry itself is gone.
* An envelope whose body cannot be decoded. Celery acknowledges it with one critical log line,
  which drops it.

Both are kept as kind "message" (payload: the raw text) for `newswire deadletter list`.
"""

from __future__ import annotations

import json
from typing import Any

import structlog
from celery.worker.consumer import Consumer as CeleryConsumer
from kombu.transport import redis as kombu_redis

from newswire.settings import get_settings

log = structlog.get_logger(__name__)

# A whole entry can be large; the dead-letter list keeps enough to see what it was.
MAX_KEPT_CHARS = 100_000


def keep_malformed(raw: str | bytes, reason: str) -> None:
    """Dead-letter a queue entry that is no task; never raises (the worker must go on)."""
    from newswire.ingest.store import RedisStore

    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    settings = get_settings()
    try:
        store = RedisStore.from_url(settings.redis_url, settings.index_prefix)
        try:
            store.dead_letter("message", reason, text[:MAX_KEPT_CHARS])
        finally:
            store.client.close()
    except Exception as exc:  # noqa: BLE001 - a Redis outage must not stop the consumer
        log.error("malformed queue entry not kept", reason=reason, error=str(exc), raw=text[:500])
        return
    log.error("malformed queue entry dead-lettered", reason=reason, size=len(text))


class Channel(kombu_redis.Channel):
    def _brpop_read(self, **options: Any) -> bool:
        try:
            return bool(super()._brpop_read(**options))
        except json.JSONDecodeError as exc:
            # BRPOP has already removed the entry; `doc` is the text that failed to parse.
            keep_malformed(exc.doc, f"queue entry is not a message: {exc}")
            return True


class Transport(kombu_redis.Transport):
    Channel = Channel


class Consumer(CeleryConsumer):  # type: ignore[misc]
    def on_decode_error(self, message: Any, exc: Exception) -> None:
        keep_malformed(message.body, f"message body cannot be decoded: {exc}")
        super().on_decode_error(message, exc)
