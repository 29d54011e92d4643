"""What the pages show, as plain data: search state in the URL, facet links and labels, the
histogram and sparkline geometry, word-marked sentence diffs, agency lifecycle marks, text
direction and safe links. No I/O."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import nh3

from pipeline.search import FACETS, SearchRequest, decode_cursor

PAGE_SIZE = 20
MORE_FACET_SIZE = 100
FACET_LABELS = {
    "source": "Source",
    "language": "Language",
    "person": "Person",
    "organisation": "Organisation",
    "place": "Place",
    "actor": "Tracked actor",
    "category": "Category",
    "urgency": "Urgency",
    "subject": "Subject",
}
FACET_NAMES = {label: name for name, label in FACET_LABELS.items()}
# IPTC urgency: 1 is a flash, 9 the least urgent.
URGENCY_WORDS = {"1": "flash", "2": "very urgent", "3": "urgent", "8": "low", "9": "lowest"}
# Scripts written right to left (ISO 639-1 codes as the language stage writes them).
RTL_LANGUAGES = frozenset({"ar", "he", "fa", "ur", "ps", "yi", "dv", "sd", "ug", "ku"})


@dataclass(frozen=True, slots=True)
class SearchState:
    """Everything a search page shows, as its URL says it: bookmarkable and shareable."""

    q: str = ""
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    date_from: str = ""
    date_to: str = ""
    sort: str = "relevance"
    page: int = 1
    after: str = ""
    collapse: bool = True
    more: tuple[str, ...] = ()
    corrections: bool = False
    # Embargoed and withdrawn articles too: honoured for admins only (to_request).
    hidden: bool = False

    def params(self) -> list[tuple[str, str]]:
        """The query-string pairs of this state, defaults left out, in a stable order."""
        pairs: list[tuple[str, str]] = []
        if self.q:
            pairs.append(("q", self.q))
        for name in FACETS:
            pairs += [(name, value) for value in self.filters.get(name, ())]
        if self.date_from:
            pairs.append(("from", self.date_from))
        if self.date_to:
            pairs.append(("to", self.date_to))
        if self.sort != "relevance":
            pairs.append(("sort", self.sort))
        if not self.collapse:
            pairs.append(("collapse", "false"))
        if self.corrections:
            pairs.append(("corrections", "true"))
        if self.hidden:
            pairs.append(("hidden", "true"))
        pairs += [("more", name) for name in self.more]
        if self.after:
            pairs.append(("after", self.after))
        elif self.page != 1:
            pairs.append(("page", str(self.page)))
        return pairs

    def url(self, path: str = "/") -> str:
        """This state as a link."""
        query = urlencode(self.params())
        return f"{path}?{query}" if query else path

    def with_changes(self, **changes: Any) -> SearchState:
        """The same search with `changes`; any change but paging starts again at page 1."""
        if not {"page", "after"} & set(changes):
            changes = {"page": 1, "after": "", **changes}
        return replace(self, **changes)

    def toggled(self, facet: str, value: str) -> SearchState:
        """The search with one facet value added, or removed when it was chosen."""
        chosen = list(self.filters.get(facet, ()))
        if value in chosen:
            chosen.remove(value)
        else:
            chosen.append(value)
        filters = {k: v for k, v in self.filters.items() if k != facet}
        if chosen:
            filters[facet] = tuple(chosen)
        return self.with_changes(filters=filters)

    def expanded(self, facet: str) -> SearchState:
        """The search with one facet showing more values (or fewer again)."""
        more = tuple(m for m in self.more if m != facet)
        if facet not in self.more:
            more = (*more, facet)
        return replace(self, more=more)

    def chips(self) -> list[tuple[str, str, str]]:
        """Active filters as (label, value, link that removes it)."""
        chips = [
            (FACET_LABELS[name], value, self.toggled(name, value).url())
            for name in FACETS
            for value in self.filters.get(name, ())
        ]
        if self.date_from:
            chips.append(("From", self.date_from, self.with_changes(date_from="").url()))
        if self.date_to:
            chips.append(("To", self.date_to, self.with_changes(date_to="").url()))
        if self.corrections:
            chips.append(("Only", "corrections", self.with_changes(corrections=False).url()))
        if self.hidden:
            chips.append(
                ("Including", "embargoed and withdrawn", self.with_changes(hidden=False).url())
            )
        return chips

    def to_request(self, size: int = PAGE_SIZE, *, admin: bool = False) -> SearchRequest:
        """The search request this state asks for (InvalidSearch if the URL is unusable);
        hidden articles only for an admin, whatever the URL says."""
        return SearchRequest(
            query=self.q,
            filters=dict(self.filters),
            date_from=self.date_from or None,
            date_to=self.date_to or None,
            page=self.page,
            size=size,
            sort=self.sort,
            collapse_stories=self.collapse,
            search_after=decode_cursor(self.after) if self.after else None,
            # Articles page by cursor to any depth; a page number still works within the window.
            cursor=not self.collapse and self.page == 1,
            facet_sizes=dict.fromkeys(self.more, MORE_FACET_SIZE),
            corrections_only=self.corrections,
            include_hidden=self.hidden and admin,
        )


def _first(params: Mapping[str, Sequence[str]], name: str) -> str:
    values = params.get(name) or [""]
    return values[0].strip()


def state_from_params(params: Mapping[str, Sequence[str]]) -> SearchState:
    """Read a SearchState from query parameters; values are checked later by the request."""
    page_text = _first(params, "page") or "1"
    page = int(page_text) if page_text.isdigit() else 0  # 0 is refused with a message
    return SearchState(
        q=_first(params, "q"),
        filters={
            name: tuple(dict.fromkeys(v.strip() for v in params[name] if v.strip()))
            for name in FACETS
            if any(v.strip() for v in params.get(name, ()))
        },
        date_from=_first(params, "from"),
        date_to=_first(params, "to"),
        sort=_first(params, "sort") or "relevance",
        page=page,
        after=_first(params, "after"),
        collapse=_first(params, "collapse").lower() not in {"false", "0", "no", "off"},
        more=tuple(m for m in dict.fromkeys(params.get("more", ())) if m in FACETS),
        corrections=_yes(_first(params, "corrections")),
        hidden=_yes(_first(params, "hidden")),
    )


def _yes(value: str) -> bool:
    return value.lower() in {"true", "1", "yes", "on"}


def facet_value_label(
    facet: str, value: str, labels: Mapping[str, Mapping[str, str]], actor_names: Mapping[str, str]
) -> str:
    """How a facet value reads: an actor's or subject's name for its id, urgency in words."""
    value = str(value)
    if facet == "actor":
        return actor_names.get(value, value)
    if facet == "urgency" and value in URGENCY_WORDS:
        return f"{value} ({URGENCY_WORDS[value]})"
    return labels.get(facet, {}).get(value, value)


# -- agency lifecycle ---------------------------------------------------------------------------
def lifecycle_marks(document: Mapping[str, Any]) -> dict[str, Any]:
    """What a page flags about an article: withdrawn (with the notice), embargoed (until
    when), corrected (some version was a correction), and whether it is hidden from readers."""
    visibility = document.get("visibility") or "public"
    return {
        "visibility": visibility,
        "hidden": visibility in {"embargoed", "withdrawn"},
        "withdrawn": visibility == "withdrawn",
        "embargoed": visibility == "embargoed",
        "embargo_until": document.get("embargo_until"),
        "corrected": bool(document.get("corrected") or document.get("is_correction")),
        "is_correction": bool(document.get("is_correction")),
        "withdrawal": document.get("withdrawal") or {},
    }


# -- text ---------------------------------------------------------------------------------------
def text_direction(language: str | None) -> str:
    """The `dir` of text in `language`: rtl, ltr, or auto when the language is unknown."""
    if not language or language == "und":
        return "auto"
    return "rtl" if language.split("-")[0] in RTL_LANGUAGES else "ltr"


def lang_attribute(language: str | None) -> str | None:
    """The `lang` of text in `language`, or None when it is unknown."""
    return None if not language or language == "und" else language


def safe_url(value: str | None) -> str | None:
    """`value` when it is an http(s) link; None for javascript:, data: and anything else."""
    if not value:
        return None
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    return value.strip()


def marked_fragment(fragment: str) -> str:
    """A highlight fragment with nothing but <mark> kept (Elasticsearch escapes the rest)."""
    return str(nh3.clean(fragment, tags={"mark"}, attributes={}))


def iso_minute(moment: str | None) -> str:
    """'2025-03-12 13:20 UTC' from an ISO time (the page shows it in the reader's zone)."""
    if not moment:
        return ""
    try:
        parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except ValueError:
        return moment
    return parsed.strftime("%Y-%m-%d %H:%M UTC")


# -- charts -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Bar:
    """One day of the histogram as an SVG rectangle."""

    day: str
    count: int
    x: float
    y: float
    width: float
    height: float


HISTOGRAM_WIDTH = 280
HISTOGRAM_HEIGHT = 60
MAX_HISTOGRAM_DAYS = 120


def histogram_bars(
    histogram: Sequence[tuple[str, int]],
    width: float = HISTOGRAM_WIDTH,
    height: float = HISTOGRAM_HEIGHT,
) -> list[Bar]:
    """Bars for consecutive days (empty days included), at most the last MAX_HISTOGRAM_DAYS."""
    if not histogram:
        return []
    counts = dict(histogram)
    first, last = date.fromisoformat(min(counts)), date.fromisoformat(max(counts))
    first = max(first, last - timedelta(days=MAX_HISTOGRAM_DAYS - 1))
    days = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    tallest = max(counts.get(d, 0) for d in days) or 1
    slot = width / len(days)
    bars = []
    for i, day in enumerate(days):
        count = counts.get(day, 0)
        # Every day keeps a sliver, so an empty day can still be clicked and brushed over.
        bar_height = max(1.0, height * count / tallest)
        bars.append(
            Bar(
                day=day,
                count=count,
                x=round(i * slot, 2),
                y=round(height - bar_height, 2),
                width=round(max(slot - 1, 1), 2),
                height=round(bar_height, 2),
            )
        )
    return bars


def sparkline_points(daily: Mapping[str, int], today: date, days: int = 30) -> str:
    """SVG polyline points of new entries per day over the last `days` days (100×20 box)."""
    values = [daily.get((today - timedelta(days=days - 1 - i)).isoformat(), 0) for i in range(days)]
    tallest = max(values) or 1
    step = 100 / (days - 1)
    return " ".join(f"{i * step:.1f},{20 - 18 * v / tallest:.1f}" for i, v in enumerate(values))


# -- what changed ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Segment:
    """A run of words in a changed sentence: kept, inserted or deleted."""

    kind: str
    text: str


def word_diff(before: str, after: str) -> tuple[list[Segment], list[Segment]]:
    """Both sides of an edited sentence as word runs: deletions marked on the left, insertions
    on the right."""
    left, right = before.split(), after.split()
    matcher = difflib.SequenceMatcher(None, left, right, autojunk=False)
    old: list[Segment] = []
    new: list[Segment] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            old.append(Segment("same", " ".join(left[i1:i2])))
            new.append(Segment("same", " ".join(right[j1:j2])))
            continue
        if i2 > i1:
            old.append(Segment("deleted", " ".join(left[i1:i2])))
        if j2 > j1:
            new.append(Segment("inserted", " ".join(right[j1:j2])))
    return old, new


def member_changes(changes: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A member's sentence diff with each edited sentence split into marked word runs."""
    if changes is None:
        return None
    edited = []
    for change in changes.get("changed", []):
        before, after = word_diff(change["representative"], change["member"])
        edited.append({"before": before, "after": after})
    return {
        "added": list(changes.get("added", [])),
        "removed": list(changes.get("removed", [])),
        "edited": edited,
        "unchanged": changes.get("unchanged", 0),
        "similarity": changes.get("similarity"),
    }
