"""`newswire feeds ...` against the real Redis, a real feed server and the real worker: a
deliberately broken feed shows in `feeds status` with its reason while the others keep flowing."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from newswire.cli import app
from newswire.search.store import SearchStore
from newswire.settings import Settings
from tests.feedserver import FeedServer, Reply, hours_ago, rss

pytestmark = pytest.mark.integration
runner = CliRunner()
WIDE = {"COLUMNS": "250"}


@pytest.fixture(scope="module")
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


def _run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args), env=WIDE)
    assert result.exit_code == code, result.output
    return result.output


def _json(*args: str) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _indexed(store: SearchStore, settings: Settings, feed_id: str, expected: int) -> int:
    deadline = time.monotonic() + 120
    count = 0
    while time.monotonic() < deadline:
        store.refresh()
        query = {"term": {"feed_id": feed_id}}
        count = int(store.es.count(index=settings.articles_alias, query=query)["count"])
        if count >= expected:
            break
        time.sleep(0.5)
    return count


def test_a_broken_feed_shows_its_reason_while_the_others_keep_flowing(
    server: FeedServer,
    worker: subprocess.Popen[bytes],
    search_store: SearchStore,
    settings: Settings,
) -> None:
    run = secrets.token_hex(3)
    good, broken = f"cli-good-{run}", f"cli-broken-{run}"
    stories = [(f"{good}-{n}", f"Wire story {n} from the good feed", hours_ago(n)) for n in (1, 2)]
    server.routes[f"/{good}"] = Reply(body=rss(stories), etag='"one"')
    server.routes[f"/{broken}"] = Reply(
        body=b"<!doctype html><html><body>Maintenance</body></html>",
        headers={"Content-Type": "text/html"},
    )
    _run(
        "feeds",
        "add",
        server.url(f"/{good}"),
        "--id",
        good,
        "--source",
        "CLI wire",
        "--tag",
        "wire",
    )
    _run("feeds", "add", server.url(f"/{broken}"), "--id", broken)
    listed = {f["id"]: f for f in _json("feeds", "list")}
    assert listed[good]["tags"] == ["wire"]
    assert listed[good]["source"] == "CLI wire"

    polled = {r["feed_id"]: r for r in _json("feeds", "poll", good, broken)}
    assert (polled[good]["outcome"], polled[good]["new_entries"]) == ("ok", 2)
    assert polled[broken]["outcome"] == "error"
    assert _indexed(search_store, settings, good, 2) == 2

    table = _run("feeds", "status")
    broken_line = next(line for line in table.splitlines() if broken in line)
    assert "not a feed" in broken_line
    assert "error" not in next(line for line in table.splitlines() if good in line)
    rows = {r["feed"]: r for r in _json("feeds", "status")}
    assert (rows[broken]["errors"], rows[broken]["http_status"]) == (1, "200")
    assert rows[broken]["reason"].startswith("not a feed")
    assert (rows[good]["errors"], rows[good]["new_entries"], rows[good]["http_status"]) == (
        0,
        2,
        "200",
    )

    # The good feed publishes again; polling goes on for it while the broken one keeps failing.
    stories.insert(0, (f"{good}-0", "Wire story 0 from the good feed", hours_ago(0)))
    server.routes[f"/{good}"] = Reply(body=rss(stories), etag='"two"')
    polled = {r["feed_id"]: r for r in _json("feeds", "poll", good, broken)}
    assert polled[good]["new_entries"] == 1
    assert _indexed(search_store, settings, good, 3) == 3
    assert _json("feeds", "show", broken)["consecutive_errors"] == 2
    shown = _json("feeds", "show", good)
    assert sum(shown["entries_per_day_seen"].values()) == 3
    assert _json("status")["feeds"]["active"] >= 2


def test_manage_feeds_pause_resume_set_remove_and_errors(server: FeedServer) -> None:
    feed_id = f"cli-manage-{secrets.token_hex(3)}"
    _run(
        "feeds", "add", "https://manage.example/feed.xml", "--id", feed_id, "--max-interval", "900"
    )
    _run("feeds", "add", "https://manage.example/feed.xml", "--id", feed_id, code=2)
    assert "url must be http" in _run("feeds", "add", "ftp://x.example/feed", code=2)
    _run("feeds", "pause", feed_id)
    assert _json("feeds", "show", feed_id)["status"] == "paused"
    assert "paused" in _run("feeds", "show", feed_id)
    _run("feeds", "resume", feed_id)
    shown = _json("feeds", "show", feed_id)
    assert (shown["status"], shown["max_interval"]) == ("active", 900)
    _run("feeds", "set", feed_id, "--language", "de", "--tag", "Europe", "--min-interval", "120")
    shown = _json("feeds", "show", feed_id)
    assert (shown["language"], shown["tags"], shown["min_interval"]) == ("de", ["europe"], 120)
    _run("feeds", "set", feed_id, "--min-interval", "5000", code=2)  # above max_interval
    assert feed_id in _run("feeds", "list", "--tag", "europe")
    _run("feeds", "remove", feed_id)
    for command in ("show", "pause", "resume", "remove", "set"):
        assert "no feed" in _run("feeds", command, feed_id, code=1)
    assert "no such feeds" in _run("feeds", "poll", feed_id, code=1)


def test_opml_and_yaml_export_and_import_round_trip(tmp_path: Path) -> None:
    run = secrets.token_hex(3)
    opml = tmp_path / "in.opml"
    opml.write_text(
        f"""<?xml version="1.0"?><opml version="2.0"><head/><body>
        <outline text="Desk {run}">
          <outline text="Round trip {run}" xmlUrl="https://rt.example/{run}.rss" language="fr"/>
        </outline></body></opml>""",
        encoding="utf-8",
    )
    assert "1 added, 0 updated" in _run("feeds", "import", str(opml))
    assert "0 added, 1 updated" in _run("feeds", "import", str(opml))
    exported = tmp_path / "out.opml"
    _run("feeds", "export", "--output", str(exported))
    text = exported.read_text(encoding="utf-8")
    assert f'xmlUrl="https://rt.example/{run}.rss"' in text
    assert f'newswireId="round-trip-{run}"' in text
    feed = _json("feeds", "show", f"round-trip-{run}")
    assert (feed["language"], feed["tags"]) == ("fr", [f"desk {run}"])
    as_yaml = _run("feeds", "export", "--format", "yaml")
    assert f"id: round-trip-{run}" in as_yaml
    listing = tmp_path / "feeds.yaml"
    listing.write_text(as_yaml, encoding="utf-8")
    assert "added" in _run("feeds", "import", str(listing))
    assert "no such file" in _run("feeds", "import", str(tmp_path / "missing.opml"), code=2)
    bad = tmp_path / "bad.opml"
    bad.write_text("<html/>", encoding="utf-8")
    assert "not an OPML document" in _run("feeds", "import", str(bad), code=2)
    _run("feeds", "export", "--format", "csv", code=2)
    _run("feeds", "remove", f"round-trip-{run}")
