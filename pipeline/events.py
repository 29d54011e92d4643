"""Event stage: independent coverage of one real-world event, across outlets and languages.

A story (pipeline/cluster.py) is a set of copies of one text; an event is a set of stories that
report the same happening: Reuters, AP, AFP and a Russian agency each writing their own article
about the Kremlin's ceasefire demands are four stories and one event. Following Miranda et al.
2018 ("Multilingual Clustering of Streaming News"), an arriving article is compared with the
recent articles of the window and joins the event of the best one over a tuned threshold:

* same language: TF-IDF cosine of the salient (stemmed, stop-word-free) terms of the headline and
  lead, plus shared names and figures;
* across languages, where the words differ: shared names (tracked-actor ids and the Latin sound
  skeleton of cluster.name_key, so Песков = Peskov), shared figures and dates
  (cluster.number_tokens);
* always: the publication times within the window, and no contradicting event dates (two strikes
  on one city a day apart share their words and names, not their day).

An article that clears the merge threshold with two events shows they are one: they merge into the
earlier one, and the merge is recorded. Everything here is pure; the shared, fenced state is in
newswire/events/store.py.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from typing import Any

from pipeline.cluster import entity_keys, name_key, number_tokens, number_weight

# Changing how terms, names or figures are derived changes what stored records mean: bump it so
# old records are ignored rather than compared with incompatible ones.
RECORD_VERSION = "2"


@dataclass(frozen=True, slots=True)
class EventConfig:
    """Join and merge thresholds; newswire.settings fills them from NEWSWIRE_EVENT_* variables."""

    window_hours: float = 48.0
    # Pair scores (pair_score) at or over which an article joins the other's event.
    same_language_threshold: float = 0.35
    cross_language_threshold: float = 0.40
    # A later article that scores this much against two events shows they are one.
    merge_margin: float = 0.10
    # The lead: the headline and this many words of summary and body.
    lead_words: int = 150
    # Salient terms kept per article (by TF-IDF weight), in the record and as index keys.
    max_terms: int = 24
    # Shared figures this heavy (cluster.number_weight, a shared event day 0.25) count fully.
    full_number_weight: float = 1.5
    # Names shared across languages before the name part counts fully (a name share of 1
    # between two texts naming only "Ukraine" and "Russia" says little).
    full_shared_names: int = 4


# -- term statistics (the IDF of each language's salient terms) --------------------------------
# Pseudo-documents behind every IDF: with little data (a fresh state, a rare language) every
# term counts alike, and a term must be seen in many of the window's articles to lose weight.
PRIOR_DOCUMENTS = 40


@dataclass(frozen=True, slots=True)
class TermStats:
    """Document frequencies of terms (language-prefixed) among the window's articles."""

    documents: Mapping[str, int] = field(default_factory=dict)  # by language
    frequencies: Mapping[str, int] = field(default_factory=dict)  # by "lang:stem"

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency of a "lang:stem" term."""
        language = term.split(":", 1)[0]
        total = self.documents.get(language, 0) + PRIOR_DOCUMENTS
        return math.log(total / (1 + min(self.frequencies.get(term, 0), total - 1)))


def term_stats(fingerprints: Iterable[EventFingerprint]) -> TermStats:
    """Document frequencies of the terms of a set of articles (what the store counts)."""
    documents: Counter[str] = Counter()
    frequencies: Counter[str] = Counter()
    for fp in fingerprints:
        documents[fp.language] += 1
        frequencies.update(term for term, _ in fp.terms)
    return TermStats(dict(documents), dict(frequencies))


# -- salient terms -----------------------------------------------------------------------------
_STEMMERS = {
    "en": "english",
    "ru": "russian",
    "de": "german",
    "fr": "french",
    "es": "spanish",
    "it": "italian",
    "pt": "portuguese",
    "nl": "dutch",
    "pl": "polish",
    "tr": "turkish",
}
# Function words and the vocabulary of every wire story ("said", "sources", "Wednesday"): they
# say nothing about which event an article reports. IDF demotes the rest of the common words.
_STOP_TEXT = {
    "en": """a an the and or but of to in on at by for from with without as is are was were be
been being has have had do does did will would can could may might must shall should it its
this that these those there their they them he she his her him we our you your who whom which
what when where why how than then also not no yes after before over under into out up down
about against between during while since until more most other some such only own same so too
very just said says say told tell according sources source report reported reports reporting
statement spokesman spokeswoman spokesperson official officials news agency reuters ap afp
monday tuesday wednesday thursday friday saturday sunday week day days year years month
today yesterday tomorrow last first new one two three later earlier late early""",
    "ru": """и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по
только ее мне было вот от меня еще нет о из ему теперь когда даже ну вдруг ли если уже или ни
быть был него до вас нибудь опять уж вам ведь там потом себя ничего ей может они тут где есть
надо ней для мы тебя их чем была сам чтоб без будто чего раз тоже себе под будет ж тогда кто
этот того потому этого какой совсем ним здесь этом один почти мой тем чтобы нее сейчас были
куда зачем всех никогда можно при наконец два об другой хоть после над больше тот через эти нас
про всего них какая много разве три эту моя впрочем хорошо свою этой перед иногда лучше чуть том
нельзя такой им более всегда конечно всю между это также заявил заявила заявили сообщил
сообщила сообщили сообщает словам данным источники источник агентство говорится отметил
понедельник вторник среду среда четверг пятницу пятница субботу воскресенье году года лет
день дня неделе сегодня вчера""",
    "de": """der die das den dem des ein eine einer eines einem einen und oder aber auch als
an am auf aus bei bis durch für gegen hinter in im ins mit nach neben ohne seit über um unter
von vor während wegen zu zum zur zwischen ist sind war waren wird werden wurde wurden hat haben
hatte hatten sein seine seiner seinen ihr ihre ihren ihrem ihm ihn sie er es wir ich man sich
nicht kein keine keinen noch nur schon so wie wo wenn dass ob denn doch dann da hier dort mehr
sehr viel viele alle alles diese dieser dieses diesem diesen jetzt nun sagte sagt erklärte
teilte mit laut nach angaben quellen agentur sprecher sprecherin montag dienstag mittwoch
donnerstag freitag samstag sonntag woche tag tage jahr jahre jahres heute gestern zwei drei""",
    "fr": """le la les un une des du de d l et ou mais en dans sur sous par pour avec sans
au aux ce cet cette ces son sa ses leur leurs il elle ils elles on nous vous je tu se qui que
quoi dont où ne pas plus est sont était étaient être a ont avait avaient avoir fait été sera
seront comme aussi très tout tous toute toutes entre après avant depuis pendant selon lors
déclaré affirmé indiqué annoncé a-t-il a-t-elle source sources agence porte-parole lundi mardi
mercredi jeudi vendredi samedi dimanche semaine jour jours an ans année aujourd hui hier
deux trois""",
    "es": """el la los las un una unos unas de del al y o pero en sobre por para con sin
su sus lo le les se que quien cual cuando donde como es son era eran ser fue fueron ha han había
habían haber está están estaba este esta estos estas ese esa eso también muy más menos todo
todos toda todas entre tras antes después desde durante según no ni ya dijo afirmó señaló
informó indicó declaró fuentes fuente agencia portavoz lunes martes miércoles jueves viernes
sábado domingo semana día días año años hoy ayer dos tres""",
}


@cache
def _stop_words(language: str) -> frozenset[str]:
    return frozenset(unicodedata.normalize("NFKC", _STOP_TEXT.get(language, "")).split())


@cache
def _stemmer(language: str) -> Any:
    import snowballstemmer

    name = _STEMMERS.get(language)
    return snowballstemmer.stemmer(name) if name else None


@lru_cache(maxsize=131_072)
def _stem(language: str, word: str) -> str:
    stemmer = _stemmer(language)
    if stemmer is None:
        return word[:6]
    return str(stemmer.stemWord(word))


_WORD = re.compile(r"[^\W\d_][\w'’-]*[^\W_]|[^\W\d_]{2,}", re.UNICODE)


def _lead(title: str, summary: str, body: str, words: int) -> tuple[str, str]:
    """(headline, lead): the summary unless the body starts with it, then the body's first words."""
    text = body if summary and body.startswith(summary[:60]) else f"{summary}\n{body}"
    tokens = text.split()
    return title, " ".join(tokens[:words])


def salient_terms(title: str, lead: str, language: str, *, title_weight: int = 2) -> Counter[str]:
    """Term counts ("lang:stem") of headline and lead, without stop words; the headline counts
    twice, because it says what the event is."""
    stops = _stop_words(language)
    counts: Counter[str] = Counter()
    for text, weight in ((title, title_weight), (lead, 1)):
        for match in _WORD.finditer(unicodedata.normalize("NFKC", text)):
            word = match.group(0).casefold().replace("’", "'")
            if len(word) < 3 or word in stops:
                continue
            counts[f"{language}:{_stem(language, word)}"] += weight
    return counts


def article_terms(
    title: str, summary: str, body: str, language: str, config: EventConfig | None = None
) -> Counter[str]:
    """Every salient term of an article's headline and lead with its count: what its IDF
    look-up needs, and what `fingerprint` takes as `counts` so as not to count twice."""
    config = config or EventConfig()
    headline, lead = _lead(title, summary, body, config.lead_words)
    return salient_terms(headline, lead, language or "und")


# -- event dates -------------------------------------------------------------------------------
_WEEKDAYS: dict[str, int] = {}
for _index, _row in enumerate(
    (
        "monday понедельник понедельника montag montags lundi lunes",
        "tuesday вторник вторника dienstag dienstags mardi martes",
        "wednesday среду среда среды mittwoch mittwochs mercredi miércoles miercoles",
        "thursday четверг четверга donnerstag donnerstags jeudi jueves",
        "friday пятницу пятница пятницы freitag freitags vendredi viernes",
        "saturday субботу суббота субботы samstag samstags samedi sábado sabado",
        "sunday воскресенье воскресенья sonntag sonntags dimanche domingo",
    )
):
    for _word in _row.split():
        _WEEKDAYS[_word] = _index
_RELATIVE = {
    "today": 0,
    "tonight": 0,
    "сегодня": 0,
    "heute": 0,
    "hoy": 0,
    "yesterday": 1,
    "вчера": 1,
    "gestern": 1,
    "hier": 1,
    "ayer": 1,
}
_DAY_WORD = re.compile(r"\w+", re.UNICODE)


def event_dates(
    text: str, language: str, published: float, numbers: frozenset[str] | None = None
) -> frozenset[str]:
    """Days the text says something happened on, as cluster.number_tokens writes dates ("d03-12"):
    its day-month dates, and weekdays and "yesterday" counted back from the publication day.
    `numbers` are number_tokens(text, language) if the caller has them already."""
    if numbers is None:
        numbers = number_tokens(text, language)
    dates = {t for t in numbers if t.startswith("d")}
    if not published:
        return frozenset(dates)
    day = datetime.fromtimestamp(published, UTC).date()
    for match in _DAY_WORD.finditer(text):
        word = match.group(0).casefold()
        if word in _WEEKDAYS:
            back = (day.weekday() - _WEEKDAYS[word]) % 7
        elif word in _RELATIVE:
            # "hier" is also French for yesterday only; "heute" etc. are unambiguous.
            if word == "hier" and language != "fr":
                continue
            back = _RELATIVE[word]
        else:
            continue
        when = day - timedelta(days=back)
        dates.add(f"d{when.month:02d}-{when.day:02d}")
    return frozenset(dates)


# -- the fingerprint ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EventFingerprint:
    """What the event stage knows of one article (also what the store keeps of it)."""

    doc_id: str
    story_id: str
    language: str
    published: float
    # ("lang:stem", TF-IDF weight under the statistics of its arrival), heaviest first: the
    # vector stays as it was computed, as a streaming clusterer's centroids do, so comparing
    # two articles needs no statistics at all.
    terms: tuple[tuple[str, float], ...]
    names: frozenset[str]  # name skeletons and "@actor" ids
    numbers: frozenset[str]  # figures (no dates)
    dates: frozenset[str]  # event days ("d03-12")
    event_id: str = ""

    def index_keys(self, limit: int = 8) -> tuple[str, ...]:
        """The index keys this article is found by: its rarest names, figures and top terms."""
        names = sorted(self.names, key=lambda k: (not k.startswith("@"), -len(k), k))[:8]
        figures = sorted(
            (n for n in self.numbers if number_weight(n) >= 1.0), key=lambda n: (-len(n), n)
        )[:4]
        terms = [t for t, _ in self.terms[:limit]]
        return (*(f"e{k}" for k in names), *(f"n{n}" for n in figures), *(f"t{t}" for t in terms))


def fingerprint(
    *,
    doc_id: str,
    story_id: str,
    title: str,
    summary: str = "",
    body: str,
    language: str,
    published_at: str,
    actors: Iterable[str] = (),
    names: Iterable[str] = (),
    stats: TermStats | None = None,
    config: EventConfig | None = None,
    counts: Mapping[str, int] | None = None,
) -> EventFingerprint:
    """The event fingerprint of an article: salient terms of headline and lead (ranked by TF-IDF
    under `stats`), names (skeletons of capitalised words, canonical entity names, actor ids),
    figures and event dates. `counts` are article_terms' if already counted."""
    config = config or EventConfig()
    stats = stats or TermStats()
    language = language or "und"
    headline, lead = _lead(title, summary, body, config.lead_words)
    if counts is None:
        counts = salient_terms(headline, lead, language)
    weights = {term: (1 + math.log(tf)) * stats.idf(term) for term, tf in counts.items()}
    ranked = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))
    terms = tuple((term, round(weight, 2)) for term, weight in ranked[: config.max_terms])
    text = f"{headline}\n{lead}"
    keys = set(entity_keys(text))
    for name in names:
        keys.update(k for w in name.split() if len(k := name_key(w)) >= 4)
    keys.update(f"@{actor}" for actor in actors)
    published = epoch(published_at)
    numbers = number_tokens(text, language)
    return EventFingerprint(
        doc_id=doc_id,
        story_id=story_id or doc_id,
        language=language,
        published=published,
        terms=terms,
        names=frozenset(keys),
        numbers=frozenset(t for t in numbers if not t.startswith("d")),
        dates=event_dates(text, language, published, numbers),
    )


def epoch(timestamp: str) -> float:
    """Seconds since 1970 of an ISO 8601 time (naive: UTC); 0 when there is none."""
    try:
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


# -- similarity --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PairEvidence:
    """Why two articles are (or are not) reports of one event."""

    score: float
    lexical: float
    shared_names: tuple[str, ...]
    name_share: float
    shared_numbers: tuple[str, ...]
    number_weight: float
    date_conflict: bool
    hours_apart: float
    cross_language: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 3),
            "lexical": round(self.lexical, 3),
            "shared_names": list(self.shared_names),
            "name_share": round(self.name_share, 3),
            "shared_numbers": list(self.shared_numbers),
            "date_conflict": self.date_conflict,
            "hours_apart": round(self.hours_apart, 1),
        }


@lru_cache(maxsize=8192)
def _vector(terms: tuple[tuple[str, float], ...]) -> tuple[dict[str, float], float]:
    # A batch compares each article with ~40 candidates, and a candidate with many articles:
    # the dict and norm of each term vector are built once, not once per pair.
    vector = dict(terms)
    return vector, math.sqrt(sum(w * w for w in vector.values()))


def cosine(a: EventFingerprint, b: EventFingerprint) -> float:
    """TF-IDF cosine of two articles' salient terms (0 across languages: no term is shared)."""
    (left, left_norm), (right, right_norm) = _vector(a.terms), _vector(b.terms)
    if len(right) < len(left):
        left, right = right, left
    dot = sum(weight * right[t] for t, weight in left.items() if t in right)
    if not dot:
        return 0.0
    norm = left_norm * right_norm
    return dot / norm if norm else 0.0


# Weights of the pair score. Same language: the words carry it, names and figures confirm.
# Across languages there are no shared words: names and figures carry it all.
LEXICAL_WEIGHT = 0.6
NAME_WEIGHT = 0.25
NUMBER_WEIGHT = 0.15
CROSS_NAME_WEIGHT = 0.5
CROSS_NUMBER_WEIGHT = 0.5
DATE_CONFLICT_PENALTY = 0.35


def pair_evidence(a: EventFingerprint, b: EventFingerprint, config: EventConfig) -> PairEvidence:
    """The pair score of two articles (0-1) and what it is made of."""
    hours = abs(a.published - b.published) / 3600 if a.published and b.published else 0.0
    cross = a.language != b.language or a.language == "und"
    lexical = 0.0 if cross else cosine(a, b)
    shared_names = tuple(sorted(a.names & b.names))
    smaller = min(len(a.names), len(b.names))
    name_share = len(shared_names) / smaller if smaller else 0.0
    shared_numbers = tuple(sorted(a.numbers & b.numbers))
    weight = sum(number_weight(n) for n in shared_numbers) + 0.25 * len(a.dates & b.dates)
    figures = min(1.0, weight / config.full_number_weight)
    # Both say on which day it happened, and no day agrees: a second strike, a later summit.
    conflict = bool(a.dates and b.dates and not a.dates & b.dates)
    if cross:
        names = name_share * min(1.0, len(shared_names) / config.full_shared_names)
        score = CROSS_NAME_WEIGHT * names + CROSS_NUMBER_WEIGHT * figures
    else:
        score = LEXICAL_WEIGHT * lexical + NAME_WEIGHT * name_share + NUMBER_WEIGHT * figures
    if conflict:
        score -= DATE_CONFLICT_PENALTY
    if hours > config.window_hours:
        score = 0.0
    return PairEvidence(
        score=max(0.0, score),
        lexical=lexical,
        shared_names=shared_names,
        name_share=name_share,
        shared_numbers=shared_numbers,
        number_weight=weight,
        date_conflict=conflict,
        hours_apart=hours,
        cross_language=cross,
    )


def threshold(evidence: PairEvidence, config: EventConfig) -> float:
    """The score a pair must reach to join: per path, as Miranda et al. tune one per stage."""
    if evidence.cross_language:
        return config.cross_language_threshold
    return config.same_language_threshold


# -- the decision ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EventDecision:
    """The event an article joins, how, and which events it showed to be one with it."""

    event_id: str
    # "new", "story" (its story's event), "join", "merge"; the store adds "recorded" (a retry).
    method: str
    score: float
    matched_doc_id: str | None
    merged: tuple[str, ...] = ()  # events merged into event_id
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_document_field(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "score": round(self.score, 4),
            "matched_doc_id": self.matched_doc_id,
            "merged": list(self.merged),
            "evidence": self.evidence,
        }


def decide(
    fp: EventFingerprint,
    candidates: Sequence[EventFingerprint],
    config: EventConfig,
    *,
    story_event: str = "",
) -> EventDecision:
    """The event `fp` joins: its story's, else the best-scoring candidate's over the threshold,
    else a new one (its own doc id). Candidates' event ids must be resolved through merges.

    Each event is scored by its best article (single link, but every link must clear the
    threshold on its own). An article that clears threshold + merge_margin with more than one
    event merges them into the one whose article was published first; ties go to the earlier
    article, so the decision does not depend on the order candidates came in.
    """
    best: dict[str, tuple[float, float, str, EventFingerprint, PairEvidence]] = {}
    for candidate in sorted(candidates, key=lambda c: (c.published, c.doc_id)):
        if candidate.doc_id == fp.doc_id or not candidate.event_id:
            continue
        evidence = pair_evidence(fp, candidate, config)
        margin = evidence.score - threshold(evidence, config)
        if margin < 0:
            continue
        known = best.get(candidate.event_id)
        if known is None or margin > known[0]:
            best[candidate.event_id] = (
                margin,
                evidence.score,
                candidate.event_id,
                candidate,
                evidence,
            )
    if story_event:
        merged = tuple(
            sorted(
                e
                for e, (margin, *_) in best.items()
                if margin >= config.merge_margin and e != story_event
            )
        )
        return EventDecision(story_event, "merge" if merged else "story", 1.0, None, merged)
    if not best:
        return EventDecision(fp.doc_id, "new", 1.0, None)
    ranked = sorted(best.values(), key=lambda item: (-item[0], item[3].published, item[3].doc_id))
    _, score, event_id, matched, evidence = ranked[0]
    strong = [item for item in ranked if item[0] >= config.merge_margin]
    if len(strong) > 1:
        first = min(strong, key=lambda item: (item[3].published, item[3].doc_id))
        event_id = first[2]
        merged = tuple(sorted(item[2] for item in strong if item[2] != event_id))
        return EventDecision(event_id, "merge", score, matched.doc_id, merged, evidence.as_dict())
    return EventDecision(event_id, "join", score, matched.doc_id, (), evidence.as_dict())


def coverage_line(stories: int, outlets: int, languages: int) -> str:
    """'Full coverage: 9 stories from 7 outlets in 3 languages'."""

    story_word = "story" if stories == 1 else "stories"
    outlet_word = "outlet" if outlets == 1 else "outlets"
    language_word = "language" if languages == 1 else "languages"
    return (
        f"Full coverage: {stories} {story_word} from {outlets} {outlet_word} "
        f"in {languages} {language_word}"
    )


# -- streaming replay (the evaluation and the bench run the stage without a store) -------------
def resolve(event_id: str, merged_into: Mapping[str, str]) -> str:
    """The event `event_id` now belongs to, following merge records."""
    seen = set()
    while event_id in merged_into and event_id not in seen:
        seen.add(event_id)
        event_id = merged_into[event_id]
    return event_id


def cluster_stream(fingerprints: Sequence[EventFingerprint], config: EventConfig) -> dict[str, str]:
    """Event id of every article, deciding them one by one in publication order against every
    earlier article of the window, as the store does (its index returns a subset of these)."""
    ordered = sorted(fingerprints, key=lambda f: (f.published, f.doc_id))
    decided: list[EventFingerprint] = []
    merged_into: dict[str, str] = {}
    story_events: dict[str, str] = {}
    for fp in ordered:
        window = [
            _with_event(c, resolve(c.event_id, merged_into))
            for c in decided
            if abs(c.published - fp.published) <= config.window_hours * 3600
        ]
        story_event = resolve(story_events.get(fp.story_id, ""), merged_into)
        decision = decide(fp, window, config, story_event=story_event)
        for loser in decision.merged:
            merged_into[loser] = decision.event_id
        story_events.setdefault(fp.story_id, decision.event_id)
        decided.append(_with_event(fp, decision.event_id))
    return {fp.doc_id: resolve(fp.event_id, merged_into) for fp in decided}


def _with_event(fp: EventFingerprint, event_id: str) -> EventFingerprint:
    return EventFingerprint(
        fp.doc_id,
        fp.story_id,
        fp.language,
        fp.published,
        fp.terms,
        fp.names,
        fp.numbers,
        fp.dates,
        event_id,
    )


# -- record encoding (what the store keeps per article) ----------------------------------------
_RECORD_FIELDS = 9


def encode_record(fp: EventFingerprint, event_id: str) -> str:
    """One line per article: its fingerprint and the event it joined."""
    return "|".join(
        (
            RECORD_VERSION,
            fp.doc_id,
            fp.story_id,
            event_id,
            fp.language,
            str(int(fp.published)),
            " ".join(f"{t.split(':', 1)[1]}:{weight:g}" for t, weight in fp.terms),
            " ".join(sorted(fp.names)),
            " ".join(sorted(fp.numbers | fp.dates)),
        )
    )


@lru_cache(maxsize=16_384)
def decode_record(record: str) -> EventFingerprint | None:
    """The fingerprint (with its event id) a record holds; None for another RECORD_VERSION."""
    parts = record.split("|")
    if len(parts) != _RECORD_FIELDS or parts[0] != RECORD_VERSION:
        return None
    _, doc_id, story_id, event_id, language, published, terms, names, figures = parts
    pairs = []
    for item in terms.split():
        stem, _, weight = item.rpartition(":")
        pairs.append((f"{language}:{stem}", float(weight)))
    tokens = figures.split()
    return EventFingerprint(
        doc_id=doc_id,
        story_id=story_id,
        language=language,
        published=float(published),
        terms=tuple(pairs),
        names=frozenset(names.split()),
        numbers=frozenset(t for t in tokens if not t.startswith("d")),
        dates=frozenset(t for t in tokens if t.startswith("d")),
        event_id=event_id,
    )
