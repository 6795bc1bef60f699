"""The Briefing tab's handlers without a browser: the days it offers, what Generate returns, and
one message (never an exception) when there is no day to brief."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from chatbot.bot import Chatbot
from chatbot.surfaces.web import handlers as ui
from tests.feed_pages import TOPICS


def article(title: str, topic: str, published_at: str) -> dict[str, str]:
    return {
        "title": title,
        "text": " ".join(TOPICS[topic]),
        "source": "Local Gazette",
        "published_at": published_at,
    }


STORIES = [
    article("Council backs tram lines", "trams", "2025-03-03T08:00:00Z"),
    article("Harbour dredging starts", "harbour", "2025-03-04T08:00:00Z"),
    article("Airport bans night flights", "airport", "2025-03-04T12:00:00Z"),
    # 23:30 at UTC-2 is 01:30 UTC the next day: days are counted as briefings count them.
    article("Schools hire teachers", "schools", "2025-03-04T23:30:00-02:00"),
]


def test_article_days_are_the_utc_days_with_articles_newest_first(bot: Chatbot) -> None:
    assert bot.article_days() == []
    assert bot.ingest(STORIES).ok
    assert bot.article_days() == [
        (date(2025, 3, 5), 1),
        (date(2025, 3, 4), 2),
        (date(2025, 3, 3), 1),
    ]
    # The day the picker offers is the day the briefing covers.
    [story] = bot.briefing("2025-03-05").stories
    assert [a.title for a in story.articles] == ["Schools hire teachers"]


def test_the_tab_offers_the_newest_day_and_lists_a_briefing_once_written(bot: Chatbot) -> None:
    assert ui.briefing_days(bot) == ([], None)
    assert bot.ingest(STORIES[:3]).ok
    choices, newest = ui.briefing_days(bot)
    assert choices == [
        ("2025-03-04 · 2 articles", "2025-03-04"),
        ("2025-03-03 · 1 article", "2025-03-03"),
    ]
    assert newest == "2025-03-04"
    assert ui.past_briefings(bot) == []

    markdown, files, past, selected = ui.generate_in_tab(bot, newest)
    assert "Harbour dredging starts" in markdown and "Airport bans night flights" in markdown
    assert "Council backs tram lines" not in markdown  # the day before
    assert sorted(Path(f).suffix for f in files) == [".html", ".json", ".md"]
    assert all(Path(f).name.startswith("briefing-2025-03-04") for f in files)
    assert (past, selected) == (["2025-03-04"], "2025-03-04")  # listed at once

    _, _, past, selected = ui.generate_in_tab(bot, "2025-03-03")
    assert (past, selected) == (["2025-03-04", "2025-03-03"], "2025-03-03")


def test_no_day_or_a_bad_day_gives_one_message_and_no_files(bot: Chatbot) -> None:
    markdown, files, past, selected = ui.generate_in_tab(bot, None)
    assert markdown.startswith("**⚠ No briefing:**") and "No articles yet" in markdown
    assert (files, past, selected) == ([], [], None)

    assert bot.ingest(STORIES[:1]).ok
    markdown, files, past, selected = ui.generate_in_tab(bot, "  ")
    assert markdown.startswith("**⚠ No briefing:**") and "Pick a day" in markdown
    assert (files, past, selected) == ([], [], None)

    markdown, files, _, selected = ui.generate_in_tab(bot, "31 Febtember <b>")
    assert markdown.startswith("**⚠ No briefing:**") and "Febtember" in markdown
    assert "<b>" not in markdown  # what was typed is shown escaped
    assert (files, selected) == ([], None)
    assert ui.past_briefings(bot) == []  # nothing was written
