"""Live blogs become dated entries (issue 37, part 1): from JSON-LD on a page fetched from a
local server, and from the timestamps of a plain-text page; each entry is stored, filtered and
cited at its own time, and a page fetched again adds only its new entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from chatbot.presentation.labels import citation_header
from chatbot.sources.live_blogs import live_blog_articles, parse_stamp
from chatbot.vocabulary import Article
from tests.feed_pages import Item, serve_feed
from tests.http_fixtures import ChangingServer, LocalServer, Response, article_html

EDT = timezone(timedelta(hours=-4))

PLAIN_BLOG = """Title: Election night live: results as they come in
Date: 2026-11-03
Source: Example Times

Polls have closed across the eastern states and counting has begun in the races for the Senate \
and for governor in thirty-six states.

8:05 pm ET Nov. 3, 2026
Share this update
Polls close in Virginia
Jane Doe and John Roe
Polls closed in Virginia at 7 p.m., and election officials said turnout was higher than in the \
last midterm election.

9:40 pm ET Nov. 3, 2026 Share this update
Lopez wins the governor's race in Ohio
The Associated Press called the governor's race in Ohio for Maria Lopez, who led by 12 points \
with most of the vote counted.

12:15 am ET Nov. 4, 2026
Senate control still undecided
Control of the Senate remained undecided after midnight, with races in Arizona and Nevada too \
close to call.
"""


def test_a_live_blog_page_with_json_ld_is_stored_and_cited_as_dated_entries(
    bot, http_server: LocalServer
) -> None:
    url = http_server.url("/live.html")
    report = bot.ingest([url])
    assert not report.failed and len(report.added) == 3
    stored = {a.title: a for a in bot.articles()}
    assert set(stored) == {
        "Messi becomes the top scorer",
        "Messi ties men's World Cup goal-scoring record",
        "Ivory Coast and Ecuador draw in Houston",
    }
    record = stored["Messi becomes the top scorer"]
    assert record.published_at == datetime(2026, 6, 22, 18, 10, tzinfo=EDT)
    assert record.url == f"{url}#entry-messi-record"
    assert stored["Messi ties men's World Cup goal-scoring record"].authors == (
        "Victoria Hernandez",
    )
    # The third entry's body is only on the page, under its anchor: read from there.
    text = bot.article(record.id).text
    assert "passing Miroslav Klose" in text
    # The page wraps the paragraph in its markup; a reader sees (and a quote holds) one line.
    assert "became the all-time leading scorer" in text
    assert "10:49 pm" not in text and "Ivory Coast" not in text  # not the neighbours'

    # Each entry at its own time: a June 16 entry is not news on June 22.
    assert [a.title for a in bot.articles(since="2026-06-20")] == ["Messi becomes the top scorer"]
    assert {a.title for a in bot.articles(until="2026-06-15")} == {
        "Ivory Coast and Ecuador draw in Houston"
    }

    answer = bot.ask("Who became the all-time leading scorer at the men's World Cup?")
    cited = {c.title: c for c in answer.citations}
    assert "Messi becomes the top scorer" in cited, answer.text
    header = citation_header(cited["Messi becomes the top scorer"], 1)
    assert header.startswith(
        "[1] “Messi becomes the top scorer” — Local Gazette, 2026-06-22 22:10 UTC"
    )
    assert header.endswith("#entry-messi-record")

    # Fetched again: the same entries, nothing stored twice.
    again = bot.ingest([url])
    assert not again.added and not again.failed and len(again.unchanged) == 3
    assert bot.store.count_articles() == 3


def test_a_plain_text_live_blog_becomes_entries_without_its_furniture(bot, tmp_path: Path) -> None:
    path = tmp_path / "election-live.txt"
    path.write_text(PLAIN_BLOG, encoding="utf-8")
    report = bot.ingest([path])
    assert not report.failed and len(report.added) == 4  # the lead and three entries
    stored = {a.title: a for a in bot.articles()}
    assert set(stored) == {
        "Election night live: results as they come in",
        "Polls close in Virginia",
        "Lopez wins the governor's race in Ohio",
        "Senate control still undecided",
    }
    virginia = stored["Polls close in Virginia"]
    assert virginia.published_at == datetime(2026, 11, 4, 1, 5, tzinfo=UTC)  # 8:05 pm EST
    assert virginia.authors == ("Jane Doe", "John Roe")
    assert virginia.source == "Example Times"
    text = bot.article(virginia.id).text
    assert text.startswith("Polls closed in Virginia at 7 p.m.")
    for furniture in ("Share this update", "Jane Doe", "8:05 pm", "Lopez"):
        assert furniture not in text
    after_midnight = stored["Senate control still undecided"].published_at
    assert after_midnight == datetime(2026, 11, 4, 5, 15, tzinfo=UTC)
    assert [a.title for a in bot.articles(since="2026-11-04T03:00:00Z")] == [
        "Senate control still undecided"
    ]

    answer = bot.ask("Who won the governor's race in Ohio?")
    quotes = " ".join(c.quote for c in answer.citations)
    assert "Maria Lopez" in quotes, answer.text
    for furniture in ("Share this update", "9:40 pm", "Jane Doe"):
        assert furniture not in quotes


def test_an_updated_live_blog_adds_only_its_new_entries(bot, tmp_path: Path) -> None:
    path = tmp_path / "live.txt"
    first, _, _ = PLAIN_BLOG.rpartition("\n12:15 am ET")
    path.write_text(first + "\n", encoding="utf-8")
    assert len(bot.ingest([path]).added) == 3
    path.write_text(PLAIN_BLOG, encoding="utf-8")
    report = bot.ingest([path])
    assert [bot.article(i).title for i in report.added] == ["Senate control still undecided"]
    assert len(report.unchanged) == 3 and not report.updated
    assert bot.store.count_articles() == 4


@pytest.mark.parametrize(
    "text",
    [
        # An ordinary story with its page's times: one article.
        "Published 4:40 p.m. ET June 22, 2026\nUpdated 5:23 p.m. ET June 22, 2026\n\n"
        "Alan Greenspan, who led the Federal Reserve for almost two decades, has died at 99.\n\n"
        "He was chairman from 1987 to 2006, under four presidents.",
        # Times inside sentences are news, not entries.
        "The polls opened at 7:00 a.m. and closed at 8:00 p.m. in most states.\n\n"
        "Officials said at 9:15 p.m. that counting would go on overnight in the larger counties.",
        # A history told sighting by sighting, in a story dated 2015: times, but not live.
        "5:45 p.m. April 28, 1949\nA Tucson florist saw three discs over Campbell Avenue from "
        "the corner where he stood with two friends.\n\n2:30 p.m. May 9, 1949\nAn Air Force "
        "sergeant saw two flying objects while he lay on the lawn in front of his home.",
        # One timestamped block is a story with a time above it.
        "10:49 pm ET June 16, 2026\nMessi ties the record\nLionel Messi scored a hat trick on "
        "Tuesday night to tie the men's World Cup scoring record with 16 goals.",
    ],
)
def test_an_ordinary_article_stays_one_article(text: str) -> None:
    page = Article.create(
        title="A story",
        text=text,
        source="Example Times",
        published_at=datetime(2015, 1, 23, tzinfo=UTC) if "1949" in text else None,
    )
    assert live_blog_articles(page) is None


def test_entry_ids_are_stable_and_per_page() -> None:
    text = PLAIN_BLOG.split("\n\n", 1)[1]
    one = Article.create(title="Live", text=text, url="https://example.org/live")
    other = Article.create(title="Live", text=text, url="https://example.org/other-live")
    ids = [a.id for a in live_blog_articles(one) or []]
    assert ids == [a.id for a in live_blog_articles(one) or []]
    assert len(set(ids)) == len(ids) == 4  # the lead and three entries
    assert not set(ids) & {a.id for a in live_blog_articles(other) or []}


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("10:49 pm ET June 16, 2026", datetime(2026, 6, 17, 2, 49, tzinfo=UTC)),
        ("June 22, 2026, 4:40 p.m. ET", datetime(2026, 6, 22, 20, 40, tzinfo=UTC)),
        ("Tue, June 16, 2026 at 10:49 PM EDT", datetime(2026, 6, 17, 2, 49, tzinfo=UTC)),
        ("8:05 pm ET Nov. 3, 2026", datetime(2026, 11, 4, 1, 5, tzinfo=UTC)),  # standard time
        ("22:49 BST 16 June 2026", datetime(2026, 6, 16, 21, 49, tzinfo=UTC)),
        # No date: the day of the entry before (or of the page); no zone: its zone.
        ("3:15 p.m.", datetime(2026, 6, 16, 15, 15, tzinfo=UTC)),
    ],
)
def test_entry_times(stamp: str, expected: datetime) -> None:
    assert parse_stamp(stamp, default=datetime(2026, 6, 16, tzinfo=UTC)) == expected


def test_reindex_splits_the_live_blogs_of_an_older_store(bot) -> None:
    from chatbot.index.chunking import TEXT_FORMAT

    # What the previous version stored: the live blog as one article, and a plain story.
    page = Article.create(
        title="Election night live", text=PLAIN_BLOG.split("\n\n", 1)[1], source="Example Times"
    )
    story = Article.create(
        title="Budget passes",
        text="The city council passed the budget on Tuesday by nine votes to four, after a "
        "debate of six hours.",
        source="Example Times",
    )
    bot.ingestor.ingest([page, story])  # the ingestor stores what it is given
    bot.store.set_text_format("pages")
    assert bot.store.needs_entries()
    assert "`chatbot reindex` stores live blogs as dated entries" in bot.status()["article_texts"]
    assert [a.title for a in bot.articles(since="2026-11-04")] == []  # undated page

    bot.reindex()
    titles = {a.title for a in bot.articles()}
    assert titles == {
        "Election night live",  # its lead, under a new id: the page itself is gone
        "Polls close in Virginia",
        "Lopez wins the governor's race in Ohio",
        "Senate control still undecided",
        "Budget passes",
    }
    assert bot.article(page.id) is None and bot.article(story.id) is not None
    assert bot.status()["article_texts"] == TEXT_FORMAT and not bot.store.needs_entries()
    assert [a.title for a in bot.articles(since="2026-11-04T03:00:00Z")] == [
        "Senate control still undecided"
    ]
    # Run again (or after a cut-short run): nothing changes, nothing is stored twice.
    bot.store.set_text_format("pages")
    bot.reindex()
    assert bot.store.count_articles() == 5


def test_a_feed_entry_that_links_a_live_blog_stores_its_entries(
    bot, changing_server: ChangingServer
) -> None:
    server = changing_server
    lines = [line for line in PLAIN_BLOG.split("\n\n", 1)[1].split("\n") if line.strip()]
    page = article_html("Election night live", lines, canonical=server.url("/live"))
    server.set("/live", Response(body=page.encode()))
    item = Item("g1", "Election night live", "/live", "Live.", datetime(2026, 11, 4, tzinfo=UTC))
    url = serve_feed(server, "/feed.xml", [item])
    bot.add_feed(url)
    [feed] = bot.refresh().feeds
    assert not feed.failed and len(feed.added) == 4  # the lead and three entries
    stored = {bot.article(i).title: bot.article(i) for i in feed.added}
    assert stored["Senate control still undecided"].published_at == datetime(
        2026, 11, 4, 5, 15, tzinfo=UTC
    )
    assert "Share this update" not in stored["Polls close in Virginia"].text
    # The next refresh of an unchanged feed stores nothing twice.
    bot.refresh()
    assert bot.store.count_articles() == 4
