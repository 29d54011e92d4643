"""Fault injection on the real stack: while wire copy streams in from a local feed server, kill
worker processes, stop Elasticsearch, restart Redis, make the articles index read-only and send
poison payloads; then account for every article and every alert.

Each scenario gets a fresh run: its own index prefix and queue, Redis db 12 flushed, a prefork
worker (--workers pool processes) and a beat that polls the feeds every 2 s and sweeps alert
deliveries. An alert rule matching every bench article delivers to a loopback webhook.
`--articles` articles are published in corpus order at a rate that keeps the stream going
through the fault: LEAD_SECONDS (at most a quarter of them) before it, the rest during
and after it.

After each scenario it reads back where every offered article ended up (bench/streaming.py):

    offered = indexed + duplicates + dead-lettered, exactly; lost = what is in none of them;
    indexed twice = texts held by more than one document;
    alerts: stories indexed (expected), stories the webhook received (delivered), and second
    deliveries for one (rule, story) (duplicated);
    recovery s = from the end of the fault until every article offered by then is accounted
    for (indexed, duplicate or dead-lettered).

Faults use scripts/services (down/up), so the services must be this clone's (scripts/services
up), not ones named by NEWSWIRE_ES_URL / NEWSWIRE_REDIS_URL.

Run:
    .venv/bin/python bench/chaos.py                                # every scenario but es-600
    .venv/bin/python bench/chaos.py --scenario es-outage-600       # the 10-minute outage
    .venv/bin/python bench/chaos.py --scenario worker-kill --scenario poison --articles 200
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_pipeline import ROOT, WireArticle, generate_articles, machine_facts
from streaming import (
    Accounting,
    Stack,
    StreamingFeeds,
    WebhookReceiver,
    account,
    queue_depth,
    setup_run,
    stack_env,
)

if TYPE_CHECKING:
    from newswire.search.store import SearchStore
    from newswire.settings import Settings

REDIS_DB = 12
CHECK_SECONDS = 2.0
LEAD_SECONDS = 12.0  # stream before the fault
TAIL_SECONDS = 12.0  # stream after it
MAX_RATE = 15.0  # articles/s; the pipeline does about 25-35/s on 2 cores


@dataclass
class Run:
    """What a fault needs: the stack, the stores and the accounting corpus."""

    stack: Stack
    settings: Settings
    store: SearchStore
    corpus: list[WireArticle]
    notes: list[str] = field(default_factory=list)


Fault = Callable[[Run], None]


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    fault: Fault
    fault_seconds: float  # how long the fault lasts, to spread the stream over it
    env: dict[str, str] = field(default_factory=dict)
    replay_dead_letters: bool = False


@dataclass
class Row:
    scenario: str
    accounting: Accounting
    alerts_expected: int
    alerts_delivered: int
    alerts_duplicated: int
    recovery_seconds: float | None
    notes: list[str]


# --------------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------------
def services(*args: str) -> None:
    """scripts/services of this clone, with the ports of this shell's environment. Without the
    URLs the run set for the workers: with them, the script leaves the servers alone."""
    env = {
        k: v for k, v in os.environ.items() if k not in {"NEWSWIRE_ES_URL", "NEWSWIRE_REDIS_URL"}
    }
    subprocess.run([str(ROOT / "scripts" / "services"), *args], cwd=ROOT, env=env, check=True)


def _refuses(url: str) -> bool:
    """Whether nothing answers on the URL's port any more (the fault really happened)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), 2).close()
    except OSError:
        return True
    return False


def _wait_for_batches(run: Run, count: int, timeout: float = 120) -> None:
    assert run.stack.worker is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if run.stack.worker.log().count("Task newswire.process_articles[") >= count:
            return
        time.sleep(0.2)


def kill_pool_processes(run: Run) -> None:
    """SIGKILL every pool process while batches run; Celery forks new ones."""
    for _ in range(2):
        _wait_for_batches(run, 4)
        killed = run.stack.pool_pids()
        for pid in killed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        run.notes.append(f"SIGKILLed pool processes {killed}")
        time.sleep(8)
    assert run.stack.worker is not None
    lost = run.stack.worker.log().count("WorkerLostError")
    run.notes.append(f"{lost} WorkerLostError lines in the worker log (tasks killed mid-run)")


def stop_elasticsearch_for(seconds: float) -> Fault:
    def fault(run: Run) -> None:
        services("down", "elasticsearch")
        if not _refuses(run.settings.es_url):
            raise SystemExit("Elasticsearch still answers after scripts/services down")
        down = time.monotonic()
        time.sleep(seconds)
        services("up")
        run.notes.append(f"Elasticsearch unreachable for {time.monotonic() - down:.0f} s")

    return fault


def restart_redis(run: Run) -> None:
    import redis

    client = redis.Redis.from_url(run.settings.redis_url)
    aof = client.config_get("appendonly").get("appendonly")
    client.close()
    if aof != "yes":
        raise SystemExit("this Redis runs without the append-only file; restart it first")
    _wait_for_batches(run, 4)
    services("down", "redis")
    if not _refuses(run.settings.redis_url):
        raise SystemExit("Redis still answers after scripts/services down")
    down = time.monotonic()
    time.sleep(3)
    services("up")
    run.notes.append(f"Redis (appendonly yes) down for {time.monotonic() - down:.0f} s")


def read_only_index_for(seconds: float) -> Fault:
    def fault(run: Run) -> None:
        es = run.store.es
        index = next(iter(es.indices.get_alias(name=run.settings.articles_alias)))
        es.indices.put_settings(index=index, settings={"index.blocks.read_only_allow_delete": True})
        time.sleep(seconds)
        es.indices.put_settings(index=index, settings={"index.blocks.read_only_allow_delete": None})
        run.notes.append(f"{index} read_only_allow_delete for {seconds:.0f} s")

    return fault


def _raw_message(run: Run, body: bytes, content_type: str = "application/json") -> str:
    """A kombu Redis envelope around `body`, as a producer of process_articles would send."""
    task_id = str(uuid.uuid4())
    return json.dumps(
        {
            "body": base64.b64encode(body).decode(),
            "content-encoding": "utf-8",
            "content-type": content_type,
            "headers": {"lang": "py", "task": "newswire.process_articles", "id": task_id},
            "properties": {
                "delivery_tag": task_id,
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": run.settings.queue},
                "priority": 0,
                "body_encoding": "base64",
            },
        }
    )


def poison_article(number: int) -> dict[str, Any]:
    """An article every stage accepts and the mapping refuses: a 40 kB `source` is one term
    longer than a keyword field can hold (Lucene's 32 766-byte limit)."""
    from pipeline.models import Article

    return Article(
        feed_id="bench-poison",
        source="Poison Wire " + "x" * 40_000,
        guid=f"poison-{number}",
        url=f"https://www.wire.example.com/poison/2025/03/01/immense-source-{number:07d}/",
        original_url=None,
        title=f"Immense source name {number}",
        summary="",
        body="LONDON, March 1 (Newswire) - A wire story whose source name is too long.",
        body_html="",
        published_at="2025-03-01T12:00:00+00:00",
        fetched_at="2025-03-01T12:00:00+00:00",
    ).to_dict()


def send_poison(run: Run) -> None:
    import redis

    from workers.tasks import process_articles

    client = redis.Redis.from_url(run.settings.redis_url)
    queue = run.settings.queue
    # Not even a kombu envelope; then an envelope whose body is not JSON; then a task whose
    # arguments are JSON but no articles.
    client.lpush(queue, b"{not json")
    client.lpush(queue, _raw_message(run, b'[[{"title": "unterminated'))
    process_articles.apply_async(args=[[{"title": 5}]], queue=queue)
    number = len(run.corpus)
    process_articles.apply_async(args=[[poison_article(number)]], queue=queue)
    run.corpus.append(
        WireArticle(
            feed=-1,
            guid=f"poison-{number}",
            link=f"https://www.wire.example.com/poison/{number:07d}/",
            title="poison",
            paragraphs=("poison",),
            author="",
            category="",
            published=datetime(2025, 3, 1, tzinfo=UTC),
        )
    )
    client.close()
    run.notes.append(
        "poison: 1 non-envelope, 1 non-JSON body, 1 task without articles, "
        "1 article the mapping refuses (counted as offered)"
    )
    time.sleep(10)
    assert run.stack.worker is not None
    log = run.stack.worker.log()
    decode_errors = log.count("Can't decode message body") + log.count("JSONDecodeError")
    run.notes.append(f"worker log: {decode_errors} decode errors")


SCENARIOS = (
    Scenario(
        "worker-kill", "SIGKILL both pool processes mid-batch, twice", kill_pool_processes, 25
    ),
    Scenario("es-outage-60", "Elasticsearch stopped for 60 s", stop_elasticsearch_for(60), 90),
    Scenario(
        "es-outage-60-small-budget",
        "Elasticsearch stopped for 60 s, retry budget 3 (~30 s): dead letters, then replay",
        stop_elasticsearch_for(60),
        90,
        env={"NEWSWIRE_TASK_MAX_RETRIES": "3"},
        replay_dead_letters=True,
    ),
    Scenario("redis-restart", "Redis stopped and started (AOF)", restart_redis, 15),
    Scenario(
        "read-only-index",
        "articles index read_only_allow_delete for 30 s",
        read_only_index_for(30),
        30,
    ),
    Scenario("poison", "malformed queue messages, an article the mapping rejects", send_poison, 15),
    Scenario(
        "es-outage-600", "Elasticsearch stopped for 10 minutes", stop_elasticsearch_for(600), 640
    ),
)
DEFAULT = tuple(s.name for s in SCENARIOS if s.name != "es-outage-600")


# --------------------------------------------------------------------------------------------
# One scenario
# --------------------------------------------------------------------------------------------
def run_scenario(scenario: Scenario, args: argparse.Namespace, workdir: Path) -> Row:
    run_id = secrets.token_hex(4)
    env = stack_env(run_id, REDIS_DB, scenario.env)
    for other in SCENARIOS:  # one scenario's settings (a small retry budget) must not leak
        for key in other.env:
            os.environ.pop(key, None)
    os.environ.update(env)
    from newswire.search.store import SearchStore
    from newswire.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    rate = min(MAX_RATE, args.articles / (LEAD_SECONDS + scenario.fault_seconds + TAIL_SECONDS))
    corpus = generate_articles(args.articles, args.feeds, args.seed, args.duplicate_share)
    feeds = StreamingFeeds(corpus, rate)
    receiver = WebhookReceiver()
    print(f"\n== {scenario.name}: {scenario.description} (run {run_id}, {rate:.1f} articles/s)")
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(feeds.stop)
        cleanup.callback(receiver.stop)
        store = setup_run(settings, feeds, receiver.start())
        if not args.keep:
            cleanup.callback(lambda: SearchStore.from_settings(settings).drop_all())
        stack = Stack(env, workdir / scenario.name, args.workers)
        cleanup.callback(stack.stop)
        stack.start()
        run = Run(stack, settings, store, list(corpus))
        feeds.start()
        while feeds.offered() < max(1, min(args.articles // 4, int(rate * LEAD_SECONDS))):
            time.sleep(0.2)
        print(f"  fault at {feeds.offered()} offered", flush=True)
        scenario.fault(run)
        healed = time.monotonic()
        offered_by_heal = feeds.offered()
        print(f"  fault over at {offered_by_heal} offered; waiting for the backlog", flush=True)
        recovery = wait_accounted(run, offered_by_heal, healed, args.settle_timeout)
        while not feeds.done_publishing():
            time.sleep(0.5)
        result = settle(run, receiver, args.settle_timeout)
        if scenario.replay_dead_letters and result.dead_lettered:
            run.notes.append(
                f"before replay: indexed {result.indexed}, duplicates {result.duplicates} "
                f"({result.parked} parked for a dead-lettered original), dead-lettered "
                f"{result.dead_lettered}, lost {result.lost}; then `newswire deadletter replay`"
            )
            replay(settings)
            result = settle(run, receiver, args.settle_timeout)
        if result.parked:
            run.notes.append(f"{result.parked} duplicates still parked for their original")
        stopped = [name for name, alive in stack.alive().items() if not alive]
        if stopped:
            run.notes.append(f"exited during the run: {', '.join(stopped)}")
        expected = len(result.stories)
        row = Row(
            scenario=scenario.name,
            accounting=result,
            alerts_expected=expected,
            alerts_delivered=len(result.stories & receiver.stories()),
            alerts_duplicated=receiver.duplicated(),
            recovery_seconds=recovery,
            notes=run.notes,
        )
        print_rows([row])
        if result.lost_numbers:
            print(f"  lost: {result.lost_numbers[:40]}")
        return row


def wait_accounted(run: Run, offered: int, since: float, timeout: float) -> float | None:
    """Seconds from `since` until the first `offered` articles are all accounted for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # a backend may still be starting
            if account(run.store, run.settings, run.corpus, offered).lost == 0:
                return time.monotonic() - since
        time.sleep(CHECK_SECONDS)
    return None


def settle(run: Run, receiver: WebhookReceiver, timeout: float) -> Accounting:
    """Wait until nothing is lost, every story's alert arrived and the queue is empty (or the
    timeout), then a little longer, so late duplicates would show too."""
    deadline = time.monotonic() + timeout
    offered = len(run.corpus)
    while True:
        result = account(run.store, run.settings, run.corpus, offered)
        done = result.lost == 0 and result.stories <= receiver.stories()
        if (done and queue_depth(run.settings) == 0) or time.monotonic() > deadline:
            break
        time.sleep(CHECK_SECONDS)
    time.sleep(5)
    return account(run.store, run.settings, run.corpus, offered)


def replay(settings: Settings) -> None:
    subprocess.run(
        [sys.executable, "-m", "newswire.cli", "deadletter", "replay", "--limit", "100000"],
        cwd=ROOT,
        env={**os.environ},
        check=True,
    )


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------
HEADER = (
    "| scenario | offered | indexed | duplicates | dead-lettered | lost | indexed twice "
    "| alerts expected/delivered/duplicated | recovery s |"
)


def print_rows(rows: Sequence[Row]) -> None:
    print(HEADER)
    print("|---|" + "---:|" * 8)
    for row in rows:
        a = row.accounting
        recovery = f"{row.recovery_seconds:.0f}" if row.recovery_seconds is not None else "never"
        print(
            f"| {row.scenario} | {a.offered} | {a.indexed} | {a.duplicates} | {a.dead_lettered} "
            f"| {a.lost} | {a.indexed_twice} | {row.alerts_expected}/{row.alerts_delivered}/"
            f"{row.alerts_duplicated} | {recovery} |"
        )
    for row in rows:
        for note in row.notes:
            print(f"  {row.scenario}: {note}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    names = [s.name for s in SCENARIOS]
    parser.add_argument("--scenario", action="append", choices=[*names, "all"])
    parser.add_argument("--articles", type=int, default=400)
    parser.add_argument("--feeds", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="pool processes")
    parser.add_argument("--duplicate-share", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--settle-timeout", type=float, default=400, help="s per wait")
    parser.add_argument("--keep", action="store_true", help="keep each run's indices")
    args = parser.parse_args(argv)
    chosen = args.scenario or list(DEFAULT)
    args.scenario = names if "all" in chosen else chosen
    return args


def _interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # so the workers and beat are stopped too
    facts = machine_facts()
    print(f"chaos {facts['date']}, {facts['nproc']} cores, {facts['memory']}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="newswire-chaos-") as workdir:
        for scenario in SCENARIOS:
            if scenario.name in args.scenario:
                rows.append(run_scenario(scenario, args, Path(workdir)))
    print("\nsummary")
    print_rows(rows)
    failed = [r.scenario for r in rows if r.accounting.lost or r.accounting.indexed_twice]
    failed += [
        r.scenario for r in rows if r.alerts_delivered != r.alerts_expected or r.alerts_duplicated
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
