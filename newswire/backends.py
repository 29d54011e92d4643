"""Which backend an exception says is unreachable, told in one line a person can act on.

The CLI prints that line (exit code 2), the API answers 503 with it, the workers log it once
per retry; none of them shows a stack trace for an outage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import elasticsearch
import kombu.exceptions
import redis

from newswire.settings import Settings

# Errors that mean "the server is not there or not answering", not "the request was wrong".
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)
ES_DOWN = (elasticsearch.ConnectionError, elasticsearch.ConnectionTimeout)
# The Celery broker is the same Redis; kombu wraps its connection errors in its own type.
BROKER_DOWN = (kombu.exceptions.OperationalError,)
BACKEND_DOWN = (*REDIS_DOWN, *ES_DOWN, *BROKER_DOWN)


class Unavailable(Exception):
    """Elasticsearch answered but cannot serve the request yet: shards still recovering after a
    restart, or writes refused by a block (read-only at the disk flood-stage watermark) or by
    back-pressure (429). Retried like an outage; never read as "not there" or dead-lettered."""


# Per-document answers (bulk items) that mean "not now" rather than "never".
RETRY_LATER_STATUSES = frozenset({429, 502, 503, 504})


def found_sources(docs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The documents an mget (its `docs`) found, by id; Unavailable if any could not be read.

    A shard still recovering after a restart answers per document with an error, not "not
    found". Read as missing, an indexed article looks new, a copy's source is parked for an
    owner whose worker finished long ago, and an alert is dropped as "no longer public".
    """
    errors = [d["error"] for d in docs if d.get("error")]
    if errors:
        raise Unavailable(f"{len(errors)} of {len(docs)} documents unreadable: {errors[0]}"[:300])
    return {d["_id"]: d["_source"] for d in docs if d.get("found")}


@dataclass(frozen=True, slots=True)
class Outage:
    """A backend that did not answer: which one, where, and what to do about it."""

    backend: str
    url: str
    cause: str

    @property
    def message(self) -> str:
        return f"{self.backend} at {self.url} is unreachable ({self.cause})"

    def hint(self) -> str:
        setting = "NEWSWIRE_REDIS_URL" if self.backend == "Redis" else "NEWSWIRE_ES_URL"
        return f"start it with `scripts/services up`, or point {setting} at a running server"


def _cause(exc: BaseException) -> str:
    # Client errors nest the socket error several levels deep; people need only its gist.
    text = " ".join(str(exc).split()) or type(exc).__name__
    for gist in ("Connection refused", "timed out", "Name or service not known", "loading"):
        if gist.lower() in text.lower():
            return gist.lower()
    return text[:160]


def outage(exc: BaseException, settings: Settings) -> Outage | None:
    """The outage `exc` reports, or None when it is some other error."""
    if isinstance(exc, (*REDIS_DOWN, *BROKER_DOWN)):
        return Outage("Redis", settings.redis_url, _cause(exc))
    if isinstance(exc, ES_DOWN):
        return Outage("Elasticsearch", settings.es_url, _cause(exc))
    if isinstance(exc, elasticsearch.ApiError) and exc.status_code in {502, 503, 504}:
        return Outage("Elasticsearch", settings.es_url, f"HTTP {exc.status_code}")
    return None
