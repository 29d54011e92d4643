"""Polling against a real HTTP server on 127.0.0.1 and the real Redis: every way a feed server
answers, and what each does to the feed's state, its next due time and what gets ingested.

These run the poller in the test process (the worker-process cases are in
test_polling_workers.py); each test has its own key prefix, so schedules never mix.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from newswire.feeds.polling import PollReport, poll_feeds_async, schedule_due
from newswire.feeds.store import FeedStore, UnknownFeed
from newswire.ingest.store import RedisStore
from newswire.settings import Settings
from pipeline.feedlist import FeedConfig
from pipeline.models import Article
from pipeline.schedule import ACTIVE, DISABLED, PAUSED
from tests.feedserver import FeedServer, Reply, hours_ago, rss

pytestmark = pytest.mark.integration

MIN, MAX = 60, 600


@pytest.fixture(scope="module")
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


@dataclass
class Rig:
    """One test's poller setup: settings, its own store prefix, the server, what was enqueued."""

    settings: Settings
    store: FeedStore
    server: FeedServer
    enqueued: list[Article]

    def add(self, feed_id: str, path: str, **config: Any) -> None:
        self.store.add(FeedConfig(id=feed_id, url=self.server.url(path), **config))

    def poll(self, *feed_ids: str, claim: int | None = None) -> list[PollReport]:
        return asyncio.run(
            poll_feeds_async(
                [(f, claim) for f in feed_ids], settings=self.settings, enqueue=self.enqueued.extend
            )
        )

    def poll_one(self, feed_id: str) -> tuple[PollReport, float, float]:
        before = time.time()
        (report,) = self.poll(feed_id)
        return report, before, time.time()

    def due(self, feed_id: str) -> float | None:
        score = self.store.client.zscore(self.store.keys.due, feed_id)
        return None if score is None else float(score) / 1000


@pytest.fixture
def rig(settings: Settings, redis_store: RedisStore, server: FeedServer) -> Iterator[Rig]:
    server.routes.clear()
    server.log.clear()
    prefix = f"{settings.index_prefix}-poll-{secrets.token_hex(3)}"
    test_settings = settings.model_copy(
        update={
            "index_prefix": prefix,
            "poll_min_interval_seconds": MIN,
            "poll_max_interval_seconds": MAX,
            "poll_jitter": 0.0,
            "poll_max_errors": 3,
            "poll_max_backoff_seconds": 3600,
            "poll_lease_seconds": 30,
            "host_max_concurrency": 8,
            "host_min_delay_seconds": 0.0,
            "fetch_timeout_seconds": 1.5,
            "fetch_connect_timeout_seconds": 1.0,
            "fetch_read_timeout_seconds": 0.6,
            "max_feed_bytes": 64 * 1024,
            "max_redirects": 3,
        }
    )
    store = FeedStore(redis_store.client, prefix)
    yield Rig(test_settings, store, server, [])
    for key in store.client.scan_iter(f"{prefix}:*"):
        store.client.delete(key)


def _items(n: int, prefix: str = "story", hours_apart: float = 1.0) -> bytes:
    return rss([(f"{prefix}-{i}", f"{prefix} {i}", hours_ago(i * hours_apart)) for i in range(n)])


def _assert_due(rig: Rig, feed_id: str, seconds: float, before: float, after: float) -> None:
    state = rig.store.get(feed_id).state
    assert state.next_due is not None
    assert before + seconds - 0.01 <= state.next_due <= after + seconds + 0.01
    assert rig.due(feed_id) == pytest.approx(state.next_due, abs=0.002)


# --- 200 and 304 ------------------------------------------------------------------------------


def test_200_ingests_every_entry_stores_validators_and_schedules_by_publishing_rate(rig: Rig):
    # Six entries an hour apart: one every hour, within [MIN, MAX] -> the maximum, 600 s.
    rig.server.routes["/ok"] = Reply(
        body=_items(6), etag='"v1"', headers={"Last-Modified": "Wed, 12 Mar 2025 10:00:00 GMT"}
    )
    rig.add("ok", "/ok", source="Wire", language="en")
    report, before, after = rig.poll_one("ok")
    assert (report.outcome, report.status, report.new_entries) == ("ok", "200", 6)
    assert sorted(a.guid or "" for a in rig.enqueued) == [f"story-{i}" for i in range(6)]
    assert {a.source for a in rig.enqueued} == {"Wire"}
    state = rig.store.get("ok").state
    assert (state.etag, state.last_modified) == ('"v1"', "Wed, 12 Mar 2025 10:00:00 GMT")
    assert (state.consecutive_errors, state.last_new_entries, state.polls) == (0, 6, 1)
    assert state.entries_per_day == pytest.approx(6 / (5 / 24), rel=1e-3)
    _assert_due(rig, "ok", MAX, before, after)
    assert rig.store.get("ok", daily=True).daily == {time.strftime("%Y-%m-%d", time.gmtime()): 6}


def test_a_fast_feed_is_polled_at_the_minimum_and_per_feed_bounds_apply(rig: Rig):
    rig.server.routes["/fast"] = Reply(body=_items(20, hours_apart=0.01))
    rig.add("fast", "/fast")
    rig.add("fast-own-bounds", "/fast", min_interval=120)
    _, before, after = rig.poll_one("fast")
    _assert_due(rig, "fast", MIN, before, after)
    _, before, after = rig.poll_one("fast-own-bounds")
    _assert_due(rig, "fast-own-bounds", 120, before, after)


def test_304_costs_no_parse_and_nothing_is_ingested(rig: Rig):
    rig.server.routes["/cond"] = Reply(
        body=_items(3), etag='"v7"', headers={"Last-Modified": "Tue, 11 Mar 2025 09:00:00 GMT"}
    )
    rig.add("cond", "/cond")
    rig.poll("cond")
    rig.enqueued.clear()
    # From now on, a body would be unparseable: only a conditional GET can make this pass.
    rig.server.routes["/cond"] = Reply(body=b"<html>not a feed</html>", etag='"v7"')
    report, before, after = rig.poll_one("cond")
    assert (report.outcome, report.status) == ("not_modified", "304")
    assert rig.enqueued == []
    second = rig.server.requests("/cond")[1].headers
    assert second["if-none-match"] == '"v7"'
    assert second["if-modified-since"] == "Tue, 11 Mar 2025 09:00:00 GMT"
    state = rig.store.get("cond").state
    assert (state.last_status, state.etag, state.polls) == ("304", '"v7"', 2)
    _assert_due(rig, "cond", MAX, before, after)


def test_only_entries_the_feed_has_not_shown_before_are_ingested(rig: Rig):
    # A server without validators: every poll is a 200 with the whole document.
    rig.server.routes["/same"] = Reply(body=_items(3))
    rig.add("same", "/same")
    rig.poll("same")
    assert len(rig.enqueued) == 3
    rig.enqueued.clear()
    assert rig.poll("same")[0].new_entries == 0
    assert rig.enqueued == []
    rig.server.routes["/same"] = Reply(
        body=rss(
            [("fresh-1", "Fresh one", hours_ago(0)), *[(f"story-{i}", "x", None) for i in (0, 1)]]
        )
    )
    (report,) = rig.poll("same")
    assert report.new_entries == 1
    assert [a.guid for a in rig.enqueued] == ["fresh-1"]
    assert rig.store.get("same").state.last_new_entries == 1


def test_cache_control_max_age_postpones_the_next_poll(rig: Rig):
    rig.server.routes["/cached"] = Reply(
        body=_items(20, hours_apart=0.01), headers={"Cache-Control": "max-age=300"}
    )
    rig.add("cached", "/cached")
    _, before, after = rig.poll_one("cached")
    _assert_due(rig, "cached", 300, before, after)  # the rate alone would say MIN (60 s)


# --- redirects ------------------------------------------------------------------------------


def test_a_301_chain_updates_the_stored_url_and_a_302_does_not(rig: Rig):
    rig.server.routes["/new-home"] = Reply(body=_items(2))
    rig.server.routes["/moved"] = Reply(301, headers={"Location": "/moved-again"})
    rig.server.routes["/moved-again"] = Reply(301, headers={"Location": "/new-home"})
    rig.server.routes["/visiting"] = Reply(302, headers={"Location": "/new-home"})
    rig.add("moved", "/moved")
    rig.add("visiting", "/visiting")
    assert [r.outcome for r in rig.poll("moved", "visiting")] == ["ok", "ok"]
    assert rig.store.get("moved").config.url == rig.server.url("/new-home")
    assert rig.store.get("visiting").config.url == rig.server.url("/visiting")
    rig.poll("moved")
    assert [s.path for s in rig.server.log].count("/moved") == 1  # the next poll goes direct


def test_too_many_redirects_is_an_error(rig: Rig):
    rig.server.routes["/loop"] = Reply(302, headers={"Location": "/loop"})
    rig.add("loop", "/loop")
    report, before, after = rig.poll_one("loop")
    assert report.error == "more than 3 redirects"
    assert rig.store.get("loop").state.last_error_kind == "redirects"
    _assert_due(rig, "loop", MIN, before, after)


# --- errors, backoff, disabling -------------------------------------------------------------


def test_404_counts_an_error_and_backs_off(rig: Rig):
    rig.add("missing", "/nothing-here")
    report, before, after = rig.poll_one("missing")
    assert (report.outcome, report.status, report.error) == ("error", "404", "HTTP 404")
    state = rig.store.get("missing").state
    assert (state.status, state.consecutive_errors, state.last_error_kind) == (
        ACTIVE,
        1,
        "http_4xx",
    )
    _assert_due(rig, "missing", MIN, before, after)


def test_410_disables_at_once_with_the_reason(rig: Rig):
    rig.server.routes["/gone"] = Reply(410, b"gone for good")
    rig.add("gone", "/gone")
    (report,) = rig.poll("gone")
    assert report.disabled
    state = rig.store.get("gone").state
    assert (state.status, state.reason, state.next_due) == (DISABLED, "410 Gone: HTTP 410", None)
    assert rig.due("gone") is None
    _claim, due = rig.store.claim_due(now=time.time() + 10 * MAX, lease_seconds=30)
    assert "gone" not in due


def test_429_retry_after_sets_the_next_poll(rig: Rig):
    rig.server.routes["/busy"] = Reply(429, b"slow down", headers={"Retry-After": "240"})
    rig.add("busy", "/busy")
    report, before, after = rig.poll_one("busy")
    assert report.status == "429"
    assert rig.store.get("busy").state.last_error_kind == "http_429"
    _assert_due(rig, "busy", 240, before, after)  # the backoff alone would say 60 s


def test_500s_back_off_exponentially_then_disable_and_success_resets(rig: Rig):
    rig.server.routes["/flaky"] = Reply(500, b"oops")
    rig.add("flaky", "/flaky")
    for errors, wait in ((1, MIN), (2, 2 * MIN)):
        _, before, after = rig.poll_one("flaky")
        assert rig.store.get("flaky").state.consecutive_errors == errors
        _assert_due(rig, "flaky", wait, before, after)
    (report,) = rig.poll("flaky")
    state = rig.store.get("flaky").state
    assert report.disabled
    assert (state.status, state.reason) == (DISABLED, "3 consecutive failures, last: HTTP 500")
    assert rig.due("flaky") is None
    # An operator fixes it and resumes: errors forgiven, due at once, and a success clears all.
    rig.store.resume("flaky")
    assert rig.due("flaky") == pytest.approx(time.time(), abs=2)
    rig.server.routes["/flaky"] = Reply(body=_items(1))
    rig.poll("flaky")
    state = rig.store.get("flaky").state
    assert (state.status, state.consecutive_errors, state.last_error) == (ACTIVE, 0, None)


def test_a_slow_drip_times_out_at_the_fetch_deadline(rig: Rig):
    rig.server.routes["/drip"] = Reply(body=_items(5), drip=0.02)  # ~30 s at this pace
    rig.add("drip", "/drip")
    report, before, after = rig.poll_one("drip")
    assert after - before < 3
    assert report.error == "timeout: no complete answer within 1.5 s"
    assert rig.store.get("drip").state.last_error_kind == "timeout"
    assert rig.enqueued == []
    _assert_due(rig, "drip", MIN, before, after)


def test_a_server_that_never_answers_times_out(rig: Rig):
    rig.server.routes["/silent"] = Reply(body=_items(1), delay=2.5)
    rig.add("silent", "/silent")
    report, before, after = rig.poll_one("silent")
    assert report.error
    assert report.error.startswith("timeout")
    assert rig.store.get("silent").state.last_status == "timeout"
    _assert_due(rig, "silent", MIN, before, after)


def test_a_huge_body_is_refused(rig: Rig):
    rig.server.routes["/huge"] = Reply(body=b"<rss>" + b"x" * (200 * 1024))
    rig.server.routes["/huge-gzip"] = Reply(body=b"<rss>" + b" " * (2 * 1024 * 1024), gzip=True)
    rig.add("huge", "/huge")
    rig.add("huge-gzip", "/huge-gzip")
    for report in rig.poll("huge", "huge-gzip"):
        assert report.error == "body larger than 65536 bytes"
        assert rig.store.get(report.feed_id).state.last_error_kind == "too_large"
    assert rig.enqueued == []


def test_a_gzip_feed_is_ingested(rig: Rig):
    rig.server.routes["/gz"] = Reply(body=_items(4), gzip=True)
    rig.add("gz", "/gz")
    assert rig.poll("gz")[0].new_entries == 4
    assert len(rig.enqueued) == 4


def test_a_wrong_charset_declaration_still_gives_the_right_text(rig: Rig):
    title = "Россия передала США требования для переговоров"
    document = rss([("ru-1", title, hours_ago(1))]).decode().replace("utf-8", "windows-1252")
    rig.server.routes["/cp1251"] = Reply(
        body=document.encode("windows-1251"),
        headers={"Content-Type": "application/rss+xml; charset=windows-1251"},
    )
    rig.add("cp1251", "/cp1251")
    rig.poll("cp1251")
    assert [a.title for a in rig.enqueued] == [title]


def test_malformed_xml_keeps_what_is_recoverable_and_garbage_is_an_error(rig: Rig):
    truncated = _items(3).decode()[:-40]  # cut inside the last item
    rig.server.routes["/truncated"] = Reply(body=truncated.encode())
    rig.server.routes["/garbage"] = Reply(body=b"<<<\x00\x01 not xml at all >>>")
    rig.add("truncated", "/truncated")
    rig.add("garbage", "/garbage")
    truncated_report, garbage_report = rig.poll("truncated", "garbage")
    assert truncated_report.outcome == "ok"
    assert {a.guid for a in rig.enqueued} >= {"story-0", "story-1"}
    assert garbage_report.outcome == "error"
    state = rig.store.get("garbage").state
    assert (state.last_error_kind, state.consecutive_errors) == ("parse", 1)
    assert state.last_error
    assert state.last_error.startswith("not a feed")


def test_an_html_page_instead_of_a_feed_is_an_error_with_the_reason(rig: Rig):
    rig.server.routes["/html"] = Reply(
        body=b"<!doctype html><html><body><h1>Welcome</h1></body></html>",
        headers={"Content-Type": "text/html"},
    )
    rig.add("html", "/html")
    report, before, after = rig.poll_one("html")
    assert report.error
    assert "not a feed" in report.error
    assert rig.store.get("html").state.last_error_kind == "parse"
    _assert_due(rig, "html", MIN, before, after)


def test_entity_expansion_is_refused(rig: Rig):
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "hahahahaha">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<rss version="2.0"><channel><title>&b;</title><item><title>&b;</title></item>'
        b"</channel></rss>"
    )
    rig.server.routes["/laughs"] = Reply(body=laughs)
    rig.add("laughs", "/laughs")
    (report,) = rig.poll("laughs")
    assert report.error
    assert "entity declarations are refused" in report.error
    assert rig.enqueued == []


def test_entries_per_document_are_capped(rig: Rig):
    rig.settings = rig.settings.model_copy(update={"max_entries_per_feed": 5})
    rig.server.routes["/long"] = Reply(body=_items(12))
    rig.add("long", "/long")
    assert rig.poll("long")[0].new_entries == 5
    assert len(rig.enqueued) == 5


def test_private_addresses_are_refused_directly_and_after_a_redirect(rig: Rig):
    # 10.0.0.0/8 is outside the tests' allowance (127.0.0.1/32): refused before connecting.
    rig.server.routes["/to-private"] = Reply(302, headers={"Location": "http://10.1.2.3/feed"})
    rig.store.add(FeedConfig(id="private", url="http://10.1.2.3/feed"))
    rig.add("to-private", "/to-private")
    for report in rig.poll("private", "to-private"):
        assert report.error
        assert "10.1.2.3, a non-public address" in report.error
        state = rig.store.get(report.feed_id).state
        assert state.last_error_kind == "blocked"
        assert "NEWSWIRE_FEED_ALLOW_NETWORKS" in (state.last_error or "")


# --- scheduling, leases, politeness -----------------------------------------------------------


def test_the_tick_claims_due_feeds_once_and_groups_them_by_host(rig: Rig):
    rig.settings = rig.settings.model_copy(
        update={"poll_batch_size": 2, "feeds_path": rig.settings.config_dir / "none.yaml"}
    )
    for i in range(3):
        rig.add(f"local-{i}", f"/f{i}")
    rig.store.add(FeedConfig(id="other-host", url="http://localhost:1/feed"))
    rig.store.pause("local-2")
    batches: list[list[tuple[str, int]]] = []
    now = time.time()
    assert schedule_due(rig.store, settings=rig.settings, send=batches.append, now=now) == 3
    assert [[f for f, _ in b] for b in batches] == [["local-0", "local-1"], ["other-host"]]
    assert len({c for b in batches for _, c in b}) == 1
    # Claimed feeds are pushed a lease ahead: the next tick has nothing to send.
    assert schedule_due(rig.store, settings=rig.settings, send=batches.append, now=now + 1) == 0
    # ...until the lease runs out without a poll (a dead worker): then they come back.
    assert schedule_due(rig.store, settings=rig.settings, send=batches.append, now=now + 31) == 3


def test_a_task_with_a_stale_claim_stands_down(rig: Rig):
    rig.server.routes["/f"] = Reply(body=_items(1))
    rig.add("claimed", "/f")
    claim, _ = rig.store.claim_due(now=time.time(), lease_seconds=30)
    assert rig.poll("claimed", claim=claim)[0].outcome == "ok"
    # The same task delivered again (broker redelivery): the feed has moved on.
    assert rig.poll("claimed", claim=claim)[0].outcome == "stale"
    assert len(rig.server.requests("/f")) == 1


def test_a_feed_is_never_polled_twice_at_once(rig: Rig):
    rig.server.routes["/slow"] = Reply(body=_items(2), delay=0.5)
    rig.add("slow", "/slow")

    async def both() -> list[list[PollReport]]:
        def run() -> Any:
            return poll_feeds_async(
                [("slow", None)], settings=rig.settings, enqueue=rig.enqueued.extend
            )

        return list(await asyncio.gather(run(), run()))

    outcomes = sorted(r[0].outcome for r in asyncio.run(both()))
    assert outcomes == ["busy", "ok"]
    assert len(rig.server.requests("/slow")) == 1
    assert rig.store.get("slow").state.polls == 1


def test_per_host_concurrency_and_minimum_delay(rig: Rig):
    rig.settings = rig.settings.model_copy(
        update={"host_max_concurrency": 2, "host_min_delay_seconds": 0.15}
    )
    for i in range(6):
        rig.server.routes[f"/h{i}"] = Reply(body=_items(1, prefix=f"h{i}"), delay=0.2)
        rig.add(f"h{i}", f"/h{i}")
    rig.poll(*(f"h{i}" for i in range(6)))
    seen = sorted(rig.server.log, key=lambda s: s.started)
    starts = [s.started for s in seen]
    assert all(b - a >= 0.14 for a, b in itertools.pairwise(starts))
    in_flight = max(sum(1 for o in seen if o.started <= s.started < (o.ended or 0)) for s in seen)
    assert in_flight <= 2


def test_a_pause_or_removal_during_a_poll_is_not_overwritten(rig: Rig):
    rig.server.routes["/p"] = Reply(body=_items(1), delay=0.5)
    rig.add("paused-meanwhile", "/p")
    rig.add("removed-meanwhile", "/p")

    def operator() -> None:
        time.sleep(0.25)
        rig.store.pause("paused-meanwhile")
        rig.store.remove("removed-meanwhile")

    thread = threading.Thread(target=operator)
    thread.start()
    reports = rig.poll("paused-meanwhile", "removed-meanwhile")
    thread.join()
    assert [r.outcome for r in reports] == ["ok", "lost"]
    state = rig.store.get("paused-meanwhile").state
    assert (state.status, state.next_due, state.last_status) == (PAUSED, None, "200")
    assert rig.due("paused-meanwhile") is None
    with pytest.raises(UnknownFeed):
        rig.store.get("removed-meanwhile")


def test_state_survives_a_new_store_and_process(rig: Rig, settings: Settings):
    rig.server.routes["/keep"] = Reply(body=_items(2), etag='"k"')
    rig.add("keep", "/keep")
    rig.poll("keep")
    fresh = FeedStore.from_url(settings.redis_url, rig.store.keys.prefix)
    state = fresh.get("keep").state
    assert (state.etag, state.last_status, state.polls) == ('"k"', "200", 1)
    assert state.next_due is not None
