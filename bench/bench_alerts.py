"""Benchmark of alerts inside the workers: matching cost per article with 1,000 rules, and the
latency from a feed fetch to the alert delivered to a local webhook at a steady feed load.

What it measures (real Redis and Elasticsearch, its own index prefix and queue)
  1. the worker's alerts step (newswire.alerts.matching.alert_documents) over batches of 16
     wire-length documents (bench/bench_rules.py's generator) with --rules stored rules plus
     the tracked actors: "matching" is the in-memory part (rule set check + RuleMatcher), "step"
     adds the Redis transaction (one alert per rule and story) and the alert-record writes;
  2. end to end: a local feed server adds one English story naming Valery Gerasimov every
     --interval seconds; a real beat and a real worker (prefork) poll it, process the batch and
     deliver each alert of an instant webhook rule to a local receiver. Latency runs from the
     moment the feed server first served the entry to the moment the webhook arrived.
Aims (issue 10): matching <= 0.5 ms per article with 1,000 rules; p95 fetch -> delivered <= 2 s.

Run (services up: scripts/services up):
    .venv/bin/python bench/bench_alerts.py
    .venv/bin/python bench/bench_alerts.py --rules 1000 --articles 2000 --stories 40
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_rules import make_documents, make_rules  # noqa: E402
from newswire.alerts import matching  # noqa: E402
from newswire.alerts.rule_store import RuleStore, rule_store_for  # noqa: E402
from newswire.alerts.service import AlertsService  # noqa: E402
from newswire.alerts.store import AlertStore  # noqa: E402
from newswire.feeds.store import FeedStore  # noqa: E402
from newswire.search.store import SearchStore  # noqa: E402
from newswire.settings import Settings  # noqa: E402
from pipeline.alerts import parse_actors  # noqa: E402
from pipeline.feedlist import FeedConfig  # noqa: E402
from tests.feedserver import FeedServer, Reply  # noqa: E402
from workers.celery_app import CELERY_COMMAND, worker_command  # noqa: E402

MATCHING_AIM_MS = 0.5
LATENCY_AIM_S = 2.0
BATCH = 16


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def drop_prefix(settings: Settings, rule_store: RuleStore, search: SearchStore) -> None:
    keys = list(rule_store.client.scan_iter(f"{settings.index_prefix}:*", count=1000))
    for start in range(0, len(keys), 500):
        rule_store.client.delete(*keys[start : start + 500])
    search.drop_all()


def bench_matching(settings: Settings, args: argparse.Namespace) -> dict[str, float]:
    rng = random.Random(7)
    search = SearchStore.from_settings(settings)
    search.ensure_indices()
    actors = parse_actors(settings.actors_file.read_text(encoding="utf-8"))
    AlertStore.of(search).sync_actors(actors)
    AlertStore.of(search).actors()  # sync_actors cached the list it read before writing
    import redis

    rule_store = rule_store_for(
        redis.Redis.from_url(settings.redis_url, decode_responses=True), settings
    )
    try:
        documents = make_documents(args.articles, rng)
        for rule in make_rules(args.rules, documents, rng):
            rule_store.create(rule)
        rules = matching.rule_set(rule_store, AlertStore.of(search))  # the first batch builds it
        batches = [documents[i : i + BATCH] for i in range(0, len(documents), BATCH)]
        match_cpu = 0.0
        for batch in batches:
            started = time.process_time()
            matching.match_documents(matching.rule_set(rule_store, AlertStore.of(search)), batch)
            match_cpu += time.process_time() - started
        step_wall = 0.0
        alerts = 0
        for batch in batches:
            started = time.perf_counter()
            alerts += matching.alert_documents(batch, [], store=search, rule_store=rule_store)
            step_wall += time.perf_counter() - started
        build_started = time.process_time()
        type(rules.matcher).build(rules.rules.values())
        build = time.process_time() - build_started
    finally:
        drop_prefix(settings, rule_store, search)
    return {
        "rules": len(rules.rules),
        "articles": len(documents),
        "matching_ms": 1000 * match_cpu / len(documents),
        "step_ms": 1000 * step_wall / len(documents),
        "alerts": alerts,
        "build_s": build,
    }


class Hooks:
    """The local webhook: arrival time per article URL of each delivered alert."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                now = time.time()
                for article in body["story"]["articles"]:
                    owner.arrived.setdefault(article["url"], now)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


STORY = (
    "Chief of the General Staff Valery Gerasimov said on {day} that units near {place} had "
    "received {count} new systems, according to a statement reviewed by {agency}. The report "
    "number {n} listed {count2} vehicles and a timetable that ran to {month}."
)
PLACES = ("Kursk", "Belgorod", "Sudzha", "Rylsk", "Lgov", "Oboyan", "Kupiansk", "Pokrovsk")
# Each entry must be a story of its own: one alert goes out per (rule, story), so entries that
# shared the template above and little else would be grouped as copies and alert once. A long
# run of words drawn at random keeps their shingles apart.
VOCABULARY = [
    "bridge",
    "convoy",
    "harbour",
    "ministry",
    "budget",
    "grain",
    "pipeline",
    "turbine",
    "drone",
    "shelter",
    "railway",
    "council",
    "tribunal",
    "airfield",
    "refinery",
    "reservoir",
    "border",
    "ceasefire",
    "treaty",
    "sanction",
    "tariff",
    "election",
    "parliament",
    "governor",
    "envoy",
    "summit",
    "corridor",
    "evacuation",
    "artillery",
    "battalion",
    "depot",
    "warehouse",
    "checkpoint",
    "frontier",
    "satellite",
    "radar",
    "runway",
    "tanker",
    "ferry",
    "customs",
    "inspection",
    "quarantine",
    "hospital",
    "school",
    "factory",
    "mine",
    "harvest",
    "drought",
    "flood",
    "wildfire",
]


def _entry(n: int, rng: random.Random) -> tuple[str, str, str]:
    body = STORY.format(
        day=rng.choice(("Monday", "Tuesday", "Friday")),
        place=rng.choice(PLACES),
        count=rng.randint(11, 9999),
        agency=rng.choice(("Reuters", "AP", "AFP")),
        n=n,
        count2=rng.randint(100, 99999),
        month=rng.choice(("May", "June", "July")),
    )
    body += " " + " ".join(rng.choice(VOCABULARY) for _ in range(60)) + "."
    return (
        f"bench-{n}-{secrets.token_hex(3)}",
        f"Gerasimov report {n}: {rng.randint(1, 10**6)}",
        body,
    )


def start_processes(
    settings: Settings, env: dict[str, str], logs: Path, concurrency: int
) -> list[subprocess.Popen[bytes]]:
    """A real prefork worker (ready) and a real beat on the bench's queue."""
    worker_log = (logs / "worker.log").open("wb")
    worker = subprocess.Popen(
        worker_command(settings.queue, concurrency),
        cwd=ROOT,
        env=env,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while b" ready." not in (logs / "worker.log").read_bytes():
        if time.monotonic() > deadline or worker.poll() is not None:
            raise RuntimeError((logs / "worker.log").read_text()[-2000:])
        time.sleep(0.3)
    beat_log = (logs / "beat.log").open("wb")
    beat = subprocess.Popen(
        [*CELERY_COMMAND, "beat", "--schedule", str(logs / "celerybeat"), "--loglevel", "WARNING"],
        cwd=ROOT,
        env=env,
        stdout=beat_log,
        stderr=subprocess.STDOUT,
    )
    return [worker, beat]


def bench_latency(
    settings: Settings, env: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    import redis

    rng = random.Random(11)
    search = SearchStore.from_settings(settings)
    search.ensure_indices()
    AlertStore.of(search).sync_actors(
        parse_actors(settings.actors_file.read_text(encoding="utf-8"))
    )
    AlertStore.of(search).actors()
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    rule_store = rule_store_for(client, settings)
    hooks = Hooks()
    entries: list[tuple[str, str, str]] = []
    served: dict[str, float] = {}
    lock = threading.Lock()

    def feed(_: dict[str, str]) -> Reply:
        with lock:
            items = list(entries[-20:])
            now = time.time()
            for guid, _, _ in items:
                served.setdefault(f"https://news.example/{guid}", now)
        parts = "".join(
            f"<item><guid>{g}</guid><title>{t}</title><link>https://news.example/{g}</link>"
            f"<pubDate>{datetime.now(UTC).strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
            f"<description>{b}</description></item>"
            for g, t, b in items
        )
        body = (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Bench wire</title><link>https://news.example/</link>{parts}</channel></rss>"
        ).encode()
        return Reply(200, body, {"Content-Type": "application/rss+xml"})

    processes: list[subprocess.Popen[bytes]] = []
    logs = Path(args.workdir)
    logs.mkdir(parents=True, exist_ok=True)
    with FeedServer() as server:
        server.routes["/feed"] = feed
        try:
            AlertsService(rule_store, search, settings).create_rule(
                {
                    "name": "Bench Gerasimov",
                    "actors": ["valery-gerasimov"],
                    "channels": [{"type": "webhook", "url": hooks.url, "secret": "b" * 24}],
                }
            )
            FeedStore.from_url(settings.redis_url, settings.index_prefix).add(
                FeedConfig(
                    id="bench-wire",
                    url=server.url("/feed"),
                    source="Bench wire",
                    language="en",
                    min_interval=1,
                    max_interval=1,
                )
            )
            processes += start_processes(settings, {**os.environ, **env}, logs, args.concurrency)
            time.sleep(args.warmup)
            for n in range(args.stories):
                with lock:
                    entries.append(_entry(n, rng))
                time.sleep(args.interval)
            wanted = {f"https://news.example/{g}" for g, _, _ in entries}
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not wanted <= set(hooks.arrived):
                time.sleep(0.5)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
            drop_prefix(settings, rule_store, search)
    latencies = [hooks.arrived[u] - served[u] for u in wanted if u in hooks.arrived and u in served]
    return {
        "stories": len(wanted),
        "delivered": len(latencies),
        "p50": percentile(latencies, 0.5) if latencies else float("nan"),
        "p95": percentile(latencies, 0.95) if latencies else float("nan"),
        "max": max(latencies) if latencies else float("nan"),
        "mean": statistics.fmean(latencies) if latencies else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--stories", type=int, default=30, help="feed entries, end to end")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between entries")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--workdir", default=str(ROOT / ".runtime" / "bench-alerts"))
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()
    run = secrets.token_hex(3)
    env = {
        "NEWSWIRE_INDEX_PREFIX": f"bench-alerts-{run}",
        "NEWSWIRE_QUEUE": f"bench-alerts-{run}",
        "NEWSWIRE_FEED_ALLOW_NETWORKS": "127.0.0.1/32",
        "NEWSWIRE_POLL_TICK_SECONDS": "0.5",
        "NEWSWIRE_POLL_MIN_INTERVAL_SECONDS": "1",
        "NEWSWIRE_HOST_MIN_DELAY_SECONDS": "0",
        "NEWSWIRE_ALERT_SWEEP_SECONDS": "1",
        "NEWSWIRE_WORKER_METRICS_PORT": "0",
        "NEWSWIRE_TRANSLATE_URL": "",
    }
    os.environ.update({k: v for k, v in env.items() if v})
    os.environ.pop("NEWSWIRE_TRANSLATE_URL", None)
    settings = Settings()
    print(f"alerts bench on {os.cpu_count()} cores, prefix {settings.index_prefix}")
    found = bench_matching(settings, args)
    print(
        f"matching: {found['rules']} rules (stored + tracked actors), {found['articles']} articles "
        f"in batches of {BATCH}; matcher built in {found['build_s']:.2f} s"
    )
    print(f"  in-memory matching  {found['matching_ms']:.3f} ms/article (CPU)")
    print(f"  whole alerts step   {found['step_ms']:.3f} ms/article (wall: + Redis, alert records)")
    print(f"  alerts raised       {found['alerts']}")
    print(f"  matching / aim ({MATCHING_AIM_MS} ms) = {found['matching_ms'] / MATCHING_AIM_MS:.2f}")
    if args.skip_latency:
        return
    latency = bench_latency(settings, {k: v for k, v in env.items() if v}, args)
    print(
        f"end to end: {latency['delivered']}/{latency['stories']} stories delivered, one every "
        f"{args.interval:g} s, feed polled every 1 s"
    )
    print(
        f"  fetch -> webhook  p50 {latency['p50']:.2f} s  p95 {latency['p95']:.2f} s  "
        f"max {latency['max']:.2f} s"
    )
    print(f"  p95 / aim ({LATENCY_AIM_S} s) = {latency['p95'] / LATENCY_AIM_S:.2f}")


if __name__ == "__main__":
    main()
