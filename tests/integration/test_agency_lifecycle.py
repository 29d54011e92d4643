"""The life of an agency story on the real stack (issue 13): a NewsML-G2 item, its correction and
its kill dropped into a watched folder, with an alert rule delivering to a real local webhook;
an embargo released by the beat's task; one story arriving as NITF, ninjs and IPTC 7901.

A half-written file in the drop folder is not read: tests/integration/test_drop_folder.py
covers that (partial and hidden names, and a file still growing under its final name).
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from newswire.alerts.matching import withdraw_alerts
from newswire.alerts.rule_store import DeliveryJob, RuleStore, rule_store_for
from newswire.alerts.service import AlertsService
from newswire.alerts.store import AlertStore
from newswire.feeds.polling import articles_from_feed
from newswire.ingest.store import RedisStore
from newswire.ingest.watch import DropFolder, drop_folder
from newswire.search.service import search
from newswire.search.store import SearchStore
from newswire.settings import Settings
from newswire.stories.service import article_versions, get_story
from pipeline.alerts import parse_actors
from pipeline.delivery import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, verify_signature
from pipeline.models import Article
from pipeline.rules import RuleMatch, alert_id
from pipeline.search import SearchRequest
from tests.integration.conftest import RUN_ID, start_worker, stop_worker
from workers.tasks import process_articles, release_embargoes, sweep_alert_deliveries

pytestmark = pytest.mark.integration

AGENCY = Path(__file__).resolve().parents[1] / "data" / "agency"
SECRET = secrets.token_urlsafe(24)


@dataclass
class Receiver:
    """A webhook receiver's accounting: every request, and each delivery id accepted once."""

    events: list[dict[str, Any]] = field(default_factory=list)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    duplicates: int = 0
    unsigned: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, path: str, event: str) -> list[dict[str, Any]]:
        with self.lock:
            return [
                body
                for body in self.accepted.values()
                if body["_path"] == path and body["type"] == event
            ]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            signed = verify_signature(
                body, self.headers.get(SIGNATURE_HEADER, ""), SECRET, now=time.time()
            )
            delivery = self.headers.get(DELIVERY_HEADER, "")
            with receiver.lock:
                receiver.events.append(
                    {"path": self.path, "delivery": delivery, "event": self.headers[EVENT_HEADER]}
                )
                if not signed:
                    receiver.unsigned += 1
                elif delivery in receiver.accepted:
                    receiver.duplicates += 1
                else:
                    receiver.accepted[delivery] = {**json.loads(body), "_path": self.path}
            self.send_response(200 if signed else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    return Hook


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def agency_env() -> dict[str, str]:
    """This module's own prefix and queue: its items, stories and deliveries are its own."""
    return {
        "NEWSWIRE_INDEX_PREFIX": f"test-{RUN_ID}-agency",
        "NEWSWIRE_QUEUE": f"test-{RUN_ID}-agency",
        "NEWSWIRE_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32",
        "NEWSWIRE_ALERT_RETRY_BASE_SECONDS": "0.3",
    }


@pytest.fixture(scope="module")
def agency_settings(settings: Settings, agency_env: dict[str, str]) -> Settings:
    return settings.model_copy(
        update={
            "index_prefix": agency_env["NEWSWIRE_INDEX_PREFIX"],
            "queue": agency_env["NEWSWIRE_QUEUE"],
            "webhook_allow_networks": "127.0.0.1/32",
            "alert_retry_base_seconds": 0.3,
        }
    )


@pytest.fixture(scope="module")
def stores(
    agency_settings: Settings, redis_store: RedisStore
) -> Iterator[tuple[SearchStore, RuleStore, AlertsService]]:
    store = SearchStore.from_settings(agency_settings)
    store.ensure_indices()
    actors = parse_actors(agency_settings.actors_file.read_text(encoding="utf-8"))
    AlertStore.of(store).sync_actors(actors)
    rules = rule_store_for(redis_store.client, agency_settings)
    yield store, rules, AlertsService(rules, store, agency_settings)
    store.drop_all()


@pytest.fixture(scope="module")
def agency_worker(
    tmp_path_factory: pytest.TempPathFactory,
    agency_env: dict[str, str],
    stores: tuple[SearchStore, RuleStore, AlertsService],
) -> Iterator[subprocess.Popen[bytes]]:
    log_path = tmp_path_factory.mktemp("agency-worker") / "worker.log"
    process = start_worker(
        log_path, concurrency=2, queue=agency_env["NEWSWIRE_QUEUE"], extra_env=agency_env
    )
    yield process
    stop_worker(process)


class Drop:
    """A watched drop folder whose files go to this module's worker; `put` waits for them."""

    def __init__(self, root: Path, settings: Settings) -> None:
        self.root = root
        self.queue = settings.queue
        self.pending: list[Any] = []
        self.folder: DropFolder = drop_folder(
            root, settings=settings, enqueue=self._enqueue, settle_seconds=0
        )

    def _enqueue(self, articles: list[Article]) -> None:
        payload = [a.to_dict() for a in articles]
        self.pending.append(process_articles.apply_async(args=[payload], queue=self.queue))

    def put(self, *names: str, content: dict[str, bytes] | None = None) -> list[dict[str, Any]]:
        """Copy sample files in (or write `content` under a name), scan once, wait for the
        batches; returns their reports."""
        for name in names:
            (self.root / name).write_bytes((AGENCY / name).read_bytes())
        for name, data in (content or {}).items():
            (self.root / name).write_bytes(data)
        report = self.folder.scan()
        assert sorted(report.processed) == sorted([*names, *(content or {})]), report
        reports = [result.get(timeout=240) for result in self.pending]
        self.pending.clear()
        return reports


def _until(check: Callable[[], bool], queue: str, what: str, timeout: float = 90) -> None:
    """Wait for `check`, sending the delivery sweep to the worker as beat would."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        sweep_alert_deliveries.apply_async(queue=queue)
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _owed(rules: RuleStore, rule_id: str) -> list[str]:
    """The rule's deliveries still in the outbox."""
    return [job.id for job, _ in rules.jobs() if job.rule_id == rule_id]


def _release(queue: str) -> dict[str, Any]:
    """The beat's release task, run by the worker; its answer (beat itself ignores it)."""
    outcome: dict[str, Any] = release_embargoes.apply_async(queue=queue, ignore_result=False).get(
        timeout=60
    )
    return outcome


def _hits(store: SearchStore, query: str) -> list[Any]:
    store.refresh()
    return search(store, SearchRequest(query=query, collapse_stories=False, size=50)).hits


def _source(store: SearchStore, doc_id: str) -> dict[str, Any]:
    return dict(store.es.get(index=store.settings.articles_alias, id=doc_id)["_source"])


def _only_doc(store: SearchStore, query: str) -> dict[str, Any]:
    """The one indexed document matching `query`, hidden or not (an admin's view)."""
    store.refresh()
    response = store.es.search(
        index=store.settings.articles_alias,
        query={"match": {"body": query}},
        size=10,
    )
    (hit,) = response["hits"]["hits"]
    return dict(hit["_source"])


def test_an_item_its_correction_and_its_kill_update_search_and_the_alert_exactly_once(
    tmp_path: Path,
    agency_settings: Settings,
    stores: tuple[SearchStore, RuleStore, AlertsService],
    agency_worker: subprocess.Popen[bytes],
    receiver: tuple[Receiver, str],
) -> None:
    store, rules, service = stores
    hooks, base_url = receiver
    queue = agency_settings.queue
    service.create_rule(
        {
            "id": "rende-quake",
            "name": "Rende quake",
            "query": "Rende",
            "channels": [{"type": "webhook", "url": f"{base_url}/quake", "secret": SECRET}],
        }
    )
    drop = Drop(tmp_path / "wire", agency_settings)
    drop.root.mkdir()

    # Version 1: searchable, alerted once.
    drop.put("calabria-v1.newsml.xml")
    (hit,) = _hits(store, "Rende")
    doc_id = hit.doc_id
    assert "4.2" in hit.title
    _until(lambda: len(hooks.of("/quake", "alert")) == 1, queue, "the alert")
    (alert,) = hooks.of("/quake", "alert")
    assert alert["story"]["articles"][0]["doc_id"] == doc_id

    # Version 2, a correction: the same document, updated in place, the first text kept.
    (report,) = drop.put("calabria-v2-correction.newsml.xml")
    assert report["versions"] == 1
    (hit,) = _hits(store, "Rende")
    assert hit.doc_id == doc_id
    assert "4.0" in hit.title
    versions = article_versions(store, doc_id)
    assert versions is not None
    assert versions["version"] == 2
    assert versions["corrected"] is True
    assert versions["current"]["is_correction"] is True
    assert [v["agency_version"] for v in versions["previous_versions"]] == [1]
    assert "4.2" in versions["previous_versions"][0]["title"]

    # Version 3, the kill: out of search and of its story, readable by id, the alert withdrawn.
    (report,) = drop.put("calabria-v3-kill.newsml.xml")
    assert report["withdrawn"] == 1
    assert _hits(store, "Rende") == []
    assert _hits(store, "Cosentino") == []
    killed = _source(store, doc_id)
    assert killed["visibility"] == "withdrawn"
    assert killed["pubstatus"] == "canceled"
    assert killed["withdrawal"]["agency_version"] == 3
    audit = article_versions(store, doc_id)
    assert audit is not None
    assert audit["visibility"] == "withdrawn"
    assert get_story(store, killed["story_id"]) is None

    _until(lambda: len(hooks.of("/quake", "withdrawn")) == 1, queue, "the withdrawn event")
    (withdrawn,) = hooks.of("/quake", "withdrawn")
    assert withdrawn["alert_id"] == alert["alert_id"]
    assert withdrawn["delivery_id"] != alert["delivery_id"]
    assert withdrawn["story"]["articles"][0]["doc_id"] == doc_id
    # Once nothing is owed (the worker removes a job after the receiver's answer), nothing more
    # will arrive: one alert and one withdrawal, each delivered once, all signed.
    _until(lambda: not _owed(rules, "rende-quake"), queue, "nothing owed")
    assert [e["event"] for e in hooks.events if e["path"] == "/quake"] == ["alert", "withdrawn"]
    assert hooks.duplicates == 0
    assert hooks.unsigned == 0

    # The inbox shows the alert, flagged withdrawn, with the headline it was raised with.
    store.refresh()
    (record,) = service.inbox(rule_id="rende-quake")
    assert record["withdrawn_at"]
    assert record["doc_ids"] == []
    assert record["withdrawn_doc_ids"] == [doc_id]
    assert "Cosentino" in record["title"]

    # The kill again (a retried batch, the same file from another wire): nothing owed twice.
    kill = (AGENCY / "calabria-v3-kill.newsml.xml").read_bytes()
    (report,) = drop.put(content={"calabria-kill-again.xml": kill + b"<!-- again -->\n"})
    assert report["withdrawn"] == 1
    assert withdraw_alerts([doc_id], store=store, rule_store=rules) == 0
    assert _owed(rules, "rende-quake") == []
    assert len(hooks.of("/quake", "withdrawn")) == 1


def test_an_embargoed_item_is_neither_searchable_nor_alerted_until_the_release_task_runs(
    tmp_path: Path,
    agency_settings: Settings,
    stores: tuple[SearchStore, RuleStore, AlertsService],
    agency_worker: subprocess.Popen[bytes],
    receiver: tuple[Receiver, str],
) -> None:
    store, rules, service = stores
    hooks, base_url = receiver
    queue = agency_settings.queue
    service.create_rule(
        {
            "id": "air-quality",
            "name": "Air quality",
            "query": "particules",
            "channels": [{"type": "webhook", "url": f"{base_url}/air", "secret": SECRET}],
        }
    )
    # The sample's embargo moved to a few seconds from now: long enough to look while it holds.
    until = (datetime.now(UTC) + timedelta(seconds=12)).replace(microsecond=0)
    sample = (AGENCY / "qualite-air-embargo.newsml.xml").read_bytes()
    content = re.sub(
        rb"<embargoed>[^<]+</embargoed>",
        f"<embargoed>{until.isoformat()}</embargoed>".encode(),
        sample,
    )
    assert content != sample
    drop = Drop(tmp_path / "wire", agency_settings)
    drop.root.mkdir()
    drop.put(content={"air.xml": content})

    held = _only_doc(store, "particules")
    assert held["visibility"] == "embargoed"
    assert _hits(store, "particules") == []
    assert article_versions(store, held["doc_id"]) is None
    assert _release(queue) == {"released": 0}
    assert service.inbox(rule_id="air-quality") == []
    assert _owed(rules, "air-quality") == []
    assert hooks.of("/air", "alert") == []
    # All of the above was seen while the embargo held.
    assert datetime.now(UTC) < until

    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 0.2)
    assert _release(queue) == {"released": 1}
    (hit,) = _hits(store, "particules")
    assert hit.doc_id == held["doc_id"]
    assert _source(store, held["doc_id"])["visibility"] == "public"
    _until(lambda: len(hooks.of("/air", "alert")) == 1, queue, "the released item's alert")
    # A second release run changes nothing and owes nothing.
    assert _release(queue) == {"released": 0}
    _until(lambda: not _owed(rules, "air-quality"), queue, "nothing owed")
    assert len(hooks.of("/air", "alert")) == 1
    (record,) = service.inbox(rule_id="air-quality")
    assert record["doc_ids"] == [held["doc_id"]]


def test_one_story_from_nitf_ninjs_and_iptc_7901_is_one_story_with_three_sources(
    tmp_path: Path,
    agency_settings: Settings,
    stores: tuple[SearchStore, RuleStore, AlertsService],
    agency_worker: subprocess.Popen[bytes],
) -> None:
    store, _, _ = stores
    names = ("baltic-storm.nitf.xml", "baltic-storm.ninjs2.json", "baltic-storm.iptc7901.txt")
    # Each format from a wire of its own (one drop folder per wire); one at a time, so each
    # finds the story the earlier ones made.
    feeds = []
    for number, name in enumerate(names):
        drop = Drop(tmp_path / f"baltic-wire-{number}", agency_settings)
        drop.root.mkdir()
        drop.put(name)
        feeds.append(drop.folder.feed_id)
    store.refresh()
    response = store.es.search(
        index=store.settings.articles_alias,
        query={"match_phrase": {"title": "Storm closes Baltic ferry routes"}},
        size=10,
    )
    documents = [hit["_source"] for hit in response["hits"]["hits"]]
    (story_id,) = {d["story_id"] for d in documents}
    records = [record for d in documents for record in d.get("sources") or []]
    assert sorted(r["feed_id"] for r in records) == sorted(feeds)
    story = get_story(store, story_id)
    assert story is not None
    assert story["sources"] == ["BWS"]
    (hit,) = _hits(store, "Baltic ferry")
    assert hit.story_id == story_id


@pytest.mark.parametrize(
    ("item", "kill", "word", "one_batch"),
    [
        # An IPTC 7901 STORNO after the item alerted: the alert is withdrawn.
        ("bahnstreik.iptc7901.txt", "bahnstreik-storno.iptc7901.txt", "Notfahrplan", False),
        # An ANPA 1312 KILL ahead of its item in one batch (the item late from another wire):
        # the kill is stored, the item cannot revive it, and whatever the item as built
        # alerted is withdrawn before the batch ends.
        ("disaster-aid.anpa1312.tst", "disaster-aid-kill.anpa1312.tst", "Senate", True),
    ],
    ids=["iptc7901-storno-later", "anpa-kill-same-batch"],
)
def test_kill_advisories_withdraw_the_alert(
    tmp_path: Path,
    agency_settings: Settings,
    stores: tuple[SearchStore, RuleStore, AlertsService],
    agency_worker: subprocess.Popen[bytes],
    receiver: tuple[Receiver, str],
    item: str,
    kill: str,
    word: str,
    one_batch: bool,
) -> None:
    store, rules, service = stores
    hooks, base_url = receiver
    queue = agency_settings.queue
    rule_id = f"kill-{secrets.token_hex(3)}"
    path = f"/{rule_id}"
    service.create_rule(
        {
            "id": rule_id,
            "name": f"Kill {word}",
            "query": word,
            "channels": [{"type": "webhook", "url": f"{base_url}{path}", "secret": SECRET}],
        }
    )
    drop = Drop(tmp_path / "wire", agency_settings)
    drop.root.mkdir()
    if one_batch:
        articles = [
            a.to_dict()
            for name in (kill, item)
            for a in articles_from_feed(
                (AGENCY / name).read_bytes(),
                feed_id=drop.folder.feed_id,
                source=None,
                settings=agency_settings,
            )
        ]
        assert len(articles) == 2
        process_articles.apply_async(args=[articles], queue=queue).get(timeout=240)
    else:
        drop.put(item)
        _until(lambda: len(hooks.of(path, "alert")) == 1, queue, "the alert")
        (report,) = drop.put(kill)
        assert report["withdrawn"] == 1
        _until(lambda: len(hooks.of(path, "withdrawn")) == 1, queue, "the withdrawn event")
    assert _hits(store, word) == []
    _until(
        lambda: not _owed(rules, rule_id),
        queue,
        "nothing owed",
    )
    store.refresh()
    records = service.inbox(rule_id=rule_id)
    assert len(records) == 1 or (one_batch and not records)
    assert all(r["withdrawn_at"] and r["doc_ids"] == [] for r in records)
    # Whatever reached the receiver was taken back, once.
    alerts, withdrawals = hooks.of(path, "alert"), hooks.of(path, "withdrawn")
    assert len(alerts) == len(withdrawals) <= 1
    if not one_batch:
        assert len(alerts) == 1
    assert hooks.duplicates == 0


def test_a_send_racing_the_withdrawal_owes_the_withdrawn_event_once_in_either_order(
    stores: tuple[SearchStore, RuleStore, AlertsService],
    receiver: tuple[Receiver, str],
) -> None:
    """The outbox transactions on the real Redis, without a worker: the send and the
    withdrawal of one alert, in both orders, each owe the receiver one withdrawn event."""
    _, rules, service = stores
    _, base_url = receiver
    rule_id = f"race-{secrets.token_hex(3)}"
    service.create_rule(
        {
            "id": rule_id,
            "name": "Race",
            "query": "race",
            "channels": [{"type": "webhook", "url": f"{base_url}/race", "secret": SECRET}],
        }
    )
    rule = rules.get(rule_id)
    assert rule is not None
    now = datetime.now(UTC)

    def owed_job(story: str) -> DeliveryJob:
        applied = rules.apply(
            [RuleMatch(rule_id, f"{story}-a", story)], {rule_id: rule}, now=now, dispatching=False
        )
        (job_id,) = applied.jobs
        job = rules.job(job_id)
        assert job is not None
        return job

    def withdraw(story: str) -> Any:
        gone = [f"{story}-a"]
        return rules.withdraw([alert_id(rule_id, story)], gone, gone, {rule_id: rule}, now=now)

    # The withdrawal first, while the send is in flight: the job is cancelled, and the send
    # that then succeeds owes the event.
    job = owed_job("story-x")
    first = withdraw("story-x")
    assert first.withdrawn_alerts == 1
    assert first.cancelled == [job.id]
    assert first.jobs == []
    assert rules.job(job.id) is None
    assert not rules.save_job(job, due=now.timestamp())  # a retry does not bring it back
    (event,) = rules.delivered(job, ["story-x"], now=now)
    withdrawn = rules.job(event)
    assert withdrawn is not None
    assert withdrawn.kind == "withdrawn"
    assert withdrawn.articles == ("story-x-a",)
    assert rules.delivered(job, ["story-x"], now=now) == []
    assert withdraw("story-x").changes == []

    # The send first: the withdrawal owes the event, and a retried batch owes nothing more.
    job = owed_job("story-y")
    assert rules.delivered(job, ["story-y"], now=now) == []
    second = withdraw("story-y")
    assert second.cancelled == []
    (event_y,) = second.jobs
    assert event_y != event
    assert withdraw("story-y").jobs == []
    assert rules.sent(alert_id(rule_id, "story-y")) == {job.channel: "withdrawal"}
    owed = sorted(j.id for j, _ in rules.jobs() if j.rule_id == rule_id)
    assert owed == sorted([event, event_y])
    for job_id in owed:
        rules.finish_job(job_id)
