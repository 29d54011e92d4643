"""Benchmark of search as the newsroom page runs it: API latency at N indexed articles, what
facets, story collapse and highlights each cost, the live "new stories" count, and the page's
time from Enter to first results painted, from the browser's own Performance timing.

What it does
  1. Generates N articles (multilingual, entities drawn from skewed pools, tracked actors, a
     fifth of them in multi-article stories, 90 days of publication times) and turns each into
     its Elasticsearch document with the project's own builder (pipeline/document.py), then
     bulk-loads them into a fresh index under a unique prefix (the project's mapping file).
  2. GET /search through the real FastAPI app (in process), with the default facets,
     highlights and collapse: p50/p95/p99 over --queries queries (words, two words, phrases,
     names, some with a facet filter), after a warm-up.
  3. The same queries with one part removed at a time (facets, collapse, highlights), run
     against Elasticsearch directly: the difference to the full body is that part's cost.
  4. The live count (pipeline.search.new_since_body) for the same queries.
  5. With --page: the app under uvicorn on loopback and Debian's chromium (scripts/browser):
     type a query, press Enter, and read first-contentful-paint of the results page.

The index is deleted on exit unless --keep. One node, the project's default heap.

Run:
    .venv/bin/python bench/bench_search.py --articles 100000 --page
    .venv/bin/python bench/bench_search.py --articles 1000000
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PREFIX = f"bench-search-{secrets.token_hex(3)}"
# Set before the app's settings are first read, so the API under test reads the bench index.
os.environ["NEWSWIRE_INDEX_PREFIX"] = PREFIX

from elasticsearch import helpers  # noqa: E402

from newswire.search.store import SearchStore  # noqa: E402
from newswire.settings import get_settings  # noqa: E402
from pipeline.dedup import dedup_keys  # noqa: E402
from pipeline.document import build_document  # noqa: E402
from pipeline.models import Article, Entities, LanguageGuess  # noqa: E402
from pipeline.search import (  # noqa: E402
    SearchRequest,
    build_search_body,
    new_since_body,
)

CORPUS = ROOT / "tests" / "data" / "stories" / "articles.yaml"
LANGUAGES = [("en", 0.7), ("ru", 0.12), ("de", 0.06), ("fr", 0.06), ("ar", 0.03), ("es", 0.03)]
ACTORS = ["vladimir-putin", "valery-gerasimov", "volodymyr-zelensky", "kursk", "sudzha"]


def vocabulary() -> list[str]:
    import re

    return sorted(set(re.findall(r"[a-z]{3,}", CORPUS.read_text(encoding="utf-8"))))


def skewed(rng: random.Random, pool: list[str], k: int) -> list[str]:
    """k distinct values, the first ones of the pool far more often (as names in the news)."""
    chosen: dict[str, None] = {}
    while len(chosen) < k:
        chosen[pool[min(int(rng.paretovariate(1.1)) - 1, len(pool) - 1)]] = None
    return list(chosen)


def documents(count: int, seed: int, body_words: int) -> Iterator[dict[str, Any]]:
    """Realistic documents from the project's builder: text, language, entities, stories."""
    rng = random.Random(seed)
    words = vocabulary()
    persons = [f"{rng.choice(words).title()} {rng.choice(words).title()}ov" for _ in range(3000)]
    organisations = [f"{rng.choice(words).title()} Group" for _ in range(800)]
    places = [
        rng.choice(words).title() + rng.choice(["sk", "grad", "ville", "burg"]) for _ in range(800)
    ]
    categories = [f"section-{i}" for i in range(25)]
    codes, weights = zip(*LANGUAGES, strict=True)
    start = datetime.now(UTC) - timedelta(days=90)
    indexed = datetime.now(UTC) - timedelta(hours=1)
    recent: list[str] = []
    for index in range(count):
        published = start + timedelta(seconds=index * 90 * 86_400 / count)
        body = " ".join(rng.choices(words, k=body_words))
        chosen_persons = skewed(rng, persons, rng.randint(0, 4))
        article = Article(
            feed_id=f"feed-{index % 300}",
            source=f"Source {index % 300}",
            guid=f"g-{index}",
            url=f"https://bench.example/{seed}/{index}",
            original_url=None,
            title=" ".join(rng.choices(words, k=9)).capitalize(),
            summary=body[:200],
            body=f"{' '.join(chosen_persons)} {body}",
            body_html="",
            published_at=published.isoformat(),
            fetched_at=published.isoformat(),
            categories=tuple(skewed(rng, categories, 1)),
        )
        actors = tuple(rng.sample(ACTORS, rng.randint(1, 2))) if rng.random() < 0.05 else ()
        document = build_document(
            article,
            keys=dedup_keys(article),
            language=LanguageGuess(rng.choices(codes, weights)[0], 0.99),
            entities=Entities(
                persons=tuple(chosen_persons),
                organisations=tuple(skewed(rng, organisations, rng.randint(0, 2))),
                places=tuple(skewed(rng, places, rng.randint(0, 3))),
                actors=actors,
            ),
            working_languages=frozenset({"en"}),
            indexed_at=indexed,
            actor_names=actors,
        )
        # A fifth of the articles join a recent story, as re-posts and translations do.
        if recent and rng.random() < 0.2:
            document["story_id"] = rng.choice(recent[-500:])
        else:
            recent.append(document["story_id"])
        yield document


def load(store: SearchStore, count: int, body_words: int) -> float:
    store.ensure_indices()
    alias = store.settings.articles_alias
    store.es.indices.put_settings(index=alias, settings={"refresh_interval": "-1"})
    started = time.perf_counter()
    actions = (
        {"_op_type": "create", "_index": alias, "_id": d["doc_id"], "_source": d}
        for d in documents(count, seed=7, body_words=body_words)
    )
    done = 0
    for ok, _ in helpers.streaming_bulk(
        store.es.options(request_timeout=120), actions, chunk_size=2000, raise_on_error=True
    ):
        done += ok
        if done % 100_000 == 0:
            print(f"  loaded {done:,} ({done / (time.perf_counter() - started):,.0f}/s)")
    store.es.indices.put_settings(index=alias, settings={"refresh_interval": "1s"})
    store.es.indices.refresh(index=alias)
    return time.perf_counter() - started


def queries(count: int, seed: int) -> list[dict[str, Any]]:
    """Query-string parameters a newsroom sends: words, pairs, phrases, names, with filters."""
    rng = random.Random(seed)
    words = vocabulary()
    out: list[dict[str, Any]] = []
    for i in range(count):
        kind = i % 5
        if kind == 0:
            q = rng.choice(words)
        elif kind == 1:
            q = f"{rng.choice(words)} {rng.choice(words)}"
        elif kind == 2:
            q = f'"{rng.choice(words)} {rng.choice(words)}"|{rng.choice(words)}'
        elif kind == 3:
            q = f"{rng.choice(words)} -{rng.choice(words)}"
        else:
            q = rng.choice(words)
        params: dict[str, Any] = {"q": q}
        if i % 4 == 3:
            params["language"] = "en"
        if i % 7 == 6:
            params["sort"] = "newest"
        out.append(params)
    return out


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def timed_ms(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def to_request(params: dict[str, Any]) -> SearchRequest:
    filters = {"language": (params["language"],)} if "language" in params else {}
    return SearchRequest(query=params["q"], filters=filters, sort=params.get("sort", "relevance"))


def variants(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    no_facets = {**body, "aggs": {k: v for k, v in body["aggs"].items() if k == "stories"}}
    no_collapse = {k: v for k, v in body.items() if k != "collapse"}
    no_collapse["aggs"] = {k: v for k, v in body["aggs"].items() if k != "stories"}
    no_highlight = {k: v for k, v in body.items() if k != "highlight"}
    bare = {k: v for k, v in body.items() if k not in {"aggs", "collapse", "highlight"}}
    return {
        "full (facets + histogram + collapse + highlights)": body,
        "without facets and histogram": no_facets,
        "without collapse (and story count)": no_collapse,
        "without highlights": no_highlight,
        "bare query (none of the three)": bare,
    }


def api_latency(params_list: list[dict[str, Any]]) -> list[float]:
    from fastapi.testclient import TestClient

    from newswire.api import app

    client = TestClient(app)
    for params in params_list[:20]:
        client.get("/search", params=params).raise_for_status()
    samples = []
    for params in params_list:
        started = time.perf_counter()
        client.get("/search", params=params).raise_for_status()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def part_costs(store: SearchStore, params_list: list[dict[str, Any]]) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    bodies = [build_search_body(to_request(p)) for p in params_list]
    for body in bodies[:20]:
        store.search(body)
    for name in variants(bodies[0]):
        results[name] = [
            timed_ms(lambda b=body, n=name: store.search(variants(b)[n])) for body in bodies
        ]
    since = (datetime.now(UTC) - timedelta(minutes=30)).isoformat()
    results["live count (new_since_body)"] = [
        timed_ms(lambda p=p: store.search(new_since_body(to_request(p), since)))
        for p in params_list
    ]
    return results


def page_latency(params_list: list[dict[str, Any]]) -> list[float]:
    from playwright.sync_api import sync_playwright

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "newswire.api:app", "--port", str(port)),
            *("--host", "127.0.0.1", "--log-level", "warning"),
        ],
        cwd=ROOT,
        env={**os.environ, "NEWSWIRE_INDEX_PREFIX": PREFIX},
    )
    url = f"http://127.0.0.1:{port}/"
    samples: list[float] = []
    try:
        time.sleep(3)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=[
                    *("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic"),
                    *("--no-first-run", "--disable-background-networking"),
                    *("--disable-component-update", "--disable-sync"),
                ],
            )
            page = browser.new_page()
            for i, params in enumerate(params_list):
                page.goto(url)
                page.fill("#q", params["q"])
                page.press("#q", "Enter")
                page.wait_for_selector("#results-title")
                # The navigation the Enter key started is this document's time origin. (A
                # function, not a string: the page's CSP forbids eval, also to the harness.)
                paint = None
                while paint is None:
                    paint = page.evaluate(
                        "() => performance.getEntriesByType('paint')"
                        ".find(e => e.name === 'first-contentful-paint')?.startTime ?? null"
                    )
                if i >= 5:  # warm-up
                    samples.append(float(paint))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    return samples


def es_version(store: SearchStore) -> str:
    nodes = store.es.nodes.info()["nodes"]
    return str(next(iter(nodes.values()))["version"])


def row(name: str, samples: list[float], baseline: float | None = None) -> str:
    p50, p95, p99 = percentiles(samples)
    extra = f" | {p50 - baseline:+.1f}" if baseline is not None else ""
    return f"| {name} | {p50:.1f} | {p95:.1f} | {p99:.1f}{extra} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--body-words", type=int, default=150)
    parser.add_argument("--page", action="store_true", help="also time the page in chromium")
    parser.add_argument("--keep", action="store_true", help="keep the bench index")
    args = parser.parse_args()

    settings = get_settings()
    store = SearchStore.from_settings(settings)
    print(f"# bench_search: {args.articles:,} articles, prefix {PREFIX}")
    print(
        f"# {datetime.now(UTC):%Y-%m-%d}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, Elasticsearch {es_version(store)}"
    )
    try:
        seconds = load(store, args.articles, args.body_words)
        stats = store.es.indices.stats(index=settings.articles_alias)["_all"]["primaries"]
        print(
            f"loaded in {seconds:.0f} s ({args.articles / seconds:,.0f} docs/s), "
            f"{stats['store']['size_in_bytes'] / 2**20:,.0f} MiB, "
            f"{stats['segments']['count']} segments"
        )
        params_list = queries(args.queries, seed=11)

        print("\n| GET /search (default facets, highlights, collapse) | p50 ms | p95 ms | p99 ms |")
        print("|---|---:|---:|---:|")
        print(row("API, in process (FastAPI + search + story summaries)", api_latency(params_list)))

        costs = part_costs(store, params_list)
        baseline = percentiles(costs["full (facets + histogram + collapse + highlights)"])[0]
        print(
            "\n| Elasticsearch request (one round trip) | p50 ms | p95 ms | p99 ms | p50 vs full |"
        )
        print("|---|---:|---:|---:|---:|")
        for name, samples in costs.items():
            print(row(name, samples, baseline))

        if args.page:
            samples = page_latency(params_list[:60])
            print("\n| page | p50 ms | p95 ms | p99 ms |")
            print("|---|---:|---:|---:|")
            print(row("Enter → first contentful paint of results (chromium)", samples))
    finally:
        if not args.keep:
            store.drop_all()


if __name__ == "__main__":
    main()
