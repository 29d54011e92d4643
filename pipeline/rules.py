"""Alert rules: validated rule data, the saved-search matcher over documents, one alert per story.

A rule says what to match (tracked actors, a query in the search page's syntax, facet filters,
languages, sources, exclusions) and how to deliver it (channels, frequency, quiet time). Rules
are plain frozen dataclasses that round-trip through JSON, so the store, the API and Celery
pass them as dicts.

Why a matcher of our own: the Elasticsearch installed here has no percolator module, and a
search per batch costs a refresh plus a round trip on the hot path. No maintained Python
library parses `simple_query_string` into a tree: luqum parses the classic Lucene
`query_string` grammar (AND/OR/NOT keywords, field:value, ranges), where `-`, `|` and
unmatched quotes or brackets mean something else or are errors, whereas simple_query_string
never fails and combines clauses left to right. So the small parser below follows Lucene's
SimpleQueryParser, and the text analysis mirrors the index (config/elasticsearch/articles.json):
the neutral fields are lowercased and ASCII-folded, and the document's own language is also
compared stemmed (Snowball) as its content_<lang> field would be.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, time
from email.errors import HeaderParseError
from email.headerregistry import Address
from functools import lru_cache
from typing import Any, Literal, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import snowballstemmer
from anyascii import anyascii

from pipeline.search import FACETS, NAME_FIELDS

ActorsMode = Literal["any", "all"]
Frequency = Literal["instant", "hourly", "daily"]
# One alert per story (its copies, re-posts and translations) or per event (every outlet's
# stories of one happening, pipeline/events.py).
AlertGroup = Literal["story", "event"]
WebhookFormat = Literal["json", "slack"]

FREQUENCIES = ("instant", "hourly", "daily")
WEBHOOK_FORMATS = ("json", "slack")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
# A shared secret shorter than this is guessable enough to forge signatures offline.
MIN_SECRET_LENGTH = 16
MAX_QUERY_LENGTH = 1000
REDACTED = "(hidden)"


class RuleError(ValueError):
    """The rule cannot be saved; the message says which field is wrong and why (HTTP 400)."""


# -- rule data ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WebhookChannel:
    """POST each alert to `url`, signed with `secret`, as our JSON or as a Slack payload."""

    url: str
    secret: str
    format: WebhookFormat = "json"
    type: Literal["webhook"] = "webhook"

    @property
    def key(self) -> str:
        """Stable name of this channel inside its rule (part of every delivery id)."""
        return f"webhook:{self.url}"


@dataclass(frozen=True, slots=True)
class EmailChannel:
    """Send each alert or digest by e-mail to these addresses."""

    to: tuple[str, ...]
    type: Literal["email"] = "email"

    @property
    def key(self) -> str:
        """Stable name of this channel inside its rule (part of every delivery id)."""
        return "email:" + ",".join(sorted(self.to))


Channel = WebhookChannel | EmailChannel


@dataclass(frozen=True, slots=True)
class Quiet:
    """When not to deliver: snoozed until a moment, and/or daily quiet hours in the rule's zone.

    Quiet hours run from `start` to `end` local time ("22:00" to "07:00" wraps midnight).
    """

    snoozed_until: str | None = None
    start: str | None = None
    end: str | None = None


@dataclass(frozen=True, slots=True)
class AlertRule:
    """One alert rule: what to match, how and how often to deliver it."""

    id: str
    name: str
    owner: str = ""
    actors: tuple[str, ...] = ()
    actors_mode: ActorsMode = "any"
    query: str = ""
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    languages: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    exclude_actors: tuple[str, ...] = ()
    exclude_terms: tuple[str, ...] = ()
    channels: tuple[Channel, ...] = ()
    frequency: Frequency = "instant"
    timezone: str = "UTC"
    quiet: Quiet = field(default_factory=Quiet)
    notify_updates: bool = False
    group: AlertGroup = "story"
    enabled: bool = True
    created_at: str | None = None
    updated_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict; `from_dict` and `validate_rule` both read it back."""
        # Through JSON once, so nested tuples come back as the lists a reader will see.
        data: dict[str, Any] = json.loads(json.dumps(asdict(self)))
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Rebuild a stored rule without re-validating it; unknown keys from newer code ignored."""
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in known}
        for name in ("actors", "languages", "sources", "exclude_actors", "exclude_terms"):
            if name in values:
                values[name] = tuple(values[name])
        if "filters" in values:
            values["filters"] = {k: tuple(v) for k, v in values["filters"].items()}
        if "channels" in values:
            values["channels"] = tuple(_channel_from_dict(c) for c in values["channels"])
        if "quiet" in values:
            quiet = values["quiet"] or {}
            values["quiet"] = Quiet(**{k: quiet.get(k) for k in ("snoozed_until", "start", "end")})
        return cls(**values)


def _channel_from_dict(data: Mapping[str, Any]) -> Channel:
    if data.get("type") == "email":
        return EmailChannel(to=tuple(data["to"]))
    return WebhookChannel(url=data["url"], secret=data["secret"], format=data.get("format", "json"))


def redacted(rule: AlertRule) -> dict[str, Any]:
    """The rule as a listing shows it: webhook secrets replaced by a marker."""
    data = rule.to_dict()
    for channel in data["channels"]:
        if channel.get("secret"):
            channel["secret"] = REDACTED
    return data


# -- validation --------------------------------------------------------------------------------
def slugify(name: str) -> str:
    """A rule id from its name: ASCII, lowercase, words joined by hyphens."""
    return re.sub(r"[^a-z0-9]+", "-", anyascii(name).lower()).strip("-")[:64].strip("-")


def _text(data: Mapping[str, Any], name: str, *, default: str = "", limit: int = 200) -> str:
    value = data.get(name, default)
    if value is None:
        value = default
    if not isinstance(value, str):
        raise RuleError(f"{name} must be a string")
    value = value.strip()
    if len(value) > limit:
        raise RuleError(f"{name} is longer than {limit} characters")
    return value


def _strings(data: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = data.get(name)
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise RuleError(f"{name} must be a list of strings")
    unique = dict.fromkeys(v.strip() for v in value if v.strip())
    return tuple(unique)


def _choice(data: Mapping[str, Any], name: str, allowed: Sequence[str]) -> str:
    value = data.get(name, allowed[0])
    if value is None:
        value = allowed[0]
    if value not in allowed:
        raise RuleError(f"{name} must be one of {list(allowed)}, not {value!r}")
    return str(value)


def _flag(data: Mapping[str, Any], name: str, *, default: bool) -> bool:
    value = data.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise RuleError(f"{name} must be true or false")
    return value


def _moment(value: Any, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RuleError(f"{name} must be an ISO 8601 time like 2026-03-01T08:00:00Z")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise RuleError(f"{name} must be an ISO 8601 time, not {value!r}") from exc
    if moment.tzinfo is None:
        raise RuleError(f"{name} needs a time zone offset (for example 'Z' or '+02:00')")
    return value


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RuleError(f"timezone {value!r} is not an IANA zone like 'Europe/Kyiv'") from exc
    return value


def _filters(value: Any) -> dict[str, tuple[str, ...]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RuleError("filters must be an object of facet name -> list of values")
    unknown = set(value) - set(FACETS)
    if unknown:
        raise RuleError(f"unknown filter(s) {sorted(unknown)}; known: {sorted(FACETS)}")
    chosen = {name: _strings(value, name) for name in value}
    return {name: values for name, values in chosen.items() if values}


def _channel(value: Any, position: int) -> Channel:
    where = f"channels[{position}]"
    if not isinstance(value, Mapping):
        raise RuleError(f"{where} must be an object with a type")
    kind = value.get("type")
    if kind == "webhook":
        url = _text(value, "url", limit=2048)
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise RuleError(f"{where}.url must be an http(s) URL with a host")
        secret = value.get("secret")
        if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
            raise RuleError(f"{where}.secret must be at least {MIN_SECRET_LENGTH} characters")
        fmt = _choice(value, "format", WEBHOOK_FORMATS)
        return WebhookChannel(url=url, secret=secret, format=fmt)  # type: ignore[arg-type]
    if kind == "email":
        to = _strings(value, "to")
        if not to:
            raise RuleError(f"{where}.to needs at least one address")
        for address in to:
            try:
                parsed = Address(addr_spec=address)
            except (HeaderParseError, ValueError, IndexError) as exc:
                raise RuleError(f"{where}.to: {address!r} is not an e-mail address") from exc
            if not parsed.domain:
                raise RuleError(f"{where}.to: {address!r} has no domain")
        return EmailChannel(to=to)
    raise RuleError(f"{where}.type must be 'webhook' or 'email'")


def _quiet(value: Any) -> Quiet:
    if value is None:
        return Quiet()
    if not isinstance(value, Mapping):
        raise RuleError("quiet must be an object with snoozed_until and/or start and end")
    unknown = set(value) - {"snoozed_until", "start", "end"}
    if unknown:
        raise RuleError(f"unknown quiet setting(s) {sorted(unknown)}")
    start, end = value.get("start") or None, value.get("end") or None
    if (start is None) != (end is None):
        raise RuleError("quiet hours need both start and end, like 22:00 and 07:00")
    for name, clock in (("start", start), ("end", end)):
        if clock is not None and not (isinstance(clock, str) and _CLOCK.match(clock)):
            raise RuleError(f"quiet.{name} must be a 24-hour time like 07:00")
    if start is not None and start == end:
        raise RuleError("quiet hours start and end at the same time")
    return Quiet(
        snoozed_until=_moment(value.get("snoozed_until"), "quiet.snoozed_until"),
        start=start,
        end=end,
    )


_RULE_KEYS = frozenset(AlertRule.__dataclass_fields__)


def validate_rule(data: Mapping[str, Any]) -> AlertRule:
    """An AlertRule from untrusted input (API, CLI, a file); RuleError says what is wrong."""
    if not isinstance(data, Mapping):
        raise RuleError("a rule must be a JSON object")
    unknown = set(data) - _RULE_KEYS
    if unknown:
        raise RuleError(f"unknown field(s) {sorted(unknown)}; known: {sorted(_RULE_KEYS)}")
    name = _text(data, "name")
    if not name:
        raise RuleError("name is required")
    rule_id = _text(data, "id", limit=64) or slugify(name)
    if not _SLUG.match(rule_id):
        raise RuleError(f"id {rule_id!r} must be lowercase letters, digits and hyphens")
    query = _text(data, "query", limit=MAX_QUERY_LENGTH)
    parsed = parse_query(query)
    channels = data.get("channels") or []
    if not isinstance(channels, list | tuple):
        raise RuleError("channels must be a list")
    for term in _strings(data, "exclude_terms"):
        if parse_query(f'"{term}"') is None:
            raise RuleError(f"exclude_terms: {term!r} has no word to match")
    rule = AlertRule(
        id=rule_id,
        name=name,
        owner=_text(data, "owner"),
        actors=_strings(data, "actors"),
        actors_mode=_choice(data, "actors_mode", ("any", "all")),  # type: ignore[arg-type]
        query=query,
        filters=_filters(data.get("filters")),
        languages=_strings(data, "languages"),
        sources=_strings(data, "sources"),
        exclude_actors=_strings(data, "exclude_actors"),
        exclude_terms=_strings(data, "exclude_terms"),
        channels=tuple(_channel(c, i) for i, c in enumerate(channels)),
        frequency=_choice(data, "frequency", FREQUENCIES),  # type: ignore[arg-type]
        timezone=_zone(_text(data, "timezone", default="UTC", limit=64) or "UTC"),
        quiet=_quiet(data.get("quiet")),
        notify_updates=_flag(data, "notify_updates", default=False),
        group=_choice(data, "group", ("story", "event")),  # type: ignore[arg-type]
        enabled=_flag(data, "enabled", default=True),
        created_at=_moment(data.get("created_at"), "created_at"),
        updated_at=_moment(data.get("updated_at"), "updated_at"),
    )
    if overlap := set(rule.actors) & set(rule.exclude_actors):
        raise RuleError(f"actor(s) {sorted(overlap)} are both required and excluded")
    narrowing = {k: v for k, v in rule.filters.items() if k != "language"}
    if not (rule.actors or (parsed and _has_positive(parsed)) or narrowing or rule.sources):
        # Languages alone (or a query of exclusions only) would alert on nearly every article.
        raise RuleError("a rule must match something: actors, a query with a word, or a filter")
    return rule


# -- text analysis, as the index does it -------------------------------------------------------
# Unicode words joined by an apostrophe or a full stop stay one token, as Lucene's
# StandardTokenizer keeps "putin's" and "u.s"; a hyphen splits.
_TOKEN = re.compile(r"\w+(?:['’.]\w+)*")
# Lucene's ASCIIFoldingFilter folds Latin letters, ligatures and typographic punctuation, and
# leaves Cyrillic, Greek and other scripts as they are.
_FOLDED_CATEGORIES = frozenset({"Pd", "Pi", "Pf", "Po", "No"})
# Language -> Snowball algorithm standing in for the index's analyzer of that language
# (Lucene's English analyzer runs the original Porter stemmer). Ukrainian is lemmatised in the
# index by a dictionary we do not have here, so it is matched on the neutral fields only.
STEMMERS = {
    "en": "porter",
    "ru": "russian",
    "de": "german",
    "fr": "french",
    "es": "spanish",
    "it": "italian",
    "pt": "portuguese",
    "ar": "arabic",
}
# Elided articles the French and Italian analyzers drop ("l'OTAN" -> "otan").
_ELISION = {
    "fr": re.compile(r"^(?:l|m|t|qu|n|s|j|d|c|jusqu|quoiqu|lorsqu|puisqu)['’]"),
    "it": re.compile(
        r"^(?:c|l|all|dall|dell|nell|sull|coll|pell|gl|agl|dagl|degl|negl|sugl|un|m|t|s|v|d)['’]"
    ),
}
_POSSESSIVE = re.compile(r"['’]s$")
_CACHE_LIMIT = 200_000


def tokenize(text: str) -> list[str]:
    """The words of a text as the index's standard tokenizer splits them."""
    return _TOKEN.findall(text)


@lru_cache(maxsize=8192)
def _fold_char(char: str) -> str:
    name = unicodedata.name(char, "")
    if "LATIN" in name or unicodedata.category(char) in _FOLDED_CATEGORIES:
        return anyascii(char) or char
    return char


_folded: dict[str, str] = {}


def fold(token: str) -> str:
    """One token as the neutral analyzer stores it: lowercase, Latin letters folded to ASCII."""
    cached = _folded.get(token)
    if cached is None:
        lowered = token.lower()
        if not lowered.isascii():
            lowered = "".join(_fold_char(c) for c in lowered)
        if len(_folded) > _CACHE_LIMIT:
            _folded.clear()
        cached = _folded[token] = lowered
    return cached


_stemmers = threading.local()
_stemmed: dict[str, dict[str, str]] = {language: {} for language in STEMMERS}


def stem(token: str, language: str) -> str:
    """One token as the `language` analyzer stores it (elision, possessive, Snowball stem)."""
    cache = _stemmed[language]
    cached = cache.get(token)
    if cached is not None:
        return cached
    word = token.lower()
    if language in _ELISION:
        word = _ELISION[language].sub("", word)
    elif language == "en":
        word = _POSSESSIVE.sub("", word)
    # Snowball stemmer objects keep state while stemming, so each thread has its own.
    stemmers: dict[str, Any] = _stemmers.__dict__.setdefault("by_language", {})
    stemmer = stemmers.get(language)
    if stemmer is None:
        stemmer = stemmers[language] = snowballstemmer.stemmer(STEMMERS[language])
    if len(cache) > _CACHE_LIMIT:
        cache.clear()
    result = cache[token] = str(stemmer.stemWord(word))
    return result


def _fold_all(tokens: Iterable[str]) -> dict[str, str]:
    # The cache's own get first: most words of a long-running worker are already folded.
    get = _folded.get
    return {t: get(t) or fold(t) for t in tokens}


def _stem_all(tokens: Iterable[str], language: str) -> dict[str, str]:
    get = _stemmed[language].get
    return {t: get(t) or stem(t, language) for t in tokens}


# -- the query language ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Term:
    """One word as typed (it may analyse to several tokens: "e-mail"), or a prefix ("negot*")."""

    text: str
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class Phrase:
    """Words that must appear next to each other, in order, in one field."""

    text: str


@dataclass(frozen=True, slots=True)
class Not:
    """Everything except what the clause matches."""

    clause: Node


@dataclass(frozen=True, slots=True)
class AllOf:
    """Every clause matches (`a b` with the default operator, or `a + b`)."""

    clauses: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """At least one clause matches (`a | b`)."""

    clauses: tuple[Node, ...]


Node = Term | Phrase | Not | AllOf | AnyOf
_OPERATOR_CHARS = frozenset('()"+|')


_Operator = type[AllOf] | type[AnyOf]


def _join(top: Node, branch: Node, operator: _Operator, previous: _Operator | None) -> Node:
    # A change of operator closes what came before into one clause of the new operator.
    clauses = top.clauses if operator is previous and isinstance(top, AllOf | AnyOf) else (top,)
    return operator((*clauses, branch))


class _Parser:
    """Lucene SimpleQueryParser's reading of a query: never fails, discards what it cannot use.

    Clauses combine strictly left to right: when the operator changes, everything so far becomes
    one clause of the new operator ("a | b c" is "(a | b) AND c"), as Elasticsearch does.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.index = 0

    def parse(self, *, nested: bool = False) -> Node | None:
        top: Node | None = None
        previous: _Operator | None = None
        current: _Operator | None = None
        negations = 0
        while self.index < len(self.text):
            char = self.text[self.index]
            if char in ")+|-" or char.isspace():
                self.index += 1
                if char == ")" and nested:
                    break
                if char in "+|" and top is not None and current is None:
                    current = AllOf if char == "+" else AnyOf
                negations += char == "-"
                continue
            branch = self._clause(char)
            if branch is not None:
                if negations % 2:
                    branch = Not(branch)
                if top is None:
                    top = branch
                else:
                    top, previous = _join(top, branch, current or AllOf, previous), current or AllOf
                current = None
            negations = 0
        return top

    def _clause(self, char: str) -> Node | None:
        if char == "(":
            self.index += 1
            return self.parse(nested=True)
        if char == '"':
            return self._phrase()
        return self._term()

    def _phrase(self) -> Node | None:
        start = self.index + 1
        end = self.text.find('"', start)
        if end < 0:
            end = len(self.text)
        self.index = end + 1
        self._refuse_tilde()
        words = self.text[start:end]
        return Phrase(words) if tokenize(words) else None

    def _term(self) -> Node | None:
        chars: list[str] = []
        while self.index < len(self.text):
            char = self.text[self.index]
            if char.isspace() or char in _OPERATOR_CHARS:
                break
            if char == "\\" and self.index + 1 < len(self.text):
                self.index += 1
                char = self.text[self.index]
            elif char == "~":
                self._refuse_tilde()
            chars.append(char)
            self.index += 1
        word = "".join(chars)
        prefix = word.endswith("*")
        word = word.rstrip("*")
        if not tokenize(word):
            return None
        return Term(word, prefix=prefix)

    def _refuse_tilde(self) -> None:
        if self.text.startswith("~", self.index):
            raise RuleError(
                "fuzzy and proximity operators (~) are not supported in alert rules; "
                "list the spellings with | instead"
            )


def parse_query(text: str) -> Node | None:
    """The query as a tree, or None when it has nothing to search for."""
    if len(text) > MAX_QUERY_LENGTH:
        raise RuleError(f"query is longer than {MAX_QUERY_LENGTH} characters")
    return _Parser(text).parse()


def _has_positive(node: Node) -> bool:
    if isinstance(node, Term | Phrase):
        return True
    if isinstance(node, Not):
        return False
    if isinstance(node, AllOf):
        return any(_has_positive(c) for c in node.clauses)
    return all(_has_positive(c) for c in node.clauses)


# -- documents as the matcher sees them --------------------------------------------------------
class _Field:
    """One analysed text field; its token list and phrase string are built only if asked for."""

    __slots__ = ("_joined", "_raw", "_terms", "_words")

    def __init__(self, raw: list[str], terms: Mapping[str, str]) -> None:
        self._raw = raw
        self._terms = terms
        self._words: set[str] | None = None
        self._joined: str | None = None

    @property
    def words(self) -> set[str]:
        if self._words is None:
            self._words = {self._terms[t] for t in self._raw}
        return self._words

    def has_sequence(self, words: Sequence[str]) -> bool:
        if self._joined is None:
            # Tokens never contain a space, so " a b " occurs exactly where a, b are adjacent.
            self._joined = " " + " ".join([self._terms[t] for t in self._raw]) + " "
        return f" {' '.join(words)} " in self._joined


def _has_prefix(ordered: list[str], prefix: str) -> bool:
    position = bisect.bisect_left(ordered, prefix)
    return position < len(ordered) and ordered[position].startswith(prefix)


class DocumentView:
    """A document's analysed text and keyword fields, computed once for every rule."""

    __slots__ = (
        "_ordered",
        "doc_id",
        "event_id",
        "keywords",
        "language",
        "neutral",
        "neutral_words",
        "source",
        "stemmed",
        "stemmed_words",
        "story_id",
        "version",
    )

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.doc_id: str = document["doc_id"]
        self.story_id: str = document.get("story_id") or self.doc_id
        self.event_id: str = document.get("event_id") or self.story_id
        self.version = int(document.get("version") or 1)
        self.language: str = document.get("language") or "und"
        self.source: str = document.get("source") or ""
        title = tokenize(document.get("title") or "")
        body = tokenize(document.get("body") or "")
        texts = [title, tokenize(document.get("summary") or ""), body]
        # Each actor name is its own value: a phrase never runs from one into the next.
        texts.extend(tokenize(name) for name in document.get("actor_names") or ())
        # Each distinct word is folded (and stemmed) once, however often it occurs.
        folded = _fold_all(set().union(*texts))
        self.neutral = [_Field(tokens, folded) for tokens in texts]
        self.neutral_words = set(folded.values())
        self.stemmed: _Field | None = None
        self.stemmed_words: set[str] = set()
        if self.language in STEMMERS:
            content = [*title, *body]
            stems = _stem_all(set(content), self.language)
            self.stemmed = _Field(content, stems)
            self.stemmed_words = set(stems.values())
        self.keywords = {
            # Entity facets filter by registry id or by the name as written (pipeline/search.py).
            name: frozenset(_values(document.get(field_name)))
            | frozenset(_values(document.get(NAME_FIELDS.get(name, ""))))
            for name, field_name in FACETS.items()
        }
        self._ordered: tuple[list[str], list[str]] | None = None

    @classmethod
    def of(cls, document: Mapping[str, Any]) -> DocumentView:
        """Analyse an Elasticsearch-shaped document (pipeline/document.py's fields)."""
        return cls(document)

    def has_prefix(self, folded: str, lowered: str) -> bool:
        """Whether a neutral word starts with `folded` or a stemmed one with `lowered`."""
        if self._ordered is None:
            self._ordered = (sorted(self.neutral_words), sorted(self.stemmed_words))
        neutral, stemmed = self._ordered
        return _has_prefix(neutral, folded) or _has_prefix(stemmed, lowered)


def _values(value: Any) -> Iterable[str]:
    if value is None:
        return ()
    # A single keyword may be a number (an agency item's urgency): compared as its string,
    # as the keyword field indexes it.
    if isinstance(value, str | int | float):
        return (str(value),)
    return (str(v) for v in value)


# -- compiled queries --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Words:
    """A term or phrase ready to compare: folded tokens, and raw tokens for stemming."""

    folded: tuple[str, ...]
    raw: tuple[str, ...]
    phrase: bool
    prefix: bool

    @classmethod
    def of(cls, text: str, *, phrase: bool, prefix: bool = False) -> _Words:
        raw = tuple(tokenize(text))
        return cls(tuple(fold(t) for t in raw), raw, phrase, prefix)

    def stems(self, language: str) -> tuple[str, ...]:
        return tuple(stem(t, language) for t in self.raw)

    def matches(self, view: DocumentView) -> bool:
        if self.prefix:
            # Lucene does not analyse prefix terms, it only normalises them per field.
            return view.has_prefix("".join(self.folded), "".join(self.raw).lower())
        if len(self.folded) == 1:
            if self.folded[0] in view.neutral_words:
                return True
            return stem(self.raw[0], view.language) in view.stemmed_words if view.stemmed else False
        if view.neutral_words.issuperset(self.folded) and any(
            self._in_field(f, self.folded) for f in view.neutral
        ):
            return True
        if view.stemmed is None:
            return False
        stems = self.stems(view.language)
        return view.stemmed_words.issuperset(stems) and self._in_field(view.stemmed, stems)

    def _in_field(self, field: _Field, targets: tuple[str, ...]) -> bool:
        if self.phrase:
            return field.has_sequence(targets)
        # A word that analyses to several tokens needs them all in one field (best_fields).
        return field.words.issuperset(targets)

    def anchor(self) -> frozenset[tuple[str, ...]]:
        """Index keys at least one of which any matching document has."""
        if self.prefix:
            folded, lowered = "".join(self.folded), "".join(self.raw).lower()
            if len(folded) < _PREFIX_KEY:
                return frozenset()
            return frozenset({("prefix", folded[:_PREFIX_KEY]), ("prefix", lowered[:_PREFIX_KEY])})
        # Every token is required, so the longest (usually the rarest) one is enough.
        position = max(range(len(self.raw)), key=lambda i: len(self.raw[i]))
        keys: set[tuple[str, ...]] = {("word", self.folded[position])}
        keys.update(("stem", language, stem(self.raw[position], language)) for language in STEMMERS)
        return frozenset(keys)


_PREFIX_KEY = 3


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A query tree whose leaves are ready to compare against a DocumentView."""

    kind: str
    clauses: tuple[_Compiled, ...] = ()
    words: _Words | None = None

    def matches(self, view: DocumentView) -> bool:
        if self.words is not None:
            return self.words.matches(view)
        if self.kind == "not":
            return not self.clauses[0].matches(view)
        if self.kind == "all":
            return all(c.matches(view) for c in self.clauses)
        return any(c.matches(view) for c in self.clauses)

    def anchor(self) -> frozenset[tuple[str, ...]] | None:
        """Keys one of which every match has, or None when the clause cannot say (negation)."""
        if self.words is not None:
            keys = self.words.anchor()
            return keys or None
        if self.kind == "not":
            return None
        anchors = [c.anchor() for c in self.clauses]
        if self.kind == "all":
            known = [a for a in anchors if a is not None]
            # Fewest keys first, then the longest word: long words are the rare ones.
            return (
                min(known, key=lambda a: (len(a), -max(len(k[-1]) for k in a))) if known else None
            )
        if any(a is None for a in anchors):
            return None
        return frozenset().union(*(a for a in anchors if a is not None))


def _compile(node: Node) -> _Compiled:
    if isinstance(node, Term):
        return _Compiled("words", words=_Words.of(node.text, phrase=False, prefix=node.prefix))
    if isinstance(node, Phrase):
        return _Compiled("words", words=_Words.of(node.text, phrase=True))
    if isinstance(node, Not):
        return _Compiled("not", (_compile(node.clause),))
    kind = "all" if isinstance(node, AllOf) else "any"
    return _Compiled(kind, tuple(_compile(c) for c in node.clauses))


# -- the matcher -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RuleMatch:
    """A document that matched a rule; `version` is the document's text version.

    `story_id` is what the rule raises one alert for: the document's story, or its event for a
    rule with group "event".
    """

    rule_id: str
    doc_id: str
    story_id: str
    version: int = 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict for a Celery payload."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _RuleCheck:
    rule: AlertRule
    query: _Compiled | None
    excluded_terms: tuple[_Words, ...]

    @classmethod
    def of(cls, rule: AlertRule) -> _RuleCheck:
        parsed = parse_query(rule.query)
        return cls(
            rule=rule,
            query=_compile(parsed) if parsed is not None else None,
            excluded_terms=tuple(_Words.of(t, phrase=True) for t in rule.exclude_terms),
        )

    def matches(self, view: DocumentView) -> bool:
        return (
            self._keywords_match(view)
            and not any(words.matches(view) for words in self.excluded_terms)
            and (self.query is None or self.query.matches(view))
        )

    def _keywords_match(self, view: DocumentView) -> bool:
        rule = self.rule
        if (rule.languages and view.language not in rule.languages) or (
            rule.sources and view.source not in rule.sources
        ):
            return False
        if any(view.keywords[name].isdisjoint(values) for name, values in rule.filters.items()):
            return False
        actors = view.keywords["actor"]
        if rule.exclude_actors and not actors.isdisjoint(rule.exclude_actors):
            return False
        if not rule.actors:
            return True
        if rule.actors_mode == "all":
            return actors.issuperset(rule.actors)
        return not actors.isdisjoint(rule.actors)

    def anchor(self) -> frozenset[tuple[str, ...]] | None:
        """The most selective keys one of which every matching document must carry."""
        rule = self.rule
        if rule.actors:
            if rule.actors_mode == "all":
                return frozenset({("keyword", "actor", rule.actors[0])})
            return frozenset(("keyword", "actor", a) for a in rule.actors)
        if self.query is not None and (keys := self.query.anchor()) is not None:
            return keys
        # Entity facets are rarer than a source, and a source rarer than a language.
        for name in ("actor", "person", "organisation", "place", "category", "source"):
            if name in rule.filters:
                return frozenset(("keyword", name, v) for v in rule.filters[name])
        if rule.sources:
            return frozenset(("keyword", "source", v) for v in rule.sources)
        return None


@dataclass(frozen=True, slots=True)
class RuleMatcher:
    """Enabled rules indexed by what a matching document must contain (an inverted index).

    Each rule is filed under one anchor: keys of which every matching document carries at least
    one (a required actor id, a required query word in folded and stemmed forms, a facet
    value). A document then checks only the rules filed under its own words and keywords, plus
    the few that have no anchor (a query of prefixes shorter than three letters, say).
    """

    checks: tuple[_RuleCheck, ...]
    by_word: dict[str, tuple[int, ...]]
    by_stem: dict[str, dict[str, tuple[int, ...]]]
    by_prefix: dict[str, tuple[int, ...]]
    by_keyword: dict[str, dict[str, tuple[int, ...]]]
    unanchored: tuple[int, ...]

    @classmethod
    def build(cls, rules: Iterable[AlertRule]) -> RuleMatcher:
        """Index the enabled rules; build once per rule-set change, then match many batches."""
        checks = tuple(_RuleCheck.of(r) for r in rules if r.enabled)
        by_word: dict[str, set[int]] = {}
        by_stem: dict[str, dict[str, set[int]]] = {language: {} for language in STEMMERS}
        by_prefix: dict[str, set[int]] = {}
        by_keyword: dict[str, dict[str, set[int]]] = {name: {} for name in FACETS}
        unanchored: list[int] = []
        for position, check in enumerate(checks):
            keys = check.anchor()
            if keys is None:
                unanchored.append(position)
                continue
            for key in keys:
                if key[0] == "word":
                    by_word.setdefault(key[1], set()).add(position)
                elif key[0] == "stem":
                    by_stem[key[1]].setdefault(key[2], set()).add(position)
                elif key[0] == "prefix":
                    by_prefix.setdefault(key[1], set()).add(position)
                else:
                    by_keyword[key[1]].setdefault(key[2], set()).add(position)
        return cls(
            checks=checks,
            by_word=_frozen(by_word),
            by_stem={language: _frozen(index) for language, index in by_stem.items()},
            by_prefix=_frozen(by_prefix),
            by_keyword={name: _frozen(index) for name, index in by_keyword.items()},
            unanchored=tuple(unanchored),
        )

    def candidates(self, view: DocumentView) -> set[int]:
        """Positions of the rules that could match this document."""
        found: set[int] = set(self.unanchored)
        for word in view.neutral_words & self.by_word.keys():
            found.update(self.by_word[word])
        stems = self.by_stem.get(view.language)
        if stems:
            for word in view.stemmed_words & stems.keys():
                found.update(stems[word])
        if self.by_prefix:
            starts = {w[:_PREFIX_KEY] for w in view.neutral_words}
            starts.update(w[:_PREFIX_KEY] for w in view.stemmed_words)
            for start in starts & self.by_prefix.keys():
                found.update(self.by_prefix[start])
        for name, values in view.keywords.items():
            index = self.by_keyword[name]
            if index:
                for value in values & index.keys():
                    found.update(index[value])
        return found

    def match(self, documents: Iterable[Mapping[str, Any]]) -> list[RuleMatch]:
        """Every (rule, document) pair that matches, in document order then rule order."""
        matches: list[RuleMatch] = []
        for document in documents:
            view = DocumentView.of(document)
            for position in sorted(self.candidates(view)):
                check = self.checks[position]
                if check.matches(view):
                    # The alert's grouping key: a rule with group "event" raises one alert
                    # for all the stories of an event.
                    group = view.event_id if check.rule.group == "event" else view.story_id
                    matches.append(RuleMatch(check.rule.id, view.doc_id, group, view.version))
        return matches


def _frozen(index: dict[str, set[int]]) -> dict[str, tuple[int, ...]]:
    return {key: tuple(sorted(positions)) for key, positions in index.items()}


# -- one alert per (rule, story) ---------------------------------------------------------------
def _digest(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


def alert_id(rule_id: str, story_id: str) -> str:
    """Stable id of the one alert a rule raises for a story."""
    return _digest("alert", rule_id, story_id)


def delivery_id(alert_or_digest_id: str, channel_key: str, sequence: int) -> str:
    """Stable id of one delivery, the same on every retry, so receivers can deduplicate."""
    return _digest("delivery", alert_or_digest_id, channel_key, str(sequence))


@dataclass(frozen=True, slots=True)
class AlertState:
    """The alert record of one (rule, story): its articles with the text version last seen.

    `sequence` counts the deliveries the alert asked for: 1 for the first, +1 per update.
    `dropped` keeps the articles a kill or withhold took out of the alert (with the version they
    had), and `withdrawn_at` is set once none of its articles is visible any more
    (pipeline/withdrawal.py).
    """

    alert_id: str
    rule_id: str
    story_id: str
    articles: dict[str, int]
    sequence: int = 1
    created_at: str | None = None
    updated_at: str | None = None
    dropped: dict[str, int] = field(default_factory=dict)
    withdrawn_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict for the alert store."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Rebuild a stored alert record; unknown keys ignored."""
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in known}
        for name in ("articles", "dropped"):
            values[name] = {str(k): int(v) for k, v in (values.get(name) or {}).items()}
        return cls(**values)


DecisionAction = Literal["alert", "update", "append", "record", "ignore"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with a match: the alert record to store and whether to deliver.

    alert: a new story, deliver; update: a later version and the rule asks for updates,
    deliver again; append: another copy or translation joins the alert, no delivery; record:
    a later version the rule does not deliver, stored only; ignore: already known, no write.
    """

    action: DecisionAction
    state: AlertState

    @property
    def deliver(self) -> bool:
        """Whether this decision sends a message (instant) or adds to a digest."""
        return self.action in {"alert", "update"}

    @property
    def changed(self) -> bool:
        """Whether the alert record must be written."""
        return self.action != "ignore"


def decide(
    match: RuleMatch, already: AlertState | None, *, rule: AlertRule, now: datetime
) -> Decision:
    """One alert per (rule, story): what a new match does to that alert's record."""
    stamp = now.isoformat()
    if already is None:
        state = AlertState(
            alert_id=alert_id(rule.id, match.story_id),
            rule_id=rule.id,
            story_id=match.story_id,
            articles={match.doc_id: match.version},
            created_at=stamp,
            updated_at=stamp,
        )
        return Decision("alert", state)
    if already.withdrawn_at is not None or (
        match.doc_id in already.dropped and match.doc_id not in already.articles
    ):
        return _after_withdrawal(match, already, stamp)
    seen = already.articles.get(match.doc_id)
    if seen is not None and match.version <= seen:
        # The same text again: a retried task or a re-run over indexed documents.
        return Decision("ignore", already)
    articles = {**already.articles, match.doc_id: match.version}
    if seen is None:
        return Decision("append", replace(already, articles=articles, updated_at=stamp))
    if rule.notify_updates:
        state = replace(already, articles=articles, sequence=already.sequence + 1, updated_at=stamp)
        return Decision("update", state)
    return Decision("record", replace(already, articles=articles, updated_at=stamp))


def _after_withdrawal(match: RuleMatch, already: AlertState, stamp: str) -> Decision:
    gone = already.dropped.get(match.doc_id)
    if gone is not None and match.version <= gone:
        # The text a kill or withhold took out of the alert does not come back by itself.
        return Decision("ignore", already)
    if already.withdrawn_at is None:
        # A later version of a dropped article (a withheld item released): it joins again.
        articles = {**already.articles, match.doc_id: match.version}
        return Decision("append", replace(already, articles=articles, updated_at=stamp))
    # A withdrawn alert whose story has a visible match again (a new copy, or a withheld item
    # released by a later version) is raised again, as a new delivery.
    state = replace(
        already,
        articles={match.doc_id: match.version},
        sequence=already.sequence + 1,
        withdrawn_at=None,
        updated_at=stamp,
    )
    return Decision("alert", state)


def quiet_hours(quiet: Quiet) -> tuple[time, time] | None:
    """The daily quiet window as clock times, or None when the rule has none."""
    if quiet.start is None or quiet.end is None:
        return None
    return time.fromisoformat(quiet.start), time.fromisoformat(quiet.end)
