"""Daily briefings on the real store and embedder: grouping, order, outputs, storage, schedule.

One briefing of a small news day is built once (module fixture) and inspected by several tests;
the HTML is opened in a real headless Chromium.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from chatbot.answering.strategies import create_strategy
from chatbot.answering.summaries import Summarizer
from chatbot.bot import Chatbot
from chatbot.codecs import briefing_from_json, briefing_to_json
from chatbot.llm.base import LLMBackend
from chatbot.models.embeddings import Embedder
from chatbot.news.briefing import BriefingBuilder, BriefingError, story_article_ids
from chatbot.news.schedule import ScheduleError, briefing_job, run_schedule
from chatbot.presentation.briefing import briefing_html, briefing_markdown
from chatbot.vocabulary import Article, Briefing, Chunk
from tests.fakes import ScriptedLLM
from tests.store_fixtures import settings_in

CHROMIUM = "/usr/bin/chromium"
NOW = datetime(2025, 2, 28, 7, 0, tzinfo=UTC)


def broken_on_central_bank() -> ScriptedLLM:
    """Fails whenever it is shown the central-bank story; otherwise cites its first source."""
    return ScriptedLLM(
        fail=lambda prompt: "Central Bank" in prompt,
        fail_message="connection reset by the model server",
        model="broken-on-ecb",
    )


def _at(hour: int, day: int = 27) -> datetime:
    return datetime(2025, 2, day, hour, tzinfo=UTC)


TALKS = (
    "Russian and US diplomats held more than six hours of talks in Istanbul on Thursday about "
    "the work of their embassies. The meeting took place at the residence of the US consul "
    "general, Russian state news agency TASS said. Russian Foreign Minister Sergei Lavrov said "
    "the negotiators were high-level diplomats and experts. The talks follow a meeting of the two "
    "countries' delegations in Riyadh on February 18."
)
TALKS_TITLE = "Russian and US diplomats hold six hours of talks in Istanbul"
HOSTILE_TITLE = "<script>window.__pwned = 1</script>Officials <b>warn</b> of phishing"
DAY_ARTICLES = {
    "talks": Article.create(
        title=TALKS_TITLE,
        text=TALKS,
        source="Reuters",
        published_at=_at(10),
        url="https://reuters.example/world/istanbul-talks?a=1&b=2",
    ),
    "wire": Article.create(  # the same wire story, syndicated
        title=TALKS_TITLE,
        text=TALKS,
        source="The Star",
        published_at=_at(12),
        url="https://star.example/wire/istanbul-talks",
    ),
    "same_event": Article.create(
        title="Russia and US discuss embassy operations at Istanbul meeting",
        text="Delegations from Russia and the United States met in Istanbul on Thursday to "
        "resolve disputes over their embassies. The closed-door talks at the US consul general's "
        "residence lasted more than six hours. Both sides described the meeting as a step toward "
        "restoring diplomatic ties strained since 2022.",
        source="AP",
        published_at=_at(11),
        url="https://ap.example/istanbul",
    ),
    "drones": Article.create(  # also Russia, but another event: its own story
        title="Russia launches 120 drones at Kyiv overnight",
        text="Russia launched 120 drones at Kyiv overnight, Ukraine's air force said on Thursday. "
        "Air defences shot down most of the drones, but debris damaged two apartment buildings. "
        "Three people were injured, the city's mayor Vitali Klitschko said.",
        source="Kyiv Independent",
        published_at=_at(15),
        url="https://kyiv.example/drones",
    ),
    "ecb": Article.create(
        title="European Central Bank holds interest rates at 2.5 percent",
        text="The European Central Bank kept its main interest rate at 2.5 percent on Thursday. "
        "President Christine Lagarde said inflation was falling towards the 2 percent target. "
        "Markets expect a cut in April.",
        source="AP",
        published_at=_at(13),
        url="https://ap.example/ecb",
    ),
    "ecb2": Article.create(
        title="ECB leaves interest rates unchanged, markets eye April cut",
        text="The European Central Bank left its key deposit rate unchanged at 2.5 percent on "
        "Thursday. Christine Lagarde told reporters that inflation was moving towards the bank's "
        "2 percent goal. Investors now bet on a rate cut at the April meeting.",
        source="Bloomberg",
        published_at=_at(14),
        url="https://bloomberg.example/ecb",
    ),
    "hostile": Article.create(
        title=HOSTILE_TITLE,
        text="Officials warned residents about a wave of phishing emails on Thursday. "
        '<script>window.__pwned = 2</script><img src="x" onerror="window.__pwned = 3"> '
        "The messages ask people to confirm their bank passwords on a fake website.",
        source="Evil <i>Times</i>",
        published_at=_at(9),
        url="javascript:window.__pwned=4",
    ),
}
OTHER_DAY = Article.create(
    title="City wins cup final",
    text="Manchester City won the cup final 2-1 against Arsenal at Wembley on Wednesday. "
    "Erling Haaland scored the winning goal in the 87th minute.",
    source="BBC",
    published_at=_at(20, day=26),
    url="https://bbc.example/cup",
)


@pytest.fixture(scope="module")
def news(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder):
    root = tmp_path_factory.mktemp("briefing")
    bot = Chatbot(
        settings_in(root),
        embedder=embedder,
    )
    report = bot.ingest([*DAY_ARTICLES.values(), OTHER_DAY])
    assert report.ok and len(report.added) == len(DAY_ARTICLES) + 1, report
    # An article with no text (written past the ingest check, as an old store might hold it).
    blank = Article.create(
        title="Blank page", text=" \n ", source="X", published_at=_at(8), url="https://x.example/b"
    )
    ones = np.ones((1, embedder.dimension), dtype=np.float32)
    bot.store.write_article(blank, [Chunk(blank.id, 0, " \n ", 0, 3)], ones)
    return bot, root


def _builder(bot: Chatbot, root: Path, llm: LLMBackend | None = None, **kw) -> BriefingBuilder:
    summarizer = Summarizer(
        bot.store,
        bot.embedder,
        create_strategy(llm or bot.llm, bot.embedder, bot.checker),
        bot.checker,
        cache_dir=kw.pop("cache_dir", root / "data" / "summaries"),
        max_tokens=64,
    )
    return BriefingBuilder(
        bot.store,
        bot.embedder,
        summarizer,
        max_stories=kw.pop("max_stories", 10),
        out_dir=kw.pop("out_dir", root / "briefings"),
        state_dir=kw.pop("state_dir", root / "data" / "briefings"),
        clock=kw.pop("clock", lambda: NOW),
        **kw,
    )


@pytest.fixture(scope="module")
def day(news) -> tuple[BriefingBuilder, Briefing]:
    bot, root = news
    builder = _builder(bot, root)
    return builder, builder.build("2025-02-27")


def _ids(story) -> set[str]:
    return set(story.article_ids)


def test_stories_group_same_event_and_wire_copies_and_keep_others_apart(day) -> None:
    _, briefing = day
    a = {k: v.id for k, v in DAY_ARTICLES.items()}
    groups = [_ids(s) for s in briefing.stories]
    assert {a["talks"], a["wire"], a["same_event"]} in groups
    assert {a["ecb"], a["ecb2"]} in groups
    assert {a["drones"]} in groups and {a["hostile"]} in groups
    assert OTHER_DAY.id not in set().union(*groups)  # another day
    # Heaviest first (outlets, articles), then the newest.
    assert [len(g) for g in groups] == [3, 2, 1, 1]
    assert _ids(briefing.stories[2]) == {a["drones"]}  # 15:00 is newer than 09:00
    talks = briefing.stories[0]
    assert talks.headline in {TALKS_TITLE, DAY_ARTICLES["same_event"].title}
    assert set(talks.outlets) == {"Reuters", "The Star", "AP"} and len(talks.also_reported_by) == 2
    assert "Istanbul" in talks.summary and talks.citations
    assert all(s.supported and s.citations for s in talks.sentences)
    assert "no text" in briefing.notice and "Blank page" in briefing.notice
    assert story_article_ids(briefing, 2) == briefing.stories[1].article_ids
    with pytest.raises(BriefingError, match="no story 9"):
        story_article_ids(briefing, 9)


def test_max_stories_caps_the_briefing_and_says_so(news, day) -> None:
    bot, root = news
    capped = _builder(bot, root, max_stories=2).build("2025-02-27", keep=False)
    assert len(capped.stories) == 2
    assert [s.headline for s in capped.stories] == [s.headline for s in day[1].stories[:2]]
    assert "2 smaller stories (2 articles) not shown" in capped.notice


def test_a_day_without_articles_gives_an_empty_briefing(news, tmp_path) -> None:
    bot, root = news
    builder = _builder(bot, root, out_dir=tmp_path, state_dir=tmp_path / "state")
    empty = builder.build("2025-03-01")
    assert empty.stories == () and "No articles were published on 2025-03-01" in empty.notice
    paths = builder.write(empty)
    assert "No articles were published" in paths[0].read_text()
    assert json.loads(paths[2].read_text())["stories"] == []


def test_outputs_files_storage_and_replacement(news, day, tmp_path) -> None:
    bot, root = news
    builder, briefing = day
    md = briefing_markdown(briefing)
    assert md.startswith("# News briefing — 2025-02-27")
    assert f"## 1. [{briefing.stories[0].headline}](https://" in md
    assert "also reported by" in md and "[1]" in md
    assert "<script>" not in md and "\\<script\\>" in md  # escaped, shown as text
    data = json.loads(briefing_to_json(briefing))
    assert data["key"] == "2025-02-27" and len(data["stories"]) == 4
    assert briefing_from_json(briefing_to_json(briefing)) == briefing

    out = tmp_path / "out"
    builder = _builder(bot, root, out_dir=out, state_dir=tmp_path / "state")
    first = builder.build("2025-02-27")
    paths = builder.write(first, ["md", "html", "json"])
    assert [p.name for p in paths] == [f"briefing-2025-02-27.{x}" for x in ("md", "html", "json")]
    assert builder.list_briefings() == ["2025-02-27"]
    assert builder.load_briefing("2025-02-27") == first
    # Re-running the same date replaces the files (and the stored briefing) in place.
    later = _builder(
        bot, root, out_dir=out, state_dir=tmp_path / "state", clock=lambda: NOW.replace(hour=9)
    )
    again = later.build("2025-02-27")
    assert later.write(again) == paths
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)
    assert "2025-02-28 09:00 UTC" in paths[0].read_text()
    assert later.list_briefings() == ["2025-02-27"]
    assert later.latest_briefing() == again
    # "Since the last briefing" starts where the stored one ended.
    since_last = later.build(since_last=True, keep=False)
    assert since_last.since == datetime(2025, 2, 28, tzinfo=UTC)
    assert since_last.until == NOW.replace(hour=9)
    with pytest.raises(BriefingError, match="No stored briefing for 2025-01-01"):
        later.load_briefing("2025-01-01")


def test_llm_failure_falls_back_for_that_story_only(news, tmp_path) -> None:
    bot, root = news
    builder = _builder(bot, root, llm=broken_on_central_bank(), max_stories=2)
    briefing = builder.build("2025-02-27", keep=False)
    by_size = {len(s.articles): s for s in briefing.stories}
    ecb, talks = by_size[2], by_size[3]
    assert "extractive fallback" in ecb.notice and "connection reset" in ecb.notice
    assert "2.5 percent" in ecb.summary and all(s.supported for s in ecb.sentences)
    assert not talks.notice and talks.summary
    assert "failed for 1 story" in briefing.notice
    assert briefing.backend.startswith("scripted")


@pytest.mark.browser
def test_html_renders_in_chromium_and_article_text_cannot_script(day, tmp_path) -> None:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    _, briefing = day
    page_file = tmp_path / "briefing.html"
    html = briefing_html(briefing)
    page_file.write_text(html, encoding="utf-8")
    assert "<script" not in html.lower() and "&lt;script&gt;" in html
    top = briefing.stories[0]
    hostile = next(s for s in briefing.stories if s.headline == HOSTILE_TITLE)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=[
                "--no-sandbox",
                "--headless",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        try:
            page = browser.new_page()
            page.goto(page_file.as_uri())
            heading = page.locator("#story-1 h2 a")
            assert heading.inner_text() == top.headline
            assert heading.get_attribute("href") == top.articles[0].url
            assert page.locator("h1").inner_text() == "News briefing — 2025-02-27"
            assert page.locator("#story-1 .outlets").inner_text().count("also reported by") == 1
            # A citation jumps to its source entry, which links to the article.
            cite = page.locator("#story-1 a.cite").first
            target = cite.get_attribute("href")
            assert page.locator(f"{target} a").first.get_attribute("href").startswith("https://")
            # The planted markup is shown as text; nothing of it runs or becomes an element.
            assert page.locator("script").count() == 0 and page.locator("img").count() == 0
            assert page.locator("[onerror]").count() == 0
            assert page.evaluate("window.__pwned") is None
            assert hostile.headline in page.locator("body").inner_text()
            assert page.locator("a[href^='javascript']").count() == 0
            time.sleep(0.2)
            assert page.evaluate("window.__pwned") is None
        finally:
            browser.close()


def test_schedule_survives_a_failed_run(news, tmp_path) -> None:
    from apscheduler.triggers.interval import IntervalTrigger

    bot, root = news
    stop = threading.Event()
    made: list[int] = []
    written: list[list[Path]] = []

    def make_builder() -> BriefingBuilder:
        made.append(1)
        if len(made) == 1:
            raise RuntimeError("store is down")  # the first run fails
        return _builder(bot, root, out_dir=tmp_path / "out", state_dir=tmp_path / "state")

    job = briefing_job(make_builder, ["md"])

    def run_and_stop() -> None:
        written.append(job())
        if len(written) == 2:
            stop.set()

    timer = threading.Timer(30, stop.set)  # a safety net, not the expected path
    timer.start()
    try:
        stats = run_schedule(
            run_and_stop,
            timezone="UTC",
            stop_event=stop,
            trigger=IntervalTrigger(seconds=0.3),
            poll_seconds=0.05,
        )
    finally:
        timer.cancel()
    assert stats.failures == 1 and "store is down" in stats.last_error
    assert stats.runs == 3 and len(written) == 2
    assert all(p[0].exists() for p in written)


def test_schedule_rejects_bad_times_and_zones() -> None:
    with pytest.raises(ScheduleError, match="HH:MM"):
        run_schedule(lambda: None, at="25:00", timezone="UTC")
    with pytest.raises(ScheduleError, match="time zone"):
        run_schedule(lambda: None, timezone="Mars/Olympus")
