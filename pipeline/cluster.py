"""Story clustering stage: an article's fingerprint, near-duplicate and cross-language evidence,
the decision which story it joins, and the sentence-level diff against the story's representative.

Near-duplicates (re-posts, trimmed or re-headlined copies, wire updates under a new URL) are found
with MinHash over word 5-shingles (datasketch, 128 permutations) and LSH bands; the store keeps
only a b-bit (8 bits per permutation) copy of each signature, enough to estimate Jaccard and
containment of a candidate. Translations share almost no shingles with their original, so they are
matched on language-independent evidence instead: numbers (1,100 = 1100 = "1 100"; 86 % = 86
процентов; thirty-day = тридцатидневный = 30), dates, names transliterated to one Latin
skeleton (Герасимов = Gerasimov, Лекорню = Lecornu) and the publication-time window.

Everything here is pure: the Redis state that makes these decisions shared and atomic across
workers lives in newswire/stories/store.py.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import unicodedata
import zlib
from base64 import b64decode, b64encode
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

import numpy as np
from anyascii import anyascii

# -- MinHash / LSH parameters (changing any of these changes the stored band keys: bump
# RECORD_VERSION so old records are ignored rather than compared with incompatible ones) ------
NUM_PERM = 128
MINHASH_SEED = 20250312
SHINGLE_WORDS = 5
# 24 bands of 3 rows: P(candidate) = 1 - (1 - J^3)^24 is 0.79 at J = 0.4, 0.96 at J = 0.5 and
# 0.0002 at J = 0.02 (wire boilerplate). Each band bucket keeps its first member only, so a
# query returns at most one candidate per band and day: verification cost is bounded.
LSH_BANDS = 24
LSH_ROWS = 3
RECORD_VERSION = "1"
# Fewer shingles than this (a headline, a one-line brief) cannot prove a near-duplicate.
MIN_SHINGLES = 12
# b-bit minwise hashing: two different minima agree on 8 bits with probability 1/256.
_BBIT_CHANCE = 1 / 256

_WORD = re.compile(r"\w+", re.UNICODE)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """Join thresholds; newswire.settings fills them from NEWSWIRE_STORY_* variables."""

    # Share of the shorter text's shingles found in the other (estimated from MinHash).
    near_duplicate_containment: float = 0.5
    # ...and a floor on Jaccard itself, so a two-paragraph brief does not join every long piece
    # that happens to quote it.
    near_duplicate_min_jaccard: float = 0.15
    # Cross-language evidence points: the weights of the shared numbers (number_weight) plus
    # NAME_POINTS per shared name key (at most MAX_NAME_POINTS of them).
    translation_min_points: float = 3.0
    # Names alone never join: same-topic stories share their actors, not their figures.
    translation_min_number_weight: float = 1.0
    # Share of the smaller article's numbers found in the other.
    translation_min_number_containment: float = 0.5
    translation_min_shared_names: int = 2
    # Share of the smaller article's name keys found in the other (German capitalises every
    # noun, so its key sets are large and this share is low even for a faithful translation).
    translation_min_name_containment: float = 0.2
    translation_window_hours: float = 72.0


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What clustering knows of one text version of an article (also what the store keeps)."""

    doc_id: str
    content_hash: str
    language: str
    published: float
    shingles: int
    signature: bytes
    numbers: frozenset[str]
    entities: frozenset[str]
    bands: tuple[str, ...] = ()
    story_id: str = ""

    @property
    def iid(self) -> str:
        """Short id of this text version in the store: same article and text, same iid."""
        return internal_id(self.doc_id, self.content_hash)


@dataclass(frozen=True, slots=True)
class Assignment:
    """The story an article joins, how, and the evidence that decided it."""

    story_id: str
    method: str  # "new", "near_duplicate", "translation", "version"
    score: float
    matched_doc_id: str | None
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_document_field(self) -> dict[str, Any]:
        """The `story_join` object of the indexed document."""
        return {
            "method": self.method,
            "score": round(self.score, 4),
            "matched_doc_id": self.matched_doc_id,
            "evidence": self.evidence,
        }


# -- text normalisation ----------------------------------------------------------------------
def _words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def internal_id(doc_id: str, content_hash: str) -> str:
    """64-bit id of (article, text), hex; collisions are negligible below 10^8 articles."""
    return hashlib.blake2b(f"{doc_id}:{content_hash}".encode(), digest_size=8).hexdigest()


# -- MinHash -----------------------------------------------------------------------------------
@cache
def _permutations() -> Any:
    # datasketch (and scipy behind it) load in ~0.5 s: only when the first article is clustered.
    from datasketch import MinHash

    return MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED, scheme="affine32").permutations


def _identity(value: int) -> int:
    return value


def _mix32(values: np.ndarray) -> np.ndarray:
    """murmur3's finaliser: spreads CRC32 (fast, but linear) before the affine permutations."""
    values = values.astype(np.uint32)
    values ^= values >> np.uint32(16)
    values *= np.uint32(0x85EBCA6B)
    values ^= values >> np.uint32(13)
    values *= np.uint32(0xC2B2AE35)
    values ^= values >> np.uint32(16)
    return values


def shingle_hashes(text: str) -> np.ndarray:
    """Distinct 32-bit hashes of the text's word 5-shingles (case and punctuation ignored)."""
    return _shingles_of(_words(text))


def _shingles_of(words: Sequence[str]) -> np.ndarray:
    if not words:
        return np.zeros(0, dtype=np.uint32)
    # Each word hashed once; a shingle is a polynomial of its five word hashes (mod 2^64),
    # vectorised, instead of joining and hashing every five-word string.
    word_hashes = _mix32(
        np.fromiter((zlib.crc32(w.encode()) for w in words), dtype=np.uint32, count=len(words))
    ).astype(np.uint64)
    width = min(SHINGLE_WORDS, len(words))
    count = len(words) - width + 1
    combined = np.zeros(count, dtype=np.uint64)
    for offset in range(width):
        combined = combined * np.uint64(0x100000001B3) + word_hashes[offset : offset + count]
    return np.unique(_mix32(combined ^ (combined >> np.uint64(32))))


def minhash_signature(hashes: np.ndarray) -> np.ndarray:
    """NUM_PERM 32-bit minima of the shingle hashes under datasketch's seeded permutations."""
    from datasketch import MinHash

    sketch = MinHash(
        num_perm=NUM_PERM,
        seed=MINHASH_SEED,
        hashfunc=_identity,
        permutations=_permutations(),
        scheme="affine32",
    )
    sketch.update_batch(hashes.tolist())
    return np.asarray(sketch.hashvalues, dtype=np.uint64)


def bbit_signature(signature: np.ndarray) -> bytes:
    """One byte per permutation: the top byte of each minimum after a multiplicative mix."""
    mixed = (signature * np.uint64(0x9E3779B1)) & np.uint64(0xFFFFFFFF)
    return (mixed >> np.uint64(24)).astype(np.uint8).tobytes()


def band_keys(signature: np.ndarray) -> tuple[str, ...]:
    """LSH band keys (16 hex digits each); two texts colliding on any band are candidates."""
    values = signature.astype(np.uint32)
    keys = []
    for band in range(LSH_BANDS):
        chunk = values[band * LSH_ROWS : (band + 1) * LSH_ROWS].tobytes()
        keys.append(hashlib.blake2b(bytes([band]) + chunk, digest_size=8).hexdigest())
    return tuple(keys)


def similarity(a: Fingerprint, b: Fingerprint) -> tuple[float, float]:
    """Estimated (Jaccard, containment of the smaller text in the larger) of two fingerprints."""
    if not a.signature or not b.signature or not a.shingles or not b.shingles:
        return 0.0, 0.0
    left = np.frombuffer(a.signature, dtype=np.uint8)
    right = np.frombuffer(b.signature, dtype=np.uint8)
    agree = float(np.count_nonzero(left == right)) / len(left)
    jaccard = min(1.0, max(0.0, (agree - _BBIT_CHANCE) / (1 - _BBIT_CHANCE)))
    # |A ∩ B| = J (|A| + |B|) / (1 + J)
    shared = jaccard * (a.shingles + b.shingles) / (1 + jaccard)
    containment = min(1.0, shared / min(a.shingles, b.shingles))
    return jaccard, containment


# -- language-independent evidence -------------------------------------------------------------
_NUMBER = re.compile(
    r"(?<![\w.,])"
    r"(\d{1,3}(?:(?:,|[\u00a0\u202f\u2009 ])\d{3})+(?![\d])|\d+)"
    r"(?:([.,])(\d+))?"
    r"(\s?(?:%|percent\b|per\s+cent\b|процент\w*|відсот\w*|prozent\b|pour\s+cent\b"
    r"|por\s+ciento\b|per\s+cento\b|por\s+cento\b))?",
    re.IGNORECASE,
)
# Languages that group thousands with a dot (1.100 = 1100) rather than mark decimals with it.
_DOT_GROUPING = frozenset({"de", "es", "it", "pt", "nl", "tr", "id", "da"})
_MONTHS: dict[int, tuple[str, ...]] = {
    1: ("january", "jan", "январ", "січ", "januar", "janvier", "enero", "gennaio", "janeiro"),
    2: ("february", "feb", "феврал", "лют", "februar", "février", "febrero", "febbraio"),
    3: ("march", "mar", "март", "берез", "märz", "mars", "marzo", "março"),
    4: ("april", "apr", "апрел", "квіт", "avril", "abril", "aprile"),
    5: ("may", "мая", "май", "трав", "mai", "mayo", "maggio", "maio"),
    6: ("june", "jun", "июн", "черв", "juni", "juin", "junio", "giugno", "junho"),
    7: ("july", "jul", "июл", "лип", "juli", "juillet", "julio", "luglio", "julho"),
    8: ("august", "aug", "август", "серп", "août", "agosto"),
    9: ("september", "sep", "sept", "сентябр", "верес", "septembre", "septiembre", "settembre"),
    10: ("october", "oct", "октябр", "жовт", "oktober", "octobre", "octubre", "ottobre"),
    11: ("november", "nov", "ноябр", "листопад", "novembre", "noviembre", "novembro"),
    12: ("december", "dec", "декабр", "груд", "dezember", "décembre", "diciembre", "dicembre"),
}
_MONTH_WORD = re.compile(r"[\s.]*(?:de\s+|of\s+)?(\w+)", re.IGNORECASE)
_MONTH_BEFORE = re.compile(r"(\w+)\.?\s+$")
# How far back from a number the month word before it is looked for: the longest month word
# with its dot and spaces fits, and searching only there keeps number_tokens linear in the text.
_MONTH_BEFORE_REACH = 32
_WORD_CHAR = re.compile(r"\w")
# Tens written as words ("thirty-day", "тридцатидневный", "dreißigtägig", "trente jours"): the
# stem starts the word, so compounds and case endings match too.
_TENS_STEMS: tuple[tuple[str, int], ...] = tuple(
    (stem, 10 * (position % 8 + 2))
    for row in (
        "twenty thirty forty fifty sixty seventy eighty ninety",
        "двадцат тридцат сорок пятьдесят шестьдесят семьдесят восемьдесят девяност",
        "двадцат тридцат сорок пятидесят шестидесят семидесят восьмидесят девяност",
        "двадцят тридцят сорок п'ятдесят шістдесят сімдесят вісімдесят дев'яност",
        "zwanzig dreißig vierzig fünfzig sechzig siebzig achtzig neunzig",
        "vingt trente quarante cinquante soixante soixante-dix quatre-vingt quatre-vingt-dix",
        "veinte treinta cuarenta cincuenta sesenta setenta ochenta noventa",
        "venti trenta quaranta cinquanta sessanta settanta ottanta novanta",
    )
    for position, stem in enumerate(row.split())
)
# Stems by their first four letters: one dictionary look-up per word, not one test per stem.
_TENS_BY_PREFIX: dict[str, tuple[tuple[str, int], ...]] = {}
for _stem, _tens in _TENS_STEMS:
    _TENS_BY_PREFIX[_stem[:4]] = (*_TENS_BY_PREFIX.get(_stem[:4], ()), (_stem, _tens))
_LETTER_WORD = re.compile(r"[^\W\d_]{4,}")
# Capitalised words in the scripts of the newsroom's languages (Latin, Cyrillic, Greek).
_CAPITALISED = re.compile(r"(?<![\w'’-])[A-ZÀ-ÖØ-ÞĀ-ŽА-ЯЁЄІЇҐΑ-Ω][\w'’-]*")


# Latin abbreviations must be the whole word ("mar" is not "marine"); other stems start it
# ("марта", "липня").
_WHOLE_WORD_MONTHS = frozenset(
    {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"}
    | {"mai", "mars", "juni", "juli"}
)


@lru_cache(maxsize=4096)
def _month(word: str) -> int | None:
    word = word.casefold()
    for number, stems in _MONTHS.items():
        for stem in stems:
            if word == stem or (stem not in _WHOLE_WORD_MONTHS and word.startswith(stem)):
                return number
    return None


def _canonical_number(integer: str, fraction: str | None) -> str:
    digits = re.sub(r"\D", "", integer)
    if fraction is None:
        return str(int(digits))
    fraction = fraction.rstrip("0")
    return f"{int(digits)}.{fraction}" if fraction else str(int(digits))


def _month_before(text: str, end: int) -> re.Match[str] | None:
    """The word right before `end` (a number's start), if only a dot and spaces separate them."""
    start = max(0, end - _MONTH_BEFORE_REACH)
    found = _MONTH_BEFORE.search(text, start, end)
    if found and found.start() == start and start and _WORD_CHAR.match(text, start - 1):
        return None  # the window cut a longer word: not a month word
    return found


def number_tokens(text: str, language: str = "") -> frozenset[str]:
    """Numbers, percentages and day-month dates in a spelling-independent form.

    "1,100", "1 100" and "1100" give "1100"; "86%" and "86 процентов" give "86%"; "2,50 %" and
    "2.50%" give "2.5%"; "12 March", "March 12" and "12 марта" give "d03-12"; "thirty" gives "30".
    Numbers below 10 are left out: they are too common, and often spelled out, to be evidence.
    """
    tokens: set[str] = set()
    for match in _NUMBER.finditer(text):
        integer, separator, fraction, percent = match.groups()
        if separator == "." and fraction is not None and len(fraction) == 3:
            if language in _DOT_GROUPING and "," not in integer:
                integer, separator, fraction = integer + fraction, None, None
        elif separator == "," and fraction is not None and len(fraction) == 3 and not percent:
            # "1,100" was taken as a thousands group above; "2,500" in a list is rare.
            integer, separator, fraction = integer + fraction, None, None
        value = _canonical_number(integer, fraction)
        if percent:
            tokens.add(f"{value}%")
            continue
        if fraction is None and separator is None and 1 <= int(value) <= 31:
            after = _MONTH_WORD.match(text, match.end())
            before = _month_before(text, match.start())
            month = (after and _month(after.group(1))) or (before and _month(before.group(1)))
            if month:
                tokens.add(f"d{month:02d}-{int(value):02d}")
                continue
        if "." in value or float(value) >= 10:
            tokens.add(value)
    for word in _LETTER_WORD.findall(text.lower()):
        for stem, tens in _TENS_BY_PREFIX.get(word[:4], ()):
            if word.startswith(stem):
                tokens.add(str(tens))
                break
    return frozenset(tokens)


@lru_cache(maxsize=65_536)
def number_weight(token: str) -> float:
    """How much one shared number says: 1,100 or 86% a lot, a year or a date little."""
    if token.startswith("d"):
        return 0.25
    if token.endswith("%") or "." in token:
        return 1.0
    value = int(token)
    if 1900 <= value <= 2100:
        return 0.25
    if value >= 100:
        return 1.0
    return 0.5


_SENTENCE_END = frozenset(".!?…\n")
_OPENERS = frozenset("«\"“„‘'(")
_DIGRAPHS = (
    ("shch", "s"),
    ("sch", "s"),
    ("dzh", "z"),
    ("sh", "s"),
    ("ch", "c"),
    ("zh", "z"),
    ("kh", "h"),
    ("ts", "c"),
    ("tz", "c"),
    ("ph", "f"),
    ("th", "t"),
    ("ck", "k"),
    ("gh", "g"),
)
_LETTERS = str.maketrans({"c": "k", "q": "k", "w": "v", "j": "i", "y": "i", "x": "k"})
_VOWELS = re.compile(r"[aeiou]+")
_NOT_LETTER = re.compile(r"[^a-z]+")
_REPEATS = re.compile(r"(.)\1+")
# Capitalised in English although not names.
_NOT_NAMES_TEXT = """monday tuesday wednesday thursday friday saturday sunday january february
march april may june july august september october november december the this that and but"""
_NOT_NAMES = frozenset(_NOT_NAMES_TEXT.split())
ENTITY_KEY_CHARS = 5


@lru_cache(maxsize=65_536)
def name_key(word: str) -> str:
    """A script-independent key for a name: Latin transliteration reduced to a sound skeleton.

    Герасимов and Gerasimov give "garas"; Лекорню and Lecornu "lakar"; Путина and Putin "patan";
    Хили and Healey "hala". Vowels collapse to one class and the key keeps its first five letters,
    so case endings (Путина, Курскую) and y/i/ий spellings fall away.
    """
    latin = anyascii(word).casefold()
    latin = _NOT_LETTER.sub("", latin)
    for digraph, replacement in _DIGRAPHS:
        latin = latin.replace(digraph, replacement)
    latin = _VOWELS.sub("a", latin.translate(_LETTERS))
    return _REPEATS.sub(r"\1", latin)[:ENTITY_KEY_CHARS]


def entity_keys(text: str) -> frozenset[str]:
    """Name keys of capitalised words that do not start a sentence, in any script."""
    keys: set[str] = set()
    for match in _CAPITALISED.finditer(text):
        word = match.group(0)
        if word.casefold() in _NOT_NAMES:
            continue
        position = match.start() - 1
        while position >= 0 and (text[position].isspace() or text[position] in _OPENERS):
            if text[position] == "\n":
                break
            position -= 1
        if position < 0 or text[position] in _SENTENCE_END:
            continue
        key = name_key(word)
        if len(key) >= 4:
            keys.add(key)
    return frozenset(keys)


def fingerprint(
    *,
    doc_id: str,
    content_hash: str,
    title: str,
    body: str,
    language: str,
    published_at: str,
    extra_entity_keys: Iterable[str] = (),
) -> Fingerprint:
    """Everything clustering needs of one article: signature, band keys, numbers, name keys."""
    # The body carries the story; a re-post's new headline should not count against it.
    words = _words(body)
    if len(words) < SHINGLE_WORDS * 4:
        words = _words(f"{title}\n{body}")
    hashes = _shingles_of(words)
    if len(hashes):
        signature = minhash_signature(hashes)
        bbits, bands = bbit_signature(signature), band_keys(signature)
    else:
        bbits, bands = b"", ()
    return Fingerprint(
        doc_id=doc_id,
        content_hash=content_hash,
        language=language,
        published=_epoch(published_at),
        shingles=len(hashes),
        signature=bbits,
        numbers=number_tokens(f"{title}\n{body}", language),
        entities=entity_keys(body) | frozenset(extra_entity_keys),
        bands=bands if len(hashes) >= MIN_SHINGLES else (),
    )


def _epoch(timestamp: str) -> float:
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


MAX_EVIDENCE_KEYS = 12


def evidence_keys(fp: Fingerprint) -> tuple[str, ...]:
    """The tokens a translation is looked up by: its most specific numbers, then rare names."""
    numbers = sorted(
        (t for t in fp.numbers if number_weight(t) >= 0.5),
        key=lambda t: (-number_weight(t), t),
    )[:8]
    names = sorted(fp.entities, key=lambda k: (-len(k), k))[: MAX_EVIDENCE_KEYS - len(numbers)]
    return (*(f"n{t}" for t in numbers), *(f"e{k}" for k in names))


# -- decisions -------------------------------------------------------------------------------
NAME_POINTS = 0.5
MAX_NAME_POINTS = 6


@dataclass(frozen=True, slots=True)
class TranslationEvidence:
    """Why two articles in different languages are (or are not) the same story."""

    shared_numbers: tuple[str, ...]
    number_weight: float
    number_containment: float
    shared_names: tuple[str, ...]
    name_containment: float
    hours_apart: float
    points: float
    strong: bool

    @property
    def score(self) -> float:
        """0-1, for ranking candidates: mostly how much of the smaller text's figures match."""
        return round(
            0.5 * self.number_containment
            + 0.3 * self.name_containment
            + 0.2 * min(1.0, self.points / 8),
            4,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "shared_numbers": list(self.shared_numbers),
            "number_weight": round(self.number_weight, 2),
            "number_containment": round(self.number_containment, 3),
            "shared_names": list(self.shared_names),
            "name_containment": round(self.name_containment, 3),
            "points": round(self.points, 2),
            "hours_apart": round(self.hours_apart, 1),
        }


def _containment(shared: int, left: int, right: int) -> float:
    smaller = min(left, right)
    return shared / smaller if smaller else 0.0


def translation_evidence(
    a: Fingerprint, b: Fingerprint, config: ClusterConfig
) -> TranslationEvidence:
    """Shared numbers, dates and names of two articles, and whether together they are strong."""
    shared_numbers = tuple(sorted(a.numbers & b.numbers, key=lambda t: (-number_weight(t), t)))
    weight = sum(number_weight(t) for t in shared_numbers)
    number_share = _containment(len(shared_numbers), len(a.numbers), len(b.numbers))
    shared_names = tuple(sorted(a.entities & b.entities))
    name_share = _containment(len(shared_names), len(a.entities), len(b.entities))
    points = weight + NAME_POINTS * min(len(shared_names), MAX_NAME_POINTS)
    hours = abs(a.published - b.published) / 3600 if a.published and b.published else 0.0
    strong = (
        hours <= config.translation_window_hours
        and points >= config.translation_min_points
        and weight >= config.translation_min_number_weight
        and number_share >= config.translation_min_number_containment
        and len(shared_names) >= config.translation_min_shared_names
        and name_share >= config.translation_min_name_containment
    )
    return TranslationEvidence(
        shared_numbers=shared_numbers,
        number_weight=weight,
        number_containment=number_share,
        shared_names=shared_names,
        name_containment=name_share,
        hours_apart=hours,
        points=points,
        strong=strong,
    )


def is_near_duplicate(a: Fingerprint, b: Fingerprint, config: ClusterConfig) -> bool:
    """Largely the same text: enough shingles, and containment and Jaccard over the thresholds."""
    if min(a.shingles, b.shingles) < MIN_SHINGLES:
        return False
    jaccard, containment = similarity(a, b)
    return (
        containment >= config.near_duplicate_containment
        and jaccard >= config.near_duplicate_min_jaccard
    )


def _different_languages(a: Fingerprint, b: Fingerprint) -> bool:
    return a.language != b.language or a.language == "und"


def decide(fp: Fingerprint, candidates: Sequence[Fingerprint], config: ClusterConfig) -> Assignment:
    """The story `fp` joins: the closest near-duplicate, else the strongest translation, else new.

    Ties go to the earliest-published candidate, so the decision does not depend on the order
    the store returned candidates in.
    """
    others = sorted(
        (c for c in candidates if c.doc_id != fp.doc_id and c.story_id),
        key=lambda c: (c.published, c.doc_id),
    )
    best: tuple[float, Fingerprint, dict[str, Any]] | None = None
    for candidate in others:
        if not is_near_duplicate(fp, candidate, config):
            continue
        jaccard, containment = similarity(fp, candidate)
        # Containment saturates at 1 for any shorter copy; Jaccard tells the closest one.
        score = (containment + jaccard) / 2
        if best is None or score > best[0]:
            evidence = {"jaccard": round(jaccard, 3), "containment": round(containment, 3)}
            best = (score, candidate, evidence)
    if best:
        return Assignment(best[1].story_id, "near_duplicate", best[0], best[1].doc_id, best[2])
    for candidate in others:
        if not _different_languages(fp, candidate):
            continue
        evidence_ = translation_evidence(fp, candidate, config)
        if evidence_.strong and (best is None or evidence_.score > best[0]):
            best = (evidence_.score, candidate, evidence_.as_dict())
    if best:
        return Assignment(best[1].story_id, "translation", best[0], best[1].doc_id, best[2])
    return Assignment(fp.doc_id, "new", 1.0, None, {})


# -- record encoding (what the store keeps per text version) -----------------------------------
_RECORD_FIELDS = 12


def encode_record(fp: Fingerprint, assignment: Assignment) -> str:
    """One line per text version: its fingerprint (less band keys) and the story it joined."""
    return "|".join(
        (
            RECORD_VERSION,
            fp.doc_id,
            assignment.story_id,
            fp.language,
            str(int(fp.published)),
            str(fp.shingles),
            b64encode(fp.signature).decode(),
            " ".join(sorted(fp.numbers)),
            " ".join(sorted(fp.entities)),
            assignment.method,
            assignment.matched_doc_id or "",
            f"{assignment.score:.4f}",
        )
    )


def decode_record(record: str) -> tuple[Fingerprint, Assignment] | None:
    """The fingerprint and assignment a record holds; None for another RECORD_VERSION."""
    parts = record.split("|")
    if len(parts) != _RECORD_FIELDS or parts[0] != RECORD_VERSION:
        return None
    _, doc_id, story_id, language, published, shingles, signature, numbers, names = parts[:9]
    method, matched, score = parts[9:]
    fp = Fingerprint(
        doc_id=doc_id,
        content_hash="",
        language=language,
        published=float(published),
        shingles=int(shingles),
        signature=b64decode(signature),
        numbers=frozenset(numbers.split()),
        entities=frozenset(names.split()),
        story_id=story_id,
    )
    return fp, Assignment(story_id, method, float(score), matched or None)


# -- what changed ------------------------------------------------------------------------------
_CLOSERS = frozenset("\"”»’')")
_PARENS = {"(": 1, ")": -1, "[": 1, "]": -1}


def split_sentences(text: str) -> list[str]:
    """Sentences of a text: split after . ! ? … outside brackets before a word that is not in
    lower case, and at every line break.

    A bracketed insertion "(... its own. InoSMI)" stays inside the sentence it was put in.
    """
    sentences: list[str] = []
    start = depth = 0
    length = len(text)
    index = 0
    while index < length:
        char = text[index]
        depth = max(0, depth + _PARENS.get(char, 0))
        boundary = char == "\n" or (depth == 0 and char in ".!?…")
        if boundary:
            end = index + 1
            while end < length and text[end] in _CLOSERS and text[end] != "\n":
                end += 1
            following = text[end:].lstrip()[:1]
            # "U.S. talks": a sentence does not go on in lower case.
            if char == "\n" or end >= length or (text[end].isspace() and not following.islower()):
                piece = _SPACE.sub(" ", text[start:end]).strip()
                if piece:
                    sentences.append(piece)
                start = index = end
                continue
        index += 1
    tail = _SPACE.sub(" ", text[start:]).strip()
    if tail:
        sentences.append(tail)
    return sentences


def _norm_sentence(sentence: str) -> str:
    return " ".join(_words(sentence))


@dataclass(frozen=True, slots=True)
class ChangedSentence:
    """A sentence both texts have, edited: the words the member inserted and deleted."""

    representative: str
    member: str
    inserted: tuple[str, ...]
    deleted: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StoryDiff:
    """Sentence-level comparison of a story member with the story's representative."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[ChangedSentence, ...]
    unchanged: int
    similarity: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": [
                {
                    "representative": c.representative,
                    "member": c.member,
                    "inserted": list(c.inserted),
                    "deleted": list(c.deleted),
                }
                for c in self.changed
            ],
            "unchanged": self.unchanged,
            "similarity": self.similarity,
        }


# Sentences whose words agree at least this much are one sentence edited, not two different ones.
EDITED_SENTENCE_RATIO = 0.6


def _word_changes(left: str, right: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    a, b = left.split(), right.split()
    inserted: list[str] = []
    deleted: list[str] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in {"replace", "delete"}:
            deleted.append(" ".join(a[i1:i2]))
        if tag in {"replace", "insert"}:
            inserted.append(" ".join(b[j1:j2]))
    return tuple(inserted), tuple(deleted)


def _pair_edited(
    removed: list[str], added: list[str]
) -> tuple[list[ChangedSentence], list[str], list[str]]:
    changed: list[ChangedSentence] = []
    left_over = list(added)
    still_removed = []
    for old in removed:
        old_words = _norm_sentence(old).split()
        best, best_ratio = None, EDITED_SENTENCE_RATIO
        for new in left_over:
            ratio = difflib.SequenceMatcher(
                None, old_words, _norm_sentence(new).split(), autojunk=False
            ).ratio()
            if ratio >= best_ratio:
                best, best_ratio = new, ratio
        if best is None:
            still_removed.append(old)
            continue
        left_over.remove(best)
        inserted, deleted = _word_changes(old, best)
        changed.append(ChangedSentence(old, best, inserted, deleted))
    return changed, still_removed, left_over


def sentence_diff(representative: str, member: str) -> StoryDiff:
    """What `member` added, removed and edited compared with `representative`, by sentence."""
    left, right = split_sentences(representative), split_sentences(member)
    matcher = difflib.SequenceMatcher(
        None, [_norm_sentence(s) for s in left], [_norm_sentence(s) for s in right], autojunk=False
    )
    added: list[str] = []
    removed: list[str] = []
    changed: list[ChangedSentence] = []
    unchanged = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            unchanged += i2 - i1
            continue
        edited, gone, new = _pair_edited(left[i1:i2], right[j1:j2])
        changed += edited
        removed += gone
        added += new
    return StoryDiff(
        added=tuple(added),
        removed=tuple(removed),
        changed=tuple(changed),
        unchanged=unchanged,
        similarity=round(matcher.ratio(), 3),
    )
