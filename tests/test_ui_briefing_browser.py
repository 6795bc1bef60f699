"""The Briefing tab in a real headless Chromium against a live UI: it opens on the newest day with
articles, Generate works untouched, the briefing is listed at once, and a bad day gets one
message in the tab instead of red "Error" badges."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from chatbot.bot import Chatbot
from chatbot.models.embeddings import Embedder
from tests.browser_fixtures import MS, TEXT, open_ui, shot
from tests.store_fixtures import settings_in
from tests.test_ui_briefing import STORIES

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


@pytest.fixture
def page(tmp_path: Path, embedder: Embedder) -> Iterator[Any]:
    bot = Chatbot(settings_in(tmp_path), embedder=embedder)
    try:
        assert bot.ingest(STORIES[:3]).ok  # 2025-03-03 (one article) and 2025-03-04 (two)
        with open_ui(bot) as page:
            yield page
    finally:
        bot.close()


def error_badges(page: Any) -> int:
    """Gradio's red status badges on the tab's outputs (what a raising handler leaves)."""
    return (
        page.locator("#cb-brief-view, #cb-brief-files, #cb-brief-past")
        .get_by_text("Error", exact=True)
        .count()
    )


def test_the_briefing_tab_opens_on_the_newest_day_and_lists_what_it_writes(page: Any) -> None:
    page.get_by_role("tab", name="Briefing").click()
    day = page.locator("#cb-brief-date input")
    expect(day).to_have_value("2025-03-04 · 2 articles", timeout=MS)  # preselected on load
    past = page.locator("#cb-brief-past input")
    expect(past).to_have_value("")
    shot(page, "briefing-tab-opened")

    page.click("#cb-brief-go")  # nothing touched
    view = page.locator("#cb-brief-view")
    expect(view).to_contain_text("Harbour dredging starts", **TEXT)
    expect(view).to_contain_text("Airport bans night flights", **TEXT)
    expect(view).not_to_contain_text("Council backs tram lines")  # the day before
    expect(page.locator("#cb-brief-files")).to_contain_text("briefing-2025-03-04", **TEXT)
    expect(past).to_have_value("2025-03-04", timeout=MS)  # listed as soon as it is written
    past.click()
    expect(page.get_by_role("option", name="2025-03-04")).to_be_visible(timeout=MS)
    page.keyboard.press("Escape")
    shot(page, "briefing-tab-generated")

    # The other day, picked from the list: both are listed then, newest first.
    day.click()
    page.get_by_role("option", name="2025-03-03 · 1 article").click()
    page.click("#cb-brief-go")
    expect(view).to_contain_text("Council backs tram lines", **TEXT)
    expect(past).to_have_value("2025-03-03", timeout=MS)
    past.click()
    options = page.get_by_role("option")
    # Each option also holds Gradio's (hidden unless selected) check mark.
    expect(options).to_have_text(
        [re.compile(r"2025-03-04$"), re.compile(r"2025-03-03$")], timeout=MS
    )
    page.keyboard.press("Escape")
    assert error_badges(page) == 0


def test_a_bad_day_gives_one_message_in_the_tab(page: Any) -> None:
    page.get_by_role("tab", name="Briefing").click()
    day = page.locator("#cb-brief-date input")
    expect(day).to_have_value("2025-03-04 · 2 articles", timeout=MS)
    day.fill("31 Febtember")
    day.press("Enter")
    page.click("#cb-brief-go")
    view = page.locator("#cb-brief-view")
    expect(view).to_contain_text("No briefing:", **TEXT)
    expect(view).to_contain_text("Febtember", **TEXT)
    page.wait_for_timeout(500)  # a badge or toast would be on the page by now
    shot(page, "briefing-tab-bad-day")
    assert error_badges(page) == 0
    assert page.locator(".toast-body").count() == 0  # nothing that vanishes with a toast
    expect(page.locator("#cb-brief-past input")).to_have_value("")  # nothing was written


def test_a_refresh_keeps_the_day_the_briefing_tab_shows(page: Any) -> None:
    page.get_by_role("tab", name="Briefing").click()
    day = page.locator("#cb-brief-date input")
    expect(day).to_have_value("2025-03-04 · 2 articles", timeout=MS)
    day.click()
    page.get_by_role("option", name="2025-03-03 · 1 article").click()
    expect(day).to_have_value("2025-03-03 · 1 article", timeout=MS)
    # A refresh of the feeds (nothing subscribed) updates every list of articles ...
    page.get_by_role("tab", name="Library").click()
    page.click("#cb-feed-refresh")
    expect(page.locator("#cb-feed-result")).to_contain_text("No feeds yet", **TEXT)
    # ... and leaves the picked day as it was.
    page.get_by_role("tab", name="Briefing").click()
    expect(day).to_have_value("2025-03-03 · 1 article", timeout=MS)
