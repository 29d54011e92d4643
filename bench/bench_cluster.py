"""Benchmark of exact dedup and story clustering: articles/s per stage and Redis memory.

What it measures (one core, this process; Redis on the same machine)
  1. Pure stages over N synthetic ~500-word wire articles (random words from the evaluation
     set's vocabulary, figures and names mixed in; a share are re-posts of earlier ones):
     exact-dedup keys, shingling + MinHash (datasketch, 128 permutations), numbers and name
     keys, the whole fingerprint, and the join decision against one candidate.
  2. Redis, batches of --batch-size pipelined as process_batch sends them: the exact-dedup claim
     (Lua over an article's keys) and story assignment (StoryStore.assign: LSH and evidence
     query, decision, fenced commit).
  3. Redis memory per 100,000 articles: MEMORY USAGE summed over every key the run wrote, for
     the story state (window-limited) and for the exact-dedup claims (kept dedup_ttl_days).

Everything runs under a unique key prefix in a Redis database nobody else claims (see
tests/integration/conftest.py), which is flushed and released on exit.

Run:
    .venv/bin/python bench/bench_cluster.py --articles 100000
    .venv/bin/python bench/bench_cluster.py --articles 5000 --repost-share 0.3
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import random
import re
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from newswire.ingest.store import RedisStore  # noqa: E402
from newswire.stories.store import StoryStore  # noqa: E402
from pipeline.cluster import (  # noqa: E402
    ClusterConfig,
    decide,
    entity_keys,
    fingerprint,
    minhash_signature,
    number_tokens,
    shingle_hashes,
)
from pipeline.dedup import dedup_keys  # noqa: E402
from pipeline.models import Article  # noqa: E402

T = TypeVar("T")
CORPUS = ROOT / "tests" / "data" / "stories" / "articles.yaml"


def _vocabulary() -> list[str]:
    words = re.findall(r"[a-z]{3,}", CORPUS.read_text(encoding="utf-8"))
    return sorted(set(words))


def make_articles(count: int, repost_share: float, seed: int) -> list[Article]:
    """Synthetic wire copy: 12 paragraphs of ~40 words, figures and names mixed in."""
    rng = random.Random(seed)
    words = _vocabulary()
    names = [
        f"{rng.choice(words).title()}{rng.choice(['ov', 'son', 'ez', 'i', 'ski', ''])}"
        for _ in range(800)
    ]
    start = datetime(2025, 3, 12, tzinfo=UTC)
    articles: list[Article] = []
    for index in range(count):
        published = (start + timedelta(seconds=index * 3)).isoformat()
        if articles and rng.random() < repost_share:
            base = rng.choice(articles[-2000:])
            paragraphs = base.body.split("\n\n")
            cut = rng.randrange(1, 4)
            body = "\n\n".join(
                [" ".join(rng.choices(words, k=35)), *paragraphs[1 : len(paragraphs) - cut]]
            )
            title = " ".join(rng.choices(words, k=9)).capitalize()
        else:
            paragraphs = []
            for _ in range(12):
                sentence = rng.choices(words, k=38)
                sentence[rng.randrange(38)] = rng.choice(names)
                sentence[rng.randrange(38)] = rng.choice(
                    [f"{rng.randrange(10, 99)}%", f"{rng.randrange(1000, 99999):,}", "2025"]
                )
                paragraphs.append(" ".join(sentence).capitalize() + ".")
            body = "\n\n".join(paragraphs)
            title = " ".join(rng.choices(words, k=10)).capitalize()
        articles.append(
            Article(
                feed_id=f"feed-{index % 50}",
                source=f"Source {index % 50}",
                guid=f"g-{index}",
                url=f"https://bench.example/{seed}/{index}",
                original_url=None,
                title=title,
                summary="",
                body=body,
                body_html="",
                published_at=published,
                fetched_at=published,
            )
        )
    return articles


def timed(function: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def batches(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def claim_database(base_url: str) -> int:
    """A Redis database of our own (the tests' convention: a key claims it)."""
    for db in range(13, 0, -1):
        client = redis.Redis.from_url(f"{base_url}/{db}")
        if client.set("newswire-test-run", "bench-cluster", nx=True, ex=3 * 3600):
            client.close()
            return db
        client.close()
    raise SystemExit("no free Redis database")


def memory_of(client: redis.Redis, pattern: str) -> tuple[int, int]:
    """(keys, bytes) of every key matching `pattern`, by MEMORY USAGE (samples=0: exact)."""
    keys = list(client.scan_iter(pattern, count=5000))
    total = 0
    for chunk in batches(keys, 1000):
        pipe = client.pipeline(transaction=False)
        for key in chunk:
            pipe.memory_usage(key, samples=0)
        total += sum(int(v or 0) for v in pipe.execute())
    return len(keys), total


def row(name: str, count: int, seconds: float) -> str:
    rate = count / seconds if seconds else float("inf")
    return f"| {name} | {rate:,.0f} | {1000 * seconds / count:.3f} |"


def pure_stages(articles: list[Article]) -> tuple[list[str], list[Any], list[Any], float]:
    """Time the service-free stages; returns table rows, dedup keys, fingerprints, seconds."""
    lines = ["| stage (1 core) | articles/s | ms/article |", "|---|---:|---:|"]
    keys, keys_seconds = timed(lambda: [dedup_keys(a) for a in articles])
    lines.append(row("exact-dedup keys (URL, GUID, text hash)", len(articles), keys_seconds))
    hashes, seconds = timed(lambda: [shingle_hashes(a.body) for a in articles])
    lines.append(row("word 5-shingles, hashed", len(articles), seconds))
    _, seconds = timed(lambda: [minhash_signature(h) for h in hashes])
    lines.append(row("MinHash, 128 permutations (datasketch)", len(articles), seconds))
    _, seconds = timed(
        lambda: [(number_tokens(a.body, "en"), entity_keys(a.body)) for a in articles]
    )
    lines.append(row("numbers and name keys", len(articles), seconds))
    fingerprints, fp_seconds = timed(
        lambda: [
            fingerprint(
                doc_id=k.doc_id,
                content_hash=k.content_hash,
                title=a.title,
                body=a.body,
                language="en",
                published_at=a.published_at,
            )
            for a, k in zip(articles, keys, strict=True)
        ]
    )
    lines.append(row("**whole fingerprint** (the three above)", len(articles), fp_seconds))
    config = ClusterConfig()
    candidates = [dataclasses.replace(f, story_id=f.doc_id) for f in fingerprints[:1000]]
    sample = fingerprints[1000:3000] or fingerprints[:1000]
    _, seconds = timed(
        lambda: [decide(f, [c], config) for f, c in zip(sample, candidates, strict=False)]
    )
    lines.append(row("decision against one candidate", len(sample[:1000]), seconds))

    return lines, keys, fingerprints, keys_seconds + fp_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--repost-share", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--redis", default=os.environ.get("NEWSWIRE_REDIS_URL", "redis://127.0.0.1:6380/0")
    )
    args = parser.parse_args()

    print(
        f"date {datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores "
        f"({_cpu_model()}), Python {platform.python_version()}, "
        f"{args.articles:,} articles, {args.repost_share:.0%} re-posts, "
        f"batches of {args.batch_size}"
    )
    articles, seconds = timed(lambda: make_articles(args.articles, args.repost_share, args.seed))
    words = sum(len(a.body.split()) for a in articles) / len(articles)
    print(f"generated in {seconds:.1f} s, {words:.0f} words per article\n")

    lines, keys, fingerprints, pure_seconds = pure_stages(articles)
    config = ClusterConfig()
    base = args.redis.rsplit("/", 1)[0]
    db = claim_database(base)
    client = redis.Redis.from_url(f"{base}/{db}", decode_responses=True)
    prefix = f"bench-{secrets.token_hex(3)}"
    try:
        claimer = RedisStore(client, prefix)
        _, claim_seconds = timed(
            lambda: [c for b in batches(keys, args.batch_size) for c in claimer.claim(b, 86_400)]
        )
        lines.append(row("Redis: exact-dedup claim (Lua, pipelined)", len(keys), claim_seconds))
        store = StoryStore(client, prefix)
        assignments, assign_seconds = timed(
            lambda: [
                a
                for b in batches(fingerprints, args.batch_size)
                for a in store.assign(list(b), config)
            ]
        )
        lines.append(
            row("Redis: story assignment (LSH + evidence, fenced)", len(keys), assign_seconds)
        )
        total = pure_seconds + claim_seconds + assign_seconds
        lines.append(
            row("**dedup + clustering stage** (keys, claim, fingerprint, assign)", len(keys), total)
        )
        print("\n".join(lines))
        joined = sum(a.method != "new" for a in assignments)
        print(f"\n{joined:,} of {len(assignments):,} articles joined an earlier story")

        story_keys, story_bytes = memory_of(client, f"{prefix}:story:*")
        seen_keys, seen_bytes = memory_of(client, f"{prefix}:seen:*")
        per = 100_000 / len(articles)
        print("\n| Redis state | keys | bytes/article | MB per 100,000 articles |")
        print("|---|---:|---:|---:|")
        for name, count, size in (
            ("story clustering (kept story_window_days)", story_keys, story_bytes),
            ("exact-dedup claims (kept dedup_ttl_days)", seen_keys, seen_bytes),
        ):
            print(f"| {name} | {count:,} | {size / len(articles):,.0f} | {size * per / 1e6:,.1f} |")
        encodings: dict[str, int] = {}
        for key in list(client.scan_iter(f"{prefix}:story:[lx]:*", count=5000))[:2000]:
            encoding = str(client.object("encoding", key))
            encodings[encoding] = encodings.get(encoding, 0) + 1
        print(f"\nencodings of LSH/evidence hashes (sample): {encodings}")
    finally:
        client.flushdb()
        client.close()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
