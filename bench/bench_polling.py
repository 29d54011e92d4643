"""Polls per second for many feeds against a local server, and the ratio to raw HTTP.

A small asyncio HTTP/1.1 server (its own process, keep-alive, conditional GET) serves N feeds
on 127.0.0.1. Each feed has ten entries; in a "new" round a given share of the feeds publish one
more. The real poller (lease, host gate, conditional GET, parse, seen-entry filter, Celery
enqueue of new entries, state commit, all against the real Redis) polls every feed; then the
same HTTP client sends the same conditional requests with nothing else around them, which is
the raw rate the poller is compared with.

    .venv/bin/python bench/bench_polling.py --feeds 10000 --concurrency 100 --processes 1

Redis db 14 and its own key prefix and queue; everything it creates is deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import secrets
import sys
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RUN = secrets.token_hex(3)
REDIS_BASE = os.environ.get("NEWSWIRE_REDIS_URL", "redis://127.0.0.1:6380/0").rsplit("/", 1)[0]
os.environ.update(
    {
        "NEWSWIRE_REDIS_URL": f"{REDIS_BASE}/14",
        "NEWSWIRE_INDEX_PREFIX": f"bench-poll-{RUN}",
        "NEWSWIRE_QUEUE": f"bench-poll-{RUN}",
        "NEWSWIRE_FEED_ALLOW_NETWORKS": "127.0.0.1/32",
        "NEWSWIRE_LOG_LEVEL": "WARNING",
    }
)

# --- the feed server ---------------------------------------------------------------------------


def _feed_body(n: int, version: int) -> bytes:
    now = datetime.now(UTC)
    items = []
    for i in range(10):
        guid = f"{n}-v{version}" if i == 0 and version else f"{n}-{i}"
        stamp = format_datetime(datetime.fromtimestamp(now.timestamp() - (i + 1) * 3600, UTC))
        items.append(
            f"<item><guid>{guid}</guid><title>Story {guid}</title>"
            f"<link>https://bench.example/{guid}</link><pubDate>{stamp}</pubDate>"
            f"<description>Report {guid} with a sentence or two of text.</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Feed {n}</title><link>https://bench.example/</link>{''.join(items)}"
        "</channel></rss>"
    ).encode()


class _Feeds(asyncio.Protocol):
    state: ClassVar[dict[str, int]] = {"round": 0, "percent": 0}  # set by GET /round/N/P

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            headers = {
                k.strip().lower(): v.strip()
                for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)
            }
            self.transport.write(self._answer(path, headers))

    def _answer(self, path: str, headers: dict[str, str]) -> bytes:
        if path.startswith("/round/"):
            _, _, number, percent = path.split("/")
            self.state.update(round=int(number), percent=int(percent))
            return b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"
        n = int(path.rsplit("/", 1)[-1])
        version = self.state["round"] if n % 100 < self.state["percent"] else 0
        etag = f'"{n}-{version}"'
        if headers.get("if-none-match") == etag:
            return (
                f"HTTP/1.1 304 Not Modified\r\netag: {etag}\r\ncontent-length: 0\r\n\r\n".encode()
            )
        body = _feed_body(n, version)
        return (
            f"HTTP/1.1 200 OK\r\ncontent-type: application/rss+xml\r\netag: {etag}\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        ).encode() + body


def _serve(port_out: Any) -> None:
    async def main() -> None:
        # A deep accept queue: with the default (100) a burst of new connections overflows it
        # and the kernel's SYN retransmits (1 s) would be measured instead of HTTP.
        server = await asyncio.get_running_loop().create_server(
            _Feeds, "127.0.0.1", 0, backlog=4096
        )
        port_out.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


# --- polling and raw HTTP ----------------------------------------------------------------------


def _settings(concurrency: int) -> Any:
    from newswire.settings import Settings

    return Settings().model_copy(
        update={
            "poll_batch_size": concurrency,
            "host_max_concurrency": 100_000,  # one host serves every feed here
            "host_min_delay_seconds": 0.0,
        }
    )


def _poll_share(args: tuple[list[str], int]) -> tuple[int, dict[str, int]]:
    from newswire.feeds.polling import poll_feeds_async
    from workers.tasks import enqueue_articles

    ids, concurrency = args
    reports = asyncio.run(
        poll_feeds_async(
            [(i, None) for i in ids], settings=_settings(concurrency), enqueue=enqueue_articles
        )
    )
    outcomes: dict[str, int] = {}
    for report in reports:
        outcomes[report.outcome] = outcomes.get(report.outcome, 0) + 1
    return sum(r.new_entries for r in reports), outcomes


def _raw_share(args: tuple[list[tuple[str, str | None]], int]) -> dict[int, int]:
    from newswire.feeds.fetch import make_client

    targets, concurrency = args

    async def main() -> dict[int, int]:
        statuses: dict[int, int] = {}
        gate = asyncio.Semaphore(concurrency)
        client = make_client(
            _settings(concurrency).allowed_networks,
            connect_timeout=10,
            read_timeout=10,
            max_connections=concurrency,
        )

        async def one(url: str, etag: str | None) -> None:
            async with gate:
                headers = {"If-None-Match": etag} if etag else {}
                response = await client.get(url, headers=headers)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        async with client:
            await asyncio.gather(*(one(u, e) for u, e in targets))
        return statuses

    return asyncio.run(main())


def _split(items: list[Any], parts: int) -> list[list[Any]]:
    return [items[i::parts] for i in range(parts)]


def main() -> None:  # noqa: PLR0915 - a script: set up, run rounds, report
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=100, help="fetches in flight / process")
    parser.add_argument("--processes", type=int, default=1, help="poller processes (as workers)")
    parser.add_argument("--new-percent", type=int, default=10)
    args = parser.parse_args()

    import httpx

    from newswire.feeds.store import FeedStore, encode_config, encode_state, now_ms
    from newswire.settings import get_settings
    from pipeline.feedlist import FeedConfig
    from pipeline.schedule import FeedState

    ctx = multiprocessing.get_context("fork")
    ports = ctx.Queue()
    server = ctx.Process(target=_serve, args=(ports,), daemon=True)
    server.start()
    port = ports.get(timeout=10)
    base = f"http://127.0.0.1:{port}"
    settings = get_settings()
    store = FeedStore.from_url(settings.redis_url, settings.index_prefix)
    ids = [f"bench-{n}" for n in range(args.feeds)]
    pipe = store.client.pipeline(transaction=False)
    now = time.time()
    for n, feed_id in enumerate(ids):
        fields, _ = encode_config(FeedConfig(id=feed_id, url=f"{base}/feed/{n}"))
        state, _ = encode_state(FeedState(next_due=now))
        pipe.hset(store.keys.feed(feed_id), mapping={**fields, **state, "added_at": repr(now)})
        pipe.sadd(store.keys.ids, feed_id)
        pipe.zadd(store.keys.due, {feed_id: now_ms(now)})
    pipe.execute()

    pool = ctx.Pool(args.processes)
    results: dict[str, tuple[float, Any]] = {}

    def set_round(number: int, percent: int) -> None:
        httpx.get(f"{base}/round/{number}/{percent}", timeout=10)

    def poll_round(name: str) -> None:
        started = time.perf_counter()
        shares = pool.map(_poll_share, [(s, args.concurrency) for s in _split(ids, args.processes)])
        elapsed = time.perf_counter() - started
        new = sum(s[0] for s in shares)
        outcomes: dict[str, int] = {}
        for _, share in shares:
            for key, value in share.items():
                outcomes[key] = outcomes.get(key, 0) + value
        results[name] = (args.feeds / elapsed, {"new_entries": new, **outcomes})

    def raw_round(name: str, etags: list[str | None]) -> None:
        targets = [(f"{base}/feed/{n}", etags[n]) for n in range(args.feeds)]
        started = time.perf_counter()
        shares = pool.map(
            _raw_share, [(s, args.concurrency) for s in _split(targets, args.processes)]
        )
        elapsed = time.perf_counter() - started
        statuses: dict[int, int] = {}
        for share in shares:
            for key, value in share.items():
                statuses[key] = statuses.get(key, 0) + value
        results[name] = (args.feeds / elapsed, statuses)

    try:
        set_round(0, 0)
        poll_round("first poll: all 200, 10 new entries each")
        poll_round("all 304")
        raw_round("raw HTTP, all 304", [f'"{n}-0"' for n in range(args.feeds)])
        set_round(1, args.new_percent)
        poll_round(f"{args.new_percent}% with one new entry")
        set_round(2, args.new_percent)
        raw_round(
            f"raw HTTP, {args.new_percent}% 200",
            [f'"{n}-{1 if n % 100 < args.new_percent else 0}"' for n in range(args.feeds)],
        )
    finally:
        pool.close()
        server.kill()
        for key in store.client.scan_iter(f"{settings.index_prefix}:*", count=5000):
            store.client.delete(key)
        store.client.delete(settings.queue)

    print(
        f"\n{args.feeds} feeds, {args.processes} process(es) x {args.concurrency} in flight; "
        f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"{time.strftime('%Y-%m-%d')}"
    )
    print(f"{'round':<42} {'polls/s':>9}  detail")
    for name, (rate, detail) in results.items():
        print(f"{name:<42} {rate:>9,.0f}  {detail}")
    all_304 = results["all 304"][0] / results["raw HTTP, all 304"][0]
    new_key = f"{args.new_percent}% with one new entry"
    some_new = results[new_key][0] / results[f"raw HTTP, {args.new_percent}% 200"][0]
    print(f"\npoller / raw HTTP: all 304 = {all_304:.2f}; {args.new_percent}% new = {some_new:.2f}")


if __name__ == "__main__":
    main()
