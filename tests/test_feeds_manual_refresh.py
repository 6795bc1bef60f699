"""A manual refresh (the API, `chatbot refresh`, the UI's button) polls every feed now; the news
desk's timer polls only the due ones. Real local HTTP feed servers on 127.0.0.1 that answer
conditional GETs with 304, counted on the server."""

from __future__ import annotations

import time
from pathlib import Path

from chatbot.bot import Chatbot
from chatbot.surfaces.web import handlers as ui
from tests.feed_pages import Item, serve_feed, serve_page
from tests.http_fixtures import ChangingServer
from tests.test_cli import run

FIRST = [
    Item("g1", "Council backs tram lines", "/a/1.html", "Trams: a short teaser."),
    Item("g2", "Harbour dredging starts", "/a/2.html", "Harbour: a short teaser."),
]
NEW = Item("g3", "Airport bans night flights", "/a/3.html", "Airport: a short teaser.")


def serve_gazette(server: ChangingServer) -> str:
    serve_page(server, "/a/1.html", "Council backs tram lines", "trams")
    serve_page(server, "/a/2.html", "Harbour dredging starts", "harbour")
    serve_page(server, "/a/3.html", "Airport bans night flights", "airport")
    return serve_feed(server, "/feed.xml", FIRST)


def test_a_manual_refresh_right_after_a_refresh_polls_again_and_picks_up_a_new_entry(
    bot: Chatbot, changing_server: ChangingServer
) -> None:
    server = changing_server
    url = serve_gazette(server)
    wire = serve_feed(server, "/wire.xml", [Item("w1", "Schools hire teachers", None, "x" * 400)])
    bot.add_feed(url, name="Gazette", every="6h")
    bot.add_feed(wire, name="Wire", every="1d")
    first = bot.refresh()
    assert first.ok and sorted(len(f.added) for f in first.feeds) == [1, 2]

    # Minutes later nothing is due, yet a person asking for a refresh means now: both feeds are
    # asked, and each unchanged one costs exactly one request, answered 304.
    before = len(server.gets())
    started = time.monotonic()
    again = bot.refresh()
    seconds = time.monotonic() - started
    assert sorted(f.name for f in again.feeds) == ["Gazette", "Wire"]
    assert [f.status for f in again.feeds] == ["not modified", "not modified"]
    assert again.requests == 2 and len(server.gets()) - before == 2
    assert server.statuses("/feed.xml") == [200, 304] and server.statuses("/wire.xml") == [200, 304]
    assert seconds < 5, f"two 304s took {seconds:.1f}s"

    # A new entry published right after: the next manual refresh brings it in, not in 6 hours.
    serve_feed(server, "/feed.xml", [*FIRST, NEW])
    third = {f.name: f for f in bot.refresh().feeds}
    gazette = third["Gazette"]
    assert gazette.status == "ok" and len(gazette.added) == 1 and gazette.unchanged == 2
    assert bot.article(gazette.added[0]).title == "Airport bans night flights"
    assert third["Wire"].status == "not modified"
    assert len(server.gets("/a/3.html")) == 1 and len(server.gets("/a/1.html")) == 1
    assert server.statuses("/feed.xml") == [200, 304, 200]


def test_the_desks_timer_still_polls_only_the_due_feeds(
    bot: Chatbot, changing_server: ChangingServer
) -> None:
    server = changing_server
    url = serve_gazette(server)
    fast = serve_feed(server, "/fast.xml", [Item("f1", "Schools hire teachers", None, "x" * 400)])
    bot.add_feed(url, name="Gazette", every="6h")
    bot.add_feed(fast, name="Fast", every="1s")
    assert bot.refresh().ok
    desk = bot.news_desk(channels=[])

    desk.check()  # the timer's job, at once: neither interval has passed
    assert desk.last_refresh is not None and desk.last_refresh.feeds == []
    assert server.statuses("/feed.xml") == [200] and server.statuses("/fast.xml") == [200]

    time.sleep(1.2)  # the 1-second feed is due now; the 6-hour one is not
    desk.check()
    assert desk.last_refresh is not None
    assert [(f.name, f.status) for f in desk.last_refresh.feeds] == [("Fast", "not modified")]
    assert server.statuses("/fast.xml") == [200, 304]
    assert server.statuses("/feed.xml") == [200]  # not due: not asked at all
    assert bot.refresh(due_only=True).feeds == []  # the same path, asked through the facade


def test_the_ui_refresh_button_polls_every_feed(
    bot: Chatbot, changing_server: ChangingServer
) -> None:
    url = serve_gazette(changing_server)
    assert "2 added" in ui.add_feed(bot, url, "Gazette", "6h")
    serve_feed(changing_server, "/feed.xml", [*FIRST, NEW])
    message = ui.refresh_feeds(bot)  # polled a moment ago, due in 6 hours: asked anyway
    assert "Gazette: 1 added, 0 updated, 2 unchanged" in message
    assert changing_server.statuses("/feed.xml") == [200, 200]
    assert "not modified" in ui.refresh_feeds(bot)
    assert changing_server.statuses("/feed.xml") == [200, 200, 304]


def test_chatbot_refresh_polls_every_feed_and_due_keeps_to_the_due_ones(
    tmp_path: Path, changing_server: ChangingServer
) -> None:
    server = changing_server
    url = serve_gazette(server)
    env = {"CHATBOT_ALLOW_PRIVATE_URLS": "true"}
    added = run(["feeds", "add", url, "--name", "Gazette", "--every", "6h"], tmp_path, **env)
    assert added.returncode == 0, added.stderr
    assert "Gazette: 2 added" in added.stdout

    due = run(["refresh", "--due"], tmp_path, **env)
    assert due.returncode == 0, due.stderr
    assert "0 feeds refreshed" in due.stdout and server.statuses("/feed.xml") == [200]

    unchanged = run(["refresh"], tmp_path, **env)  # minutes after the last poll: asked anyway
    assert unchanged.returncode == 0, unchanged.stderr
    assert "Gazette: not modified (HTTP 304) (1 requests" in unchanged.stdout
    assert server.statuses("/feed.xml") == [200, 304]

    serve_feed(server, "/feed.xml", [*FIRST, NEW])
    fresh = run(["refresh"], tmp_path, **env)
    assert fresh.returncode == 0, fresh.stderr
    assert "Gazette: 1 added, 0 updated, 2 unchanged" in fresh.stdout
    articles = run(["articles"], tmp_path)
    assert "Airport bans night flights" in articles.stdout and "3 articles" in articles.stderr

    both = run(["refresh", "--due", "--all"], tmp_path, **env)
    assert both.returncode == 2 and "contradict" in both.stderr
