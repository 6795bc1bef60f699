"""Following the news on RealTimeQA-dev, replayed day by day as if the articles were arriving.

    python -m evals.follow_news [--since 2025-06-01] [--days 14] [--watches 10]
                                [--backend extractive] [--store PATH]

Each day of the window: that day's articles are ingested, the watched questions are answered
again (``NewsDesk.check_watches``, as after a refresh) and the day's briefing is built (which
links stories across days). At the end every story that ran on two or more days gets its
timeline.

Timelines (issue 29's numbers):
- supported: the share of development sentences that the support checker finds supported by
  some passage of their own day's articles;
- repeats: the share of developments with a sentence that some earlier development's sentence
  of the same story supports (the checker, sentence against sentence): aim for under 0.1;
- the time to build the timeline of the story with the most articles (summaries cold, then
  warm from the summary cache), and of a made-up story with ``--story-articles`` reports on as
  many days (the dev days hold no story of 30 articles).
Watches: ten quiz questions of the window's weeks (those whose gold answer appears in some
article of the window, so that an alert can carry it), watched from day one:
- alerts sent, alerts whose new sentences hold the gold answer, checks without an alert, and of
  those how many had an identical answer; an alert for an identical answer is a failure;
- the time to answer the watches again after a day's refresh.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from evals.rtqa import load_articles, load_questions, write_results


def _window(since: date, days: int) -> list[date]:
    return [since + timedelta(days=i) for i in range(days)]


def _pick_questions(
    questions: list[Any], rows: list[dict[str, Any]], days: list[date], count: int
) -> list[Any]:
    first, last = days[0], days[-1]
    text = "\n".join(r["title"] + "\n" + r["text"] for r in rows)
    chosen = [
        q
        for q in sorted(questions, key=lambda q: q.id)
        if first <= date.fromisoformat(q.date) <= last + timedelta(days=3) and q.answered_by(text)
    ]
    return chosen[:count]


def _supported_by(checker: Any, claim: str, passages: list[str]) -> bool:
    """Does any of the passages support the claim? All of them are read: the timeline itself
    reads only the three nearest, so this check does not share its shortcut."""
    if not passages:
        return False
    scores = checker.score_many([(claim, passage) for passage in passages])
    return any(checker.supported(s.score) for s in scores)


def _passages(bot: Any, article_ids: list[str]) -> list[str]:
    return [p.text for p in bot.store.article_chunks(bot.store.versions(article_ids))]


ENGINEERS = ("Marta Kowalska", "Jonas Berg", "Aisha Rahman", "Luis Ortega", "Keiko Sato")
CAUSES = ("high winds", "a late steel delivery", "a crane inspection", "flooding", "a strike")


def _bridge_story(count: int, start: date) -> list[dict[str, Any]]:
    """A made-up story over ``count`` days, one report a day: the same background each day and
    the day's own numbers, names and causes (so most days add something, and the background
    never does)."""
    rows = []
    total = 0
    for i in range(count):
        day = start + timedelta(days=i)
        segments = 3 + (i * 7) % 5
        total += segments
        engineer, cause = ENGINEERS[i % len(ENGINEERS)], CAUSES[(i * 3) % len(CAUSES)]
        cost = 410 + 6 * i
        text = (
            "The new harbour bridge will link the port district with the northern suburbs. "
            "The city council approved the bridge in 2023 after a decade of debate. "
            f"On {day:%A}, crews lifted {segments} steel segments into place, bringing the "
            f"total to {total} of the 160 the span needs. "
            f"Work paused for {2 + i % 4} hours because of {cause}, the site office said. "
            f"{engineer}, the engineer in charge of day {i + 1} of the lift, said the schedule "
            f"still aims for an opening in {2027 + i // 12}. "
            f"The cost estimate now stands at {cost} million euros, up from {cost - 6} million. "
            "Residents of the port district have complained about night-time noise."
        )
        rows.append(
            {
                "title": f"Harbour bridge: {segments} segments lifted, total {total}",
                "text": text,
                "source": "Harbour Herald",
                "published_at": f"{day.isoformat()}T09:00:00Z",
                "url": f"https://herald.example.org/bridge/{day.isoformat()}",
            }
        )
    return rows


def _time_made_up_story(folder: Path, backend: str, count: int) -> dict[str, Any]:
    """Cold and warm time to build the timeline of a ``count``-article story."""
    from chatbot.bot import Chatbot
    from chatbot.config import Settings

    bot = Chatbot(
        Settings(
            store_path=folder / "vs",
            data_dir=folder / "data",
            briefings_dir=folder / "briefings",
            llm_backend=backend,
        )
    )
    rows = _bridge_story(count, date(2026, 3, 1))
    report = bot.ingest(rows)
    if not report.ok:
        raise SystemExit(report.summary())
    first = bot.store.list_articles()[0].id
    started = time.perf_counter()
    timeline = bot.story(article_id=first)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    bot.story(article_id=first)
    warm = time.perf_counter() - started
    bot.close()
    return {
        "articles": len(timeline.articles),
        "developments": len(timeline.developments),
        "cold_seconds": round(cold, 2),
        "warm_seconds": round(warm, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--since", default="2025-06-01")
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--watches", type=int, default=10)
    parser.add_argument("--backend", default="extractive", help="CHATBOT_LLM_BACKEND")
    parser.add_argument("--store", type=Path, help="Folder for the replay (default: a temp one)")
    parser.add_argument(
        "--story-articles",
        type=int,
        default=30,
        help="Also time the timeline of a made-up story with this many articles (0: skip)",
    )
    args = parser.parse_args(argv)

    from chatbot.bot import Chatbot
    from chatbot.config import Settings

    days = _window(date.fromisoformat(args.since), args.days)
    articles = load_articles("dev")
    rows = [a for a in articles.values() if date.fromisoformat(a["published_at"]) in days]
    by_day: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_day[date.fromisoformat(r["published_at"])].append(r)
    questions = _pick_questions(load_questions("dev"), rows, days, args.watches)
    folder = args.store or Path(tempfile.mkdtemp(prefix="follow-news-"))
    settings = Settings(
        store_path=folder / "vs",
        data_dir=folder / "data",
        briefings_dir=folder / "briefings",
        llm_backend=args.backend,
    )
    bot = Chatbot(settings)
    print(f"{len(rows)} articles over {len(days)} days; {len(questions)} watched questions")
    for q in questions:
        bot.watch(q.question)
    desk = bot.news_desk(channels=[])

    watch_log: list[dict[str, Any]] = []
    recheck_seconds: list[float] = []
    for day in days:
        todays = [{**r, "published_at": f"{r['published_at']}T12:00:00Z"} for r in by_day[day]]
        if todays:
            bot.ingest(todays)
        before = {w.id: w.answer for w in bot.watches()}
        started = time.perf_counter()
        runs = desk.check_watches()
        recheck_seconds.append(time.perf_counter() - started)
        alerted = {run.alert.watch_id: run.alert for run in runs}
        for w in bot.watches():
            alert = alerted.get(w.id)
            question = next(q for q in questions if " ".join(q.question.split()) == w.question)
            watch_log.append(
                {
                    "day": day.isoformat(),
                    "watch": w.id,
                    "alert": alert is not None,
                    "identical": w.answer == before.get(w.id),
                    "gold_in_alert": bool(
                        alert and question.answered_by(" ".join(s.text for s in alert.sentences))
                    ),
                    "new_articles": len(todays),
                }
            )
        bot.briefing(day)
        print(f"{day}: {len(todays)} articles, {len(runs)} alerts, {recheck_seconds[-1]:.2f} s")

    # --- timelines ---
    stories = [s for s in bot.stories() if s.briefings >= 2]
    developments = sentences = supported = repeated_devs = repeated_sentences = 0
    timelines = []
    for info in stories:
        timeline = bot.story(info.story_id)
        earlier: list[str] = []
        for d in timeline.developments:
            own = _passages(bot, [a.id for a in d.articles])
            dev_repeats = False
            for s in d.summary.sentences:
                sentences += 1
                supported += _supported_by(bot.checker, s.text, own)
                if _supported_by(bot.checker, s.text, earlier):
                    repeated_sentences += 1
                    dev_repeats = True
            developments += 1
            repeated_devs += dev_repeats
            earlier += [s.text for s in d.summary.sentences]
        timelines.append(
            {
                "story_id": info.story_id,
                "headline": timeline.headline,
                "articles": len(timeline.articles),
                "developments": len(timeline.developments),
                "days_without_news": timeline.notice,
            }
        )
    biggest = max(stories, key=lambda s: s.articles, default=None)
    timing: dict[str, Any] = {}
    if biggest is not None:
        # Cold: the summary cache emptied; warm: the same again.
        cache = Path(settings.data_dir) / "summaries"
        for path in cache.glob("*"):
            if path.is_file():
                path.unlink()
        started = time.perf_counter()
        timeline = bot.story(biggest.story_id)
        timing["cold_seconds"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        bot.story(biggest.story_id)
        timing["warm_seconds"] = round(time.perf_counter() - started, 2)
        timing["articles"] = len(timeline.articles)
        timing["days"] = len({a.published_at.date() for a in timeline.articles if a.published_at})

    checks = [r for r in watch_log]
    quiet = [r for r in checks if not r["alert"]]
    result = {
        "window": [days[0].isoformat(), days[-1].isoformat()],
        "articles": len(rows),
        "backend": bot.llm_description,
        "timelines": {
            "stories_over_two_days_or_more": len(stories),
            "developments": developments,
            "sentences": sentences,
            "supported_share": round(supported / sentences, 3) if sentences else None,
            "repeat_share_developments": round(repeated_devs / developments, 3)
            if developments
            else None,
            "repeat_share_sentences": round(repeated_sentences / sentences, 3)
            if sentences
            else None,
            "biggest_story_timing": timing,
            "stories": timelines,
        },
        "watches": {
            "questions": [q.question for q in questions],
            "checks": len(checks),
            "alerts": sum(r["alert"] for r in checks),
            "alerts_with_gold_answer": sum(r["gold_in_alert"] for r in checks),
            "watches_alerted_with_gold": len({r["watch"] for r in checks if r["gold_in_alert"]}),
            "checks_without_alert": len(quiet),
            "without_alert_identical_answer": sum(r["identical"] for r in quiet),
            "alerts_for_identical_answer": sum(r["alert"] and r["identical"] for r in checks),
            "recheck_seconds_median": round(statistics.median(recheck_seconds), 3),
            "recheck_seconds_max": round(max(recheck_seconds), 3),
        },
    }
    bot.close()
    if args.story_articles:
        result["timelines"]["made_up_story_timing"] = _time_made_up_story(
            folder / "made-up-story", args.backend, args.story_articles
        )
    path = write_results(f"follow_news_{args.backend}", result)
    summary = {k: v for k, v in result["timelines"].items() if k != "stories"}
    print(summary)
    print(result["watches"])
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
