"""Benchmark of the in-memory alert-rule matcher: ms per article with 1,000 rules.

What it measures (one core, this process, no services)
  * RuleMatcher.build over --rules realistic rules: tracked actors (any/all), saved searches
    (words, "phrases", a | b, -exclusions, prefixes) drawn from the words of the evaluation
    texts, facet and source filters, languages and exclusions mixed in;
  * RuleMatcher.match over --articles wire-length documents (about 400 words in English,
    Russian, Ukrainian, German, French or Spanish, built from the multilingual evaluation
    sentences, with 0-3 tracked actors each), in batches of --batch-size as a worker sees them;
    split into document analysis (tokenising, folding, stemming) and rule checking.
The aim (issue 10) is <= 0.5 ms per article with 1,000 rules; the last line prints the ratio.

Run:
    .venv/bin/python bench/bench_rules.py
    .venv/bin/python bench/bench_rules.py --rules 5000 --articles 2000
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.rules import AlertRule, DocumentView, RuleMatcher, validate_rule  # noqa: E402

AIM_MS = 0.5
LANGUAGES = ("en", "ru", "uk", "de", "fr", "es")
DATA = ROOT / "tests" / "data"
REAL_ACTORS = (
    "valery-gerasimov",
    "vladimir-putin",
    "volodymyr-zelensky",
    "marco-rubio",
    "nato",
    "kursk",
    "sudzha",
    "donald-trump",
    "kyiv",
)
SOURCES = ("Reuters", "AP", "AFP", "TASS", "Interfax", "Ukrinform", "dpa", "EFE", "BBC", "Meduza")
# Facet values: the real names first, then enough others that a filter is as specific as a
# newsroom's ("Kharkiv", "Olaf Scholz"), not one of a handful every article carries.
PLACES = ("Kursk", "Kyiv", "Kharkiv", "Moscow", "Berlin", "Paris", "Madrid", "Sudzha", "Odesa")
PLACES += tuple(f"Place {n}" for n in range(300))
PERSONS = ("Vladimir Putin", "Valery Gerasimov", "Volodymyr Zelensky", "Marco Rubio")
PERSONS += tuple(f"Person {n}" for n in range(300))
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"\w{5,}")
RARE_SHARE = 0.02


def load_texts() -> dict[str, tuple[list[str], list[str]]]:
    """Headlines and sentences per language from the evaluation sets in tests/data/."""
    texts: dict[str, tuple[list[str], list[str]]] = {lang: ([], []) for lang in LANGUAGES}
    for path in sorted(DATA.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            language = item.get("lang")
            if language not in texts:
                continue
            titles, sentences = texts[language]
            if item.get("title"):
                titles.append(item["title"])
            for text in (item.get("body"), item.get("text")):
                if text:
                    sentences.extend(s for s in _SENTENCE.split(text) if len(s) > 20)
    return texts


def make_documents(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Wire-length documents shaped like pipeline/document.py's output."""
    texts = load_texts()
    actors = [*REAL_ACTORS, *(f"actor-{n}" for n in range(191))]
    documents = []
    for number in range(count):
        language = rng.choice(LANGUAGES)
        titles, sentences = texts[language]
        body = " ".join(rng.choices(sentences, k=28))
        named = rng.sample(actors[:40], rng.choice((0, 0, 1, 1, 2, 3)))
        documents.append(
            {
                "doc_id": f"doc-{number}",
                "story_id": f"story-{number // 3}",
                "title": rng.choice(titles) if titles else body[:80],
                "summary": body[:200],
                "body": body,
                "language": language,
                "source": rng.choice(SOURCES),
                "persons": rng.sample(PERSONS[:100], rng.randint(0, 3)),
                "organisations": [],
                "places": rng.sample(PLACES[:100], rng.randint(0, 3)),
                "categories": [],
                "actors": named,
                "actor_names": [a.replace("-", " ").title() for a in named],
                "published_at": "2026-03-01T07:00:00+00:00",
                "version": 1,
            }
        )
    return documents


class _RuleMaker:
    """Rules in the mix a newsroom keeps: mostly actors and saved searches, some filters.

    A saved search names specific things ("ceasefire", "Sudzha"), so its words are drawn from
    those in at most RARE_SHARE of the articles; one search in ten takes any word, common ones
    included, so the matcher also meets rules that fire often.
    """

    def __init__(self, documents: list[dict[str, Any]], rng: random.Random) -> None:
        self.rng = rng
        frequency: Counter[str] = Counter()
        for document in documents:
            text = document["title"] + " " + document["body"]
            frequency.update({w.lower() for w in _WORD.findall(text)})
        self.common = sorted(frequency)
        self.rare = [w for w in self.common if frequency[w] <= RARE_SHARE * len(documents)]
        self.sentences = [s for _, pool in load_texts().values() for s in pool]
        self.actors = [*REAL_ACTORS, *(f"actor-{n}" for n in range(191))]

    def phrase(self) -> str:
        tokens = self.rng.choice(self.sentences).split()
        start = self.rng.randrange(max(1, len(tokens) - 1))
        return '"' + " ".join(tokens[start : start + 2]).strip('.,:;"«»') + '"'

    def query(self) -> str:
        rng = self.rng
        words = self.rare if rng.random() < 0.9 else self.common
        parts = []
        for _ in range(rng.randint(1, 3)):
            roll = rng.random()
            if roll < 0.2:
                parts.append(self.phrase())
            elif roll < 0.25:
                parts.append(rng.choice(words)[:5] + "*")
            else:
                parts.append(rng.choice(words))
        text = " ".join(parts)
        if len(parts) > 1 and rng.random() < 0.3:
            text = text.replace(" ", " | ", 1)
        if rng.random() < 0.2:
            text += " -" + rng.choice(words)
        return text

    def rule(self, number: int) -> dict[str, Any]:
        rng = self.rng
        data: dict[str, Any] = {"id": f"rule-{number}", "name": f"Rule {number}"}
        roll = rng.random()
        if roll < 0.35:
            data["actors"] = rng.sample(self.actors, rng.randint(1, 3))
            data["actors_mode"] = rng.choice(("any", "any", "all"))
            if rng.random() < 0.3:
                data["exclude_terms"] = [rng.choice(self.common)]
        elif roll < 0.75:
            data["query"] = self.query()
        elif roll < 0.9:
            data["filters"] = {rng.choice(("person", "place")): [rng.choice(PERSONS + PLACES)]}
            if rng.random() < 0.5:
                data["query"] = self.query()
        else:
            data["sources"] = [rng.choice(SOURCES)]
            data["query"] = self.query()
        if rng.random() < 0.25:
            data["languages"] = rng.sample(LANGUAGES, rng.randint(1, 2))
        if rng.random() < 0.1:
            data["exclude_actors"] = [rng.choice(self.actors)]
        return data


def make_rules(count: int, documents: list[dict[str, Any]], rng: random.Random) -> list[AlertRule]:
    """`count` valid rules (see _RuleMaker for the mix)."""
    maker = _RuleMaker(documents, rng)
    rules: list[AlertRule] = []
    while len(rules) < count:
        try:
            rules.append(validate_rule(maker.rule(len(rules))))
        except ValueError:
            continue
    return rules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    documents = make_documents(args.articles, rng)
    rules = make_rules(args.rules, documents, rng)
    characters = sum(len(d["title"]) + len(d["body"]) for d in documents) / len(documents)
    print(f"python {platform.python_version()}, {platform.machine()}")
    print(
        f"{len(rules)} rules, {len(documents)} articles of {characters:.0f} characters on average"
    )

    started = time.perf_counter()
    matcher = RuleMatcher.build(rules)
    build = time.perf_counter() - started
    print(f"build: {build * 1000:.1f} ms ({len(matcher.unanchored)} rules without an anchor)")

    # Warm the fold and stem caches once, as a long-running worker has them.
    matcher.match(documents[:200])
    # CPU time of this process, best of --repeat: the machine is shared, and wall time would
    # measure the neighbours as much as the matcher.
    total = analysis = float("inf")
    found = 0
    for _ in range(args.repeat):
        started = time.process_time()
        found = 0
        for start in range(0, len(documents), args.batch_size):
            found += len(matcher.match(documents[start : start + args.batch_size]))
        total = min(total, time.process_time() - started)
        started = time.process_time()
        views = [DocumentView.of(d) for d in documents]
        analysis = min(analysis, time.process_time() - started)
    candidates = sum(len(matcher.candidates(v)) for v in views) / len(views)

    per_article = total * 1000 / len(documents)
    print(f"analysis only: {analysis * 1000 / len(documents):.3f} ms/article")
    print(f"candidate rules checked: {candidates:.1f} per article (of {len(matcher.checks)})")
    print(f"matches: {found} ({found / len(documents):.2f} per article)")
    print(f"match: {per_article:.3f} ms/article; aim {AIM_MS} ms: {per_article / AIM_MS:.2f}x")


if __name__ == "__main__":
    main()
