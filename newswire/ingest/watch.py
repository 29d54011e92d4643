"""Drop folders (`newswire watch DIR`): agency files that an FTP/SFTP server or a newsroom
system writes into a folder are ingested once each, then moved to DIR/processed/, or to
DIR/failed/ beside a `.reason` file saying why.

A file is read only once it is complete: its size and modification time must stay the same for
the settle period, and names an uploader uses while writing (starting with '.', ending in .part
or .tmp) are never read. What has been ingested is remembered in Redis by the hash of the
file's content, so a restart, a second watcher on the same folder, or the same file dropped
again never queues it twice (and the exact-dedup claims would make a repeat harmless anyway).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis
import structlog

from newswire.feeds.polling import articles_from_feed
from newswire.settings import Settings
from pipeline.feeds import FeedParseError
from pipeline.models import Article

log = structlog.get_logger(__name__)

PROCESSED = "processed"
FAILED = "failed"
PARTIAL_SUFFIXES = (".part", ".tmp")
# A claim on one file's content while a watcher reads and queues it; expires if it dies.
CLAIM_SECONDS = 300

Enqueue = Callable[[list[Article]], object]


def is_candidate(path: Path) -> bool:
    """Whether a folder entry is a file to read (not a partial upload, hidden or a folder)."""
    name = path.name
    return not name.startswith(".") and not name.endswith(PARTIAL_SUFFIXES) and path.is_file()


@dataclass(slots=True)
class ScanReport:
    """What one scan did: files queued, files refused (with the reason), files still settling."""

    processed: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    settling: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)


class DropState:
    """The Redis keys of the drop folders: content hashes already ingested, and claims."""

    def __init__(self, client: redis.Redis, prefix: str, *, ttl_seconds: int) -> None:
        self.client = client
        self.prefix = f"{prefix}:drop"
        self.ttl_seconds = ttl_seconds

    def is_done(self, digest: str) -> bool:
        return bool(self.client.exists(f"{self.prefix}:done:{digest}"))

    def claim(self, digest: str) -> bool:
        return bool(self.client.set(f"{self.prefix}:claim:{digest}", 1, nx=True, ex=CLAIM_SECONDS))

    def finish(self, digest: str, name: str) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.set(f"{self.prefix}:done:{digest}", name, ex=self.ttl_seconds)
        pipe.delete(f"{self.prefix}:claim:{digest}")
        pipe.execute()

    def release(self, digest: str) -> None:
        self.client.delete(f"{self.prefix}:claim:{digest}")


class DropFolder:
    """One watched folder; `scan` takes every complete new file once."""

    def __init__(
        self,
        root: Path,
        *,
        state: DropState,
        settings: Settings,
        enqueue: Enqueue,
        settle_seconds: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = root
        self.state = state
        self.settings = settings
        self.enqueue = enqueue
        self.settle_seconds = (
            settings.watch_settle_seconds if settle_seconds is None else settle_seconds
        )
        self.clock = clock
        # The GUIDs of one folder's files are scoped to the folder, as a feed's are to the feed.
        self.feed_id = f"folder:{root.resolve().name}"
        # path -> (size, mtime in ns, when that pair was first seen)
        self._observed: dict[Path, tuple[int, int, float]] = {}

    def scan(self) -> ScanReport:
        """Ingest every file that is complete and new; leave the others for the next scan."""
        report = ScanReport()
        now = self.clock()
        present: set[Path] = set()
        for path in sorted(self.root.iterdir()):
            if not is_candidate(path):
                continue
            present.add(path)
            if not self._settled(path, now):
                report.settling.append(path.name)
                continue
            self._take(path, report)
        for gone in set(self._observed) - present:
            del self._observed[gone]
        return report

    def _settled(self, path: Path, now: float) -> bool:
        try:
            stat = path.stat()
        except FileNotFoundError:  # taken by another watcher meanwhile
            return False
        seen = self._observed.get(path)
        if seen is None or seen[:2] != (stat.st_size, stat.st_mtime_ns):
            # Never on a first look or after a change: the writer may still be at it.
            self._observed[path] = (stat.st_size, stat.st_mtime_ns, now)
            return self.settle_seconds == 0
        return now - seen[2] >= self.settle_seconds

    def _take(self, path: Path, report: ScanReport) -> None:
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            return
        digest = hashlib.blake2b(content, digest_size=16).hexdigest()
        if self.state.is_done(digest):
            report.already.append(path.name)
            self._move(path, PROCESSED)
            return
        if not self.state.claim(digest):
            return  # another watcher is reading the same content right now
        try:
            articles = self._articles(path, content)
        except FeedParseError as exc:
            self.state.release(digest)
            report.failed[path.name] = str(exc)
            self._fail(path, str(exc))
            return
        except BaseException:
            self.state.release(digest)
            raise
        # Queued before it is marked done: a crash in between queues it again, never loses it.
        if articles:
            self.enqueue(articles)
        self.state.finish(digest, path.name)
        report.processed[path.name] = len(articles)
        log.info("drop file ingested", file=path.name, articles=len(articles))
        self._move(path, PROCESSED)

    def _articles(self, path: Path, content: bytes) -> list[Article]:
        if len(content) > self.settings.max_feed_bytes:
            raise FeedParseError(
                f"file is larger than NEWSWIRE_MAX_FEED_BYTES ({self.settings.max_feed_bytes})"
            )
        return articles_from_feed(
            content, feed_id=self.feed_id, source=None, settings=self.settings
        )

    def _fail(self, path: Path, reason: str) -> None:
        log.warning("drop file refused", file=path.name, reason=reason)
        target = self._move(path, FAILED)
        if target is not None:
            target.with_name(f"{target.name}.reason").write_text(reason + "\n", encoding="utf-8")

    def _move(self, path: Path, folder: str) -> Path | None:
        destination = self.root / folder
        destination.mkdir(exist_ok=True)
        target = destination / path.name
        if target.exists():  # the same name dropped again later: keep both
            target = destination / f"{path.stem}-{time.time_ns()}{path.suffix}"
        try:
            path.rename(target)
        except FileNotFoundError:
            return None
        self._observed.pop(path, None)
        return target


def drop_folder(
    root: Path, *, settings: Settings, enqueue: Enqueue, settle_seconds: float | None = None
) -> DropFolder:
    """A drop folder with its state on the settings' Redis and prefix."""
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    state = DropState(client, settings.index_prefix, ttl_seconds=settings.dedup_ttl_days * 86_400)
    return DropFolder(
        root, state=state, settings=settings, enqueue=enqueue, settle_seconds=settle_seconds
    )


def watch(
    folders: Sequence[DropFolder],
    *,
    interval: float,
    stop: Callable[[], bool] = lambda: False,
    on_report: Callable[[DropFolder, ScanReport], None] | None = None,
) -> None:
    """Scan the folders every `interval` seconds until `stop()` says so."""
    while not stop():
        for folder in folders:
            report = folder.scan()
            if on_report is not None:
                on_report(folder, report)
        time.sleep(interval)
