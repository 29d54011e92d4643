"""Soak: N articles streamed through the real stack (feeds -> beat -> workers -> Elasticsearch,
Redis, alert webhook) while the workers' resident memory is sampled from /proc.

The feed server publishes --rate articles/s over --feeds feeds (entries stay in their feed two
minutes after first being served); beat polls every feed every 2 s, a prefork worker with
--workers pool processes does the rest, and an alert rule matching every article delivers to a
loopback webhook. Every --sample-seconds the RSS of the worker's main process and of each pool
process is read from /proc/<pid>/status. "After warm-up" is the first sample once
--warmup-share of the articles are offered (the models are loaded and the caches filled); the
verdict compares it with the last sample of the run: flat means within 10%.

At the end it prints the same accounting as bench/chaos.py: offered = indexed + duplicates +
dead-lettered, lost, indexed twice, alerts expected/delivered/duplicated.

Run (needs scripts/services up; uses Redis db 13 of that server and its own index prefix):
    .venv/bin/python bench/soak.py                      # 100,000 articles, over an hour on 2 cores
    .venv/bin/python bench/soak.py --articles 20000
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench_pipeline import generate_articles, machine_facts
from streaming import (
    Stack,
    StreamingFeeds,
    WebhookReceiver,
    account,
    queue_depth,
    rss_kib,
    setup_run,
    stack_env,
)

REDIS_DB = 13
FLAT_WITHIN = 0.10


@dataclass(frozen=True, slots=True)
class Sample:
    seconds: float
    offered: int
    indexed: int
    main_kib: int
    pool_kib: tuple[int, ...]

    @property
    def total_kib(self) -> int:
        return self.main_kib + sum(self.pool_kib)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--feeds", type=int, default=10)
    parser.add_argument("--rate", type=float, default=25.0, help="articles published per second")
    parser.add_argument("--workers", type=int, default=2, help="pool processes")
    parser.add_argument("--duplicate-share", type=float, default=0.05)
    parser.add_argument("--sample-seconds", type=float, default=5.0)
    parser.add_argument("--warmup-share", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--keep", action="store_true", help="keep the indices and Redis db")
    parser.add_argument("--drain-timeout", type=float, default=900, help="s after publishing")
    return parser.parse_args(argv)


def mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # so the workers and beat are stopped too
    run_id = secrets.token_hex(4)
    env = stack_env(run_id, REDIS_DB, {"NEWSWIRE_INDEX_PREFIX": f"soak-{run_id}"})
    os.environ.update(env)  # before any project import reads the settings
    from newswire.search.store import SearchStore
    from newswire.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    print(f"soak {run_id}: generating {args.articles} articles ...", flush=True)
    corpus = generate_articles(args.articles, args.feeds, args.seed, args.duplicate_share)
    feeds = StreamingFeeds(corpus, args.rate, keep_seconds=120)
    receiver = WebhookReceiver()
    with contextlib.ExitStack() as cleanup, tempfile.TemporaryDirectory() as workdir:
        cleanup.callback(feeds.stop)
        cleanup.callback(receiver.stop)
        store = setup_run(settings, feeds, receiver.start())
        if not args.keep:
            cleanup.callback(SearchStore.from_settings(settings).drop_all)
        stack = Stack(env, Path(workdir), args.workers)
        cleanup.callback(stack.stop)
        print(f"worker warm in {stack.start():.1f} s; publishing at {args.rate}/s", flush=True)
        samples = run(args, feeds, stack, store, settings)
        result = account(store, settings, corpus, len(corpus))
        report(args, samples, result, receiver)
        if result.lost:
            print(f"lost articles: {result.lost_numbers[:50]}")
    return 0


def run(
    args: argparse.Namespace,
    feeds: StreamingFeeds,
    stack: Stack,
    store: object,
    settings: object,
) -> list[Sample]:
    from newswire.search.store import SearchStore
    from newswire.settings import Settings

    assert isinstance(store, SearchStore)
    assert isinstance(settings, Settings)
    feeds.start()
    started = time.monotonic()
    samples: list[Sample] = []
    idle = 0
    drain_deadline: float | None = None
    while True:
        time.sleep(args.sample_seconds)
        store.es.indices.refresh(index=settings.articles_alias)
        indexed = store.count()
        worker = stack.worker
        assert worker is not None
        sample = Sample(
            seconds=time.monotonic() - started,
            offered=feeds.offered(),
            indexed=indexed,
            main_kib=rss_kib(worker.process.pid),
            pool_kib=tuple(rss_kib(pid) for pid in stack.pool_pids()),
        )
        samples.append(sample)
        print(
            f"{sample.seconds:7.0f} s  offered {sample.offered:6d}  indexed {indexed:6d}  "
            f"queue {queue_depth(settings):4d}  worker RSS {mib(sample.main_kib)} + pool "
            f"{' + '.join(mib(k) for k in sample.pool_kib)}",
            flush=True,
        )
        if not feeds.done_publishing():
            continue
        drain_deadline = drain_deadline or time.monotonic() + args.drain_timeout
        # Drained: nothing queued and the index count unchanged for three samples.
        steady = len(samples) > 1 and samples[-2].indexed == indexed
        idle = idle + 1 if steady and queue_depth(settings) == 0 else 0
        if idle >= 3 or time.monotonic() > drain_deadline:
            return samples


def report(
    args: argparse.Namespace,
    samples: list[Sample],
    result: object,
    receiver: WebhookReceiver,
) -> None:
    from streaming import Accounting

    assert isinstance(result, Accounting)
    warm_at = args.warmup_share * args.articles
    after = [s for s in samples if s.offered >= warm_at] or samples
    # A pool process breathes by 50-80 MiB inside one batch (spaCy's buffers), so one sample
    # against another is noise: compare the medians of the first and last tenth after warm-up.
    window = max(3, len(after) // 10)
    warm_mib = statistics.median(s.total_kib for s in after[:window]) / 1024
    end_mib = statistics.median(s.total_kib for s in after[-window:]) / 1024
    end = samples[-1]
    low = min(after, key=lambda s: s.total_kib)
    peak = max(after, key=lambda s: s.total_kib)
    ratio = end_mib / warm_mib
    facts = machine_facts()
    print()
    print(f"date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {facts['nproc']} cores, {facts['memory']}")
    print(
        f"articles {args.articles} ({args.duplicate_share:.0%} copies), {args.feeds} feeds "
        f"at {args.rate}/s, {args.workers} pool processes, {end.seconds:.0f} s "
        f"({result.indexed / end.seconds:.1f} indexed/s)"
    )
    print(
        f"worker RSS (main + pool), median of {window} samples: after warm-up ({after[0].offered} "
        f"offered, {after[0].seconds:.0f} s) {warm_mib:.0f} MiB; at the end {end_mib:.0f} MiB; "
        f"range after warm-up {mib(low.total_kib)}-{mib(peak.total_kib)}"
    )
    print(f"  main process: {mib(after[0].main_kib)} -> {mib(end.main_kib)}")
    verdict = "flat" if abs(ratio - 1) <= FLAT_WITHIN else "NOT flat"
    print(f"end / after warm-up = {ratio:.3f} -> {verdict} (within {FLAT_WITHIN:.0%})")
    expected = len(result.stories)
    delivered = len(result.stories & receiver.stories())
    print(
        f"accounting: offered {result.offered} = indexed {result.indexed} + duplicates "
        f"{result.duplicates} + dead-lettered {result.dead_lettered}; lost {result.lost}; "
        f"indexed twice {result.indexed_twice}; alerts expected {expected}, delivered "
        f"{delivered}, duplicated {receiver.duplicated()}"
    )


if __name__ == "__main__":
    sys.exit(main())
