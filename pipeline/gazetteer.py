"""Tracked-actor gazetteer: every spelling and script of an actor folds to one comparable key.

A name is compared token by token after folding: Cyrillic tokens are stemmed (Snowball Russian)
and transliterated (anyascii); all tokens lose case, diacritics and a few transliteration
variants (Zelenskyy / Zelenskiy -> zelensky, Sudzha / Sudja / Suja -> suja). Snowball does not
give every case form of a name the same stem ("Герасимов" -> "герасим", "Герасимова" ->
"герасимов"), so each Cyrillic alias word is declined through the common case endings and every
resulting stem is indexed; text words are then stemmed once and looked up. Aliases in
config/actors.yaml cover what folding cannot (Suju, Kiev / Kyiv).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer
from anyascii import anyascii

from pipeline.alerts import Actor

_LETTERS = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*", re.UNICODE)
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_NON_LETTER = re.compile(r"[^a-z]")
# Romanisation variants of the same Cyrillic letters, folded to one spelling.
_FOLDS = (
    (re.compile(r"dzh|dj"), "j"),
    (re.compile(r"zh"), "j"),
    (re.compile(r"(iy|yy|ii|yi|ij)$"), "y"),
    (re.compile(r"kh"), "h"),
    (re.compile(r"(.)\1"), r"\1"),
)
# A stem shorter than this is too generic to match on ("руб" would match the rouble sign).
MIN_STEM = 4
_POSSESSIVE = re.compile(r"['’]s?$")

_russian = snowballstemmer.stemmer("russian")


# Bounded: a worker folds every word it reads, and runs for months.
@lru_cache(maxsize=500_000)
def fold_token(token: str) -> str:
    """The comparable form of one word of a name, in any script."""
    word = _POSSESSIVE.sub("", token.casefold())
    if _CYRILLIC.search(word):
        stem = _russian.stemWord(word)
        if len(stem) >= MIN_STEM:
            word = stem
    word = _NON_LETTER.sub("", anyascii(word).lower())
    for pattern, replacement in _FOLDS:
        word = pattern.sub(replacement, word)
    return word


# Case endings of Russian nouns, adjectives and surnames (for declining alias words).
_ENDINGS = (
    "",
    "а",
    "я",
    "у",
    "ю",
    "е",
    "и",
    "ы",
    "ом",
    "ем",
    "ой",
    "ей",
    "ым",
    "им",
    "ого",
    "его",
    "ому",
    "ему",
    "ая",
    "яя",
    "ую",
    "юю",
    "ое",
    "ые",
    "ых",
    "их",
    "ами",
    "ами",
    "ах",
)
_STEM_END = re.compile(r"(ий|ый|ой|ая|яя|а|я|о|е|ь|й)$")


def token_variants(token: str) -> set[str]:
    """Folded forms of one alias word in every case (just itself for Latin words)."""
    if not _CYRILLIC.search(token):
        return {fold_token(token)}
    word = token.casefold()
    bases = {word, _STEM_END.sub("", word)}
    return {fold_token(base + ending) for base in bases for ending in _ENDINGS} - {""}


@lru_cache(maxsize=100_000)
def name_key(name: str) -> tuple[str, ...]:
    """The comparable form of a whole name: its folded words, in order."""
    return tuple(k for k in (fold_token(t) for t in _LETTERS.findall(name)) if k)


@dataclass(frozen=True, slots=True)
class Gazetteer:
    """Actors by id, and every alias key -> actor id, for text and mention matching."""

    actors: dict[str, Actor]
    keys: dict[tuple[str, ...], str]
    max_tokens: int

    def actor_for(self, name: str, *, person: bool = False) -> Actor | None:
        """The actor a whole mention names ("Путина", "Zelenskyy", "Valery Gerasimov").

        For a `person` mention, a full name that is not an alias ("Марко Рубио") still
        resolves by its surname when that surname is a tracked person's alias.
        """
        key = name_key(name)
        actor_id = self.keys.get(key)
        if actor_id is None and person and len(key) > 1:
            actor_id = self.keys.get(key[-1:])
            if actor_id and self.actors[actor_id].type != "person":
                actor_id = None
        return self.actors[actor_id] if actor_id else None

    def find(self, text: str) -> list[str]:
        """Ids of the actors named anywhere in `text`, in order of first mention."""
        tokens = [fold_token(t) for t in _LETTERS.findall(text)]
        found: dict[str, None] = {}
        for start in range(len(tokens)):
            for length in range(min(self.max_tokens, len(tokens) - start), 0, -1):
                actor_id = self.keys.get(tuple(tokens[start : start + length]))
                if actor_id:
                    found.setdefault(actor_id)
                    break
        return list(found)

    def names(self, actor_ids: Iterable[str]) -> list[str]:
        """Every name of the given actors, for the index field that makes any spelling match."""
        return [name for actor_id in actor_ids for name in self.actors[actor_id].names]


def build_gazetteer(actors: Sequence[Actor]) -> Gazetteer:
    """Index each actor's names; a key claimed by two actors is dropped as ambiguous."""
    keys: dict[tuple[str, ...], str] = {}
    ambiguous: set[tuple[str, ...]] = set()
    for actor in actors:
        for name in actor.names:
            words = _LETTERS.findall(name)
            for key in itertools.product(*(sorted(token_variants(w)) for w in words)):
                if not key:
                    continue
                if keys.get(key, actor.id) != actor.id:
                    ambiguous.add(key)
                keys[key] = actor.id
    for key in ambiguous:
        del keys[key]
    return Gazetteer(
        actors={a.id: a for a in actors},
        keys=keys,
        max_tokens=max((len(k) for k in keys), default=1),
    )
