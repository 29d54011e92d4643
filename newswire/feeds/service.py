"""Feed health as people read it: the status rows (sick feeds first) and relative times,
shared by the CLI, the API and the web page."""

from __future__ import annotations

import time
from typing import Any

from newswire.feeds.store import FeedRecord


def when(moment: float | None, now: float | None = None) -> str:
    """A UTC time with how long ago or ahead it is: '2025-03-12 10:00:03 (in 4m)'."""
    if moment is None:
        return ""
    now = time.time() if now is None else now
    delta = moment - now
    size = abs(delta)
    if size < 90:
        span = f"{size:.0f}s"
    elif size < 5400:
        span = f"{size / 60:.0f}m"
    elif size < 172_800:
        span = f"{size / 3600:.0f}h"
    else:
        span = f"{size / 86_400:.0f}d"
    relative = f"in {span}" if delta > 0 else f"{span} ago"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(moment)) + f" ({relative})"


def status_rows(records: list[FeedRecord]) -> list[dict[str, Any]]:
    """The health view: one row per feed, the sick ones first."""
    rank = {"disabled": 0, "paused": 2, "active": 1}
    ordered = sorted(
        records,
        key=lambda r: (rank.get(r.state.status, 3), -r.state.consecutive_errors, r.id),
    )
    return [
        {
            "feed": r.id,
            "state": r.state.status,
            "last_poll": r.state.last_poll,
            "http_status": r.state.last_status,
            "new_entries": r.state.last_new_entries,
            "errors": r.state.consecutive_errors,
            "next_poll": r.state.next_due,
            "reason": r.state.reason or r.state.last_error,
        }
        for r in ordered
    ]
