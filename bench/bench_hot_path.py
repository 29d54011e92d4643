"""Benchmark of the post-NER hot path alone: process_batch in this process, NER taken out.

What it measures
  The bench_pipeline corpus (~500-word English wire stories, a share of them exact copies under
  new URLs) parsed from RSS, then run batch by batch through newswire.ingest.service.
  process_batch against the real Redis and Elasticsearch, with each article's entities computed
  beforehand (the same extract_entities, same gazetteer) so NER's 60 ms do not drown the rest.
  Per stage: wall time and this thread's CPU time per article; and the CPU seconds Redis and
  Elasticsearch spent meanwhile (from /proc, when they run on this machine), per article.

  bench_pipeline measures the same stages inside real Celery workers that share two cores with
  NER, Elasticsearch and Redis; this one shows what the stages cost when nothing else runs, and
  where their wall time waits (the gap between wall and CPU is Redis's and Elasticsearch's).

Everything runs under a unique index prefix and a claimed Redis database, dropped on exit.

Run:
    .venv/bin/python bench/bench_hot_path.py --articles 800
    .venv/bin/python bench/bench_hot_path.py --articles 800 --profile /tmp/hot.prof
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_pipeline import (  # noqa: E402
    PRE_NER_STAGES,
    claim_redis_db,
    cpu_seconds,
    elasticsearch_pid,
    feed_documents,
    flush_redis,
    generate_articles,
    index_costs,
    machine_facts,
    setup_store,
    stage_parse,
)


def stage_totals() -> dict[str, tuple[float, float]]:
    """Wall and CPU seconds per stage so far in this process, from the metrics the stages
    record themselves (newswire.metrics.timed)."""
    from newswire.metrics import STAGE_CPU_SECONDS, STAGE_SECONDS

    wall = {
        sample.labels["stage"]: sample.value
        for metric in STAGE_SECONDS.collect()
        for sample in metric.samples
        if sample.name.endswith("_sum")
    }
    cpu = {
        sample.labels["stage"]: sample.value
        for metric in STAGE_CPU_SECONDS.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    }
    return {stage: (seconds, cpu.get(stage, 0.0)) for stage, seconds in wall.items()}


def stage_totals_since(before: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """Wall and CPU seconds per stage since `before` (an earlier stage_totals())."""
    stages = {}
    for stage, (wall, cpu) in stage_totals().items():
        wall_before, cpu_before = before.get(stage, (0.0, 0.0))
        stages[stage] = (wall - wall_before, cpu - cpu_before)
    return stages


def _process_cpu(pid: int | None) -> float:
    return cpu_seconds(pid) if pid is not None else 0.0


def _redis_pid(client: Any) -> int | None:
    pid = int(client.info("server")["process_id"])
    return pid if Path(f"/proc/{pid}").exists() else None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--articles", type=int, default=800)
    parser.add_argument("--duplicate-share", type=float, default=0.1)
    parser.add_argument(
        "--profile",
        type=Path,
        help="write a cProfile of the measured batches here (figures then include its overhead)",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()

    run_id = secrets.token_hex(4)
    redis_base = os.environ.get("NEWSWIRE_REDIS_URL", "redis://127.0.0.1:6380/0").rsplit("/", 1)[0]
    os.environ.setdefault("NEWSWIRE_ES_URL", "http://127.0.0.1:9280")
    os.environ["NEWSWIRE_REDIS_URL"] = f"{redis_base}/{claim_redis_db(redis_base, run_id)}"
    os.environ["NEWSWIRE_INDEX_PREFIX"] = f"benchhot-{run_id}"

    from newswire.alerts.store import AlertStore
    from newswire.ingest import service
    from newswire.ingest.store import RedisStore
    from newswire.settings import Settings
    from pipeline.entities import extract_entities
    from pipeline.language import detect_language

    settings = Settings()
    corpus = generate_articles(args.articles, 10, 7, args.duplicate_share)
    articles, _ = stage_parse(feed_documents(corpus, 10), settings)
    store = setup_store(settings)
    redis_store = RedisStore.from_url(settings.redis_url, settings.index_prefix)
    try:
        gazetteer = AlertStore.of(store).gazetteer()
        print(f"NER for {len(articles)} articles beforehand ...", file=sys.stderr)
        found: dict[str, Any] = {}
        for article in articles:
            language = detect_language(
                article.title, article.body, min_confidence=settings.language_min_confidence
            )
            text = f"{article.title}\n\n{article.body}"
            [found[text]] = extract_entities([(language.code, text)], gazetteer=gazetteer)

        def known_entities(pairs: Any, gazetteer: Any = None) -> list[Any]:
            return [found[text] for _, text in pairs]

        service.extract_entities = known_entities  # type: ignore[assignment]
        size = settings.batch_size
        batches = [articles[i : i + size] for i in range(0, len(articles), size)]
        # The first batch loads what loads lazily (MinHash tables, scripts); not counted.
        service.process_batch(batches[0], store=store, redis_store=redis_store, settings=settings)
        before = stage_totals()
        es_pid, redis_pid = elasticsearch_pid(store), _redis_pid(redis_store.client)
        es0, redis0 = _process_cpu(es_pid), _process_cpu(redis_pid)
        indexed, wall, cpu = _run_batches(
            lambda batch: len(
                service.process_batch(
                    batch, store=store, redis_store=redis_store, settings=settings
                ).indexed
            ),
            batches[1:],
            args.profile,
        )
        es_cpu, redis_cpu = _process_cpu(es_pid) - es0, _process_cpu(redis_pid) - redis0
        stages = stage_totals_since(before)
        # Let the merges the run started finish, so their cost is counted with the run's.
        store.es.indices.refresh(index=settings.articles_alias)
        time.sleep(2)
        costs = index_costs(store)
    finally:
        store.drop_all()
        flush_redis(settings.redis_url, keep_claim=False)

    report_figures(
        n=sum(len(b) for b in batches[1:]),
        batches=len(batches) - 1,
        size=size,
        indexed=indexed,
        totals=(wall, cpu, es_cpu, redis_cpu),
        stages=stages,
        servers_seen=bool(es_pid and redis_pid),
    )
    docs = costs["docs"] or 1
    print(
        f"articles index's own threads per document: indexing {costs['index_ms'] / docs:.2f}, "
        f"refresh {costs['refresh_ms'] / docs:.2f}, merges {costs['merge_ms'] / docs:.2f} ms "
        f"(+ {costs['merge_throttled_ms'] / docs:.2f} paused by the throttle); "
        f"{costs['bytes'] / docs / 1024:.2f} KiB/article as left"
    )


def _run_batches(
    process: Callable[[Any], int], batches: list[Any], profile: Path | None
) -> tuple[int, float, float]:
    """Articles indexed, wall and thread-CPU seconds of processing the batches in order."""
    profiler = cProfile.Profile() if profile else None
    wall, cpu = time.perf_counter(), time.thread_time()
    indexed = 0
    with profiler or contextlib.nullcontext():
        for batch in batches:
            indexed += process(batch)
    wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
    if profiler is not None and profile is not None:
        profiler.dump_stats(profile)
    return indexed, wall, cpu


def report_figures(
    *,
    n: int,
    batches: int,
    size: int,
    indexed: int,
    totals: tuple[float, float, float, float],
    stages: dict[str, tuple[float, float]],
    servers_seen: bool,
) -> None:
    wall, cpu, es_cpu, redis_cpu = totals
    facts = machine_facts()
    print(f"{facts.get('date', '')}  {facts.get('cpu', '')}, {facts.get('nproc', '')} cores")
    print(f"{n} articles in {batches} batches of {size} ({indexed} indexed)")
    print(f"{'stage':<10} {'wall ms/article':>16} {'CPU ms/article':>15}")
    post_wall = post_cpu = 0.0
    for stage, (seconds, stage_cpu) in sorted(stages.items(), key=lambda kv: -kv[1][0]):
        print(f"{stage:<10} {1000 * seconds / n:>16.2f} {1000 * stage_cpu / n:>15.2f}")
        if stage not in PRE_NER_STAGES:
            post_wall, post_cpu = post_wall + seconds, post_cpu + stage_cpu
    print(
        f"post-NER stages: {1000 * post_wall / n:.2f} ms/article wall, "
        f"{1000 * post_cpu / n:.2f} ms CPU (ratio wall/CPU {post_wall / max(post_cpu, 1e-9):.2f})"
    )
    print(f"whole batch (NER excluded): {1000 * wall / n:.2f} ms wall, {1000 * cpu / n:.2f} ms CPU")
    print(
        f"meanwhile Redis {1000 * redis_cpu / n:.2f} ms and Elasticsearch "
        f"{1000 * es_cpu / n:.2f} ms of CPU per article"
        + ("" if servers_seen else " (a server not on this machine reads as 0)")
    )


if __name__ == "__main__":
    main()
