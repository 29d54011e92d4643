"""Benchmark of the enrichment stages on one core, against the bare NER model on the same texts.

What it measures (one process, one core, models warmed up before timing; rates per CPU second
of the process, so other load on the machine does not skew the ratio):
  * language detection (pipeline.language.detect_language)
  * gazetteer scan of the text for tracked actors (Gazetteer.find, config/actors.yaml)
  * entity canonicalisation alone (resolve_mentions over the model's raw mentions)
  * registry entries of each document's entities (pipeline.entity_keys.document_entities: the
    script-independent keys and ids; the Redis call that stores them is one per batch)
  * the whole enrichment: language + extract_entities (NER, type and span fixes,
    canonicalisation, gazetteer) + registry entries
  * the bare NER model: spaCy `nlp.pipe` (ner component only) for English, natasha for Russian
and prints articles/s per stage and the ratio whole-enrichment / bare-NER (the issue's target
is >= 0.9: everything around NER must be cheap next to it).

Texts: N synthetic English wire articles (bench_pipeline's generator, ~500 words) plus the
Russian seed story repeated (--russian-share of N), so both NER paths are exercised.

Run:
    .venv/bin/python bench/bench_enrichment.py --articles 400
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from bench_pipeline import generate_articles, machine_facts  # noqa: E402

from pipeline.alerts import parse_actors  # noqa: E402
from pipeline.entities import (  # noqa: E402
    english_model,
    extract_entities,
    resolve_mentions,
    russian_model,
)
from pipeline.entity_keys import document_entities  # noqa: E402
from pipeline.feeds import parse_feed  # noqa: E402
from pipeline.gazetteer import build_gazetteer  # noqa: E402
from pipeline.language import detect_language  # noqa: E402
from pipeline.places import place_table  # noqa: E402
from pipeline.text import html_to_text  # noqa: E402


def russian_seed() -> str:
    feed = parse_feed((ROOT / "seeds/feeds/inosmi-ru.rss").read_bytes(), feed_id="ru")
    entry = feed.entries[0]
    return f"{entry.title}\n\n{html_to_text(entry.content_html)}"


def rate(label: str, count: int, function: Callable[[], object]) -> float:
    """Articles per CPU second of this process (wall time shown too): on a shared machine the
    CPU time is what the code costs, the wall time also what the neighbours cost."""
    start, wall = time.process_time(), time.perf_counter()
    function()
    seconds = time.process_time() - start
    wall = time.perf_counter() - wall
    per_second = count / seconds
    print(
        f"  {label:<52} {per_second:>9,.1f} articles/CPU-s {1000 / per_second:>8.3f} ms/article"
        f"  (wall {1000 * wall / count:.3f} ms)"
    )
    return per_second


def bare_ner(items: Sequence[tuple[str, str]], batch_size: int) -> None:
    from natasha import Doc

    english = [text for lang, text in items if lang == "en"]
    list(english_model().pipe(english, batch_size=batch_size))
    segmenter, tagger, _, _ = russian_model()
    for lang, text in items:
        if lang == "ru":
            doc = Doc(text)
            doc.segment(segmenter)
            doc.tag_ner(tagger)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=400)
    parser.add_argument("--russian-share", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    english = [
        (a.title, "\n\n".join(a.paragraphs))
        for a in generate_articles(args.articles, 1, seed=7, duplicate_share=0.0)
    ]
    russian_text = russian_seed()
    title_ru, body_ru = russian_text.split("\n\n", 1)
    russian = [(title_ru, body_ru)] * round(args.articles * args.russian_share)
    articles = english + russian
    gazetteer = build_gazetteer(parse_actors((ROOT / "config/actors.yaml").read_text("utf-8")))
    texts = [f"{t}\n\n{b}" for t, b in articles]
    langs = ["en"] * len(english) + ["ru"] * len(russian)
    items = list(zip(langs, texts, strict=True))

    # Warm up every model (and the place gazetteer, ~2 s once per process) outside the clock.
    place_table()
    detect_language(*articles[0])
    bare_ner(items[:2] + items[-2:], args.batch_size)
    raw = [
        [(e.text, e.label_) for e in doc.ents]
        for doc in english_model().pipe(texts[: len(english)], batch_size=args.batch_size)
    ]

    facts = machine_facts()
    print(f"machine: {facts.get('cpu', '?')}, nproc {facts.get('nproc', '?')}, {facts.get('date')}")
    print(f"texts: {len(english)} English (~500 words), {len(russian)} Russian seed copies")
    n = len(items)
    rate(
        "language (fastText lid.176 lite)", n, lambda: [detect_language(t, b) for t, b in articles]
    )
    rate("gazetteer scan (tracked actors in text)", n, lambda: [gazetteer.find(t) for t in texts])
    rate(
        "canonicalise mentions (English, from raw NER)",
        len(raw),
        lambda: [
            resolve_mentions(r, gazetteer, gazetteer.find(t))
            for r, t in zip(raw, texts, strict=False)
        ],
    )
    bare = rate(
        "bare NER models (spaCy ner + natasha)", n, lambda: bare_ner(items, args.batch_size)
    )

    found = extract_entities(items, gazetteer=gazetteer)
    actor_names = {actor.name: actor_id for actor_id, actor in gazetteer.actors.items()}
    rate(
        "registry entries (keys and ids)",
        n,
        lambda: [document_entities(entities, actor_names) for entities in found],
    )

    def whole() -> None:
        codes = [detect_language(t, b).code for t, b in articles]
        for entities in extract_entities(zip(codes, texts, strict=True), gazetteer=gazetteer):
            document_entities(entities, actor_names)

    total = rate("whole enrichment (language + NER + canonical + keys)", n, whole)
    print(f"\nwhole enrichment / bare NER = {total / bare:.2f}  (target >= 0.9)")
    words = sum(len(re.findall(r"\w+", t)) for t in texts) / n
    print(f"mean words per text: {words:.0f}")


if __name__ == "__main__":
    main()
