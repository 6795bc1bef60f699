"""Story timelines: a story followed across days, each day told by what it added (checked by the
support checker against the story's earlier coverage), oldest first; by id, article or query."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chatbot.bot import Chatbot
from chatbot.codecs import timeline_to_dict
from chatbot.common.markers import strip_markers
from chatbot.errors import StoryError
from chatbot.models.embeddings import Embedder
from chatbot.presentation.briefing import timeline_markdown
from tests.feed_pages import TOPICS
from tests.store_fixtures import settings_in

DAYS = ("2025-03-01", "2025-03-02", "2025-03-03", "2025-03-04")


def article(title: str, topic: str, day: str, source: str = "Local Gazette") -> dict[str, str]:
    return {
        "title": title,
        "text": " ".join(TOPICS[topic]),
        "source": source,
        "published_at": f"{day}T08:00:00Z",
        "url": f"https://gazette.example.org/{title.lower().replace(' ', '-')}",
    }


@pytest.fixture(scope="module")
def news(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Chatbot]:
    """Four days: the tram story on three of them (the third day only repeats the first), and
    two other stories; one briefing per day, as the desk writes them."""
    bot = Chatbot(settings_in(tmp_path_factory.mktemp("stories")), embedder=embedder)
    report = bot.ingest(
        [
            article("Council approves three tram lines", "trams", DAYS[0]),
            article("Harbour dredging begins", "harbour", DAYS[0]),
            article("Mayor signs the tram contract", "trams-followup", DAYS[1]),
            article("Airport bans night flights", "airport", DAYS[1]),
            article("Three new tram lines approved", "trams", DAYS[2], source="Other Paper"),
            article("Tram opening delayed to 2029", "trams-delay", DAYS[3]),
        ]
    )
    assert report.ok, report.summary()
    for day in DAYS:
        bot.briefing(day)
    yield bot
    bot.close()


def test_a_timeline_tells_each_day_what_it_added_oldest_first(news: Chatbot) -> None:
    [tram] = [s for s in news.stories() if "tram" in s.headline.lower()]
    assert tram.briefings == 4 and tram.last_seen == DAYS[3]
    timeline = news.story(tram.story_id)
    assert timeline.story_id == tram.story_id
    days = [d.day.isoformat() for d in timeline.developments]
    # The day that only repeated the first is left out, and said so.
    assert days == [DAYS[0], DAYS[1], DAYS[3]]
    assert DAYS[2] in timeline.notice
    assert all("harbour" not in a.title.lower() for a in timeline.articles)
    by_day = {d.day.isoformat(): d for d in timeline.developments}
    assert "2027" in by_day[DAYS[0]].summary.text
    assert "contract" in by_day[DAYS[1]].summary.text
    assert "2029" in by_day[DAYS[3]].summary.text
    for development in timeline.developments:
        assert development.summary.sentences
        for sentence in development.summary.sentences:
            assert sentence.supported and sentence.citations
            assert set(sentence.citations) <= {c.n for c in development.summary.citations}
        # Every citation points at one of that day's own articles.
        day_ids = {a.id for a in development.articles}
        assert {c.article_id for c in development.summary.citations} <= day_ids


def test_developments_are_supported_by_their_day_and_new_against_earlier_ones(
    news: Chatbot,
) -> None:
    [tram] = [s for s in news.stories() if "tram" in s.headline.lower()]
    timeline = news.story(tram.story_id)
    checker = news.checker
    earlier: list[str] = []
    for development in timeline.developments:
        own = {
            a.id: (news.article(a.id).text if news.article(a.id) else "")  # type: ignore[union-attr]
            for a in development.articles
        }
        for sentence in development.summary.sentences:
            text = strip_markers(sentence.text)
            # Supported by its own day's articles ...
            assert any(checker.supported(checker.score(text, t).score) for t in own.values())
            # ... and not by an earlier development: no repeats.
            assert not any(checker.supported(checker.score(text, e).score) for e in earlier)
        earlier += [s.text for s in development.summary.sentences]


def test_the_same_story_by_article_by_query_and_since_a_day(news: Chatbot) -> None:
    [tram] = [s for s in news.stories() if "tram" in s.headline.lower()]
    full = news.story(tram.story_id)
    contract = next(a for a in full.articles if "contract" in a.title)
    by_article = news.story(article_id=contract.id)
    by_query = news.story(query="When will the tram lines open?")
    for other in (by_article, by_query):
        assert other.story_id == full.story_id
        assert [d.day for d in other.developments] == [d.day for d in full.developments]
    since = news.story(tram.story_id, since=DAYS[1])
    assert [d.day.isoformat() for d in since.developments] == [DAYS[1], DAYS[3]]
    # A story that stands alone is a one-day timeline.
    [harbour] = [s for s in news.stories() if "harbour" in s.headline.lower()]
    alone = news.story(harbour.story_id)
    assert [d.day.isoformat() for d in alone.developments] == [DAYS[0]]


def test_the_timeline_renders_and_serialises(news: Chatbot) -> None:
    [tram] = [s for s in news.stories() if "tram" in s.headline.lower()]
    timeline = news.story(tram.story_id)
    markdown = timeline_markdown(timeline)
    assert markdown.index(f"## {DAYS[0]}") < markdown.index(f"## {DAYS[1]}")
    assert "\\[1\\]" in markdown and "gazette.example.org" in markdown
    data = timeline_to_dict(timeline)
    assert data["story_id"] == tram.story_id
    assert [d["day"] for d in data["developments"]] == [DAYS[0], DAYS[1], DAYS[3]]
    assert all(d["citations"] and d["articles"] for d in data["developments"])


def test_unknown_stories_and_bad_requests_say_what_to_do(news: Chatbot, tmp_path: Path) -> None:
    with pytest.raises(StoryError, match=r"No story 'story-nothing'.*chatbot story --query"):
        news.story("story-nothing")
    with pytest.raises(StoryError, match="No stored article matches"):
        news.story(query="zebra crossings in Antarctica penguin parliament")
    with pytest.raises(StoryError, match="one of"):
        news.story("x", query="y")
    with pytest.raises(StoryError, match="No stored article has the id"):
        news.story(article_id="nope")
