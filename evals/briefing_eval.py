"""Daily briefings on RealTimeQA-dev: stories per day, duplicate merging, time per backend.

    python -m evals.briefing_eval [--top 3] [--store PATH] [--backends extractive,local]
                                  [--local-max-stories 1] [--out-dir DIR]

Which days: the ``--top`` days with the most articles, plus every day that has a duplicate pair
(below), so that merging is measured on more than a handful of pairs.

How duplicate merging is measured. Ground truth is computed from the article texts and titles,
independently of the grouping (which uses embeddings of titles and of the article chunks):
- near-duplicate text: two articles of the same day whose word 5-gram shingle sets have Jaccard
  >= 0.3, after dropping shingles that occur in 5 or more pages of the corpus (site boilerplate:
  cookie banners, "related stories", newsletter blurbs would otherwise make unrelated pages of one
  site look alike);
- near-duplicate title: title word sets with Jaccard >= 0.5.
A pair counts as merged when both articles end up in the same story. Grouping is evaluated on all
stories of a day (``BriefingBuilder.group``), not only the ones the briefing shows. Merges that
are not duplicates (the same event told differently, which the briefing should also merge) have
no automatic ground truth: the multi-article stories are printed for a spot check.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EVALDATA = Path(__file__).resolve().parents[2] / "shared" / "evaldata"
ARTICLES = EVALDATA / "realtimeqa-dev" / "articles.jsonl"
RESULTS = Path(__file__).resolve().parent / "results"
SHINGLE = 5
TEXT_JACCARD = 0.3
TITLE_JACCARD = 0.5
BOILERPLATE_DF = 5


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _shingles(text: str) -> set[str]:
    w = _words(text)
    return {" ".join(w[i : i + SHINGLE]) for i in range(max(0, len(w) - SHINGLE + 1))}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def duplicate_pairs(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """Same-day pairs of row ids that are near-duplicates, with the reason."""
    shingles = {r["id"]: _shingles(r["text"]) for r in rows}
    df = Counter(s for sh in shingles.values() for s in sh)
    content = {k: {s for s in v if df[s] < BOILERPLATE_DF} for k, v in shingles.items()}
    titles = {r["id"]: set(_words(r["title"])) for r in rows}
    by_day: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        by_day[r["published_at"]].append(r["id"])
    pairs: dict[tuple[str, str], str] = {}
    for ids in by_day.values():
        for a, b in itertools.combinations(sorted(ids), 2):
            reasons = []
            if _jaccard(content[a], content[b]) >= TEXT_JACCARD:
                reasons.append("text")
            if _jaccard(titles[a], titles[b]) >= TITLE_JACCARD:
                reasons.append("title")
            if reasons:
                pairs[(a, b)] = "+".join(reasons)
    return pairs


def main(argv: Sequence[str] | None = None) -> int:
    with tempfile.TemporaryDirectory(prefix="briefing-eval-") as tmp:
        return run(Path(tmp), argv)


def run(workdir: Path, argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ARTICLES)
    parser.add_argument("--top", type=int, default=3, help="days with the most articles (3)")
    parser.add_argument("--dates", nargs="*", help="these days instead of the top ones")
    parser.add_argument("--no-duplicate-days", action="store_true")
    parser.add_argument("--store", type=Path, help="store folder (default: temporary)")
    parser.add_argument("--backends", default="extractive,local")
    parser.add_argument("--max-stories", type=int, default=10)
    parser.add_argument(
        "--local-max-stories",
        type=int,
        default=1,
        help="stories the local LLM summarizes per day (1: it is slow on a shared CPU)",
    )
    parser.add_argument(
        "--llm-all-days", action="store_true", help="LLM backends brief every day, not the top"
    )
    parser.add_argument(
        "--out-dir", type=Path, help="keep the top days' briefings (md/html/json) here"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "briefing_eval.json")
    args = parser.parse_args(argv)

    from chatbot.answering.strategies import create_strategy
    from chatbot.answering.summaries import Summarizer
    from chatbot.bot import Chatbot
    from chatbot.common.dates import day_range
    from chatbot.config import Settings
    from chatbot.llm.base import LLMError
    from chatbot.llm.no_llm import NoLLM
    from chatbot.news.briefing import BriefingBuilder
    from chatbot.vocabulary import Article

    rows = [json.loads(line) for line in args.data.open(encoding="utf-8")]
    counts = Counter(r["published_at"] for r in rows)
    top = args.dates or [d for d, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    top = top[: len(args.dates) if args.dates else args.top]
    truth = duplicate_pairs(rows)
    dup_days = sorted({next(r for r in rows if r["id"] == a)["published_at"] for a, _ in truth})
    days = list(dict.fromkeys(top + ([] if args.no_duplicate_days else dup_days)))
    chosen = [r for r in rows if r["published_at"] in days]
    print(f"days: {', '.join(days)} ({len(chosen)} articles)", file=sys.stderr)

    store_path = args.store or workdir / "vectorstore"
    bot = Chatbot(
        Settings(store_path=store_path, data_dir=workdir / "data", llm_backend="extractive")
    )
    articles = {
        r["id"]: Article.create(
            title=r["title"],
            text=r["text"],
            source=r["source"],
            authors=r.get("authors") or (),
            published_at=datetime.fromisoformat(r["published_at"]).replace(tzinfo=UTC),
            url=r["url"],
        )
        for r in chosen
    }
    started = time.perf_counter()
    report = bot.ingest(list(articles.values()))
    print(f"ingest: {report.summary()} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    store_id = {rid: a.id for rid, a in articles.items()}
    title_of = {a.id: a.title for a in articles.values()}

    backends: list[tuple[str, Any, int, list[str]]] = []
    notes: list[str] = []
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if name == "extractive":
            backends.append((name, NoLLM(), args.max_stories, days))
            continue
        from chatbot.llm.registry import create_backend

        try:
            llm, _ = create_backend(Settings(llm_backend=name, llm_temperature=0.0))
        except LLMError as exc:
            notes.append(f"{name} backend unavailable: {exc}")
            continue
        backends.append((name, llm, args.local_max_stories, days if args.llm_all_days else top))

    runs: list[dict[str, Any]] = []
    groups_by_day: dict[str, list[list[str]]] = {}
    for name, llm, max_stories, run_days in backends:
        summarizer = Summarizer(
            bot.store,
            bot.embedder,
            create_strategy(llm, bot.embedder, bot.checker),
            bot.checker,
            cache_dir=workdir / f"cache-{name}",  # fresh: the times are real work
            max_tokens=128,
            temperature=0.0,
        )
        builder = BriefingBuilder(
            bot.store,
            bot.embedder,
            summarizer,
            max_stories=max_stories,
            out_dir=(args.out_dir or workdir) / name,
            state_dir=workdir / f"state-{name}",
        )
        for day in run_days:
            since, until = day_range(day)
            listed = bot.store.list_articles(since=since, until=until)
            if name == "extractive":
                groups_by_day[day] = [[a.id for a in g] for g in builder.group(listed)]
            started = time.perf_counter()
            briefing = builder.build(day, keep=False)
            seconds = time.perf_counter() - started
            if day in top:
                builder.write(briefing)
            sentences = [s for story in briefing.stories for s in story.sentences]
            summarized = sum(len(s.articles) for s in briefing.stories)
            runs.append(
                {
                    "backend": name,
                    "day": day,
                    "articles": len(listed),
                    "stories_total": len(groups_by_day.get(day, [])),
                    "stories_shown": len(briefing.stories),
                    "articles_summarized": summarized,
                    "multi_article_stories": sum(len(s.articles) > 1 for s in briefing.stories),
                    "largest_story": max((len(s.articles) for s in briefing.stories), default=0),
                    "seconds": round(seconds, 1),
                    "seconds_per_article": round(seconds / max(1, summarized), 2),
                    "supported_sentences": sum(s.supported for s in sentences),
                    "sentences": len(sentences),
                    "fallbacks": sum("extractive fallback" in s.notice for s in briefing.stories),
                    # Every story must offer at least one supported, cited sentence.
                    "stories_with_support": sum(
                        any(x.supported and x.citations for x in s.sentences)
                        for s in briefing.stories
                    ),
                }
            )
            print(
                f"{name} {day}: {len(briefing.stories)} stories, {seconds:.0f} s", file=sys.stderr
            )

    # Duplicate merging, on the extractive run's full grouping (the grouping is backend-free).
    story_key = {
        aid: (day, i) for day, gs in groups_by_day.items() for i, g in enumerate(gs) for aid in g
    }
    pair_rows = []
    for (a, b), reason in sorted(truth.items()):
        sa, sb = store_id.get(a), store_id.get(b)
        if sa is None or sb is None or sa not in story_key:
            continue
        pair_rows.append(
            {"a": sa, "b": sb, "reason": reason, "merged": story_key[sa] == story_key.get(sb)}
        )
    by_reason: dict[str, list[bool]] = defaultdict(list)
    for p in pair_rows:
        for reason in p["reason"].split("+"):
            by_reason[reason].append(p["merged"])
        by_reason["any"].append(p["merged"])

    print()
    header = f"{'backend':<11} {'day':<10} {'arts':>4} {'stories':>7} {'shown':>5} {'multi':>5}"
    print(header + f" {'largest':>7} {'summ.':>5} {'sec':>7} {'s/art':>6} {'supported':>10}")
    for r in runs:
        share = f"{r['supported_sentences']}/{r['sentences']}"
        print(
            f"{r['backend']:<11} {r['day']:<10} {r['articles']:>4} {r['stories_total']:>7} "
            f"{r['stories_shown']:>5} {r['multi_article_stories']:>5} {r['largest_story']:>7} "
            f"{r['articles_summarized']:>5} {r['seconds']:>7.1f} {r['seconds_per_article']:>6.2f}"
            f" {share:>10}"
        )
    totals: dict[str, dict[str, float]] = {}
    for r in runs:
        t = totals.setdefault(r["backend"], {"seconds": 0.0, "articles_summarized": 0, "days": 0})
        t["seconds"] += r["seconds"]
        t["articles_summarized"] += r["articles_summarized"]
        t["days"] += 1
    for name in totals:
        mine = [r for r in runs if r["backend"] == name]
        shown = sum(r["stories_shown"] for r in mine)
        backed = sum(r["stories_with_support"] for r in mine)
        print(f"stories with a supported citation, {name}: {backed}/{shown}")
    for name, t in totals.items():
        per = t["seconds"] / max(1, t["articles_summarized"])
        print(
            f"time {name}: {t['seconds']:.0f} s for {t['days']} days, "
            f"{t['articles_summarized']} articles summarized ({per:.1f} s per article)"
        )
    print()
    print("duplicate pairs merged into one story:")
    for reason, merged in sorted(by_reason.items()):
        print(f"  {reason:<6} {sum(merged)}/{len(merged)} ({sum(merged) / len(merged):.0%})")
    for p in pair_rows:
        mark = "merged " if p["merged"] else "SPLIT  "
        print(f"  {mark}[{p['reason']}] {title_of[p['a']][:60]!r} ~ {title_of[p['b']][:60]!r}")
    print()
    print("spot check: multi-article stories on the top days")
    for day in top:
        for g in groups_by_day.get(day, []):
            if len(g) > 1:
                print(f"  {day} ({len(g)}): " + " | ".join(title_of[a][:45] for a in g))
    for note in notes:
        print(f"note: {note}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "data": str(args.data),
                "days": days,
                "top_days": top,
                "ground_truth": {
                    "text": f"word {SHINGLE}-gram Jaccard >= {TEXT_JACCARD}, shingles in >= "
                    f"{BOILERPLATE_DF} pages dropped",
                    "title": f"title word Jaccard >= {TITLE_JACCARD}",
                },
                "merged": {
                    k: {"merged": sum(v), "pairs": len(v)} for k, v in sorted(by_reason.items())
                },
                "pairs": pair_rows,
                "runs": runs,
                "totals": totals,
                "groups": {d: [g for g in gs if len(g) > 1] for d, gs in groups_by_day.items()},
                "notes": notes,
            },
            indent=2,
        )
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
