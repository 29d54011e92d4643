"""Alert delivery through real workers to real local receivers: a webhook server that fails
twice then accepts, and an aiosmtpd server that receives the digest. A rule on Gerasimov
delivers one signed webhook and one digest e-mail for the seed story, however many copies and
translations of it arrive, in concurrent batches."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message as EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from newswire.alerts.delivery import deliver
from newswire.alerts.rule_store import RuleStore, rule_store_for
from newswire.alerts.service import AlertsService
from newswire.alerts.store import AlertStore
from newswire.ingest.store import RedisStore
from newswire.search.store import SearchStore
from newswire.settings import Settings
from pipeline.alerts import parse_actors
from pipeline.dedup import dedup_keys
from pipeline.delivery import DELIVERY_HEADER, SIGNATURE_HEADER, verify_signature
from pipeline.rules import RuleError, RuleMatch
from tests.integration.conftest import RUN_ID, start_worker, stop_worker
from tests.integration.helpers import seed_articles
from workers.tasks import compose_alert_digests, process_articles, sweep_alert_deliveries

pytestmark = pytest.mark.integration

SECRET = secrets.token_urlsafe(24)
REUTERS_EN = (
    "Reuters: Russia has handed over demands to the United States for negotiations on Ukraine"
)
REUTERS_RU = "Reuters: Россия передала США требования для переговоров по Украине"


@dataclass
class Receiver:
    """What the webhook server saw: every request, and the deliveries it accepted once."""

    fail_first: int = 2
    gone_paths: set[str] = field(default_factory=set)
    requests: list[dict[str, Any]] = field(default_factory=list)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    duplicates: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            signed = verify_signature(
                body, self.headers.get(SIGNATURE_HEADER, ""), SECRET, now=time.time()
            )
            delivery = self.headers.get(DELIVERY_HEADER, "")
            with receiver.lock:
                receiver.requests.append(
                    {"path": self.path, "signed": signed, "delivery": delivery}
                )
                if self.path in receiver.gone_paths:
                    status = 410
                elif len(receiver.requests) <= receiver.fail_first:
                    status = 503
                elif not signed:
                    status = 401
                else:
                    status = 200
                    # A receiver's accounting: each delivery id counts once.
                    if delivery in receiver.accepted:
                        receiver.duplicates += 1
                    else:
                        receiver.accepted[delivery] = json.loads(body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    return Hook


class Mailbox:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture(scope="module")
def alert_env(mailbox: tuple[Mailbox, int]) -> dict[str, str]:
    """This module's own prefix and queue, so its seeds are new and its deliveries its own."""
    return {
        "NEWSWIRE_INDEX_PREFIX": f"test-{RUN_ID}-alerts",
        "NEWSWIRE_QUEUE": f"test-{RUN_ID}-alerts",
        "NEWSWIRE_SMTP_HOST": "127.0.0.1",
        "NEWSWIRE_SMTP_PORT": str(mailbox[1]),
        "NEWSWIRE_SMTP_STARTTLS": "false",
        "NEWSWIRE_SMTP_SENDER": "alerts@newswire.test",
        "NEWSWIRE_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32",
        "NEWSWIRE_ALERT_RETRY_BASE_SECONDS": "0.3",
        "NEWSWIRE_ALERT_PUBLIC_URL": "https://newsroom.test",
    }


@pytest.fixture(scope="module")
def alert_settings(settings: Settings, alert_env: dict[str, str]) -> Settings:
    return settings.model_copy(
        update={
            "index_prefix": alert_env["NEWSWIRE_INDEX_PREFIX"],
            "queue": alert_env["NEWSWIRE_QUEUE"],
            "smtp_host": "127.0.0.1",
            "smtp_port": int(alert_env["NEWSWIRE_SMTP_PORT"]),
            "smtp_starttls": False,
            "smtp_sender": "alerts@newswire.test",
            "webhook_allow_networks": "127.0.0.1/32",
            "alert_retry_base_seconds": 0.3,
            "alert_public_url": "https://newsroom.test",
        }
    )


@pytest.fixture(scope="module")
def stores(
    alert_settings: Settings, redis_store: RedisStore
) -> Iterator[tuple[SearchStore, RuleStore, AlertsService]]:
    search = SearchStore.from_settings(alert_settings)
    search.ensure_indices()
    actors = parse_actors(alert_settings.actors_file.read_text(encoding="utf-8"))
    AlertStore.of(search).sync_actors(actors)
    rules = rule_store_for(redis_store.client, alert_settings)
    yield search, rules, AlertsService(rules, search, alert_settings)
    search.drop_all()


@pytest.fixture(scope="module")
def alert_worker(
    tmp_path_factory: pytest.TempPathFactory,
    alert_env: dict[str, str],
    stores: tuple[SearchStore, RuleStore, AlertsService],
) -> Iterator[subprocess.Popen[bytes]]:
    log_path = tmp_path_factory.mktemp("alert-worker") / "worker.log"
    process = start_worker(
        log_path, concurrency=2, queue=alert_env["NEWSWIRE_QUEUE"], extra_env=alert_env
    )
    yield process
    stop_worker(process)


def _until(check: Callable[[], bool], queue: str, timeout: float = 90) -> None:
    """Wait for `check`, sending the sweep to the workers as beat would (beat itself would also
    poll the test prefix's feeds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        sweep_alert_deliveries.apply_async(queue=queue)
        time.sleep(0.5)
    raise AssertionError("timed out")


def test_one_signed_webhook_and_one_digest_for_the_story_however_many_copies_arrive(
    alert_settings: Settings,
    stores: tuple[SearchStore, RuleStore, AlertsService],
    alert_worker: subprocess.Popen[bytes],
    receiver: tuple[Receiver, str],
    mailbox: tuple[Mailbox, int],
) -> None:
    search, rules, service = stores
    hooks, base_url = receiver
    box, _ = mailbox
    queue = alert_settings.queue
    service.create_rule(
        {
            "name": "Gerasimov instant",
            "actors": ["valery-gerasimov"],
            "channels": [{"type": "webhook", "url": f"{base_url}/hook", "secret": SECRET}],
        }
    )
    service.create_rule(
        {
            "name": "Gerasimov digest",
            "actors": ["valery-gerasimov"],
            "frequency": "hourly",
            "channels": [{"type": "email", "to": ["desk@newsroom.test"]}],
        }
    )
    articles = [a.to_dict() for a in seed_articles(alert_settings)]
    # Every seed (original, re-post, copy, translation) three times, in concurrent batches of
    # two, so copies of the story are decided in different worker processes at once.
    waves = [articles, list(reversed(articles)), articles[1::2] + articles[::2]]

    def send(wave: list[dict[str, Any]]) -> list[Any]:
        return [
            process_articles.apply_async(args=[wave[i : i + 2]], queue=queue)
            for i in range(0, len(wave), 2)
        ]

    with ThreadPoolExecutor(3) as pool:
        results = [r for batch in pool.map(send, waves) for r in batch]
    for result in results:
        result.get(timeout=240)

    _until(lambda: len(hooks.accepted) >= 1, queue)
    time.sleep(3)  # anything owed twice would arrive by now
    for _ in range(4):
        sweep_alert_deliveries.apply_async(queue=queue)
        time.sleep(0.5)
    assert len(hooks.accepted) == 1
    assert hooks.duplicates == 0
    # Failed twice (503), then accepted: one delivery id on all three requests, all signed.
    assert [r["signed"] for r in hooks.requests] == [True, True, True]
    assert len({r["delivery"] for r in hooks.requests}) == 1
    body = next(iter(hooks.accepted.values()))
    assert body["type"] == "alert"
    assert body["rule"]["name"] == "Gerasimov instant"
    assert body["story"]["link"].startswith("https://newsroom.test/stories/")

    # The alert record lists the story's articles as they joined: the translation too.
    search.refresh()
    instant = service.inbox(rule_id="gerasimov-instant")
    assert len(instant) == 1
    titles = {a["title"] for a in instant[0]["articles"]}
    assert {REUTERS_EN, REUTERS_RU} <= titles
    assert len(instant[0]["doc_ids"]) == len(set(instant[0]["doc_ids"]))
    # Whichever copy arrived first raised the alert; it is one of the story's articles.
    assert body["story"]["story_id"] == instant[0]["story_id"]
    assert body["story"]["articles"][0]["doc_id"] in instant[0]["doc_ids"]

    status = service.get_rule("gerasimov-instant")["channels"][0]["status"]
    assert status["last_success_at"]
    assert status["last_error"].startswith("HTTP 503")
    assert status["delivered"] == 1

    # The digest of the hour the story arrived in: composed twice, sent once.
    next_hour = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    for _ in range(2):
        compose_alert_digests.apply_async(kwargs={"now": next_hour}, queue=queue).get(timeout=30)
    _until(lambda: len(box.messages) >= 1, queue)
    time.sleep(2)
    assert len(box.messages) == 1
    mail = box.messages[0]
    assert mail["To"] == "desk@newsroom.test"
    assert "Gerasimov digest: 1 story" in mail["Subject"]
    assert mail[DELIVERY_HEADER]
    kinds = {part.get_content_type() for part in mail.walk()}
    assert {"text/plain", "text/html"} <= kinds
    assert rules.pending_digest("gerasimov-digest") == []


def test_a_permanent_failure_is_dead_lettered_and_replayed_with_the_same_delivery_id(
    alert_settings: Settings,
    stores: tuple[SearchStore, RuleStore, AlertsService],
    alert_worker: subprocess.Popen[bytes],
    receiver: tuple[Receiver, str],
) -> None:
    search, rules, service = stores
    hooks, base_url = receiver
    hooks.gone_paths.add("/gone")
    # An indexed article (a no-op when the seeds are in already); the job is then run here.
    seeds = [a.to_dict() for a in seed_articles(alert_settings)[:2]]
    process_articles.apply_async(args=[seeds], queue=alert_settings.queue).get(timeout=240)
    search.refresh()
    # One of those seeds, not any article: others in this index may be embargoed or killed.
    doc = search.get_article(dedup_keys(seed_articles(alert_settings)[0]).doc_id)
    assert doc is not None
    # Created after the seeds are in: the workers must not alert it themselves first.
    rule_id = f"gone-{secrets.token_hex(3)}"
    service.create_rule(
        {
            "id": rule_id,
            "name": "Gone receiver",
            "query": "Kursk",
            "channels": [{"type": "webhook", "url": f"{base_url}/gone", "secret": SECRET}],
        }
    )
    rule = rules.get(rule_id)
    assert rule is not None
    applied = rules.apply(
        [RuleMatch(rule_id, doc["doc_id"], doc.get("story_id") or doc["doc_id"])],
        {rule_id: rule},
        now=datetime.now(UTC),
        dispatching=False,
    )
    (job,) = applied.jobs
    outcome = deliver(job, rule_store=rules, search_store=search, settings=alert_settings)
    assert outcome == "dead_letter"
    dead = [d for d in service.dead_letters() if d["job"] == job]
    assert dead
    assert "HTTP 410" in dead[0]["reason"]
    hooks.gone_paths.discard("/gone")
    assert service.replay([job]) == [job]
    assert deliver(job, rule_store=rules, search_store=search, settings=alert_settings) == (
        "delivered"
    )
    assert job in hooks.accepted
    assert rules.job(job) is None


def test_a_webhook_to_a_private_address_is_refused(
    stores: tuple[SearchStore, RuleStore, AlertsService],
) -> None:
    _, _, service = stores
    with pytest.raises(RuleError, match="non-public address"):
        service.create_rule(
            {
                "name": "Intranet",
                "query": "Kursk",
                "channels": [{"type": "webhook", "url": "http://10.1.2.3/hook", "secret": SECRET}],
            }
        )
