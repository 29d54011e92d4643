"""Entity resolution across the corpus: script-independent keys, ids, merges and display names.

A document's canonical names (pipeline/entities.py) become registry entries here, without
services; newswire/entities/ stores them in Redis.

* **Key.** Every name is reduced to a key that does not depend on script, spelling or case
  ending: places go to their gazetteer id (pipeline/places.py: "US", "США", "United States" ->
  geo:US); people to a given-name and family-name sound skeleton (anyascii, then digraphs and
  vowels merged: "Sebastien Lecornu", "Sebastien Lecorny" and "Себастьен Лекорню" all give
  "sabastan lakarn"; middle names and patronymics left out); organisations to the skeletons of
  their words without "of", "the" ….
* **Id.** type + key hashed, so every worker reaches the same id without asking anyone.
* **Merges beyond the key** need evidence from one document: an acronym joins the full name it
  abbreviates there ("European Central Bank" … "ECB") and the registry learns the alias for
  documents that only say "ECB". A lone surname never joins across documents ("Kim", "Li",
  "Smith" are many people): within a document pipeline/entities.py has already joined it to its
  full name; alone it is an entity of its own, marked as a surname.
* **Display name** per working language: the most frequent form written in that language's
  script (Latin for an English newsroom), the gazetteer's name for places.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from anyascii import anyascii

from pipeline.models import Entities
from pipeline.places import find_place

TYPES = ("person", "organisation", "place")
GROUP_TYPES = {"persons": "person", "organisations": "organisation", "places": "place"}
TYPE_PREFIX = {"person": "per", "organisation": "org", "place": "plc"}

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*|\d+", re.UNICODE)
_DIGRAPHS = (
    ("shch", "s"),
    ("sch", "s"),
    ("dzh", "j"),
    ("dj", "j"),
    ("zh", "j"),
    ("sh", "s"),
    ("ch", "c"),
    ("kh", "h"),
    ("ts", "c"),
    ("tz", "c"),
    ("ph", "f"),
    ("th", "t"),
    ("ck", "k"),
    ("gh", "g"),
    ("x", "ks"),
)
_LETTERS = str.maketrans({"c": "k", "q": "k", "w": "v", "y": "i"})
# Inside a word "h" is silent in Latin spellings ("John", "Sarah") and absent in Cyrillic ones.
_SILENT_H = re.compile(r"(?<=.)h")
_VOWELS = re.compile(r"[aeiou]+")
_VOWEL_J = re.compile(r"(?<=[aeiou])j(?![aeiou])")
_UKRAINIAN = re.compile(r"[іїєґІЇЄҐ]")
_REPEATS = re.compile(r"(.)\1+")
_POSSESSIVE = re.compile(r"['’]s?$")
# Words that do not make an organisation's name different ("Bank of Russia" = "Russia Bank" is
# not claimed; "the Bank of Russia" = "Bank of Russia" is).
_ORG_STOPWORDS = frozenset(
    """the of for and to in on at de du des la le les el los del der die das und y et""".split()  # noqa: SIM905
)
_ACRONYM = re.compile(r"^[A-ZА-ЯЁЄІЇҐ]{2,6}$")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[A-Za-zÀ-ÖØ-öø-ɏ]")
# Working languages -> the script their display names are written in.
LANGUAGE_SCRIPTS = {"ru": "cyrillic", "uk": "cyrillic", "bg": "cyrillic", "sr": "cyrillic"}


@lru_cache(maxsize=200_000)
def skeleton(word: str, *, vowels: bool = False) -> str:
    """One word's sound skeleton in Latin letters: Лекорню, Lecornu and Lecorny give "lakarn".

    Transliterated (anyascii), digraphs merged (kh = h, dzh = j = dj), vowel runs one class,
    doubled letters single, a final vowel dropped (case endings, y/i/u spellings). With
    `vowels`, for given names, the vowels stay apart: John and Jane are two people, while
    John and Джон, Sebastien and Себастьен still meet.
    """
    word = _POSSESSIVE.sub("", word)
    if _UKRAINIAN.search(word):
        # Ukrainian г is h (Гілі = Healey), ґ is g; anyascii reads г the Russian way.
        word = word.replace("г", "х").replace("Г", "Х")
    latin = anyascii(word).casefold()
    latin = "".join(c for c in latin if "a" <= c <= "z")
    # German and Polish j after a vowel is the й of Сергей (Sergej = Sergei).
    latin = _VOWEL_J.sub("i", latin)
    for digraph, replacement in _DIGRAPHS:
        latin = latin.replace(digraph, replacement)
    latin = _SILENT_H.sub("", latin.translate(_LETTERS))
    # A run of vowels is one sound: "a" for a family name, its last vowel for a given name
    # (Sebastien = Себастьен, Sergei = Sergey = Сергей).
    latin = _VOWELS.sub((lambda run: run.group(0)[-1]) if vowels else "a", latin)
    latin = _REPEATS.sub(r"\1", latin)
    return latin[:-1] if len(latin) > 2 and latin[-1] in "aeiou" else latin


def words(name: str) -> list[str]:
    """The words of a name, in order (possessives and punctuation left out)."""
    return _WORD.findall(name)


def is_acronym(name: str) -> bool:
    """ "ECB", "NATO", "ВСУ": two to six capitals, dots ignored."""
    return bool(_ACRONYM.match(name.replace(".", "")))


def acronym_of(name: str) -> str | None:
    """The initials of a name of three words or more ("European Central Bank" -> "ECB")."""
    initials = [w[0] for w in words(name) if w.casefold() not in _ORG_STOPWORDS and w[0].isupper()]
    return "".join(initials).upper() if len(initials) >= 2 else None


def script_of(name: str) -> str:
    """ "cyrillic", "latin" or "other", by the name's letters."""
    if _CYRILLIC.search(name):
        return "cyrillic"
    return "latin" if _LATIN.search(name) else "other"


# Organisations whose names differ by language beyond transliteration, with their acronyms.
_ORGANISATIONS = {
    "un": """United Nations|UN|ООН|Организация Объединенных Наций|Vereinte Nationen|ONU
        |Naciones Unidas|Nations unies""",
    "eu": """European Union|EU|ЕС|Евросоюз|Европейский союз|Євросоюз|ЄС|Європейський союз
        |Europäische Union|Union européenne|UE|Unión Europea""",
    "nato": "NATO|НАТО|OTAN|North Atlantic Treaty Organization",
    "imf": "IMF|International Monetary Fund|МВФ|Международный валютный фонд|IWF|FMI",
    "who": "WHO|World Health Organization|ВОЗ|Всемирная организация здравоохранения|OMS",
    "osce": "OSCE|ОБСЕ|ОБСЄ|OSZE",
    "iaea": "IAEA|International Atomic Energy Agency|МАГАТЭ|МАГАТЕ|AIEA|OIEA",
    "kremlin": "Kremlin|the Kremlin|Кремль|Kreml",
    "pentagon": "Pentagon|the Pentagon|Пентагон",
    "reuters": "Reuters|Рейтер|Рейтерс",
    "ecb": "ECB|European Central Bank|ЕЦБ|Европейский центральный банк|EZB|BCE",
    "opec": "OPEC|ОПЕК",
}
_ORGANISATION_KEYS = {
    " ".join(alias.casefold().replace(".", "").split()): key
    for key, aliases in _ORGANISATIONS.items()
    for alias in aliases.split("|")
}


def is_known_acronym(word: str) -> bool:
    """An acronym the organisation table or the place gazetteer knows ("ECB", "USA", "UN")."""
    if " ".join(word.casefold().split()) in _ORGANISATION_KEYS:
        return True
    place = find_place(word)
    return place is not None and place.kind == "country"


def entity_key(name: str, entity_type: str) -> str:
    """The script-independent key of a canonical name of one type (see the module docstring)."""
    if entity_type == "place":
        place = find_place(name)
        if place:
            return place.id
    if entity_type == "organisation":
        known = _ORGANISATION_KEYS.get(" ".join(name.casefold().replace(".", "").split()))
        if known:
            return "org:" + known
    if is_acronym(name):
        return "acr:" + anyascii(name.replace(".", "")).casefold()
    parts = [skeleton(w) for w in words(name)]
    parts = [p for p in parts if p]
    if entity_type == "person":
        if len(parts) == 1:
            return "surname:" + parts[0]
        # Given and family name; middle names and patronymics vary between sources.
        return f"name:{skeleton(words(name)[0], vowels=True)} {parts[-1]}"
    if entity_type == "organisation":
        kept = [
            skeleton(w) for w in words(name) if w.casefold() not in _ORG_STOPWORDS and skeleton(w)
        ]
        parts = kept or parts
    return "name:" + " ".join(parts)


def entity_id(entity_type: str, key: str) -> str:
    """A stable id for (type, key): the same in every worker, e.g. "per-5c1e0b9a2f4d"."""
    digest = hashlib.sha1(f"{entity_type}|{key}".encode(), usedforsecurity=False).hexdigest()
    return f"{TYPE_PREFIX[entity_type]}-{digest[:12]}"


@dataclass(frozen=True, slots=True)
class EntityMention:
    """One entity of one document, as the registry is told of it."""

    type: str
    name: str  # canonical within the document
    key: str
    id: str  # from the key, or from the full name an acronym abbreviates in the document
    how: str  # how the id was reached: "key", or "acronym of <full name> in the document"
    # Registry alias looked up for documents that name the entity only by this acronym.
    alias: str | None = None
    # Aliases this document teaches the registry (acronym -> the full name's id).
    learns: tuple[str, ...] = ()
    display_hint: str | None = None  # the gazetteer's name for a place
    actor: str | None = None  # the tracked actor this entity is, when the gazetteer says so
    written: tuple[str, ...] = field(default_factory=tuple)  # mentions as written


def _known_type(entity_type: str, name: str) -> str:
    """The table's organisations are organisations whatever a model said: natasha calls the
    Kremlin a place, spaCy an organisation, and one entity needs one type."""
    if entity_type == "place" and " ".join(name.casefold().split()) in _ORGANISATION_KEYS:
        return "organisation"
    return entity_type


def alias_key(entity_type: str, acronym: str) -> str:
    """The registry's alias field of an acronym of one type."""
    return f"{entity_type}|acr:{anyascii(acronym.replace('.', '')).casefold()}"


def document_entities(
    entities: Entities, actor_names: Mapping[str, str] | None = None
) -> list[EntityMention]:
    """The registry entries of one document's entities, with acronyms joined to full names.

    `actor_names` maps a tracked actor's canonical name to its id, so an entity that is a
    tracked actor carries the id (and every spelling later keyed to it feeds the matching).
    """
    actor_names = actor_names or {}
    written: dict[str, list[str]] = {}
    for mention in entities.mentions:
        written.setdefault(mention.canonical, []).append(mention.text)
    typed = [
        (_known_type(GROUP_TYPES[group], name), name)
        for group in ("persons", "organisations", "places")
        for name in getattr(entities, group)
    ]
    full_by_acronym: dict[tuple[str, str], list[str]] = {}
    for entity_type, name in typed:
        if entity_type != "person" and not is_acronym(name):
            initials = acronym_of(name)
            if initials:
                full_by_acronym.setdefault((entity_type, initials), []).append(name)
    keys = {(t, n): entity_key(n, t) for t, n in typed}
    result: list[EntityMention] = []
    for entity_type, name in typed:
        key = keys[entity_type, name]
        own_id = entity_id(entity_type, key)
        how, alias, learns = "key", None, tuple[str, ...]()
        if is_acronym(name) and not key.startswith(("geo:", "region:", "continent:")):
            expansions = full_by_acronym.get((entity_type, name.replace(".", "").upper()), [])
            if len(expansions) == 1:
                full = expansions[0]
                own_id = entity_id(entity_type, keys[entity_type, full])
                how = f"acronym of {full} in the document"
                learns = (alias_key(entity_type, name),)
            elif not expansions:
                alias = alias_key(entity_type, name)
        place = find_place(name) if entity_type == "place" else None
        result.append(
            EntityMention(
                type=entity_type,
                name=name,
                key=key,
                id=own_id,
                how=how,
                alias=alias,
                learns=learns,
                display_hint=place.name if place else None,
                actor=actor_names.get(name),
                written=tuple(dict.fromkeys(written.get(name, []))),
            )
        )
    return result


def choose_display_name(
    names: Mapping[str, int], language: str = "en", hint: str | None = None
) -> str:
    """The name to show a newsroom working in `language`: the gazetteer's name of a place,
    else the most frequent form in the language's script (ties: fuller, then alphabetical),
    else the most frequent form transliterated.

    `names` counts the forms seen ({"Sebastien Lecornu": 2, "Себастьен Лекорню": 1}).
    """
    script = LANGUAGE_SCRIPTS.get(language, "latin")
    if hint and script == "latin":
        return hint
    if not names:
        return hint or ""

    def rank(name: str) -> tuple[int, bool, int, str]:
        return (-names[name], is_acronym(name), -len(name), name)

    in_script = sorted((n for n in names if script_of(n) == script), key=rank)
    if in_script:
        return in_script[0]
    best = sorted(names, key=rank)[0]
    return anyascii(best) if script == "latin" else best


def fold_display(name: str) -> str:
    """Case- and accent-free form of a display name, for listing filters."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))
