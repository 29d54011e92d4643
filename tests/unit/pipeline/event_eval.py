"""The event evaluation sets (tests/data/events/dev.yaml, heldout.yaml) and their scoring:
pairwise and B-cubed precision, recall and F1, overall, same-language and cross-language.

`python -m tests.unit.pipeline.event_eval` prints the tables the notes quote.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from pipeline.alerts import parse_actors
from pipeline.events import (
    EventConfig,
    EventFingerprint,
    cluster_stream,
    fingerprint,
    term_stats,
)
from pipeline.feeds import parse_feed
from pipeline.gazetteer import Gazetteer, build_gazetteer
from pipeline.language import detect_language
from pipeline.normalise import normalise_entry

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data" / "events"
SEEDS = ROOT / "seeds"
ACTORS = ROOT / "config" / "actors.yaml"


@dataclass(frozen=True, slots=True)
class EvalArticle:
    id: str
    event: str
    topic: str
    language: str
    published_at: str
    title: str
    summary: str
    body: str


@cache
def _seed(path: str) -> tuple[Any, ...]:
    parsed = parse_feed((SEEDS / path).read_bytes(), feed_id=Path(path).stem, source_name=None)
    fetched = datetime(2025, 3, 14, tzinfo=UTC)
    return tuple(normalise_entry(entry, fetched_at=fetched) for entry in parsed.entries)


@cache
def load(part: str) -> tuple[EvalArticle, ...]:
    """The articles of one part ("dev" or "heldout"), seeds resolved."""
    raw = yaml.safe_load((DATA / f"{part}.yaml").read_text(encoding="utf-8"))["events"]
    articles = []
    for event in raw:
        for item in event["articles"]:
            if "seed" in item:
                found = [a for a in _seed(item["seed"]) if a.title.startswith(item["title_starts"])]
                assert len(found) == 1, f"{item['id']}: {len(found)} seed articles match"
                a = found[0]
                language = detect_language(a.title, a.body).code
                title, summary, body, published = a.title, a.summary, a.body, a.published_at
            else:
                title, summary, body = item["title"], "", item["body"].strip()
                language, published = item["language"], item["published_at"]
            articles.append(
                EvalArticle(
                    id=item["id"],
                    event=event["id"],
                    topic=event["topic"],
                    language=language,
                    published_at=published,
                    title=title,
                    summary=summary,
                    body=body,
                )
            )
    return tuple(articles)


@cache
def gazetteer() -> Gazetteer:
    return build_gazetteer(parse_actors(ACTORS.read_text(encoding="utf-8")))


def fingerprints(articles: Sequence[EvalArticle], config: EventConfig) -> list[EventFingerprint]:
    """Fingerprints as the workers make them: tracked actors from the gazetteer, each article
    its own story (no copy of one another), IDF from the set's own term counts (no labels)."""

    def make(article: EvalArticle, stats: Any = None) -> EventFingerprint:
        text = f"{article.title}\n{article.summary}\n{article.body}"
        return fingerprint(
            doc_id=article.id,
            story_id=article.id,
            title=article.title,
            summary=article.summary,
            body=article.body,
            language=article.language,
            published_at=article.published_at,
            actors=gazetteer().find(text, lang=article.language),
            stats=stats,
            config=config,
        )

    stats = term_stats(make(a) for a in articles)
    return [make(a, stats) for a in articles]


@dataclass(frozen=True, slots=True)
class Scores:
    precision: float
    recall: float
    pairs: int  # labelled positive pairs (pairwise) or articles (B-cubed)

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


@dataclass(frozen=True, slots=True)
class Evaluation:
    pairwise: dict[str, Scores]  # "all", "same-language", "cross-language"
    bcubed: dict[str, Scores]  # "all", "same-language" (per language, pooled)
    false_joins: list[tuple[str, str]]
    missed: list[tuple[str, str]]
    hard_negative_joins: int  # same topic, different event, joined


def _pairwise(articles: Sequence[EvalArticle], predicted: dict[str, str], which: str) -> Scores:
    tp = fp = fn = 0
    for a, b in itertools.combinations(articles, 2):
        cross = a.language != b.language
        if (which == "cross-language") != cross and which != "all":
            continue
        gold, guess = a.event == b.event, predicted[a.id] == predicted[b.id]
        tp += gold and guess
        fp += guess and not gold
        fn += gold and not guess
    return Scores(tp / (tp + fp) if tp + fp else 1.0, tp / (tp + fn) if tp + fn else 1.0, tp + fn)


def _bcubed(articles: Sequence[EvalArticle], predicted: dict[str, str]) -> Scores:
    precision = recall = 0.0
    for a in articles:
        mine = [b for b in articles if predicted[b.id] == predicted[a.id]]
        gold = [b for b in articles if b.event == a.event]
        right = sum(1 for b in mine if b.event == a.event)
        precision += right / len(mine)
        recall += right / len(gold)
    n = len(articles)
    return Scores(precision / n if n else 1.0, recall / n if n else 1.0, n)


def evaluate(part: str = "dev", config: EventConfig | None = None) -> Evaluation:
    """Replay a part in publication order through the event stage and score it."""
    config = config or EventConfig()
    articles = load(part)
    fps = fingerprints(articles, config)
    predicted = cluster_stream(fps, config)
    by_language: dict[str, list[EvalArticle]] = {}
    for a in articles:
        by_language.setdefault(a.language, []).append(a)
    pooled = [_bcubed(group, predicted) for group in by_language.values()]
    n = sum(s.pairs for s in pooled)
    false_joins, missed, hard = [], [], 0
    for a, b in itertools.combinations(articles, 2):
        gold, guess = a.event == b.event, predicted[a.id] == predicted[b.id]
        if guess and not gold:
            false_joins.append((a.id, b.id))
            hard += a.topic == b.topic
        elif gold and not guess:
            missed.append((a.id, b.id))
    return Evaluation(
        pairwise={
            w: _pairwise(articles, predicted, w) for w in ("all", "same-language", "cross-language")
        },
        bcubed={
            "all": _bcubed(articles, predicted),
            "same-language": Scores(
                sum(s.precision * s.pairs for s in pooled) / n,
                sum(s.recall * s.pairs for s in pooled) / n,
                n,
            ),
        },
        false_joins=false_joins,
        missed=missed,
        hard_negative_joins=hard,
    )


def report(result: Evaluation, title: str) -> list[str]:
    lines = [f"{title}", "| measure | P | R | F1 | n |", "|---|---:|---:|---:|---:|"]
    for kind, table in (("pairwise", result.pairwise), ("B-cubed", result.bcubed)):
        for name, s in table.items():
            lines.append(
                f"| {kind} {name} | {s.precision:.3f} | {s.recall:.3f} | {s.f1:.3f} | {s.pairs} |"
            )
    lines.append(f"hard-negative joins: {result.hard_negative_joins}")
    lines.append(f"false joins: {result.false_joins}")
    lines.append(f"missed: {result.missed}")
    return lines


def story_baseline(part: str = "dev") -> Scores:
    """Pairwise precision and recall of the story stage alone (pipeline.cluster.decide) on an
    event set: what "one story" gave before events existed."""
    from pipeline.cluster import ClusterConfig, decide
    from pipeline.cluster import fingerprint as story_fingerprint

    config = ClusterConfig()
    articles = load(part)
    fps = {
        a.id: story_fingerprint(
            doc_id=a.id,
            content_hash=a.id,
            title=a.title,
            body=f"{a.summary}\n\n{a.body}" if a.summary else a.body,
            language=a.language,
            published_at=a.published_at,
        )
        for a in articles
    }
    tp = fp = fn = 0
    for a, b in itertools.combinations(articles, 2):
        candidate = fps[a.id]
        joined = decide(
            fps[b.id], [type(candidate)(**{**_fields(candidate), "story_id": a.id})], config
        )
        guess, gold = joined.method != "new", a.event == b.event
        tp += gold and guess
        fp += guess and not gold
        fn += gold and not guess
    return Scores(tp / (tp + fp) if tp + fp else 1.0, tp / (tp + fn) if tp + fn else 1.0, tp + fn)


def _fields(fp: Any) -> dict[str, Any]:
    return {name: getattr(fp, name) for name in fp.__slots__}


if __name__ == "__main__":  # pragma: no cover
    for part in sys.argv[1:] or ["dev", "heldout"]:
        print("\n".join(report(evaluate(part), part)))
        baseline = story_baseline(part)
        print(f"story stage alone: P {baseline.precision:.3f} R {baseline.recall:.3f}\n")
