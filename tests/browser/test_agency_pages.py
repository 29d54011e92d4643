"""Agency items on the pages, in Debian's chromium against the real stack with the agency
samples ingested: urgency and subject facets, the corrections-only filter, corrections flagged
on the story, embargoed items for admins only, withdrawn items flagged when opened by id."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import Stack
from tests.browser.test_rules import login, serious_violations

pytestmark = [pytest.mark.browser, pytest.mark.integration]

QUAKE_PARAM = "subject=medtop%3A20000151"


def total(page: Any) -> int:
    return int(page.inner_text("#results-title").split()[0].replace(",", ""))


def article_id(stack: Stack, phrase: str) -> str:
    response = stack.search.es.search(
        index=stack.settings.articles_alias, query={"match_phrase": {"title": phrase}}, size=1
    )
    hits = response["hits"]["hits"]
    assert hits, phrase
    return str(hits[0]["_id"])


def test_subject_and_urgency_facets_narrow_the_results(page: Any, stack: Stack) -> None:
    page.goto(stack.url + "/")
    everything = total(page)
    subject = page.locator(f"a.facet-value[data-facet='subject'][href*='{QUAKE_PARAM}']")
    assert subject.count() == 1
    label = subject.locator(".value").inner_text()
    assert label in {"earthquake", "terremoto"}  # the subject's name, not its id
    subject.click()
    page.wait_for_url(re.compile(re.escape(QUAKE_PARAM)))
    assert 0 < total(page) < everything
    assert "Cosentino" in page.inner_text("#hits")
    assert page.locator(".chip", has_text=f"Subject: {label}").count() == 1
    page.goto(stack.url + "/")
    urgent = page.locator("a.facet-value[data-facet='urgency']", has_text="3 (urgent)")
    urgent.click()
    page.wait_for_url(re.compile(r"urgency=3"))
    narrowed = total(page)
    assert 0 < narrowed < everything
    titles = page.inner_text("#hits")
    assert "Cosentino" in titles
    assert "particules" not in titles  # urgency 4, and embargoed besides


def test_corrections_only_keeps_the_corrected_item_flagged(page: Any, stack: Stack) -> None:
    page.goto(stack.url + "/")
    everything = total(page)
    page.check("#corrections")
    page.click("button:has-text('Search')")
    page.wait_for_url(re.compile(r"corrections=true"))
    assert total(page) == 1 < everything
    hit = page.locator(".hit").first
    assert "Cosentino" in hit.inner_text()
    assert hit.locator(".badge.corrected").count() == 1
    assert page.locator(".chip", has_text="Only: corrections").count() == 1
    hit.locator("h2 a").click()
    page.wait_for_url(re.compile(r"/story/"))
    assert page.locator(".correction-note").count() == 1
    page.locator("details.versions summary").first.click()
    assert "4.2" in page.inner_text("details.versions")  # the text the correction replaced


def test_embargoed_items_are_for_admins_only_and_flagged(page: Any, stack: Stack) -> None:
    doc = article_id(stack, "particules fines")
    page.goto(f"{stack.url}/?q=particules")
    assert page.locator(".hit").count() == 0
    # Asking for hidden items in the URL does nothing for a reader.
    page.goto(f"{stack.url}/?q=particules&hidden=true")
    assert page.locator(".hit").count() == 0
    assert page.locator("#hidden").count() == 0
    assert page.locator(".chip", has_text="embargoed and withdrawn").count() == 0
    assert page.goto(f"{stack.url}/go/article/{doc}").status == 404
    assert page.goto(f"{stack.url}/article/{doc}").status == 404
    login(page, stack, "/")
    page.fill("#q", "particules")
    page.check("#hidden")
    page.click("button:has-text('Search')")
    page.wait_for_url(re.compile(r"hidden=true"))
    hit = page.locator(".hit")
    assert hit.count() == 1
    assert "embargoed until" in hit.locator(".badge.embargoed").inner_text()
    page.goto(f"{stack.url}/go/article/{doc}")
    page.wait_for_url(re.compile(f"/article/{doc}$"))
    assert "Embargoed" in page.inner_text("#embargoed")
    assert serious_violations(page) == []


def test_withdrawn_items_are_flagged_when_opened_by_id(page: Any, stack: Stack) -> None:
    doc = article_id(stack, "disaster relief bill")
    page.goto(f"{stack.url}/?q=disaster+relief")
    assert "Senate passes" not in page.inner_text("main")
    page.goto(f"{stack.url}/go/article/{doc}")
    page.wait_for_url(re.compile(f"/article/{doc}$"))
    assert "Withdrawn" in page.inner_text("#withdrawn")
    assert "Senate passes" in page.inner_text("h1")
    assert page.locator(".badge.withdrawn").count() == 1
    assert serious_violations(page) == []
    login(page, stack, "/")
    page.goto(f"{stack.url}/?q=disaster+relief&hidden=true")
    assert page.locator(".hit .badge.withdrawn").count() == 1
