"""The story-clustering evaluation set (tests/data/stories/articles.yaml) and its scoring.

`python -m tests.unit.pipeline.story_eval` prints the table the README quotes.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from pipeline.cluster import (
    ClusterConfig,
    Fingerprint,
    decide,
    evidence_keys,
    fingerprint,
)
from pipeline.dedup import content_fingerprint
from pipeline.feeds import parse_feed
from pipeline.language import detect_language
from pipeline.normalise import normalise_entry

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data" / "stories" / "articles.yaml"
SEEDS = ROOT / "seeds" / "feeds"
POSITIVE_ROLES = ("exact", "repost", "update", "translation")
CATEGORIES = (*POSITIVE_ROLES, "same_topic", "unrelated")


@dataclass(frozen=True, slots=True)
class EvalArticle:
    id: str
    story: str
    role: str
    language: str
    published_at: str
    title: str
    body: str
    topic_of: str | None = None


@dataclass(frozen=True, slots=True)
class Pair:
    first: EvalArticle
    second: EvalArticle
    category: str
    same_story: bool

    @property
    def cross_language(self) -> bool:
        return self.first.language != self.second.language


@cache
def _seed_articles(feed: str) -> tuple[Any, ...]:
    parsed = parse_feed((SEEDS / feed).read_bytes(), feed_id=Path(feed).stem, source_name=None)
    fetched = datetime(2025, 3, 14, tzinfo=UTC)
    return tuple(normalise_entry(entry, fetched_at=fetched) for entry in parsed.entries)


def _from_seed(item: dict[str, Any]) -> tuple[str, str, str, str]:
    found = [a for a in _seed_articles(item["seed"]) if a.title.startswith(item["title_starts"])]
    assert len(found) == 1, f"{item['id']}: {len(found)} seed articles match"
    article = found[0]
    language = detect_language(article.title, article.body).code
    return article.title, article.body, article.published_at, language


def _derive(base: EvalArticle, spec: dict[str, Any]) -> tuple[str, str]:
    paragraphs = base.body.split("\n\n")
    if "lead" in spec:
        paragraphs[0] = spec["lead"]
    for index, text in (spec.get("replace") or {}).items():
        paragraphs[int(index)] = text
    dropped = set(spec.get("drop") or ())
    kept = [p for i, p in enumerate(paragraphs) if i not in dropped]
    body = "\n\n".join([*(spec.get("prepend") or ()), *kept, *(spec.get("append") or ())])
    for old, new in spec.get("substitute") or ():
        assert old in body, f"{old!r} not in {base.id}"
        body = body.replace(old, new)
    if spec.get("markup_noise"):
        # What a CMS does to a copy: curly quotes straightened, doubled spaces, no blank lines.
        body = re.sub(r" ", "  ", body.replace("’", "'").replace("\n\n", "\n"))
    return spec.get("title", base.title), body


@cache
def load_articles() -> tuple[EvalArticle, ...]:
    """Every article of the evaluation set, seeds resolved and derivations applied."""
    raw = yaml.safe_load(DATA.read_text(encoding="utf-8"))["articles"]
    done: dict[str, EvalArticle] = {}
    for item in raw:
        if "seed" in item:
            title, body, published, language = _from_seed(item)
        elif "derive" in item:
            base = done[item["derive"]["from"]]
            title, body = _derive(base, item["derive"])
            published = item.get("published_at", base.published_at)
            language = item.get("language", base.language)
        else:
            title, body = item["title"], item["body"].strip()
            published, language = item["published_at"], item.get("language", "en")
        done[item["id"]] = EvalArticle(
            id=item["id"],
            story=item["story"],
            role=item["role"],
            language=language,
            published_at=published,
            title=title,
            body=body,
            topic_of=item.get("topic_of"),
        )
    return tuple(done.values())


def labelled_pairs() -> list[Pair]:
    """Positives against their story's original; same-topic stories against every member of
    the story they resemble; unrelated: originals and translations of different stories."""
    articles = load_articles()
    originals = {a.story: a for a in articles if a.role == "original"}
    pairs = [
        Pair(originals[a.story], a, a.role, True) for a in articles if a.role in POSITIVE_ROLES
    ]
    for negative in (a for a in articles if a.role == "same_topic"):
        pairs += [
            Pair(member, negative, "same_topic", False)
            for member in articles
            if member.story == negative.topic_of
        ]
    main = [a for a in articles if a.story in originals and a.role in {"original", "translation"}]
    for left, right in itertools.combinations(main, 2):
        if left.story != right.story and "original" in {left.role, right.role}:
            pairs.append(Pair(left, right, "unrelated", False))
    return pairs


@cache
def _fingerprint(article: EvalArticle) -> Fingerprint:
    return fingerprint(
        doc_id=article.id,
        content_hash=content_fingerprint(article.title, article.body),
        title=article.title,
        body=article.body,
        language=article.language,
        published_at=article.published_at,
    )


def retrieved(indexed: Fingerprint, arriving: Fingerprint) -> bool:
    """Would the store return `indexed` as a candidate for `arriving` (same LSH band, or at
    least two shared evidence tokens)?"""
    if set(indexed.bands) & set(arriving.bands):
        return True
    return len(set(evidence_keys(indexed)) & set(evidence_keys(arriving))) >= 2


def joined(pair: Pair, config: ClusterConfig) -> bool:
    """Does the later-published article end up in the earlier one's story?"""
    first, second = sorted((pair.first, pair.second), key=lambda a: (a.published_at, a.id))
    if content_fingerprint(first.title, first.body) == content_fingerprint(
        second.title, second.body
    ):
        return True  # exact dedup: the same document
    indexed = _fingerprint(first)
    arriving = _fingerprint(second)
    if not retrieved(indexed, arriving):
        return False
    candidate = Fingerprint(**{**_asdict(indexed), "story_id": "story-of-" + indexed.doc_id})
    return decide(arriving, [candidate], config).story_id == candidate.story_id


def _asdict(fp: Fingerprint) -> dict[str, Any]:
    return {name: getattr(fp, name) for name in Fingerprint.__slots__}  # type: ignore[attr-defined]


@dataclass(slots=True)
class Counts:
    pairs: int = 0
    joined: int = 0
    missed: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Evaluation:
    """Joined/total per category, and precision/recall per path (same or cross language)."""

    categories: dict[str, Counts]
    paths: dict[str, dict[str, int]]

    def recall(self, category: str) -> float:
        counts = self.categories[category]
        return counts.joined / counts.pairs if counts.pairs else 1.0

    def false_join_rate(self, category: str) -> float:
        return self.recall(category)

    def precision(self, path: str) -> float:
        counts = self.paths[path]
        predicted = counts["tp"] + counts["fp"]
        return counts["tp"] / predicted if predicted else 1.0

    def path_recall(self, path: str) -> float:
        counts = self.paths[path]
        positives = counts["tp"] + counts["fn"]
        return counts["tp"] / positives if positives else 1.0

    def category_precision(self, category: str) -> float:
        """TP of the category over TP + every false join on its path (same/cross language)."""
        counts = self.categories[category]
        path = "cross-language" if category == "translation" else "same-language"
        predicted = counts.joined + self.paths[path]["fp"]
        return counts.joined / predicted if predicted else 1.0


def evaluate(config: ClusterConfig | None = None) -> Evaluation:
    """Score every labelled pair with `config` (default thresholds)."""
    config = config or ClusterConfig()
    categories = {c: Counts() for c in CATEGORIES}
    paths = {p: {"tp": 0, "fp": 0, "fn": 0, "tn": 0} for p in ("same-language", "cross-language")}
    for pair in labelled_pairs():
        decision = joined(pair, config)
        counts = categories[pair.category]
        counts.pairs += 1
        counts.joined += decision
        if decision != pair.same_story:
            counts.missed.append(f"{pair.first.id} ~ {pair.second.id}")
        path = paths["cross-language" if pair.cross_language else "same-language"]
        outcome = {(True, True): "tp", (False, True): "fp", (True, False): "fn"}
        path[outcome.get((pair.same_story, decision), "tn")] += 1
    return Evaluation(categories, paths)


def report(evaluation: Evaluation) -> Iterator[str]:
    """Markdown tables of an evaluation."""
    yield "| category | pairs | joined | recall | precision (vs. its path's false joins) |"
    yield "|---|---:|---:|---:|---:|"
    for category in POSITIVE_ROLES:
        counts = evaluation.categories[category]
        yield (
            f"| {category} | {counts.pairs} | {counts.joined} | "
            f"{evaluation.recall(category):.2f} | {evaluation.category_precision(category):.2f} |"
        )
    for category in ("same_topic", "unrelated"):
        counts = evaluation.categories[category]
        yield f"| {category} (negative) | {counts.pairs} | {counts.joined} | – | – |"
    yield ""
    yield "| path | TP | FP | FN | TN | precision | recall |"
    yield "|---|---:|---:|---:|---:|---:|---:|"
    for path, c in evaluation.paths.items():
        yield (
            f"| {path} | {c['tp']} | {c['fp']} | {c['fn']} | {c['tn']} | "
            f"{evaluation.precision(path):.2f} | {evaluation.path_recall(path):.2f} |"
        )
    for category, counts in evaluation.categories.items():
        if counts.missed:
            yield f"\n{category} wrong: " + "; ".join(counts.missed)


if __name__ == "__main__":  # pragma: no cover
    for line in report(evaluate()):
        print(line)
