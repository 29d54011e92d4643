"""The newsroom pages in Debian's chromium against the real stack with seeds/ ingested: search,
facets, story diff, keyboard, live count, hostile feed values, errors, admin and accessibility."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from pipeline.models import Article
from tests.browser.conftest import (
    ADMIN_TOKEN,
    AXE,
    Stack,
    free_port,
    screenshot,
    serve_api,
    stop,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SEED_STORY_SOURCES = ("Reuters World News", "InoSMI — World (English)", "Wire Aggregator")
INOSMI_INSERTION = "the authors are clearly deliberately silent"


def search(page: Any, stack: Stack, query: str) -> None:
    page.goto(stack.url + "/")
    page.fill("#q", query)
    page.press("#q", "Enter")
    page.wait_for_selector(".hits, #search-error")
    # The results are server-rendered; the keyboard, times and live banner come with app.js.
    page.wait_for_selector("html[data-ready='true']", state="attached")


def assert_inert(page: Any) -> None:
    """Nothing from a feed ran, and the page's only script is its own module."""
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("window.__violations") == []
    scripts = page.eval_on_selector_all("script", "nodes => nodes.map(n => n.src)")
    origin = f"{urlsplit(page.url).scheme}://{urlsplit(page.url).netloc}"
    assert scripts == [f"{origin}/static/app.js"]
    handlers = page.evaluate(
        "[...document.querySelectorAll('*')].flatMap(e => [...e.attributes]"
        ".filter(a => a.name.startsWith('on')).map(a => e.tagName + ' ' + a.name))"
    )
    assert handlers == []
    assert page.locator("a[href^='javascript:' i], iframe, object, embed").count() == 0
    # Layout holds: no sideways scrolling, whatever the headline.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def seed_story_id(stack: Stack) -> str:
    response = stack.search.es.search(
        index=stack.settings.articles_alias,
        query={"term": {"source": "InoSMI — World (English)"}},
        size=50,
    )
    for hit in response["hits"]["hits"]:
        if "Ukraine" in hit["_source"]["title"]:
            return str(hit["_source"]["story_id"])
    raise AssertionError("the InoSMI re-publication is not indexed")


def test_search_kursk_shows_the_seed_story_once_with_its_sources(page: Any, stack: Stack) -> None:
    search(page, stack, "Kursk")
    story = seed_story_id(stack)
    stories = page.eval_on_selector_all(".hit", "hits => hits.map(h => h.dataset.story)")
    assert stories.count(story) == 1
    assert len(stories) == len(set(stories))
    hit = page.locator(f".hit[data-story='{story}']")
    sources = hit.locator(".story-sources").text_content()
    assert all(source in sources for source in SEED_STORY_SOURCES)
    assert re.search(r"\d+ articles · \d+ sources · en, ru", hit.locator("summary").inner_text())
    assert parse_qs(urlsplit(page.url).query)["q"] == ["Kursk"]
    # Times are shown in the reader's zone, with how long ago.
    assert "ago" in hit.locator("time").first.inner_text()
    for query in ("Курск", "Sudzha"):
        search(page, stack, query)
        stories = page.eval_on_selector_all(".hit", "hits => hits.map(h => h.dataset.story)")
        assert story in stories, query
    search(page, stack, "Kursk")
    screenshot(page, "search")


def test_a_facet_narrows_the_results_and_the_url_and_its_chip_removes_it(
    page: Any, stack: Stack
) -> None:
    search(page, stack, "Russia")
    before = int(page.inner_text("#results-title").split()[0].replace(",", ""))
    # Person facets count entity ids and show their names.
    page.click("a.facet-value[data-facet='person']:has-text('Valery Gerasimov')")
    page.wait_for_url(re.compile(r"person=[^&]+"))
    after = int(page.inner_text("#results-title").split()[0].replace(",", ""))
    assert 0 < after < before
    assert page.locator(".chip", has_text="Person: Valery Gerasimov").count() == 1
    assert page.locator(".facet-value.chosen", has_text="Valery Gerasimov").count() == 1
    page.go_back()
    page.wait_for_url(lambda url: "person=" not in url)
    page.go_forward()
    page.wait_for_url(re.compile(r"person=[^&]+"))
    page.click(".chip:has-text('Person: Valery Gerasimov')")
    page.wait_for_url(lambda url: "person=" not in url)
    assert int(page.inner_text("#results-title").split()[0].replace(",", "")) == before


def test_histogram_day_sets_the_date_range(page: Any, stack: Stack) -> None:
    search(page, stack, "Russia")
    bar = page.locator("#histogram rect").first
    day = bar.get_attribute("data-day")
    bar.click()
    page.wait_for_url(re.compile(f"from={day}&to={day}"))
    assert page.locator(".chip", has_text=f"From: {day}").count() == 1


def test_keyboard_moves_opens_expands_and_helps(page: Any, stack: Stack) -> None:
    search(page, stack, "Russia")
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    assert page.get_attribute(".hit.selected", "id") == "hit-1"
    page.keyboard.press("j")
    assert page.get_attribute(".hit.selected", "id") == "hit-2"
    page.keyboard.press("k")
    assert page.get_attribute(".hit.selected", "id") == "hit-1"
    page.keyboard.press("x")
    page.wait_for_selector(".hit.selected details[open] .members li")
    screenshot(page, "story-expanded")
    page.keyboard.press("?")
    assert page.locator("#shortcuts").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("#shortcuts").is_visible()
    href = page.get_attribute(".hit.selected", "data-href")
    page.keyboard.press("o")
    page.wait_for_url(re.compile(re.escape(href) + "$"))


def test_story_page_shows_what_inosmi_changed(page: Any, stack: Stack) -> None:
    page.goto(f"{stack.url}/story/{seed_story_id(stack)}")
    inosmi = page.locator(".member", has_text="InoSMI — World (English)").first
    assert INOSMI_INSERTION in " ".join(inosmi.locator(".change ins").all_inner_texts())
    marked = " ".join(inosmi.locator(".change.edited ins, .change.edited del").all_inner_texts())
    assert "Suju" in marked
    assert "Lecorny" in marked
    assert page.locator(".member .join summary", has_text="Joined by").count() >= 2
    assert page.locator("[lang='ru'][dir='ltr']").count() >= 1
    inosmi.scroll_into_view_if_needed()
    screenshot(page, "story-diff")
    page.click("a:has-text('inline')")
    page.wait_for_selector(".diff.inline")


def test_a_newly_ingested_article_is_announced_without_reloading(page: Any, stack: Stack) -> None:
    search(page, stack, "Kursk")
    page.evaluate("window.__marker = 'same page'")
    now = datetime.now(UTC).isoformat()
    article = Article(
        feed_id="live-test",
        source="Live Desk",
        guid="live-kursk-1",
        url="https://live.example.org/kursk-1",
        original_url="https://live.example.org/kursk-1",
        title="Drone strike reported near Kursk power substation",
        summary="Officials in Kursk region reported a drone strike on a power substation.",
        body=(
            "Officials in the Kursk region said on Thursday that a drone struck a power "
            "substation overnight, cutting electricity to 4,200 homes in three villages."
        ),
        body_html="",
        published_at=now,
        fetched_at=now,
        language_hint="en",
    )
    stack.ingest([article])
    page.wait_for_selector("#live:not([hidden])", timeout=45_000)
    assert page.inner_text("#live") == "1 new story — show"
    assert page.evaluate("window.__marker") == "same page"
    page.click("#live-show")
    page.wait_for_selector(".hit:has-text('Drone strike reported near Kursk')")


def test_hostile_feed_values_render_inert(page: Any, stack: Stack) -> None:
    search(page, stack, "hostileprobe")
    assert page.title() == "hostileprobe — search · newswire"
    titles = page.locator(".hit .title").all_inner_texts()
    assert any("<script>window.__pwned='title'</script>" in t for t in titles)
    assert any("</title><script>" in t for t in titles)
    assert any("🇺🇦" in t for t in titles)
    assert page.locator(".hit .source", has_text="Hostile <b>Feed</b>").count() >= 1
    assert_inert(page)
    tallest = max(page.eval_on_selector_all(".hit", "h => h.map(e => e.offsetHeight)"))
    assert tallest < 400
    screenshot(page, "hostile")
    for story in page.eval_on_selector_all(".hit", "hits => hits.map(h => h.dataset.story)"):
        page.goto(f"{stack.url}/story/{story}")
        assert_inert(page)
    page.goto(f"{stack.url}/feed-health")
    assert page.locator(".feed-id", has_text="hostile<svg onload=alert(1)>").count() == 1
    assert page.locator(".reason", has_text='</title><script>alert("reason")</script>').count() == 1
    assert_inert(page)


def test_bad_queries_show_the_message_inline_and_unknown_stories_a_404(
    page: Any, stack: Stack
) -> None:
    response = page.goto(f"{stack.url}/?q=Kursk&from=yesterday")
    assert response.status == 400
    assert "from must be a date like 2025-03-12" in page.inner_text("#search-error")
    assert page.input_value("#q") == "Kursk"
    response = page.goto(f"{stack.url}/story/no-such-story")
    assert response.status == 404
    assert page.inner_text("h1") == "Not found"
    headers = httpx.get(f"{stack.url}/").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"


@pytest.fixture
def api_without_elasticsearch(stack: Stack, tmp_path: Any) -> Iterator[str]:
    env = {**stack.env, "NEWSWIRE_ES_URL": f"http://127.0.0.1:{free_port()}"}
    server: subprocess.Popen[bytes]
    server, url = serve_api(env, tmp_path / "uvicorn.log")
    yield url
    stop(server)


def test_elasticsearch_down_shows_a_banner_and_the_live_endpoint_says_503(
    page: Any, api_without_elasticsearch: str
) -> None:
    response = page.goto(f"{api_without_elasticsearch}/?q=Kursk")
    assert response.status == 503
    assert "Search is unavailable" in page.inner_text("#backend-down")
    answer = httpx.get(f"{api_without_elasticsearch}/web/new?q=Kursk&since=2025-03-12T00:00:00Z")
    assert (answer.status_code, answer.json()) == (503, {"error": "search backend unavailable"})


def test_feed_actions_need_the_admin_login_and_a_csrf_token(page: Any, stack: Stack) -> None:
    page.goto(f"{stack.url}/feed-health")
    assert page.locator("button:has-text('Pause')").count() == 0
    # A forged post (no CSRF token, no session) changes nothing.
    forged = page.request.post(
        f"{stack.url}/feed-health/reuters-world/pause", form={"csrf": "x"}, max_redirects=0
    )
    assert forged.status == 403
    assert stack.feeds.get("reuters-world").state.status == "active"
    page.click("a:has-text('Log in as admin')")
    page.fill("#token", "wrong")
    page.click("button:has-text('Log in')")
    assert "not the admin token" in page.inner_text(".banner.error")
    page.fill("#token", ADMIN_TOKEN)
    page.click("button:has-text('Log in')")
    page.wait_for_url(re.compile(r"/feed-health$"))
    cookie = next(c for c in page.context.cookies() if c["name"] == "newswire_admin")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    assert ADMIN_TOKEN not in cookie["value"]
    page.click("button[aria-label='Pause reuters-world']")
    page.wait_for_selector(".banner.ok:has-text('Feed paused')")
    assert stack.feeds.get("reuters-world").state.status == "paused"
    page.click("button[aria-label='Resume reuters-world']")
    page.wait_for_selector(".banner.ok:has-text('Feed resumed')")
    assert stack.feeds.get("reuters-world").state.status == "active"
    page.fill("#feed_id", "agency-wire")
    page.fill("#url", "https://agency.example.org/wire.xml")
    page.click("button:has-text('Add')")
    page.wait_for_selector(".feed-id:has-text('agency-wire')")
    screenshot(page, "feed-health")


def test_alerts_and_actors_pages(page: Any, stack: Stack) -> None:
    page.goto(f"{stack.url}/watch/alerts")
    assert page.locator("table.alerts tbody tr").count() >= 1
    page.select_option("#actor", "valery-gerasimov")
    page.click("button:has-text('Filter')")
    page.wait_for_url(re.compile(r"actor=valery-gerasimov"))
    actors = set(page.locator("table.alerts tbody td:nth-child(2)").all_inner_texts())
    assert actors == {"Valery Gerasimov"}
    assert page.locator("#rules h2").inner_text() == "Rules and delivery"
    screenshot(page, "alerts")
    page.locator("table.alerts tbody td:nth-child(3) a").first.click()
    page.wait_for_url(re.compile(r"/story/"))
    page.goto(f"{stack.url}/watch/actors")
    assert page.locator(".aliases li", has_text="Суджа").count() == 1
    screenshot(page, "actors")


@pytest.mark.parametrize(
    "path", ["/?q=Kursk", "/?q=hostileprobe", "/watch/alerts", "/watch/actors", "/feed-health"]
)
def test_no_serious_or_critical_accessibility_violations(
    page: Any, stack: Stack, path: str
) -> None:
    page.goto(stack.url + path)
    page.evaluate(AXE.read_text(encoding="utf-8"))
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    serious = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results["violations"]
        if v["impact"] in {"serious", "critical"}
    ]
    assert serious == [], serious


def test_story_page_accessibility(page: Any, stack: Stack) -> None:
    page.goto(f"{stack.url}/story/{seed_story_id(stack)}")
    page.evaluate(AXE.read_text(encoding="utf-8"))
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    assert [v["id"] for v in results["violations"] if v["impact"] in {"serious", "critical"}] == []
