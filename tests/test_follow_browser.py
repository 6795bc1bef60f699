"""Following the news in a real headless Chromium: a story's timeline reached from a briefing's
story, from an answer's source and by a query; a watched question added, answered again after
new articles arrive (its alert shown), and removed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from chatbot.bot import Chatbot
from chatbot.models.embeddings import Embedder
from tests.browser_fixtures import MS, TEXT, open_ui, shot
from tests.store_fixtures import settings_in
from tests.test_stories import DAYS, article

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


@dataclass
class Session:
    page: Any
    bot: Chatbot


@pytest.fixture
def session(tmp_path: Path, embedder: Embedder) -> Iterator[Session]:
    bot = Chatbot(settings_in(tmp_path), embedder=embedder)
    try:
        assert bot.ingest(
            [
                article("Council approves three tram lines", "trams", DAYS[0]),
                article("Harbour dredging begins", "harbour", DAYS[0]),
                article("Mayor signs the tram contract", "trams-followup", DAYS[1]),
            ]
        ).ok
        bot.briefing(DAYS[0])
        with open_ui(bot) as page:
            yield Session(page, bot)
    finally:
        bot.close()


def test_a_story_timeline_from_a_briefing_a_source_and_a_query(session: Session) -> None:
    page = session.page
    # From a briefing's story: generate the second day's briefing, pick its tram story.
    page.get_by_role("tab", name="Briefing").click()
    expect(page.locator("#cb-brief-date input")).to_have_value(
        f"{DAYS[1]} · 1 article", **{"timeout": MS}
    )
    page.click("#cb-brief-go")
    expect(page.locator("#cb-brief-view")).to_contain_text("Mayor signs the tram contract", **TEXT)
    page.locator("#cb-brief-story input").click()
    page.get_by_role("option", name="1. Mayor signs the tram contract").click()
    page.click("#cb-brief-story-go")
    view = page.locator("#cb-story-view")
    expect(view).to_be_visible(timeout=MS)  # the Stories tab is shown
    expect(view).to_contain_text(DAYS[0], **TEXT)
    expect(view).to_contain_text(DAYS[1], **TEXT)
    expect(view).to_contain_text("2027", **TEXT)  # what the first day said
    expect(view).to_contain_text("construction contract", **TEXT)  # what the second added
    text = view.inner_text()
    assert text.index(DAYS[0]) < text.index(DAYS[1])
    shot(page, "story-from-briefing")

    # From an answer's source.
    page.get_by_role("tab", name="Chat").click()
    page.fill("#cb-question textarea", "Who signed the tram construction contract?")
    page.click("#cb-ask")
    expect(page.locator("#cb-chat")).to_contain_text("mayor", ignore_case=True, timeout=MS)
    source = page.locator("#cb-source-story-pick input")
    source.click()
    page.get_by_role("option", name="Mayor signs the tram contract").click()
    page.click("#cb-source-story")
    expect(view).to_be_visible(timeout=MS)
    expect(view).to_contain_text("construction contract", **TEXT)
    expect(view).to_contain_text(DAYS[0], **TEXT)

    # By a query, cut at a day: only what is new since then.
    page.fill("#cb-story-query input", "harbour dredging")
    page.click("#cb-story-go")
    expect(view).to_contain_text("container ships", **TEXT)
    expect(view).not_to_contain_text("construction contract", timeout=MS)
    page.fill("#cb-story-query input", "tram lines")
    page.fill("#cb-story-since input", DAYS[1])
    page.click("#cb-story-go")
    expect(view).to_contain_text("construction contract", **TEXT)
    expect(view).not_to_contain_text("2027", timeout=MS)
    shot(page, "story-since")

    # A query nothing matches: the reason stays in the view, with no red "Error" badge.
    page.fill("#cb-story-since input", "")
    page.fill("#cb-story-query input", "volcanic eruption in Iceland")
    page.click("#cb-story-go")
    expect(view).to_contain_text("No timeline", **TEXT)
    expect(view).to_contain_text("try other words", **TEXT)
    expect(page.get_by_text("Error", exact=True)).to_have_count(0)


def test_watch_a_question_see_its_alert_and_stop_watching(session: Session) -> None:
    page = session.page
    page.get_by_role("tab", name="Watches").click()
    result = page.locator("#cb-watch-result")
    # A refused question is said beside the form and stays there to be mended.
    page.fill("#cb-watch-question textarea", "why " * 200)
    page.click("#cb-watch-add")
    expect(result).to_contain_text("Not watched", **TEXT)
    expect(result).to_contain_text("longer than", **TEXT)
    expect(page.locator("#cb-watch-question textarea")).not_to_have_value("", timeout=MS)
    expect(page.get_by_text("Error", exact=True)).to_have_count(0)

    page.fill("#cb-watch-question textarea", "When will the first tram line open?")
    page.click("#cb-watch-add")
    expect(result).to_contain_text("2027", **TEXT)
    table = page.locator("#cb-watches")
    expect(table).to_contain_text("When will the first tram line open?", **TEXT)

    page.click("#cb-watch-check")
    expect(result).to_contain_text("No answer changed", **TEXT)

    # The news moves on: the next check shows the alert with the new cited sentence.
    assert session.bot.ingest([article("Tram opening delayed to 2029", "trams-delay", DAYS[2])]).ok
    page.click("#cb-watch-check")
    expect(result).to_contain_text("1 answer changed", **TEXT)
    expect(result).to_contain_text("2029", **TEXT)
    expect(table).to_contain_text("2029", **TEXT)
    shot(page, "watch-alert")

    page.locator("#cb-watch-pick input").click()
    page.get_by_role("option").first.click()
    page.click("#cb-watch-remove")
    expect(result).to_contain_text("No longer watching", **TEXT)
    expect(table).not_to_contain_text("When will the first tram line open?", timeout=MS)
    assert session.bot.watches() == []
