"""The news desk: scheduled refresh and briefing, missed runs, delivery by a real local SMTP server
(aiosmtpd) and a local webhook server, the Atom feed, a clean stop on SIGTERM, "what is new"."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from chatbot.bot import Chatbot
from chatbot.models.embeddings import Embedder
from chatbot.presentation.briefing import briefing_html, briefing_markdown
from harness.servers import free_port
from tests.feed_pages import TOPICS, Item, serve_feed, serve_page
from tests.http_fixtures import ChangingServer
from tests.store_fixtures import settings_in

pytestmark = pytest.mark.timeout(300)

NOW = datetime(2025, 3, 5, 9, 0, tzinfo=UTC)  # the desk's clock: 09:00 UTC on March 5
DAY = date(2025, 3, 4)  # ... so the day just ended is March 4


def article(title: str, topic: str, day: str, extra: str = "") -> dict[str, str]:
    return {
        "title": title,
        "text": " ".join([*TOPICS[topic], extra]).strip(),
        "source": "Local Gazette",
        "published_at": f"{day}T08:00:00Z",
        "url": f"https://gazette.example.org/{title.lower().replace(' ', '-')}",
    }


def wait_for(check: Callable[[], object], timeout: float = 90.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what or check}")


class Inbox:
    """aiosmtpd handler: keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


class Smtp:
    def __init__(self, port: int) -> None:
        from aiosmtpd.controller import Controller

        self.port = port
        self.inbox = Inbox()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=port)

    def start(self) -> Smtp:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    server = Smtp(free_port()).start()
    try:
        yield server
    finally:
        server.stop()


def desk_settings(tmp_path: Path, **fields: Any) -> Any:
    return settings_in(
        tmp_path,
        allow_private_urls=True,
        desk_briefing_at="07:00",
        desk_timezone="UTC",
        delivery_backoff=0,
        smtp_security="none",
        smtp_from="desk@gazette.example.org",
        smtp_to=["reader@example.org"],
        **fields,
    )


def test_missed_briefing_runs_at_start_and_is_delivered_everywhere(
    tmp_path: Path, embedder: Embedder, changing_server: ChangingServer, smtp: Smtp
) -> None:
    hook = changing_server.url("/hook")
    settings = desk_settings(
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        webhook_url=hook,
        public_url="https://news.example.org/briefings",
    )
    bot = Chatbot(settings, embedder=embedder)
    assert bot.ingest(
        [
            article("Council backs tram lines", "trams", "2025-03-04"),
            article("Harbour dredging starts", "harbour", "2025-03-04"),
        ]
    ).ok
    desk = bot.news_desk(clock=lambda: NOW)
    assert desk.due_day() == DAY
    desk.start()
    try:
        wait_for(
            lambda: len(changing_server.posts("/hook")) == 1 and smtp.inbox.messages,
            what="the missed run's deliveries",
        )
    finally:
        desk.stop()
    assert not desk.running

    folder = settings.briefings_dir
    for ext in ("md", "html", "json"):
        assert (folder / f"briefing-2025-03-04.{ext}").is_file()
    import feedparser

    atom = feedparser.parse((folder / "briefings.atom").read_bytes())
    [entry] = atom.entries
    assert entry.title == "News briefing — 2025-03-04"
    assert entry.link == "https://news.example.org/briefings/briefing-2025-03-04.html"
    assert "Council backs tram lines" in entry.summary

    [envelope] = smtp.inbox.messages
    assert envelope.rcpt_tos == ["reader@example.org"]
    mail = message_from_bytes(envelope.content, policy=policy.default)
    assert mail["Subject"] == "News briefing — 2025-03-04"
    assert "Council backs tram lines" in mail.get_body(("plain",)).get_content()
    assert "<html" in mail.get_body(("html",)).get_content()

    [post] = changing_server.posts("/hook")
    sent = json.loads(post.body)
    assert post.headers["content-type"] == "application/json"
    assert sent["key"] == "2025-03-04"
    assert {s["headline"] for s in sent["stories"]} == {
        "Council backs tram lines",
        "Harbour dredging starts",
    }
    assert desk.outbox() == []
    # Restarted the same day: nothing was missed, so nothing runs or is sent again.
    assert bot.news_desk(clock=lambda: NOW).catch_up() is None


def test_failed_deliveries_are_retried_kept_and_delivered_later(
    tmp_path: Path, embedder: Embedder, changing_server: ChangingServer
) -> None:
    down = free_port()  # nothing listens here yet: the SMTP server is "down"
    settings = desk_settings(
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=down,
        webhook_url=changing_server.url("/hook"),
        delivery_retries=1,
    )
    bot = Chatbot(settings, embedder=embedder)
    assert bot.ingest([article("Council backs tram lines", "trams", "2025-03-04")]).ok
    changing_server.post_statuses.extend([500, 503])
    desk = bot.news_desk(clock=lambda: NOW)
    run = desk.run_briefing(DAY)
    assert run is not None
    by_channel = {d.channel: d for d in run.deliveries}
    assert not by_channel["webhook"].ok and by_channel["webhook"].attempts == 2
    assert "HTTP 503" in by_channel["webhook"].error
    assert not by_channel["email"].ok and "Connection" in by_channel["email"].error
    assert {(d.channel, d.briefing) for d in desk.outbox()} == {
        ("webhook", "2025-03-04"),
        ("email", "2025-03-04"),
    }
    assert len(desk.status()["outbox"]) == 2
    # Both come back: the next check delivers what waited, once.
    smtp = Smtp(down).start()
    try:
        done = desk.retry_outbox()
        assert sorted((d.channel, d.ok) for d in done) == [("email", True), ("webhook", True)]
        assert desk.outbox() == []
        assert len(smtp.inbox.messages) == 1
        assert len(changing_server.posts("/hook")) == 3
        assert desk.retry_outbox() == []
    finally:
        smtp.stop()


def test_the_schedule_refreshes_due_feeds_writes_briefings_and_stops_cleanly(
    tmp_path: Path, embedder: Embedder, changing_server: ChangingServer
) -> None:
    from apscheduler.triggers.interval import IntervalTrigger

    server = changing_server
    bot = Chatbot(desk_settings(tmp_path), embedder=embedder)
    serve_page(server, "/a/1.html", "Council backs tram lines", "trams")
    serve_page(server, "/a/2.html", "Harbour dredging starts", "harbour")
    items = [
        Item("g1", "Council backs tram lines", "/a/1.html", "teaser"),
        Item("g2", "Harbour dredging starts", "/a/2.html", "teaser"),
    ]
    url = serve_feed(server, "/feed.xml", items)
    bot.add_feed(url, every="1s")
    desk = bot.news_desk(
        check_seconds=0.5,
        briefing_trigger=IntervalTrigger(seconds=1),
        channels=[],
        clock=lambda: NOW,
    )
    desk.start()
    try:
        wait_for(lambda: bot.store.count_articles() == 2, what="the first refresh")
        serve_page(server, "/a/3.html", "Airport bans night flights", "airport")
        serve_feed(
            server,
            "/feed.xml",
            [*items, Item("g3", "Airport bans night flights", "/a/3.html", "t")],
        )
        wait_for(lambda: bot.store.count_articles() == 3, what="a later scheduled refresh")
        wait_for(
            lambda: (bot.settings.briefings_dir / "briefings.atom").is_file(),
            what="a scheduled briefing",
        )
    finally:
        desk.stop()
    seen = len(server.gets())
    time.sleep(1.5)
    assert len(server.gets()) == seen, "the stopped desk still polls"
    assert len(server.gets("/a/1.html")) == 1
    assert desk.status()["last_briefing_day"] == "2025-03-04"
    assert bot.feeds()[0].articles_added == 3


@pytest.mark.parametrize(
    ("command", "ready"),
    [(["desk"], "Running; Ctrl-C to stop"), (["serve", "--no-example"], "Serving on")],
    ids=["desk", "serve"],
)
def test_sigterm_stops_the_desk_process_cleanly(
    tmp_path: Path, command: list[str], ready: str
) -> None:
    env = {
        **os.environ,
        "CHATBOT_LLM_BACKEND": "extractive",
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "CHATBOT_CONFIG": str(tmp_path / "none.toml"),
        "CHATBOT_DESK_TIMEZONE": "UTC",
        "CHATBOT_UI_PORT": str(free_port()),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "chatbot.surfaces.cli", "-v", *command],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.STDOUT,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        started = lambda: any(ready in x for x in lines) or process.poll() is not None  # noqa: E731
        wait_for(started, timeout=180, what="the desk to start")
        assert process.poll() is None, "".join(lines)
        # The missed run of yesterday happens at start; let it finish, then stop.
        state = tmp_path / "chatbot-data" / "desk" / "state.json"
        wait_for(state.is_file, what="the catch-up run")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, "".join(lines)
    finally:
        if process.poll() is None:
            process.kill()
    reader.join(timeout=5)
    assert any("news desk stopped" in x.lower() for x in lines), "".join(lines)
    written = list((tmp_path / "briefings").iterdir())
    assert {p.suffix for p in written} == {".md", ".html", ".json", ".atom"}
    assert not [p for p in written if p.name.startswith(".")], "half-written files left"
    day = json.loads(state.read_text())["last_day"]
    json.loads((tmp_path / "briefings" / f"briefing-{day}.json").read_text())


def test_briefings_say_which_stories_are_new_and_which_continue(
    bot: Chatbot,
) -> None:
    assert bot.ingest(
        [
            article("Council backs tram lines", "trams", "2025-03-04"),
            article("Harbour dredging starts", "harbour", "2025-03-04"),
        ]
    ).ok
    first = bot.briefing("2025-03-04")
    assert {s.status for s in first.stories} == {"new"}
    # Day two: the tram story goes on under another headline; the airport story is new.
    assert bot.ingest(
        [
            article("Mayor signs the first contract", "trams-followup", "2025-03-05"),
            article("Airport bans night flights", "airport", "2025-03-05"),
        ]
    ).ok
    second = bot.briefing("2025-03-05")
    by_headline = {s.headline: s for s in second.stories}
    going_on = by_headline["Mayor signs the first contract"]
    assert going_on.status == "continuing"
    assert going_on.continues is not None
    earlier = first.stories[going_on.continues.number - 1]
    assert earlier.headline == "Council backs tram lines"
    assert going_on.continues.briefing == "2025-03-04"
    assert going_on.story_id == earlier.story_id
    fresh = by_headline["Airport bans night flights"]
    assert fresh.status == "new" and fresh.continues is None
    assert fresh.story_id not in {s.story_id for s in first.stories}
    markdown = briefing_markdown(second)
    assert "Continuing: story" in markdown and "New story" in markdown
    assert "2 stories (1 new, 1 continuing)" in markdown
    assert "continuity" in briefing_html(second)
    # Stored and read back with the flags.
    again = bot.load_briefing("2025-03-05")
    assert {s.headline: s.status for s in again.stories} == {
        "Mayor signs the first contract": "continuing",
        "Airport bans night flights": "new",
    }
