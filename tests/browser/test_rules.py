"""The alert-rule pages and the inbox in Debian's chromium against the real stack: a rule created
through the form (admin login and CSRF token), tested against the last 7 days, edited and
deleted; secrets never sent back; rule errors inline; the inbox's read marks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from newswire.alerts.rule_store import DeliveryJob, RuleStore, rule_store_for
from newswire.alerts.service import AlertsService
from pipeline.models import Article
from tests.browser.conftest import ADMIN_TOKEN, AXE, Stack, screenshot
from tests.browser.test_pages import seed_story_id

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SECRET = "kursk-desk-signing-secret-0042"
HOOK = "https://hooks.example.org/services/T0DESK/B0KURSK/pathcredential"


@pytest.fixture
def rules(stack: Stack) -> Iterator[RuleStore]:
    client = redis.Redis.from_url(stack.settings.redis_url, decode_responses=True)
    store = rule_store_for(client, stack.settings)
    yield store
    for rule in store.rules():
        store.delete(rule.id)
    client.close()


def login(page: Any, stack: Stack, then: str) -> None:
    page.goto(f"{stack.url}/login?next={then}")
    page.fill("#token", ADMIN_TOKEN)
    page.click("button:has-text('Log in')")
    page.wait_for_url(re.compile(re.escape(then) + "$"))


def serious_violations(page: Any) -> list[Any]:
    page.evaluate(AXE.read_text(encoding="utf-8"))
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results["violations"]
        if v["impact"] in {"serious", "critical"}
    ]


def test_rule_changes_need_the_admin_login_and_the_csrf_token(
    page: Any, stack: Stack, rules: RuleStore
) -> None:
    page.goto(f"{stack.url}/watch/rules")
    assert page.locator("a:has-text('New rule')").count() == 0
    response = page.goto(f"{stack.url}/watch/rules/new")
    assert "/login" in page.url
    assert response.status == 200
    forged = page.request.post(
        f"{stack.url}/watch/rules/new",
        form={"csrf": "x", "name": "Forged", "query": "Kursk", "enabled": "1"},
        max_redirects=0,
    )
    assert forged.status == 403
    login(page, stack, "/watch/rules")
    # Logged in, a post without the page's token is still refused.
    forged = page.request.post(
        f"{stack.url}/watch/rules/new",
        form={"csrf": "x", "name": "Forged", "query": "Kursk", "enabled": "1"},
        max_redirects=0,
    )
    assert forged.status == 403
    assert rules.rules() == []


def test_a_rule_is_created_tested_edited_and_deleted_through_the_pages(
    page: Any, stack: Stack, rules: RuleStore
) -> None:
    story = seed_story_id(stack)
    login(page, stack, "/watch/rules")
    page.click("a:has-text('New rule')")
    page.fill("#name", "Kursk desk")
    page.fill("#owner", "Night desk")
    page.fill("#query", "Kursk")
    page.fill("#new-webhook-url", "http://169.254.169.254/latest/hook")
    page.fill("#new-webhook-secret", SECRET)
    page.click("#save-rule")
    # The service's message, inline, with the form as typed; the secret is not sent back.
    assert "channels[0].url" in page.inner_text("#rule-error")
    assert page.input_value("#name") == "Kursk desk"
    assert page.input_value("#new-webhook-secret") == ""
    assert SECRET not in page.content()
    assert rules.rules() == []

    page.fill("#new-webhook-url", HOOK)
    page.select_option("#new-webhook-format", "slack")
    page.fill("#new-email-to", "desk@example.org")
    page.click("#test-form")
    results = page.locator("#test-results")
    assert results.locator(f"a[href='/story/{story}']").count() == 1
    assert rules.rules() == []  # testing saves nothing

    page.fill("#new-webhook-secret", SECRET)
    page.click("#save-rule")
    page.wait_for_url(re.compile(r"/watch/rules/kursk-desk\?done=created$"))
    assert page.inner_text(".banner.ok") == "Rule created."
    stored = rules.get("kursk-desk")
    assert stored is not None
    assert (stored.query, stored.owner, stored.frequency) == ("Kursk", "Night desk", "instant")
    assert [c.type for c in stored.channels] == ["webhook", "email"]
    for text in (SECRET, "pathcredential"):
        assert text not in page.content()
    assert page.locator(".channel .target", has_text="https://hooks.example.org/…").count() == 1

    page.click("#test-rule")
    page.wait_for_url(re.compile(r"\?test=7"))
    assert page.locator(f"#test-results a[href='/story/{story}']").count() == 1

    page.goto(f"{stack.url}/watch/rules")
    row = page.locator("#rule-kursk-desk")
    assert "Query: Kursk" in row.inner_text()
    assert "desk@example.org" in row.inner_text()
    assert "nothing delivered yet" in row.inner_text()
    assert "webhook · Slack" in row.inner_text()
    for text in (SECRET, "pathcredential"):
        assert text not in page.content()
    screenshot(page, "rules")

    row.locator("a:has-text('Edit')").click()
    page.wait_for_url(re.compile(r"/watch/rules/kursk-desk/edit$"))
    assert page.input_value("#name") == "Kursk desk"
    assert page.input_value("#query") == "Kursk"
    assert page.input_value("#channel-1-to") == "desk@example.org"
    for text in (SECRET, "pathcredential"):
        assert text not in page.content()
    page.select_option("#frequency", "daily")
    page.fill("#quiet_start", "22:00")
    page.fill("#quiet_end", "07:00")
    page.fill("#timezone", "Europe/Kyiv")
    screenshot(page, "rule-edit")
    page.click("#save-rule")
    page.wait_for_url(re.compile(r"/watch/rules/kursk-desk\?done=saved$"))
    edited = rules.get("kursk-desk")
    assert edited is not None
    assert (edited.frequency, edited.quiet.start, edited.quiet.end) == ("daily", "22:00", "07:00")
    # The webhook kept its address and secret though the form never carried them.
    assert edited.channels == stored.channels

    page.select_option("#hours", "4")
    page.click("#snooze")
    page.wait_for_url(re.compile(r"done=snoozed$"))
    snoozed = rules.get("kursk-desk")
    assert snoozed is not None
    assert snoozed.quiet.snoozed_until is not None
    assert snoozed.quiet.start == "22:00"
    assert page.locator(".facts dt", has_text="Snoozed until").count() == 1
    page.click("#wake")
    page.wait_for_url(re.compile(r"done=woken$"))
    woken = rules.get("kursk-desk")
    assert woken is not None
    assert woken.quiet.snoozed_until is None

    page.click("#delete-rule")
    assert "Delete the rule" in page.inner_text("h1")
    assert rules.get("kursk-desk") is not None  # asking is not deleting
    page.click("#confirm-delete")
    page.wait_for_url(re.compile(r"/watch/rules\?done=deleted$"))
    assert page.inner_text(".banner.ok") == "Rule deleted."
    assert rules.get("kursk-desk") is None
    assert page.locator("#rule-kursk-desk").count() == 0


def test_inbox_shows_a_rule_alert_newest_first_and_marks_it_read(
    page: Any, stack: Stack, rules: RuleStore
) -> None:
    service = AlertsService(rules, stack.search, stack.settings)
    service.create_rule({"id": "grain-watch", "name": "Grain watch", "query": '"grain terminal"'})
    now = datetime.now(UTC).isoformat()
    stack.ingest(
        [
            Article(
                feed_id="inbox-test",
                source="Port Desk",
                guid="inbox-grain-1",
                url="https://port.example.org/grain-1",
                original_url="https://port.example.org/grain-1",
                title="Fire breaks out at Odesa grain terminal",
                summary="A fire broke out at a grain terminal in the port of Odesa.",
                body=(
                    "A fire broke out on Tuesday at a grain terminal in the port of Odesa, "
                    "the port authority said, and 40 firefighters were sent to the scene."
                ),
                body_html="",
                published_at=now,
                fetched_at=now,
                language_hint="en",
            )
        ]
    )
    login(page, stack, "/watch/alerts")
    matched = page.eval_on_selector_all(
        "table.alerts tbody tr td:first-child time", "ts => ts.map(t => t.getAttribute('datetime'))"
    )
    assert len(matched) >= 2
    moments = [datetime.fromisoformat(m) for m in matched]
    assert moments == sorted(moments, reverse=True)

    # The keyboard moves between alerts as between search hits.
    page.locator("h1").click()
    page.keyboard.press("j")
    assert page.get_attribute("tr.hit.selected", "id") == "hit-1"
    page.keyboard.press("j")
    assert page.get_attribute("tr.hit.selected", "id") == "hit-2"
    first = page.get_attribute("#hit-1", "data-href")
    page.keyboard.press("k")
    page.keyboard.press("o")
    page.wait_for_url(re.compile(re.escape(first) + "$"))
    page.go_back()

    page.select_option("#rule", "grain-watch")
    page.click("button:has-text('Filter')")
    page.wait_for_url(re.compile(r"rule=grain-watch"))
    row = page.locator("table.alerts tbody tr")
    assert row.count() == 1
    assert "Fire breaks out at Odesa grain terminal" in row.inner_text()
    assert "unread" in (row.get_attribute("class") or "")
    story_link = row.locator("a[href^='/story/']")
    alert = row.get_attribute("data-alert")
    row.locator("button:has-text('Mark read')").click()
    page.wait_for_selector(f"tr.read[data-alert='{alert}']")
    assert "rule=grain-watch" in page.url  # back to the inbox as it was filtered
    record = stack.search.es.get(index=stack.settings.alerts_index, id=alert)["_source"]
    assert record["read_at"]
    page.check("input[name='unread']")
    page.click("button:has-text('Filter')")
    page.wait_for_url(re.compile(r"unread=1"))
    assert page.locator(f"tr[data-alert='{alert}']").count() == 0
    page.go_back()
    page.locator(f"tr[data-alert='{alert}'] button:has-text('Mark unread')").click()
    page.wait_for_selector(f"tr.unread[data-alert='{alert}']")
    href = story_link.first.get_attribute("href")
    page.locator(f"tr[data-alert='{alert}'] a[href^='/story/']").click()
    page.wait_for_url(re.compile(re.escape(href) + "$"))
    assert "Odesa grain terminal" in page.inner_text("h1")


def test_rule_pages_have_no_serious_accessibility_violations(
    page: Any, stack: Stack, rules: RuleStore
) -> None:
    service = AlertsService(rules, stack.search, stack.settings)
    service.create_rule(
        {
            "id": "kursk-check",
            "name": "Kursk check",
            "query": "Kursk",
            "channels": [{"type": "email", "to": ["desk@example.org"]}],
        }
    )
    login(page, stack, "/watch/rules")
    for path in (
        "/watch/rules",
        "/watch/rules/new",
        "/watch/rules/kursk-check?test=7",
        "/watch/rules/kursk-check/edit",
        "/watch/rules/kursk-check/delete",
        "/watch/alerts",
    ):
        page.goto(stack.url + path)
        assert serious_violations(page) == [], path
        assert page.evaluate("window.__violations") == [], path


def test_unknown_rules_are_404_and_bad_test_days_say_why(
    page: Any, stack: Stack, rules: RuleStore
) -> None:
    assert page.goto(f"{stack.url}/watch/rules/no-such-rule").status == 404
    AlertsService(rules, stack.search, stack.settings).create_rule(
        {"id": "kursk-days", "name": "Kursk days", "query": "Kursk"}
    )
    response = page.goto(f"{stack.url}/watch/rules/kursk-days?test=400")
    assert response.status == 400
    assert "days must be between 1 and 90" in page.inner_text("#rule-error")


def test_hostile_rule_values_render_inert(page: Any, stack: Stack, rules: RuleStore) -> None:
    name = '<img src=x onerror="window.__pwned=1"> Kursk </td><script>window.__pwned=2</script>'
    AlertsService(rules, stack.search, stack.settings).create_rule(
        {"id": "hostile-rule", "name": name, "query": '"</textarea><b>x"', "owner": "<b>o</b>"}
    )
    for path in ("/watch/rules", "/watch/rules/hostile-rule?test=7"):
        page.goto(stack.url + path)
        assert name in page.inner_text("main")
        assert page.locator("main img, main b, main script").count() == 0
        assert page.evaluate("window.__pwned") is None
        assert page.evaluate("window.__violations") == []
    login(page, stack, "/watch/rules/hostile-rule/edit")
    assert page.input_value("#name") == name
    assert page.input_value("#query") == '"</textarea><b>x"'
    assert page.locator("main b, main script").count() == 0


def test_dead_letters_are_listed_masked_and_replayed(
    page: Any, stack: Stack, rules: RuleStore
) -> None:
    AlertsService(rules, stack.search, stack.settings).create_rule(
        {
            "id": "kursk-hook",
            "name": "Kursk hook",
            "query": "Kursk",
            "channels": [{"type": "webhook", "url": HOOK, "secret": SECRET}],
        }
    )
    job = DeliveryJob(
        id="dead-job-1",
        kind="alert",
        rule_id="kursk-hook",
        channel=f"webhook:{HOOK}",
        created_at=datetime.now(UTC).isoformat(),
        attempts=8,
    )
    rules.dead_letter(job, f"after 8 attempt(s): HTTP 410 from {HOOK}", now=datetime.now(UTC))
    page.goto(f"{stack.url}/watch/rules")
    row = page.locator("table.dead tr[data-job='dead-job-1']")
    assert "HTTP 410 from https://hooks.example.org/…" in row.inner_text()
    assert "pathcredential" not in page.content()
    assert row.locator("button").count() == 0  # replaying is for admins
    login(page, stack, "/watch/rules")
    page.locator("table.dead tr[data-job='dead-job-1'] button:has-text('Replay')").click()
    page.wait_for_url(re.compile(r"done=replayed"))
    assert "owed again" in page.inner_text(".banner.ok")
    assert [d["job"]["id"] for d in rules.dead_letters()] == []
    assert "dead-job-1" in [owed.id for owed, _ in rules.jobs()]
    assert page.locator("table.owed", has_text="kursk-hook").count() == 1
    rules.finish_job("dead-job-1")


def test_a_search_becomes_a_rule_with_its_facets_named(
    page: Any, stack: Stack, rules: RuleStore
) -> None:
    login(page, stack, "/")
    page.fill("#q", "Russia")
    page.press("#q", "Enter")
    page.click("a.facet-value[data-facet='person']:has-text('Valery Gerasimov')")
    page.wait_for_url(re.compile(r"person=[^&]+"))
    page.click("#alert-on-search")
    page.wait_for_url(re.compile(r"/watch/rules/new\?q=Russia&person="))
    assert page.input_value("#query") == "Russia"
    assert page.input_value("#filters").startswith("person: ")
    page.fill("#name", "Gerasimov on Russia")
    page.click("#test-form")
    assert page.locator("#test-results .match").count() >= 1
    page.click("#save-rule")
    page.wait_for_url(re.compile(r"/watch/rules/gerasimov-on-russia\?done=created$"))
    stored = rules.get("gerasimov-on-russia")
    assert stored is not None
    assert list(stored.filters) == ["person"]
    # The rule filters by the entity's id and reads as its name.
    assert "Person: Valery Gerasimov" in page.inner_text(".conditions")
