"""The Feeds panel's handlers without a browser: what they return and refuse."""

from __future__ import annotations

import gradio as gr
import pytest

from chatbot.bot import Chatbot
from chatbot.surfaces.web import handlers as ui
from tests.feed_pages import Item, serve_feed, serve_page
from tests.http_fixtures import ChangingServer


def test_feed_handlers_add_list_refresh_remove_and_refuse_bad_input(
    bot: Chatbot, changing_server: ChangingServer
) -> None:
    serve_page(changing_server, "/a/1.html", "Council <b>backs</b> tram lines", "trams")
    url = serve_feed(
        changing_server, "/feed.xml", [Item("g1", "Council backs tram lines", "/a/1.html", "t")]
    )
    with pytest.raises(gr.Error, match="Paste the URL"):
        ui.add_feed(bot, "  ", None, "1h")
    with pytest.raises(gr.Error, match="http:// or https://"):
        ui.friendly(ui.add_feed)(bot, "ftp://example.org/feed", None, "1h")
    assert ui.refresh_feeds(bot) == "No feeds yet: add one above."

    message = ui.add_feed(bot, url, "Gazette <i>", "6h")
    assert "Subscribed to Gazette &#60;i&#62;" in message and "<i>" not in message
    assert "1 added" in message
    [row] = ui.feed_rows(bot)
    assert row[:3] == ["Gazette <i>", url, "6h"]
    assert row[4].startswith("1 added") and row[5] == "" and row[6] == 1
    assert "not modified" in ui.refresh_feeds(bot)

    with pytest.raises(gr.Error, match="Pick a feed"):
        ui.remove_feed(bot, None)
    assert "Unsubscribed" in ui.remove_feed(bot, url)
    with pytest.raises(gr.Error, match="Not subscribed"):
        ui.remove_feed(bot, url)
    assert ui.feed_rows(bot) == []
