"""One story per event (issue 37): same-day reports of one event, a new angle on it included,
become one briefing story; a same-day article about something else stays its own story. Real
store, real embedder; the articles are made up here."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chatbot.bot import Chatbot
from chatbot.models.embeddings import Embedder
from chatbot.news.briefing import TITLE_GROUPING, BriefingBuilder
from chatbot.presentation.briefing import briefing_markdown
from chatbot.vocabulary import Article, Briefing
from tests.store_fixtures import settings_in

DAY = "2026-06-22"
LABELS = Path(__file__).resolve().parents[1] / "evals" / "data" / "story_events.json"


def _at(hour: int) -> datetime:
    return datetime(2026, 6, 22, hour, tzinfo=UTC)


OBITUARY = Article.create(
    title="Harold Brandt, who steered the central bank through two recessions, dies at 91",
    text="Harold Brandt, the former chairman of the Federal Reserve who guided the central bank "
    "through two recessions and a stock market crash, died on Monday at his home in Virginia. "
    "He was 91. His family said he died of complications of Parkinson's disease. Brandt led the "
    "Fed for fourteen years under three presidents. He raised interest rates sharply in his "
    "first year to break a long run of inflation, a decision that was unpopular at the time and "
    "that economists later credited with a decade of steady growth. Born in Ohio to a family of "
    "grocers, he studied economics at night while working at a bank, and became a professor "
    "before joining the Treasury. After leaving the Fed he taught at Princeton and wrote two "
    "books on monetary policy. Current Fed officials called him a steady hand. He is survived "
    "by his wife, three children and seven grandchildren.",
    source="usatoday.com",
    published_at=_at(9),
    url="https://usatoday.example/brandt-obituary",
)
# A new angle on the same death: mostly about the disease, so its body alone is another subject.
EXPLAINER = Article.create(
    title="What is Parkinson's disease? The condition Harold Brandt lived with",
    text="Harold Brandt, the former Federal Reserve chairman who died on Monday at 91, had lived "
    "with Parkinson's disease for more than a decade, his family said. Here is what to know "
    "about the condition. Parkinson's is a disorder of the nervous system that gets worse over "
    "time. It happens when nerve cells in the brain that make dopamine stop working or die. "
    "Early symptoms include a tremor in one hand, stiff muscles, slow movement and trouble with "
    "balance. Many people also have sleep problems, a weaker sense of smell and changes in mood "
    "long before the tremor starts. Doctors diagnose it from the symptoms and an examination; "
    "there is no single test. There is no cure, but medicines that replace or mimic dopamine "
    "ease the symptoms for years, and deep brain stimulation helps some patients. Exercise, "
    "physical therapy and speech therapy also help. About a million Americans live with the "
    "disease, and it is more common in men and after the age of 60. Researchers are testing "
    "treatments that might slow it down rather than only ease the symptoms.",
    source="usatoday.com",
    published_at=_at(14),
    url="https://usatoday.example/parkinsons-explainer",
)
# The same institution on the same day, but another event.
RATES = Article.create(
    title="Fed holds interest rates steady as inflation cools",
    text="The Federal Reserve left its benchmark interest rate unchanged on Monday, saying "
    "inflation had cooled but remained above its 2% goal. Officials signalled that a cut could "
    "come later in the year if prices keep easing. Stocks rose after the announcement. The "
    "decision was unanimous, and the central bank said the job market remained solid.",
    source="wire.example",
    published_at=_at(12),
    url="https://wire.example/fed-holds",
)
BIKES = Article.create(
    title="City council approves new bike lanes on Main Street",
    text="The city council voted 7-2 on Monday to build protected bike lanes along two miles of "
    "Main Street. The project will remove about 80 parking spaces and is expected to cost $4 "
    "million, paid mostly by a state transportation grant. Shop owners had asked the council to "
    "delay the vote, saying customers need the parking. Construction starts in the spring and "
    "should be finished by the end of next year, the city's transportation director said.",
    source="local.example",
    published_at=_at(11),
    url="https://local.example/bike-lanes",
)


@pytest.fixture(scope="module")
def news(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder):
    root = tmp_path_factory.mktemp("story-events")
    bot = Chatbot(settings_in(root), embedder=embedder)
    report = bot.ingest([OBITUARY, EXPLAINER, RATES, BIKES])
    assert report.ok and len(report.added) == 4, report.summary()
    yield bot, root
    bot.close()


@pytest.fixture(scope="module")
def briefing(news) -> Briefing:
    bot, _ = news
    return bot.briefings.build(DAY, keep=False)


def test_an_obituary_and_an_explainer_on_the_death_are_one_story(briefing: Briefing) -> None:
    [death] = [s for s in briefing.stories if OBITUARY.id in s.article_ids]
    # The report is the headline; the explainer is the second article under it.
    assert death.article_ids == (OBITUARY.id, EXPLAINER.id)
    assert death.headline == OBITUARY.title
    md = briefing_markdown(briefing)
    story_md = md.split(f"[{OBITUARY.title}]", 1)[1].split("\n## ", 1)[0]
    assert "Articles:" in story_md and EXPLAINER.title in story_md


def test_other_events_of_the_day_stay_their_own_stories(briefing: Briefing) -> None:
    groups = sorted(sorted(s.article_ids) for s in briefing.stories)
    assert groups == sorted([sorted([OBITUARY.id, EXPLAINER.id]), [RATES.id], [BIKES.id]]), [
        s.headline for s in briefing.stories
    ]


def test_the_grouping_before_issue_37_split_the_new_angle_off(news) -> None:
    """The old grouping (article vector + title) is kept for comparison; it is what the test
    above guards against."""
    bot, root = news
    old = BriefingBuilder(
        bot.store,
        bot.embedder,
        bot.summarizer,
        out_dir=root / "old",
        state_dir=root / "old-state",
        grouping=TITLE_GROUPING,
    )
    listed = sorted(bot.store.list_articles(), key=lambda a: a.published_at or _at(0))
    groups = {frozenset(a.id for a in g) for g in old.group(listed)}
    assert frozenset({OBITUARY.id}) in groups and frozenset({EXPLAINER.id}) in groups


def test_the_labelled_set_covers_its_days_and_holds_no_article_text(evaldata: Path) -> None:
    """evals/story_events.py scores against this file: every article of each labelled day in
    exactly one event, and only ids and the labeller's own words (no corpus text)."""
    by_day: dict[str, dict[str, dict[str, str]]] = {}
    for line in (evaldata / "realtimeqa-dev" / "articles.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        by_day.setdefault(row["published_at"], {})[row["id"]] = row
    data = json.loads(LABELS.read_text(encoding="utf-8"))
    assert data["about"]["labelled_by"] and data["about"]["rules"]
    raw = LABELS.read_text(encoding="utf-8")
    assert len(data["days"]) >= 8
    for day, events in data["days"].items():
        ids = [a for e in events for a in e["articles"]]
        assert sorted(ids) == sorted(by_day[day]), day
        for row in by_day[day].values():
            assert row["title"] not in raw and row["text"][:80] not in raw, row["id"]
