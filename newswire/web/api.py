"""The newsroom web app's routes: search, story, article, alerts inbox, alert rules, actors and
feed-health pages, the live "new stories" count, the story-members fragment, static files,
login, and the admin actions (feeds, rules, read marks, snoozes, replays) behind the session
cookie and the CSRF token."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from elastic_transport import TransportError
from elasticsearch import ApiError
from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from newswire.alerts.service import AlertsService, RuleNotFound
from newswire.alerts.service import service as rules_service
from newswire.alerts.store import AlertStore
from newswire.deps import alert_store, event_store, feed_store, search_store
from newswire.entities import service as entities
from newswire.events.service import get_event
from newswire.feeds.service import status_rows, when
from newswire.feeds.store import FeedExists, UnknownFeed
from newswire.search.service import search
from newswire.search.store import SearchStore
from newswire.settings import get_settings
from newswire.stories.service import article_versions, get_story, story_members
from newswire.web import rule_forms, security, views
from pipeline.feedlist import FeedListError, validate_feed
from pipeline.rules import FREQUENCIES, WEBHOOK_FORMATS, RuleError, validate_rule
from pipeline.search import (
    FACETS,
    MAX_WINDOW,
    InvalidSearch,
    SearchRequest,
    encode_cursor,
    new_since_body,
    parse_new_since,
)
from pipeline.stories import story_view
from pipeline.text import sanitize_html

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
# Every open page asks this often whether new stories arrived (the count is cheap, see below).
LIVE_POLL_SECONDS = 10
# Pages showing the same search share one count for this long.
NEW_SINCE_CACHE_SECONDS = 2.0
NEW_SINCE_CACHE_SIZE = 512
ACTOR_NAMES_MAX_AGE = 30.0
SPARKLINE_FEEDS = 300

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals.update(
    direction=views.text_direction,
    lang=views.lang_attribute,
    safe_url=views.safe_url,
    marked=views.marked_fragment,
    utc=views.iso_minute,
    facet_labels=views.FACET_LABELS,
    facet_names=views.FACET_NAMES,
    facet_value=views.facet_value_label,
    lifecycle=views.lifecycle_marks,
    rule_conditions=rule_forms.rule_conditions,
    channel_rows=rule_forms.channel_rows,
    live_poll_seconds=LIVE_POLL_SECONDS,
)

# A search backend that is down or overloaded: the page says so instead of failing.
BACKEND_ERRORS = (TransportError,)


def _backend_down(exc: Exception) -> bool:
    if isinstance(exc, ApiError):
        return exc.status_code >= 500
    return isinstance(exc, BACKEND_ERRORS)


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    token = security.csrf_token(request)
    response = templates.TemplateResponse(
        request,
        name,
        {
            **context,
            "csrf": token,
            "admin": security.is_admin(request, _admin_token()),
            "path": request.url.path,
        },
        status_code=status,
    )
    security.set_csrf_cookie(request, response, token)
    response.headers["Cache-Control"] = "no-store"
    return security.add_security_headers(response)


def _admin_token() -> str:
    return get_settings().admin_token or ""


def _json(content: dict[str, Any], status: int = 200) -> JSONResponse:
    response = JSONResponse(content, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    security.add_security_headers(response)
    return response


def _query_lists(request: Request) -> dict[str, list[str]]:
    return {key: request.query_params.getlist(key) for key in request.query_params}


def _actor_names(store: AlertStore) -> dict[str, str]:
    try:
        return {a["id"]: a["name"] for a in store.actors(max_age=ACTOR_NAMES_MAX_AGE)}
    except (ApiError, *BACKEND_ERRORS):
        return {}


# -- search -------------------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse)
def search_page(request: Request) -> Response:
    """The search page: query, facets, histogram, one hit per story; all state in the URL."""
    state = views.state_from_params(_query_lists(request))
    admin = security.is_admin(request, _admin_token())
    context: dict[str, Any] = {"state": state, "result": None, "error": None, "down": False}
    status = 200
    try:
        search_request = state.to_request(admin=admin)
        result = search(search_store(), search_request)
        flags = _article_flags(search_store(), [hit.doc_id for hit in result.hits])
    except InvalidSearch as exc:
        context["error"], status = str(exc), 400
    except (ApiError, *BACKEND_ERRORS) as exc:
        if isinstance(exc, ApiError) and not _backend_down(exc):
            context["error"], status = f"Elasticsearch refused the search: {exc.message}", 400
        else:
            context["down"], status = True, 503
    else:
        context.update(
            result=result,
            bars=views.histogram_bars(result.histogram),
            actor_names=_actor_names(alert_store()),
            watermark=result.latest_indexed_at or datetime.now(UTC).isoformat(),
            pages=_paging(state, search_request, result),
            live_url=state.with_changes().url("/web/new"),
            flags=flags,
        )
    return _page(request, "search.html", context, status)


FLAG_FIELDS = ("doc_id", "visibility", "corrected", "embargo_until", "pubstatus", "urgency")


def _article_flags(store: SearchStore, doc_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each hit's lifecycle marks (corrected, embargoed, withdrawn), which search hits do not
    carry: one small ids query per page."""
    if not doc_ids:
        return {}
    response = store.search(
        {"query": {"ids": {"values": doc_ids}}, "size": len(doc_ids), "_source": list(FLAG_FIELDS)}
    )
    return {hit["_id"]: hit["_source"] for hit in response["hits"]["hits"]}


def _paging(state: views.SearchState, request: SearchRequest, result: Any) -> dict[str, str]:
    links = {}
    full_page = len(result.hits) == request.size
    if state.collapse:
        if state.page > 1:
            links["previous"] = state.with_changes(page=state.page - 1).url()
        if full_page and state.page * request.size < min(result.total, MAX_WINDOW):
            links["next"] = state.with_changes(page=state.page + 1).url()
    else:
        if state.after or state.page > 1:
            links["first"] = state.with_changes().url()
        if full_page and result.next_after is not None:
            links["next"] = state.with_changes(after=encode_cursor(result.next_after)).url()
    return links


class _NewSinceCache:
    """Counts shared by the pages that show the same search, for a couple of seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, dict[str, Any]]] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._entries.get(key)
        if found and time.monotonic() - found[0] < NEW_SINCE_CACHE_SECONDS:
            return found[1]
        return None

    def put(self, key: str, value: dict[str, Any]) -> None:
        with self._lock:
            if len(self._entries) >= NEW_SINCE_CACHE_SIZE:
                self._entries.clear()
            self._entries[key] = (time.monotonic(), value)


_new_since_cache = _NewSinceCache()


@router.get("/web/new")
def new_since(request: Request) -> Response:
    """How many stories matching the page's search were indexed after `since` (JSON)."""
    state = views.state_from_params(_query_lists(request))
    since = request.query_params.get("since", "")
    try:
        admin = security.is_admin(request, _admin_token())
        body = new_since_body(state.with_changes().to_request(size=1, admin=admin), since)
    except InvalidSearch as exc:
        return _json({"error": "invalid search", "detail": str(exc)}, 400)
    key = json.dumps(body, sort_keys=True)
    cached = _new_since_cache.get(key)
    if cached is not None:
        return _json(cached)
    try:
        counted = parse_new_since(search_store().search(body))
    except (ApiError, *BACKEND_ERRORS) as exc:
        if _backend_down(exc):
            return _json({"error": "search backend unavailable"}, 503)
        raise
    answer = {
        "stories": counted.stories,
        "articles": counted.articles,
        "latest_indexed_at": counted.latest_indexed_at,
    }
    _new_since_cache.put(key, answer)
    return _json(answer)


@router.get("/web/members/{story_id}", response_class=HTMLResponse)
def story_members_fragment(request: Request, story_id: str) -> Response:
    """The members of a story as an HTML fragment, for expanding a hit in place."""
    story = get_story(search_store(), story_id)
    if story is None:
        return _page(request, "members.html", {"story": None}, 404)
    return _page(request, "members.html", {"story": story})


# -- story --------------------------------------------------------------------------------------
def _not_found(request: Request, what: str) -> Response:
    return _page(request, "error.html", {"title": "Not found", "message": what}, 404)


@router.get("/story/{story_id}", response_class=HTMLResponse)
def story_page(request: Request, story_id: str) -> Response:
    """A story: representative text, every member, how it joined, versions and what changed;
    corrections flagged; admins also see (flagged) embargoed and withdrawn members."""
    store = search_store()
    admin = security.is_admin(request, _admin_token())
    found = story_members(store, story_id, include_hidden=admin)
    if not found:
        return _not_found(request, f"There is no story {story_id!r}.")
    story = story_view(story_id, found, changes=True)
    marks = {m["doc_id"]: views.lifecycle_marks(m) for m in found}
    lead = store.get_article(story["representative"]) or {}
    body_html = sanitize_html(lead.get("body_html") or "")
    versions = {
        member["doc_id"]: (
            article_versions(store, member["doc_id"], include_hidden=admin) or {}
        ).get("previous_versions", [])
        for member in story["members"][:50]
        if int(member.get("version") or 1) > 1
    }
    side_by_side = request.query_params.get("view", "side") != "inline"
    members = [
        {**member, "diff": views.member_changes(member.get("changes"))}
        for member in story["members"]
    ]
    context = {
        "story": story,
        "lead": lead,
        "body_html": body_html,
        "members": members,
        "versions": versions,
        "marks": marks,
        "side_by_side": side_by_side,
    }
    return _page(request, "story.html", context)


# -- event --------------------------------------------------------------------------------------
@router.get("/event/{event_id}", response_class=HTMLResponse)
def event_page(request: Request, event_id: str) -> Response:
    """An event: every outlet's story of one happening, each with its articles, sources and
    times; an article's id or a merged event's id shows the event it belongs to now."""
    admin = security.is_admin(request, _admin_token())
    found = get_event(search_store(), event_store(), event_id, include_hidden=admin)
    if found is None:
        return _not_found(request, f"There is no event {event_id!r}.")
    return _page(request, "event.html", {"event": found})


def _readable_article(request: Request, doc_id: str) -> dict[str, Any] | None:
    # Withdrawn articles stay readable by id (audit); embargoed ones only for admins.
    found = search_store().get_article(doc_id)
    if found is None:
        return None
    if found.get("visibility") == "embargoed" and not security.is_admin(request, _admin_token()):
        return None
    return found


@router.get("/article/{doc_id}", response_class=HTMLResponse)
def article_page(request: Request, doc_id: str) -> Response:
    """One article by id, flagged when withdrawn, embargoed or corrected, with its versions."""
    found = _readable_article(request, doc_id)
    if found is None:
        return _not_found(request, f"There is no article {doc_id!r}.")
    admin = security.is_admin(request, _admin_token())
    history = article_versions(search_store(), doc_id, include_hidden=admin) or {}
    context = {
        "article": found,
        "marks": views.lifecycle_marks(found),
        "body_html": sanitize_html(found.get("body_html") or ""),
        "versions": history.get("previous_versions", []),
    }
    return _page(request, "article.html", context)


@router.get("/go/article/{doc_id}")
def article_story(request: Request, doc_id: str) -> Response:
    """An article's story page (alerts name articles; the newsroom reads stories); a hidden
    article opens on its own page, flagged."""
    found = _readable_article(request, doc_id)
    if found is None:
        return _not_found(request, f"There is no article {doc_id!r}.")
    if views.lifecycle_marks(found)["hidden"]:
        return RedirectResponse(f"/article/{quote(doc_id)}", status_code=303)
    return RedirectResponse(f"/story/{quote(found.get('story_id') or doc_id)}", status_code=303)


# -- alerts inbox and actors ----------------------------------------------------------------------
INBOX_SIZE = 200


@router.get("/watch/alerts", response_class=HTMLResponse)
def alerts_page(request: Request) -> Response:
    """The inbox: alerts newest first, filtered by rule, actor or unread, each linking to its
    story; admins mark them read or unread."""
    params = request.query_params
    actor = params.get("actor") or None
    rule = params.get("rule") or None
    unread = params.get("unread", "") in {"1", "true", "on"}
    alerts = alert_store()
    try:
        rules = alerts_service().rules.rules()
    except RedisError:
        rules = []
    context = {
        "alerts": alerts.inbox(actor_id=actor, rule_id=rule, unread=unread, size=INBOX_SIZE),
        "actors": alerts.actors(max_age=ACTOR_NAMES_MAX_AGE),
        "rules": rules,
        "actor": actor,
        "rule": rule,
        "unread": unread,
        "here": _here(request),
    }
    return _page(request, "alerts.html", context)


@router.post("/watch/alerts/{alert}/read")
def mark_alert_read(
    request: Request,
    alert: str,
    csrf: Annotated[str, Form()] = "",
    read: Annotated[str, Form()] = "true",
    back: Annotated[str, Form()] = "/watch/alerts",
) -> Response:
    """Mark an alert read or unread (admin), then back to the inbox as it was filtered."""
    refusal = _admin_refusal(request, csrf, back)
    if refusal is not None:
        return refusal
    try:
        alerts_service().mark_read(alert, read=read == "true")
    except RuleNotFound:
        return _not_found(request, f"There is no alert {alert!r}.")
    return RedirectResponse(_local(back), status_code=303)


# -- alert rules -----------------------------------------------------------------------------------
TEST_DAYS = 7
RULE_DONE = {
    "created": "Rule created.",
    "saved": "Rule saved.",
    "deleted": "Rule deleted.",
    "snoozed": "Rule snoozed: deliveries wait until then.",
    "woken": "Snooze lifted.",
    "replayed": "Dead-lettered deliveries are owed again; the next sweep sends them.",
}
DEAD_LETTERS_SHOWN = 50


def alerts_service() -> AlertsService:
    return rules_service()


def _actor_choices() -> list[dict[str, Any]]:
    try:
        return alert_store().actors(max_age=ACTOR_NAMES_MAX_AGE)
    except (ApiError, *BACKEND_ERRORS):
        return []


ENTITY_FACETS = ("person", "organisation", "place")


def _rule_value_names(rules: list[dict[str, Any]]) -> dict[str, str]:
    """Readable names for the ids rules hold: tracked actors, and registry entities in their
    person, organisation and place filters."""
    names = _actor_names(alert_store())
    ids = [
        value
        for rule in rules
        for facet in ENTITY_FACETS
        for value in (rule.get("filters") or {}).get(facet, ())
    ]
    if ids:
        settings = get_settings()
        try:
            registry = entities.entity_store_for(settings)
            names.update(entities.display_names(registry, ids, settings.translation_target))
        except RedisError:
            pass  # the ids are shown as they are
    return names


@router.get("/watch/rules", response_class=HTMLResponse)
def rules_page(request: Request) -> Response:
    """Every alert rule: what it matches, channels, frequency, each channel's last delivery."""
    done = request.query_params.get("done", "")
    svc = alerts_service()
    context = {
        "rules": (listed := svc.list_rules()),
        "actor_names": _rule_value_names(listed),
        "message": RULE_DONE.get(done, ""),
        "owed": rule_forms.delivery_rows(svc.outbox()),
        "dead": rule_forms.delivery_rows(svc.dead_letters(DEAD_LETTERS_SHOWN)),
    }
    return _page(request, "rules.html", context)


@router.post("/watch/rules/deliveries/replay")
def replay_deliveries(
    request: Request, csrf: Annotated[str, Form()] = "", job: Annotated[str, Form()] = ""
) -> Response:
    """Owe a dead-lettered delivery again (every one when no job is given) (admin)."""
    refusal = _admin_refusal(request, csrf, "/watch/rules")
    if refusal is not None:
        return refusal
    alerts_service().replay([job] if job else None)
    return RedirectResponse("/watch/rules?done=replayed#deliveries", status_code=303)


def _rule_form(
    request: Request,
    *,
    values: dict[str, Any],
    channels: list[dict[str, Any]],
    rule_id: str | None,
    error: str | None = None,
    test: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    context = {
        "values": values,
        "channels": channels,
        "rule_id": rule_id,
        "actors": _actor_choices(),
        "facets": list(FACETS),
        "frequencies": FREQUENCIES,
        "formats": WEBHOOK_FORMATS,
        "error": error,
        "test": test,
        "test_days": TEST_DAYS,
    }
    return _page(request, "rule_form.html", context, status)


@router.get("/watch/rules/new", response_class=HTMLResponse)
def new_rule_form(request: Request) -> Response:
    """The form for a new rule (admin), prefilled from a search's URL parameters."""
    if not security.is_admin(request, _admin_token()):
        return _login_redirect(_here(request))
    state = views.state_from_params(_query_lists(request))
    values = rule_forms.form_values_from_search(state)
    return _rule_form(request, values=values, channels=[], rule_id=None)


@router.get("/watch/rules/{rule_id}", response_class=HTMLResponse)
def rule_page(request: Request, rule_id: str) -> Response:
    """One rule with each channel's delivery status; `?test=7` lists what it matches in the
    last 7 days (any number of days the service allows)."""
    svc = alerts_service()
    try:
        rule = svc.get_rule(rule_id)
    except RuleNotFound:
        return _not_found(request, f"There is no rule {rule_id!r}.")
    test, error, status = None, None, 200
    days_text = request.query_params.get("test", "")
    if days_text:
        try:
            days = int(days_text) if days_text.isdigit() else 0
            test = svc.test_rule(rule_id, days=days)
        except RuleError as exc:
            error, status = str(exc), 400
    context = {
        "rule": rule,
        "channels": rule_forms.channel_rows(rule["channels"]),
        "conditions": rule_forms.rule_conditions(rule, _rule_value_names([rule])),
        "search_url": rule_forms.rule_search_url(rule),
        "test": test,
        "test_days": TEST_DAYS,
        "error": error,
        "message": RULE_DONE.get(request.query_params.get("done", ""), ""),
        "snooze_hours": SNOOZE_HOURS,
    }
    return _page(request, "rule.html", context, status)


@router.get("/watch/rules/{rule_id}/edit", response_class=HTMLResponse)
def edit_rule_form(request: Request, rule_id: str) -> Response:
    """The form for changing a rule (admin); secrets are never sent to the browser."""
    if not security.is_admin(request, _admin_token()):
        return _login_redirect(_here(request))
    try:
        rule = alerts_service().get_rule(rule_id)
    except RuleNotFound:
        return _not_found(request, f"There is no rule {rule_id!r}.")
    return _rule_form(
        request,
        values=rule_forms.form_values(rule),
        channels=rule_forms.channel_rows(rule["channels"]),
        rule_id=rule_id,
    )


def _submit_rule(request: Request, form: rule_forms.Form, rule_id: str | None) -> Response:
    svc = alerts_service()
    stored = svc.rules.get(rule_id) if rule_id else None
    if rule_id and stored is None:
        return _not_found(request, f"There is no rule {rule_id!r}.")
    current = stored.to_dict() if stored else None
    shown = svc.view(stored)["channels"] if stored else []
    test = None
    try:
        data = rule_forms.rule_data_from_form(form, current)
        if rule_forms.first(form, "action") == "test":
            # What it matches is the question; channels (a secret not typed again) wait for Save.
            candidate = validate_rule({**data, "channels": [], "id": rule_id or data.get("id")})
            test = svc.test_rule(candidate, days=TEST_DAYS)
        elif rule_id:
            svc.update_rule(rule_id, data)
            return RedirectResponse(f"/watch/rules/{quote(rule_id)}?done=saved", status_code=303)
        else:
            created = svc.create_rule(data)
            return RedirectResponse(
                f"/watch/rules/{quote(created['id'])}?done=created", status_code=303
            )
    except RuleError as exc:
        return _rule_form(
            request,
            values=rule_forms.form_values_from_post(form),
            channels=rule_forms.channel_rows(shown, form),
            rule_id=rule_id,
            error=str(exc),
            status=400,
        )
    return _rule_form(
        request,
        values=rule_forms.form_values_from_post(form),
        channels=rule_forms.channel_rows(shown, form),
        rule_id=rule_id,
        test=test,
    )


async def _posted(request: Request) -> dict[str, list[str]]:
    form = await request.form()
    posted: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            posted.setdefault(key, []).append(value)
    return posted


@router.post("/watch/rules/new")
async def create_rule(request: Request) -> Response:
    """Save a new rule, or test the form's rule against the last days without saving (admin)."""
    form = await _posted(request)
    refusal = _admin_refusal(request, rule_forms.first(form, "csrf"), "/watch/rules/new")
    if refusal is not None:
        return refusal
    return await run_in_threadpool(_submit_rule, request, form, None)


@router.post("/watch/rules/{rule_id}/edit")
async def update_rule(request: Request, rule_id: str) -> Response:
    """Save a changed rule, or test the changed form without saving (admin)."""
    form = await _posted(request)
    back = f"/watch/rules/{quote(rule_id)}/edit"
    refusal = _admin_refusal(request, rule_forms.first(form, "csrf"), back)
    if refusal is not None:
        return refusal
    return await run_in_threadpool(_submit_rule, request, form, rule_id)


SNOOZE_HOURS = (1, 4, 12, 24, 72)


@router.post("/watch/rules/{rule_id}/snooze")
def snooze_rule(
    request: Request,
    rule_id: str,
    csrf: Annotated[str, Form()] = "",
    hours: Annotated[str, Form()] = "",
) -> Response:
    """Hold a rule's deliveries for some hours, or lift the snooze (hours empty) (admin)."""
    back = f"/watch/rules/{quote(rule_id)}"
    refusal = _admin_refusal(request, csrf, back)
    if refusal is not None:
        return refusal
    if hours and (not hours.isdigit() or int(hours) not in SNOOZE_HOURS):
        return _page(
            request, "error.html", {"title": "Not snoozed", "message": "Choose a listed time."}, 400
        )
    until = datetime.now(UTC) + timedelta(hours=int(hours)) if hours else None
    try:
        alerts_service().snooze(rule_id, until)
    except RuleNotFound:
        return _not_found(request, f"There is no rule {rule_id!r}.")
    return RedirectResponse(f"{back}?done={'snoozed' if until else 'woken'}", status_code=303)


@router.get("/watch/rules/{rule_id}/delete", response_class=HTMLResponse)
def delete_rule_form(request: Request, rule_id: str) -> Response:
    """Ask before deleting a rule (admin)."""
    if not security.is_admin(request, _admin_token()):
        return _login_redirect(_here(request))
    try:
        rule = alerts_service().get_rule(rule_id)
    except RuleNotFound:
        return _not_found(request, f"There is no rule {rule_id!r}.")
    return _page(request, "rule_delete.html", {"rule": rule})


@router.post("/watch/rules/{rule_id}/delete")
def delete_rule(request: Request, rule_id: str, csrf: Annotated[str, Form()] = "") -> Response:
    """Delete a rule (admin); its alerts stay in the inbox."""
    refusal = _admin_refusal(request, csrf, f"/watch/rules/{quote(rule_id)}/delete")
    if refusal is not None:
        return refusal
    try:
        alerts_service().delete_rule(rule_id)
    except RuleNotFound:
        return _not_found(request, f"There is no rule {rule_id!r}.")
    return RedirectResponse("/watch/rules?done=deleted", status_code=303)


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


@router.get("/watch/actors", response_class=HTMLResponse)
def actors_page(request: Request) -> Response:
    """Tracked actors with every spelling they are found by."""
    return _page(request, "actors.html", {"actors": alert_store().actors()})


# -- feed health and admin actions -----------------------------------------------------------------
@router.get("/feed-health", response_class=HTMLResponse)
def feeds_page(request: Request) -> Response:
    """Feed health, sick feeds first, with new entries per day as a sparkline."""
    store = feed_store()
    records = store.all()
    now = time.time()
    today = datetime.now(UTC).date()
    rows: list[dict[str, Any]] = []
    for row in status_rows(records)[:2000]:
        daily: dict[str, int] = {}
        if len(rows) < SPARKLINE_FEEDS:
            daily = dict(store.get(row["feed"], daily=True).daily or {})
        rows.append(
            {
                **row,
                "last_poll_text": when(row["last_poll"], now),
                "next_poll_text": when(row["next_poll"], now),
                "spark": views.sparkline_points(daily, today) if daily else "",
                "entries_30d": sum(daily.values()),
            }
        )
    message = request.query_params.get("done", "")
    context = {
        "rows": rows,
        "urls": {r.id: r.config.url for r in records},
        "admin_enabled": bool(_admin_token()),
        "message": message[:200],
    }
    return _page(request, "feeds.html", context)


def _admin_refusal(request: Request, csrf: str, back: str = "/feed-health") -> Response | None:
    if not security.csrf_ok(request, csrf):
        return _page(
            request,
            "error.html",
            {"title": "Form expired", "message": "Reload the page and try again."},
            403,
        )
    if not security.is_admin(request, _admin_token()):
        return _login_redirect(back)
    return None


def _login_redirect(back: str) -> Response:
    return RedirectResponse(f"/login?{urlencode({'next': _local(back)})}", status_code=303)


def _back(message: str) -> Response:
    return RedirectResponse(f"/feed-health?done={message}", status_code=303)


@router.post("/feed-health/add")
def add_feed(
    request: Request,
    csrf: Annotated[str, Form()] = "",
    feed_id: Annotated[str, Form()] = "",
    url: Annotated[str, Form()] = "",
    source: Annotated[str, Form()] = "",
    language: Annotated[str, Form()] = "",
) -> Response:
    """Add a feed (admin)."""
    refusal = _admin_refusal(request, csrf)
    if refusal is not None:
        return refusal
    entry = {"id": feed_id.strip(), "url": url.strip()}
    entry.update({k: v.strip() for k, v in (("source", source), ("language", language)) if v})
    try:
        feed_store().add(validate_feed(entry, where=entry["id"] or "feed"))
    except (FeedListError, FeedExists) as exc:
        return _page(request, "error.html", {"title": "Feed not added", "message": str(exc)}, 400)
    return _back("added")


@router.post("/feed-health/{feed_id}/{action}")
def change_feed(
    request: Request, feed_id: str, action: str, csrf: Annotated[str, Form()] = ""
) -> Response:
    """Pause or resume a feed (admin)."""
    refusal = _admin_refusal(request, csrf)
    if refusal is not None:
        return refusal
    store = feed_store()
    try:
        if action == "pause":
            store.pause(feed_id)
        elif action == "resume":
            store.resume(feed_id)
        else:
            return _not_found(request, f"There is no feed action {action!r}.")
    except UnknownFeed:
        return _not_found(request, f"There is no feed {feed_id!r}.")
    return _back("paused" if action == "pause" else "resumed")


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    """The admin login form."""
    context = {
        "next": _local(request.query_params.get("next", "/feed-health")),
        "error": None,
        "admin_enabled": bool(_admin_token()),
    }
    return _page(request, "login.html", context)


def _local(target: str) -> str:
    # Only paths on this site: an open redirect would lend the login page to phishing.
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.post("/login")
def login(
    request: Request,
    csrf: Annotated[str, Form()] = "",
    token: Annotated[str, Form()] = "",
    next_page: Annotated[str, Form(alias="next")] = "/feed-health",
) -> Response:
    """Check the admin token and set the session cookie."""
    admin_token = _admin_token()
    if not security.csrf_ok(request, csrf) or not security.token_matches(token, admin_token):
        context = {
            "next": _local(next_page),
            "error": "That token is not the admin token.",
            "admin_enabled": bool(admin_token),
        }
        return _page(request, "login.html", context, 401)
    response = RedirectResponse(_local(next_page), status_code=303)
    security.set_admin_cookie(request, response, admin_token)
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    """Forget the admin session."""
    response = RedirectResponse("/", status_code=303)
    if security.csrf_ok(request, csrf):
        response.delete_cookie(security.ADMIN_COOKIE, path="/")
    return response


# -- static files --------------------------------------------------------------------------------
@router.get("/static/{name}")
def static_file(name: str) -> Response:
    """The page's own scripts and styles (no build step, no CDN)."""
    path = (STATIC / name).resolve()
    if path.parent != STATIC or path.suffix not in STATIC_TYPES or not path.is_file():
        return Response(status_code=404)
    response = FileResponse(path, media_type=STATIC_TYPES[path.suffix])
    response.headers["Cache-Control"] = "no-cache"
    return security.add_security_headers(response)
