"""Benchmark of the event stage: milliseconds per article on one core and Redis bytes per article.

What it measures (this process on one core; Redis on the same machine)
  1. Pure stage: the event fingerprint of a document (terms, stems, names, figures, dates) and
     the decision against MAX_CANDIDATES candidates (the most the store hands over).
  2. The whole event step (newswire.events.service.assign_events) through Redis, article by
     article as the batch runs it: IDF look-up, fenced query, decision, commit. Wall time and
     this process's CPU time (the part that costs the worker's core; Redis runs on its own).
  3. Redis state per article: MEMORY USAGE summed over every event key the run wrote, divided
     by the articles, with all of them inside one window.

The stream: the labelled event sets (tests/data/events/, 110 articles in five languages) replayed
over and over at --per-day articles a day, each replay with its own ids and shifted figures. The
same words and names come back every replay, so each key's posting list fills up to its cap and
the store hands over its full candidate count: a worse case than real news for the decision.

Everything runs under a unique key prefix in a Redis database nobody else claims (as
bench/bench_cluster.py does), flushed and released on exit.

Run:
    .venv/bin/python bench/bench_events.py --articles 10000
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import secrets
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import redis  # noqa: E402
from bench_cluster import claim_database, memory_of  # noqa: E402

from newswire.events.service import assign_events, fingerprint_document  # noqa: E402
from newswire.events.store import MAX_CANDIDATES, EventStore  # noqa: E402
from pipeline.events import EventConfig, decide, term_stats  # noqa: E402
from tests.unit.pipeline.event_eval import gazetteer, load  # noqa: E402

_NUMBER = re.compile(r"\d+")


def make_documents(count: int, per_day: int) -> list[dict[str, Any]]:
    """`count` documents: the evaluation articles replayed, figures shifted per replay."""
    templates = [*load("dev"), *load("heldout")]
    start = datetime(2025, 3, 1, tzinfo=UTC)
    step = 86_400 / per_day
    documents = []
    for index in range(count):
        template = templates[index % len(templates)]
        replay = index // len(templates)

        def shift(text: str, replay: int = replay) -> str:
            return _NUMBER.sub(lambda m: str(int(m.group(0)) + replay), text) if replay else text

        text = f"{template.title}\n{template.body}"
        documents.append(
            {
                "doc_id": f"{template.id}-{replay}",
                "story_id": f"{template.id}-{replay}",
                "title": shift(template.title),
                "summary": shift(template.summary),
                "body": shift(template.body),
                "language": template.language,
                "published_at": (start + timedelta(seconds=index * step)).isoformat(),
                "actors": gazetteer().find(text, lang=template.language),
            }
        )
    return documents


def pure_stage(documents: list[dict[str, Any]], config: EventConfig) -> None:
    """Fingerprint and decision cost per article, CPU time of this process."""
    sample = documents[: min(2_000, len(documents))]
    fingerprint_document(sample[0], config)  # stemmer and caches loaded
    began = time.process_time()
    fps = [fingerprint_document(d, config) for d in sample]
    fingerprint_ms = 1000 * (time.process_time() - began) / len(sample)
    stats = term_stats(fps)
    fps = [fingerprint_document(d, config, stats) for d in sample]
    candidates = [fp.__class__(**{**_fields(fp), "event_id": fp.doc_id}) for fp in fps]
    began = time.process_time()
    rounds = 0
    for index, fp in enumerate(fps[MAX_CANDIDATES:], start=MAX_CANDIDATES):
        decide(fp, candidates[index - MAX_CANDIDATES : index], config)
        rounds += 1
    decide_ms = 1000 * (time.process_time() - began) / max(1, rounds)
    print("\n| pure stage | ms per article (CPU) |\n|---|---:|")
    print(f"| fingerprint (terms, stems, names, figures, dates) | {fingerprint_ms:.3f} |")
    print(f"| decision against {MAX_CANDIDATES} candidates | {decide_ms:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--per-day", type=int, default=5_000, help="articles published a day")
    parser.add_argument(
        "--redis", default=os.environ.get("NEWSWIRE_REDIS_URL", "redis://127.0.0.1:6380/0")
    )
    args = parser.parse_args()
    config = EventConfig()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    print(
        f"date {datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores, one used, Python "
        f"{platform.python_version()}, {args.articles:,} articles at {args.per_day:,} a day "
        f"(window {config.window_hours:.0f} h = {args.per_day * config.window_hours / 24:,.0f})"
    )
    documents = make_documents(args.articles, args.per_day)

    pure_stage(documents, config)

    # 2. the event step through Redis
    base = args.redis.rsplit("/", 1)[0]
    db = claim_database(base)
    client = redis.Redis.from_url(f"{base}/{db}")
    prefix = f"bench-events-{secrets.token_hex(3)}"
    try:
        store = EventStore(client, prefix, window_hours=config.window_hours)
        redis_cpu = _redis_cpu(client)
        cpu, wall = time.process_time(), time.perf_counter()
        decisions = []
        for chunk in range(0, len(documents), 16):
            decisions += assign_events(store, documents[chunk : chunk + 16], config)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        redis_cpu = _redis_cpu(client) - redis_cpu
        methods: dict[str, int] = {}
        for decision in decisions:
            methods[decision.method] = methods.get(decision.method, 0) + 1
        print("\n| event step through Redis | ms per article |\n|---|---:|")
        n = len(documents)
        print(f"| wall (IDF look-up, fenced query, decision, commit) | {1000 * wall / n:.3f} |")
        print(f"| CPU of this process (the worker's core) | {1000 * cpu / n:.3f} |")
        print(f"| CPU of Redis (its own core; Lua scripts) | {1000 * redis_cpu / n:.3f} |")
        print(f"decisions: {methods}")

        # 3. state per article
        keys, used = memory_of(client, f"{prefix}:event:*")
        print(
            f"\nRedis state: {keys:,} keys, {used / 1e6:.1f} MB, "
            f"{used / len(documents):,.0f} bytes per article"
        )
        for kind in ("r", "x", "df", "s", "a", "e"):
            count, size = memory_of(client, f"{prefix}:event:{kind}:*")
            print(f"  {kind}: {count:,} keys, {size / len(documents):,.0f} bytes per article")
    finally:
        client.flushdb()
        client.close()


def _redis_cpu(client: redis.Redis) -> float:
    info: Any = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _fields(fp: Any) -> dict[str, Any]:
    return {name: getattr(fp, name) for name in fp.__slots__}


if __name__ == "__main__":
    main()
