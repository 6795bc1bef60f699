"""The Library tab's Feeds panel in a real headless Chromium against a live UI and feed server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from chatbot.bot import Chatbot
from chatbot.models.embeddings import Embedder
from tests.browser_fixtures import MS, TEXT, open_ui, shot
from tests.feed_pages import Item, serve_feed, serve_page
from tests.http_fixtures import ChangingServer, Response
from tests.store_fixtures import settings_in

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


@pytest.fixture
def page(tmp_path: Path, embedder: Embedder) -> Iterator[Any]:
    bot = Chatbot(settings_in(tmp_path, allow_private_urls=True), embedder=embedder)
    try:
        with open_ui(bot, height=1400) as page:
            yield page
    finally:
        bot.close()


def test_add_refresh_and_remove_feeds_from_the_feeds_panel(
    page: Any, changing_server: ChangingServer
) -> None:
    server = changing_server
    serve_page(server, "/a/1.html", "Council backs tram lines", "trams")
    serve_page(server, "/a/2.html", "Harbour dredging starts", "harbour")
    items = [
        Item("g1", "Council backs tram lines", "/a/1.html", "teaser"),
        Item("g2", "Harbour dredging starts", "/a/2.html", "teaser"),
    ]
    url = serve_feed(server, "/feed.xml", items)
    server.set("/broken.xml", Response(body=b"not { xml", content_type="application/xml"))

    page.get_by_role("tab", name="Library").click()
    page.fill("#cb-feed-url input", url)
    page.fill("#cb-feed-name input", "Gazette")
    page.click("#cb-feed-add")
    expect(page.locator("#cb-feed-result")).to_contain_text("Subscribed to Gazette", **TEXT)
    expect(page.locator("#cb-feed-result")).to_contain_text("2 added", **TEXT)
    expect(page.locator("#cb-feed-url input")).to_have_value("", timeout=MS)
    feeds = page.locator("#cb-feeds")
    expect(feeds).to_contain_text("Gazette", **TEXT)
    expect(feeds).to_contain_text("2 added, 0 updated", **TEXT)
    expect(page.locator("#cb-articles")).to_contain_text("Council backs tram lines", **TEXT)

    page.fill("#cb-feed-url input", server.url("/broken.xml"))
    page.fill("#cb-feed-name input", "Broken")
    page.click("#cb-feed-add")
    expect(page.locator("#cb-feed-result")).to_contain_text("not an RSS/Atom feed", **TEXT)
    expect(feeds).to_contain_text("Broken", **TEXT)
    expect(feeds).to_contain_text("not an RSS/Atom feed", **TEXT)

    serve_page(server, "/a/3.html", "Airport bans night flights", "airport")
    serve_feed(
        server, "/feed.xml", [*items, Item("g3", "Airport bans night flights", "/a/3.html", "t")]
    )
    page.click("#cb-feed-refresh")
    expect(page.locator("#cb-feed-result")).to_contain_text("1 added", **TEXT)
    expect(page.locator("#cb-articles")).to_contain_text("Airport bans night flights", **TEXT)
    shot(page, "feeds")

    page.click("#cb-feed-pick input")
    page.get_by_role("option", name="Broken", exact=False).first.click()
    page.click("#cb-feed-remove")
    expect(page.locator("#cb-feed-result")).to_contain_text("Unsubscribed", **TEXT)
    expect(feeds).not_to_contain_text("Broken", **TEXT)
    expect(feeds).to_contain_text("Gazette", **TEXT)
