"""Tracked-actor gazetteer: which tracked actors a text names, in any script, form or spelling.

Forms are generated from the aliases in config/actors.yaml, never guessed from the text:

* Cyrillic alias words are declined through Russian and Ukrainian case endings chosen by the
  word's own ending, so a masculine surname gets masculine forms only (Зеленский -> Зеленского,
  not Зеленская) and Ukrainian vowel alternation is covered (Харків -> Харкові, Київ -> Києві).
  Text words are looked up as written (lower case), so no stem ever matches inside another word.
* A Cyrillic name that is romanised in the aliases (Герасимов = Gerasimov) is also romanised by
  the English, Ukrainian, German, French and Spanish conventions, each from the Russian and the
  Ukrainian reading of the letters (Gerassimow, Guerassimov, Selenskyj, Poutine, Koursk, Járkov).
* Latin words fold case, diacritics and a few spelling variants (zh/dzh/dj, -iy/-yy, kh, double
  letters); German genitive -s, English possessive 's and French/Italian elision (l'OTAN,
  d'Erdogan) are stripped.

A form found in the text counts only when the surrounding text agrees that it is this actor:

* case: a capitalised alias must be capitalised in the text, an acronym must be an acronym
  (NATO/Nato, not "nate"); lines in capitals or title case say nothing about case;
* longer names: a single word joined to another capitalised word that is neither a title nor
  part of the actor's own names is a different name (Michael Jordan, Georgia Tech, Gazprom Neft);
  with NER spans, a span that extends the match with other name words, or a PERSON span on a
  place or organisation, does the same;
* the actor's `exclude` phrases near the mention (chicken Kiev, the Kursk submarine), and a place
  name standing alone inside quotation marks (the ship «Курск»);
* the actor's `homonyms` ("rubio" = blond, "чад" = fumes): where case cannot tell (sentence
  start, capitals or title-case line) such a word needs another mention of the actor, or NER.
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
# A stem shorter than this is too generic to merge names on ("руб" would be Rubio).
MIN_STEM = 4
_POSSESSIVE = re.compile(r"['’]s?$")
_ELISION = re.compile(
    r"^(?:[ldjmnstc]|qu|jusqu|lorsqu|puisqu|dell|dall|nell|sull|all)['’](?=[^\W\d_])", re.I
)

_russian = snowballstemmer.stemmer("russian")


def _fold_latin(word: str) -> str:
    folded = _NON_LETTER.sub("", anyascii(word).lower())
    for pattern, replacement in _FOLDS:
        folded = pattern.sub(replacement, folded)
    return folded


# Bounded: a worker folds every word it reads, and runs for months.
@lru_cache(maxsize=500_000)
def fold_token(token: str) -> str:
    """The comparable form of one word of a name, in any script (Cyrillic words stemmed)."""
    word = _POSSESSIVE.sub("", token.casefold())
    if _CYRILLIC.search(word):
        stem = _russian.stemWord(word)
        if len(stem) >= MIN_STEM:
            word = stem
    return _fold_latin(word)


@lru_cache(maxsize=100_000)
def name_key(name: str) -> tuple[str, ...]:
    """The comparable form of a whole name: its folded words, in order."""
    return tuple(k for k in (fold_token(t) for t in _LETTERS.findall(name)) if k)


@lru_cache(maxsize=500_000)
def surface_key(word: str) -> str:
    """How a word of text is looked up: Cyrillic lower-cased as written, Latin folded."""
    if _CYRILLIC.search(word):
        return word.casefold().replace("ё", "е")
    return _fold_latin(word)


# ---------------------------------------------------------------------------------------------
# Declension of Cyrillic alias words (Russian and Ukrainian), by the word's own ending.

_CONSONANT = "бвгґджзйклмнпрстфхцчшщ"
# (ending, letters cut from the word, endings added to the rest); the first ending that fits.
_PARADIGMS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("ський", 2, ("ий", "ого", "ому", "им", "ім")),
    ("цький", 2, ("ий", "ого", "ому", "им", "ім")),
    ("ский", 2, ("ий", "ого", "ому", "им", "ом")),
    ("цкий", 2, ("ий", "ого", "ому", "им", "ом")),
    ("ська", 1, ("а", "ої", "ій", "у", "ою")),
    ("цька", 1, ("а", "ої", "ій", "у", "ою")),
    ("ская", 2, ("ая", "ой", "ую", "ою")),
    ("цкая", 2, ("ая", "ой", "ую", "ою")),
    ("ия", 1, ("я", "и", "ю", "ей", "ею")),
    ("ія", 1, ("я", "ї", "ю", "єю")),
    ("ый", 2, ("ый", "ого", "ому", "ым", "ом")),
    ("ий", 1, ("й", "я", "ю", "ем", "и", "і", "єм")),
    ("ій", 1, ("й", "я", "ю", "єм", "ї")),
    ("а", 1, ("а", "ы", "и", "і", "е", "у", "ой", "ою", "ей", "ею", "ої", "ій")),
    ("я", 1, ("я", "и", "і", "е", "ю", "ей", "ею", "ї")),
    ("ь", 1, ("ь", "я", "ю", "ем", "е", "и", "і", "ью", "ей", "ям")),
    ("й", 1, ("й", "я", "ю", "ем", "е", "і", "єм", "ї")),
)
_CONSONANT_ENDINGS = ("", "а", "у", "ом", "е", "ым", "им", "ові", "і", "ем", "еві")
# Ukrainian і/ї in a closed last syllable becomes о/є once an ending opens it (Харків ->
# Харкова, Київ -> Києва, Львів -> Львова).
_ALTERNATION = re.compile(rf"([ії])([{_CONSONANT}]+)$")
_ALTERNATED_ENDINGS = ("а", "у", "ом", "ові", "і", "им")


def is_acronym(word: str) -> bool:
    """NATO, НАТО, OTAN: written in capitals and matched only as an acronym."""
    return len(word) >= 2 and word.isupper()


def cyrillic_forms(word: str) -> set[str]:
    """Every case form of one Cyrillic word, lower-cased (acronyms and -о/-е/-и words as is)."""
    lower = word.casefold().replace("ё", "е")
    if is_acronym(word) or not lower or lower[-1] not in _CONSONANT + "аяь":
        return {lower}
    for ending, cut, endings in _PARADIGMS:
        if lower.endswith(ending):
            base = lower[: len(lower) - cut]
            return {base + e for e in endings} | {lower}
    forms = {lower + e for e in _CONSONANT_ENDINGS}
    alternated = _ALTERNATION.search(lower)
    if alternated:
        vowel = "о" if alternated.group(1) == "і" else "є"
        base = lower[: alternated.start()] + vowel + alternated.group(2)
        forms |= {base + e for e in _ALTERNATED_ENDINGS}
    return forms


# ---------------------------------------------------------------------------------------------
# Romanisation of Cyrillic names by the conventions newsrooms use.


@dataclass(frozen=True, slots=True)
class _Scheme:
    letters: dict[str, str]
    iotated_e: str  # е at the start of a word or after a vowel (Yevgeny, Jewgeni, Ievgueni)
    double_s: bool = False  # с between vowels -> ss (Gerassimow, Guerassimov)
    soft_g: str = ""  # г before е/и/ы -> gu (Guerassimov)
    final_in: str = ""  # final -ин (Poutine)
    final_iy: str = ""  # final -ий/-ый (Selenski, Zelenski)


_CYRILLIC_LETTERS = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяіїєґ"
_ENGLISH_LATIN = (
    "a b v g d e yo zh z i y k l m n o p r s t u f kh ts ch sh shch _ y _ e yu ya i yi ye g"
)
_BASE = {
    letter: "" if latin == "_" else latin
    for letter, latin in zip(_CYRILLIC_LETTERS, _ENGLISH_LATIN.split(), strict=True)
}


def _scheme(
    overrides: str, ukrainian_y: str = "i", **options: str | bool
) -> dict[str, str | bool | dict[str, str]]:
    letters = dict(_BASE)
    for pair in overrides.split():
        letter, latin = pair.split("=")
        letters[letter] = latin
    # The Ukrainian reading of the same letters: г is h, и is y (Selenskyj, Herasymov).
    ukrainian = {**letters, "г": "h", "и": "y", "й": ukrainian_y}
    return {"letters": letters, "ukrainian": ukrainian, **options}


_SCHEME_SPECS = {
    "en": _scheme("", iotated_e="ye"),
    "de": _scheme(
        "в=w ж=sch з=s й=j х=ch ц=z ч=tsch ш=sch щ=schtsch ю=ju я=ja ё=jo ї=ji є=je",
        ukrainian_y="j",
        iotated_e="je",
        double_s=True,
        final_iy="i",
    ),
    "fr": _scheme(
        "ж=j й=i у=ou х=kh ц=ts ч=tch ш=ch щ=chtch ю=iou я=ia ё=io ї=ï є=ie",
        ukrainian_y="ï",
        iotated_e="ie",
        double_s=True,
        soft_g="gu",
        final_in="ine",
        final_iy="i",
    ),
    "es": _scheme(
        "й=i х=j ц=ts ч=ch ш=sh щ=sch ю=iu я=ia ё=io ї=yi є=ie",
        iotated_e="ie",
        soft_g="gu",
        final_iy="i",
    ),
}
_VOWELS = "аеёиоуыэюяіїє"


def romanisations(word: str) -> set[str]:
    """Latin spellings of one Cyrillic word by each convention, Russian and Ukrainian readings."""
    lower = word.casefold()
    spellings = {anyascii(lower)}
    for spec in _SCHEME_SPECS.values():
        for reading in ("letters", "ukrainian"):
            letters = spec[reading]
            assert isinstance(letters, dict)
            spellings.add(_romanise(lower, letters, spec, ukrainian=reading == "ukrainian"))
    return spellings


def _vowel(letter: str) -> bool:
    return bool(letter) and letter in _VOWELS


def _romanise(
    word: str,
    letters: dict[str, str],
    spec: dict[str, str | bool | dict[str, str]],
    *,
    ukrainian: bool,
) -> str:
    ending = ""
    final_iy = str(spec.get("final_iy", ""))
    if not ukrainian and final_iy and word.endswith(("ий", "ый")):
        word, ending = word[:-2], final_iy
    final_in = str(spec.get("final_in", ""))
    if final_in and word.endswith("ин"):
        word, ending = word[:-2], final_in
    out: list[str] = []
    for position, letter in enumerate(word):
        before = word[position - 1] if position else ""
        after = word[position + 1] if position + 1 < len(word) else ""
        latin = letters.get(letter, letter)
        if letter == "е" and (not before or before in _VOWELS + "ьъ"):
            latin = str(spec["iotated_e"])
        elif letter == "с" and spec.get("double_s") and _vowel(before) and _vowel(after):
            latin = "ss"
        elif letter == "г" and spec.get("soft_g") and not ukrainian and after and after in "еиыэ":
            latin = str(spec["soft_g"])
        out.append(latin)
    return "".join(out) + ending


# ---------------------------------------------------------------------------------------------
# Words around a mention.


def _folded(words: str) -> tuple[str, ...]:
    return tuple(_fold_latin(w) for w in words.split())


# Titles and categories that may stand, capitalised, before a name without being part of it.
_TITLES = frozenset(
    _folded(
        """
        president presidents vice secretary minister prime premier chancellor senator sen rep
        congressman congresswoman gov governor general gen lt col maj adm admiral marshal commander
        chief mayor king queen prince princess crown sheikh emir sultan pope ambassador envoy
        spokesman spokeswoman spokesperson leader chairman chairwoman ceo director head mr mrs ms
        dr sir lord lady justice judge former ex acting deputy foreign defence defense federal
        region oblast province city state
        président présidente ministre général secrétaire chancelier sénateur gouverneur maire roi
        reine m mme mlle monsieur madame
        presidente presidenta ministro ministra canciller secretario secretaria senador senadora
        gobernador alcalde rey reina sr sra don doña
        herr frau könig königin kanzlerin ministerin sekretär bürgermeister
        """
    )
)
# German compounds end in their head noun (Kremlchef, Energiekonzern, Grenzstadt).
_TITLE_HEADS = _folded(
    """
        präsident präsidentin kanzler kanzlerin minister ministerin chef chefin general sprecher
        sprecherin senator gouverneur meister führer herrscher haber kollege kollegin vorsitzende
        politiker botschafter gesandte kommandeur konzern riese gigant bündnis allianz stadt
        metropole region gebiet oblast provinz land staat republik unternehmen gruppe monopolist
        lieferant versorger produzent armee regierung partei behörde ministerium
        """
)
# Capitalised words that may follow a name and still mean the same actor (Kursk Region).
_AFTER_NAME = frozenset(
    _folded(
        """
        region oblast province governorate district krai area city administration government
        cabinet campaign summit secretary chief ceo chairman spokesman spokeswoman minister ministry
        president mayor governor members member allies says said
        """
    )
)
# Languages whose writers add a genitive -s to names (Erdogans, Charkiws, Gazproms).
GENITIVE_S_LANGUAGES = frozenset({"de", "nl", "da", "sv", "nb", "no"})
_SENTENCE_BREAK = re.compile(r"[.!?…:;\n«“„\"(\[•|–—]")
_OPENING_QUOTES = "«“„\"‚‘'"
_CLOSING_QUOTES = "»”“\"’'"
# A line of mostly capitalised long words is a headline in title case (or in capitals).
_TITLE_CASE_SHARE = 0.85
ACTOR_GROUPS = {"person": "persons", "organisation": "organisations", "place": "places"}
_NEIGHBOUR_CHECKS_AFTER = frozenset({"de"})  # verb-final clauses put nouns after subjects


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    key: str
    start: int
    end: int
    possessive: bool

    @property
    def case(self) -> str:
        """U: capitals (NATO), T: capitalised (Nato, Putin), L: lower case."""
        if len(self.text) > 1 and self.text.isupper():
            return "U"
        return "T" if self.text[:1].isupper() else "L"


def _tokenise(text: str) -> list[_Token]:
    tokens = []
    for found in _LETTERS.finditer(text):
        word, start = found.group(), found.start()
        elided = _ELISION.match(word)
        if elided:
            word, start = word[elided.end() :], start + elided.end()
        possessive = bool(_POSSESSIVE.search(word)) and not _CYRILLIC.search(word)
        if possessive:
            word = _POSSESSIVE.sub("", word)
        key = surface_key(word)
        if key:
            tokens.append(_Token(word, key, start, found.end(), possessive))
    return tokens


def _skeleton(key: str) -> str:
    """A looser form of a given name for comparing spellings (Marko / Marco, Wladimir)."""
    loose = key.replace("ph", "f").replace("c", "k").replace("w", "v").replace("y", "i")
    return re.sub(r"(.)\1", r"\1", loose)


# ---------------------------------------------------------------------------------------------
# The gazetteer.


@dataclass(frozen=True, slots=True)
class _Entry:
    actor_id: str
    kinds: str  # per word: A acronym, P capitalised name, L lower-case word


@dataclass(frozen=True, slots=True)
class _Rules:
    own_names: frozenset[str]  # keys and skeletons of every word of every alias
    homonyms: frozenset[tuple[str, str]]  # (language or "*", key)
    exclude: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class Gazetteer:
    """Actors by id, every alias form -> actor, and each actor's matching rules."""

    actors: dict[str, Actor]
    keys: dict[tuple[str, ...], _Entry]
    rules: dict[str, _Rules]
    first_words: frozenset[str]
    max_tokens: int

    def actor_for(self, name: str, *, person: bool = False) -> Actor | None:
        """The actor a whole mention names ("Путина", "Zelenskyy", "Valery Gerasimov").

        A `person` mention never names a place or organisation (a Jordan who scores is not the
        country). For a person, a full name that is not an alias ("Марко Рубио") still
        resolves by its family name when every other word is one of the actor's own names.
        """
        tokens = _tokenise(name)
        if not tokens:
            return None
        entry = self.keys.get(tuple(t.key for t in tokens))
        if entry and not _case_fits(tokens, entry.kinds, informative=True):
            entry = None
        if entry is None and person and len(tokens) > 1:
            entry = self.keys.get((tokens[-1].key,))
            if entry and not (
                self.actors[entry.actor_id].type == "person"
                and _case_fits(tokens[-1:], entry.kinds, informative=True)
                and all(self._own_word(entry.actor_id, t) for t in tokens[:-1])
            ):
                entry = None
        if entry is None:
            return None
        actor = self.actors[entry.actor_id]
        return None if person and actor.type != "person" else actor

    def find(
        self,
        text: str,
        *,
        lang: str | None = None,
        spans: Sequence[tuple[int, int, str]] = (),
    ) -> list[str]:
        """Ids of the actors named in `text`, in order of first mention.

        `lang` enables that language's inflection (German genitive -s); `spans` are NER spans
        (start, end, "persons" | "organisations" | "places") that confirm or veto a match.
        """
        tokens = _tokenise(text)
        lines = _LineCases(text)
        firsts: dict[str, int] = {}
        supported: set[str] = set()
        weak: set[str] = set()
        longer: set[str] = set()  # seen as part of a longer name
        confirmed: set[str] = set()  # seen in an NER span of the actor's type
        index = 0
        while index < len(tokens):
            found = self._longest(tokens, index, lang, lines)
            if found is None:
                index += 1
                continue
            entry, length = found
            verdict = self._judge(text, tokens, index, length, entry, lang, spans, lines)
            if verdict == "longer":
                longer.add(entry.actor_id)
            elif verdict == "confirmed":
                confirmed.add(entry.actor_id)
            if verdict in ("strong", "weak", "confirmed"):
                firsts.setdefault(entry.actor_id, tokens[index].start)
                (weak if verdict == "weak" else supported).add(entry.actor_id)
            index += length
        # A weak mention stands on its own only in a text where case never tells anything.
        keep = supported | (weak if not lines.any_informative(tokens) else set())
        # Once "Michael Jordan" was seen, a lone "Jordan" in the same text is most likely him.
        keep -= longer - confirmed
        return sorted(keep, key=firsts.__getitem__)

    def names(self, actor_ids: Iterable[str]) -> list[str]:
        """Every name of the given actors, for the index field that makes any spelling match."""
        return [name for actor_id in actor_ids for name in self.actors[actor_id].names]

    # -- matching ---------------------------------------------------------------------------

    def _longest(
        self, tokens: list[_Token], start: int, lang: str | None, lines: _LineCases
    ) -> tuple[_Entry, int] | None:
        first = tokens[start]
        genitive = (
            lang in GENITIVE_S_LANGUAGES
            and first.case != "L"
            and len(first.key) > 4
            and first.key.endswith("s")
            and not _CYRILLIC.search(first.text)
        )
        if first.key not in self.first_words and not genitive:
            return None
        informative = lines.informative(first.start)
        for length in range(min(self.max_tokens, len(tokens) - start), 0, -1):
            words = tokens[start : start + length]
            candidates = [tuple(t.key for t in words)]
            last = words[-1]
            if (
                lang in GENITIVE_S_LANGUAGES
                and last.case != "L"
                and last.key.endswith("s")
                and len(last.key) > 4
            ):
                candidates.append((*candidates[0][:-1], last.key[:-1]))
            for key in candidates:
                entry = self.keys.get(key)
                if entry and _case_fits(words, entry.kinds, informative=informative):
                    return entry, length
        return None

    def _judge(
        self,
        text: str,
        tokens: list[_Token],
        start: int,
        length: int,
        entry: _Entry,
        lang: str | None,
        spans: Sequence[tuple[int, int, str]],
        lines: _LineCases,
    ) -> str:
        """How a match counts: strong, confirmed (by NER), weak (needs another mention of the
        actor), longer (part of another name) or "" (excluded)."""
        actor = self.actors[entry.actor_id]
        words = tokens[start : start + length]
        begin, end = words[0].start, words[-1].end
        ner = self._ner_verdict(tokens, begin, end, actor, spans)
        informative = lines.informative(begin)
        if ner == "veto" or (
            length == 1
            and entry.kinds != "A"
            and informative
            and not self._stands_alone(text, tokens, start, actor.id, lang)
        ):
            return "longer"
        if self._excluded(text, tokens, start, length, self.rules[actor.id]) or (
            actor.type == "place" and _quoted(text, begin, end)
        ):
            return ""
        if ner == "confirmed":
            return "confirmed"
        if informative and not _sentence_initial(text, tokens, start):
            return "strong"
        homonyms = self.rules[actor.id].homonyms
        homonym = ("*", words[0].key) in homonyms or (lang or "", words[0].key) in homonyms
        return "weak" if homonym or (length == 1 and not informative) else "strong"

    def _ner_verdict(
        self,
        tokens: list[_Token],
        begin: int,
        end: int,
        actor: Actor,
        spans: Sequence[tuple[int, int, str]],
    ) -> str:
        """Veto (NER sees a longer name), confirmed (a span of the actor's type) or ""."""
        verdict = ""
        for span_start, span_end, group in spans:
            if span_end <= begin or span_start >= end:
                continue
            # The span's type alone is not trusted: spaCy's small model calls Kyiv and Sudzha
            # persons. Only a longer span, with name words that are not the actor's, vetoes.
            # A sentence's first word inside the span still counts: NER put it in the name
            # (Emine Erdogan), even if natasha sometimes takes a preposition along.
            outside = (
                t for t in tokens if span_start <= t.start < span_end and not begin <= t.start < end
            )
            if any(self._foreign_name_word(actor.id, t) for t in outside):
                return "veto"  # part of a longer name: Michael Jordan, Gazprom Neft
            if group == ACTOR_GROUPS[actor.type]:
                verdict = "confirmed"
        return verdict

    def _stands_alone(
        self, text: str, tokens: list[_Token], index: int, owner: str, lang: str | None
    ) -> bool:
        """False when a neighbouring capitalised word makes the match part of a longer name."""
        here = tokens[index]
        if index and _adjacent(text, tokens[index - 1], here):
            before = tokens[index - 1]
            if (
                not _sentence_initial(text, tokens, index - 1)
                and self._foreign_name_word(owner, before)
                and not _is_title(before.key)
            ):
                return False
        if (
            index + 1 < len(tokens)
            and not here.possessive
            and lang not in _NEIGHBOUR_CHECKS_AFTER
            and _adjacent(text, here, tokens[index + 1])
        ):
            after = tokens[index + 1]
            if self._foreign_name_word(owner, after) and after.key not in _AFTER_NAME:
                return False
        return True

    def _foreign_name_word(self, actor_id: str, token: _Token) -> bool:
        """A capitalised word that is not a title, not an initial and not the actor's own."""
        if token.case == "L" or len(token.text) < 2 or _is_title(token.key):
            return False
        return not self._own_word(actor_id, token)

    def _own_word(self, actor_id: str, token: _Token) -> bool:
        if len(token.text) == 1:
            return True  # an initial: "V. Putin", "Donald J. Trump"
        own = self.rules[actor_id].own_names if actor_id in self.rules else frozenset()
        return token.key in own or _skeleton(_fold_latin(token.text)) in own

    @staticmethod
    def _excluded(text: str, tokens: list[_Token], start: int, length: int, rules: _Rules) -> bool:
        """An exclude phrase of the actor within three words, in the same sentence."""
        phrases = rules.exclude
        if not phrases:
            return False
        first, last = start, start + length - 1
        for _ in range(3):
            if first == 0 or _SENTENCE_BREAK.search(
                text[tokens[first - 1].end : tokens[first].start]
            ):
                break
            first -= 1
        for _ in range(3):
            if last + 1 >= len(tokens) or _SENTENCE_BREAK.search(
                text[tokens[last].end : tokens[last + 1].start]
            ):
                break
            last += 1
        keys = [t.key for t in tokens[first : last + 1]]
        return any(
            all(keys[at + i].startswith(word) for i, word in enumerate(phrase))
            for phrase in phrases
            for at in range(len(keys) - len(phrase) + 1)
        )


def _quoted(text: str, begin: int, end: int) -> bool:
    """A name alone inside quotation marks: «Курск» is then a ship, a club or a paper."""
    before, after = text[begin - 1 : begin], text[end : end + 1]
    return bool(before and after) and before in _OPENING_QUOTES and after in _CLOSING_QUOTES


def _is_title(key: str) -> bool:
    return key in _TITLES or (len(key) > 4 and key.endswith(_TITLE_HEADS))


def _adjacent(text: str, left: _Token, right: _Token) -> bool:
    """Only spaces between two words: no punctuation, line break, hyphen or elided article."""
    gap = text[left.end : right.start]
    return bool(gap) and gap.isspace() and "\n" not in gap


def _sentence_initial(text: str, tokens: list[_Token], index: int) -> bool:
    if index == 0:
        return True
    gap = text[tokens[index - 1].end : tokens[index].start]
    return bool(_SENTENCE_BREAK.search(gap))


def _case_fits(words: Sequence[_Token], kinds: str, *, informative: bool) -> bool:
    """Capitalised aliases want capitalised words, acronyms want acronyms; the first word
    decides for a longer alias ("Kursk nuclear power plant")."""
    word, kind = words[0], kinds[0]
    if kind == "L" or not informative:
        return True
    if kind == "A":
        return word.case == "U" or (word.case == "T" and word.text[1:].islower())
    if word.case == "U":
        # A short word in capitals inside normal text is some other acronym (NICE, CHAD).
        return len(words) > 1 or len(word.text) >= 5
    return word.case == "T"


class _LineCases:
    """Per line of a text: does case carry information (not all capitals, not title case)?"""

    def __init__(self, text: str) -> None:
        self.text = text
        self._cache: dict[int, bool] = {}

    def informative(self, position: int) -> bool:
        start = self.text.rfind("\n", 0, position) + 1
        if start not in self._cache:
            end = self.text.find("\n", position)
            self._cache[start] = _informative_line(self.text[start : end if end >= 0 else None])
        return self._cache[start]

    def any_informative(self, tokens: list[_Token]) -> bool:
        return any(self.informative(t.start) for t in tokens[:: max(1, len(tokens) // 20)])


def _informative_line(line: str) -> bool:
    letters = [c for c in line if c.isalpha()]
    if letters and sum(c.isupper() for c in letters) / len(letters) > 0.8:
        return False
    long_words = [w for w in _LETTERS.findall(line) if len(w) >= 4]
    if len(long_words) < 3 or len(line) > 200:
        return True
    capitalised = sum(w[0].isupper() for w in long_words)
    return bool(capitalised / len(long_words) < _TITLE_CASE_SHARE)


# ---------------------------------------------------------------------------------------------
# Building.


def _word_kind(word: str) -> str:
    if is_acronym(word):
        return "A"
    return "P" if word[:1].isupper() else "L"


def _merge_kinds(old: str, new: str) -> str:
    # The more permissive requirement wins: lower-case over acronym over capitalised.
    order = "PAL"
    return "".join(max(a, b, key=order.index) for a, b in zip(old, new, strict=True))


def _word_keys(word: str, latin_words: set[str]) -> tuple[set[str], set[str]]:
    """(Cyrillic forms, Latin forms) of one alias word."""
    if not _CYRILLIC.search(word):
        return set(), {_fold_latin(word)}
    forms = cyrillic_forms(word)
    if is_acronym(word):
        return forms, set()
    latin = {_fold_latin(r) for r in romanisations(word)}
    # Romanise only names of Cyrillic origin: "Трамп" read back gives "Tramp", not Trump.
    return forms, (latin if latin & latin_words else set())


def _alias_keys(words: list[str], latin_words: set[str]) -> set[tuple[str, ...]]:
    per_word = [_word_keys(w, latin_words) for w in words]
    keys: set[tuple[str, ...]] = set()
    # One script per key: Cyrillic forms (Latin words as they are), or every word romanised.
    for choices in ([c or lat for c, lat in per_word], [lat for _, lat in per_word]):
        if all(choices):
            keys.update(itertools.product(*(sorted(c) for c in choices)))
    return {k for k in keys if all(k)}


def _rules_for(actor: Actor, latin_words: set[str]) -> _Rules:
    own: set[str] = set()
    for name in actor.names:
        for word in _LETTERS.findall(name):
            cyrillic, latin = _word_keys(word, latin_words)
            own |= cyrillic | latin | {_skeleton(k) for k in latin}
            own.add(_skeleton(_fold_latin(word)))
    homonyms: set[tuple[str, str]] = set()
    for lang, word in actor.homonyms:
        forms = cyrillic_forms(word) if _CYRILLIC.search(word) else {_fold_latin(word)}
        homonyms |= {(lang, form) for form in forms}
    exclude = tuple(
        phrase
        for phrase in (tuple(surface_key(w) for w in _LETTERS.findall(p)) for p in actor.exclude)
        if phrase and all(phrase)
    )
    return _Rules(frozenset(own), frozenset(homonyms), exclude)


def build_gazetteer(actors: Sequence[Actor]) -> Gazetteer:
    """Index each actor's name forms; a form claimed by two actors is dropped as ambiguous."""
    keys: dict[tuple[str, ...], _Entry] = {}
    ambiguous: set[tuple[str, ...]] = set()
    rules: dict[str, _Rules] = {}
    for actor in actors:
        latin_words = {
            _fold_latin(word)
            for name in actor.names
            for word in _LETTERS.findall(name)
            if not _CYRILLIC.search(word)
        }
        rules[actor.id] = _rules_for(actor, latin_words)
        for name in actor.names:
            words = [_POSSESSIVE.sub("", w) for w in _LETTERS.findall(name)]
            kinds = "".join(_word_kind(w) for w in words)
            for key in _alias_keys(words, latin_words):
                known = keys.get(key)
                if known and known.actor_id != actor.id:
                    ambiguous.add(key)
                if known and known.actor_id == actor.id:
                    kinds_here = _merge_kinds(known.kinds, kinds)
                else:
                    kinds_here = kinds
                keys[key] = _Entry(actor.id, kinds_here)
    for key in ambiguous:
        del keys[key]
    return Gazetteer(
        actors={a.id: a for a in actors},
        keys=keys,
        rules=rules,
        first_words=frozenset(k[0] for k in keys),
        max_tokens=max((len(k) for k in keys), default=1),
    )
