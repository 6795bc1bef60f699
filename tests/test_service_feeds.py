"""`chatbot serve` with the news desk: /api/feeds, /api/refresh, /api/desk and the briefings'
Atom feed over real HTTP on 127.0.0.1; the desk starts and stops with the server."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import httpx

from chatbot.bot import Chatbot
from chatbot.models.embeddings import Embedder
from chatbot.surfaces import service
from chatbot.surfaces.service.feeds import feeds_router
from harness.servers import free_port
from tests.feed_pages import TOPICS, Item, serve_feed, serve_page
from tests.http_fixtures import ChangingServer
from tests.store_fixtures import settings_in

KEY = "sk-feeds-test-key-0123456789"
NOW = datetime(2025, 3, 5, 9, 0, tzinfo=UTC)


def test_feed_routes_and_the_desk_run_with_the_server(
    tmp_path: Path, embedder: Embedder, changing_server: ChangingServer
) -> None:
    server = changing_server
    serve_page(server, "/a/1.html", "Council backs tram lines", "trams")
    serve_page(server, "/a/2.html", "Harbour dredging starts", "harbour")
    url = serve_feed(
        server,
        "/feed.xml",
        [
            Item("g1", "Council backs tram lines", "/a/1.html", "teaser"),
            Item("g2", "Harbour dredging starts", "/a/2.html", "teaser"),
        ],
    )
    settings = settings_in(
        tmp_path, allow_private_urls=True, api_keys=KEY, desk_timezone="UTC", webhook_url=None
    )
    bot = Chatbot(settings, embedder=embedder)
    # Stored before the server starts: the desk's catch-up run at start briefs it.
    lead = {"title": "Mayor opens the tram depot", "text": " ".join(TOPICS["trams"])}
    assert bot.ingest([{**lead, "published_at": "2025-03-04T10:00:00Z"}]).ok
    desk = bot.news_desk(clock=lambda: NOW, channels=[])
    running = service.serve(
        bot,
        "127.0.0.1",
        free_port(),
        block=False,
        ui=False,
        extra_routers=[feeds_router(bot, desk)],
        on_startup=[desk.start],
        on_shutdown=[desk.stop],
    )
    auth = {"Authorization": f"Bearer {KEY}"}
    try:
        with httpx.Client(base_url=running.url, timeout=60) as http:
            assert desk.running
            assert http.get("/api/feeds").status_code == 401  # behind the API keys
            assert http.get("/api/feeds", headers=auth).json() == {"feeds": []}

            bad = http.post("/api/feeds", json={"url": "ftp://example.org/f"}, headers=auth)
            assert bad.status_code == 400 and "http://" in bad.json()["error"]["message"]
            added = http.post("/api/feeds", json={"url": url, "name": "Gazette"}, headers=auth)
            assert added.status_code == 200, added.text
            body = added.json()
            assert body["feed"]["articles_added"] == 2 and body["feed"]["every"] == "1h"
            [report] = body["refresh"]["feeds"]
            assert len(report["added"]) == 2 and report["requests"] == 3

            again = http.post("/api/refresh", json={"all": True}, headers=auth).json()
            assert again["feeds"][0]["status"] == "not modified" and again["ok"]
            due = http.post("/api/refresh", json={"due_only": True}, headers=auth).json()
            assert due["feeds"] == []  # only the due feeds, and none is due
            now = http.post("/api/refresh", headers=auth).json()  # no body: every feed, now
            assert [f["status"] for f in now["feeds"]] == ["not modified"]
            assert now["feeds"][0]["requests"] == 1
            missing = http.post("/api/refresh", json={"urls": ["http://x.example/f"]}, headers=auth)
            assert missing.status_code == 404 and "Not subscribed" in missing.text

            # The desk ran the missed briefing of March 4 at start; the Atom feed lists it.
            deadline = time.monotonic() + 60
            while http.get("/api/desk", headers=auth).json()["last_briefing_day"] is None:
                assert time.monotonic() < deadline, "the desk's catch-up run did not happen"
                time.sleep(0.3)
            status = http.get("/api/desk", headers=auth).json()
            assert status["running"] and status["briefing_at"] == "07:00 UTC"
            atom = http.get("/api/briefings.atom", headers=auth)
            assert atom.headers["content-type"].startswith("application/atom+xml")
            parsed = feedparser.parse(atom.content)
            assert [e.title for e in parsed.entries] == ["News briefing — 2025-03-04"]
            page = http.get(parsed.entries[0].link, headers=auth)
            assert page.status_code == 200 and "Mayor opens the tram depot" in page.text

            gone = http.delete("/api/feeds", params={"url": url}, headers=auth)
            assert gone.json() == {"deleted": url}
            assert http.delete("/api/feeds", params={"url": url}, headers=auth).status_code == 404
    finally:
        running.stop()
    assert not desk.running  # stopped with the server
