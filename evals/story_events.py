"""Story grouping against hand-labelled events: pairwise precision and recall of "same story".

    python -m evals.story_events [--store PATH] [--cv] [--show-errors]

Ground truth is ``evals/data/story_events.json``: every article of a dozen RealTimeQA-dev days
grouped by hand into real-world events (how, and by which rules, is written in the file). The
articles of those days are ingested into a store (temporary unless ``--store``) and each day is
grouped by ``BriefingBuilder.group`` twice: with the grouping before issue 37
(``TITLE_GROUPING``: article vector + title) and with the current one (``LEAD_GROUPING``:
article vector + lead). A pair of same-day articles counts as "same story" when both land in one
group; precision and recall are over all such pairs of all days together (micro), with the
per-day figures beside them.

``--cv`` also checks how the current grouping's parameters were chosen: leave one day out, pick
the threshold (and, nested, the weights and lead length from a small grid) that gives the best
F1 on the other days, and score the day left out. Those held-out figures are what to expect on
new days; the full-set figures above are fitted on the same days.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ARTICLES = HERE.parents[1] / "shared" / "evaldata" / "realtimeqa-dev" / "articles.jsonl"
LABELS = HERE / "data" / "story_events.json"
RESULTS = HERE / "results" / "story_events.json"
THRESHOLDS = [round(0.25 + 0.025 * i, 3) for i in range(21)]  # 0.25 .. 0.75
# The nested grid: (article weight, lead weight, title weight) and lead lengths. Small on
# purpose: a dozen days cannot choose among many settings.
WEIGHTS = [(a, round(1 - a, 2), 0.0) for a in (0.3, 0.4, 0.5, 0.6, 0.7)] + [(0.8, 0.0, 0.2)]
LEAD_CHARS = (400, 600, 800, 1000)

Pair = tuple[str, str]
Counts = tuple[int, int, int]  # true positives, false positives, false negatives
Setting = tuple[float, float, float, int, float]  # weights: article, lead, title; lead, threshold


def load_labels(path: Path, rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Day -> {article id: event}; every article of a labelled day must be labelled once."""
    data = json.loads(path.read_text(encoding="utf-8"))
    by_day: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        by_day[r["published_at"]].add(r["id"])
    labels: dict[str, dict[str, str]] = {}
    for day, events in data["days"].items():
        labels[day] = {}
        for event in events:
            for article in event["articles"]:
                if article in labels[day]:
                    raise SystemExit(f"{day}: {article} is labelled twice")
                labels[day][article] = event["event"]
        if missing := by_day[day] - set(labels[day]):
            raise SystemExit(f"{day}: articles without a label: {sorted(missing)}")
        if unknown := set(labels[day]) - by_day[day]:
            raise SystemExit(f"{day}: labelled ids not in the corpus that day: {sorted(unknown)}")
    return labels


def same_story_pairs(groups: Iterable[Iterable[str]]) -> set[Pair]:
    return {p for g in groups for p in itertools.combinations(sorted(g), 2)}


def counts(found: set[Pair], truth: set[Pair]) -> Counts:
    return len(found & truth), len(found - truth), len(truth - found)


def scores(c: Counts) -> tuple[float, float, float]:
    tp, fp, fn = c
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    return precision, recall, f1


def total(items: Iterable[Counts]) -> Counts:
    tp = fp = fn = 0
    for a, b, c in items:
        tp, fp, fn = tp + a, fp + b, fn + c
    return tp, fp, fn


def cross_validate(
    days: Sequence[str],
    truth: dict[str, set[Pair]],
    ids: dict[str, list[str]],
    parts: dict[str, dict[str, np.ndarray]],
    group: Callable[[np.ndarray, float], list[list[int]]],
    current: Any,
) -> dict[str, Any]:
    """Leave one day out: choose the setting on the other days, score it on the day left out.

    A setting is (article weight, lead weight, title weight, lead length, threshold); it is
    judged by its F1 averaged with its two threshold neighbours', so that a lucky threshold on
    the edge of a cliff loses to a plateau."""
    grid: dict[Setting, dict[str, Counts]] = {}
    for a, lead, title in WEIGHTS:
        for n in LEAD_CHARS if lead else (0,):
            for day in days:
                m = parts[day]
                sims = a * m["article"] + title * m["title"]
                if lead:
                    sims = sims + lead * m[f"lead{n}"]
                for th in THRESHOLDS:
                    groups = [[ids[day][i] for i in g] for g in group(sims, th)]
                    found = counts(same_story_pairs(groups), truth[day])
                    grid.setdefault((a, lead, title, n, th), {})[day] = found

    def smoothed(totals: dict[Setting, Counts], k: Setting) -> float:
        near = [(*k[:4], round(k[4] + d, 3)) for d in (-0.025, 0.0, 0.025)]
        return float(np.mean([scores(totals[x])[2] for x in near if x in totals]))

    def held_out(options: list[Setting]) -> tuple[Counts, list[Setting]]:
        got, picked = [], []
        for day in days:
            train = {k: total(grid[k][e] for e in days if e != day) for k in options}
            best = max(options, key=lambda k: (smoothed(train, k), -abs(k[4] - 0.5)))
            got.append(grid[best][day])
            picked.append(best)
        return total(got), picked

    def weights_of(k: Setting) -> tuple[float, float, float, int]:
        return k[0], k[1], k[2], k[3]

    print("\nleave-one-day-out (setting chosen on the other days, scored on the day left out):")
    result: dict[str, Any] = {}
    mine = (current.article_weight, current.lead_weight, current.title_weight, current.lead_chars)
    families = {
        "old weights, threshold by CV": (0.8, 0.0, 0.2, 0),
        "new weights, threshold by CV": mine,
    }
    for name, family in families.items():
        c, picked = held_out([k for k in grid if weights_of(k) == family])
        p, r, f1 = scores(c)
        chosen = sorted({k[4] for k in picked})
        print(f"  {name}: P {p:.3f} R {r:.3f} F1 {f1:.3f} (thresholds {chosen})")
        result[name] = {"precision": p, "recall": r, "f1": f1, "settings": picked}
    c, picked = held_out(list(grid))
    p, r, f1 = scores(c)
    print(f"  nested (weights, lead length and threshold by CV): P {p:.3f} R {r:.3f} F1 {f1:.3f}")
    for k in sorted(set(picked)):
        print(
            f"    chosen on {picked.count(k)} of {len(days)} folds: article {k[0]} lead "
            f"{k[1]}@{k[3]} title {k[2]} threshold {k[4]}"
        )
    result["nested"] = {"precision": p, "recall": r, "f1": f1, "settings": picked}
    totals = {k: total(v.values()) for k, v in grid.items()}
    best = max(totals, key=lambda k: (smoothed(totals, k), -abs(k[4] - 0.5)))
    print(
        f"  best on all days: article {best[0]} lead {best[1]}@{best[3]} title {best[2]} "
        f"threshold {best[4]} (smoothed F1 {smoothed(totals, best):.3f})"
    )
    curve = "  ".join(
        f"{k[4]:.3f}:{scores(totals[k])[2]:.2f}"
        for k in sorted(totals)
        if weights_of(k) == mine and abs(k[4] - current.threshold) <= 0.1 + 1e-9
    )
    print(f"  F1 of the current weights by threshold (all days): {curve}")
    result["best_on_all_days"] = best
    return result


def main(argv: Sequence[str] | None = None) -> int:
    with tempfile.TemporaryDirectory(prefix="story-events-") as tmp:
        return run(Path(tmp), argv)


def run(workdir: Path, argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ARTICLES)
    parser.add_argument("--labels", type=Path, default=LABELS)
    parser.add_argument("--store", type=Path, help="store folder (default: temporary)")
    parser.add_argument("--cv", action="store_true", help="leave-one-day-out parameter choice")
    parser.add_argument(
        "--show-errors", action="store_true", help="print the titles of wrongly grouped pairs"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    from chatbot.bot import Chatbot
    from chatbot.common.dates import day_range
    from chatbot.config import Settings
    from chatbot.news.briefing import (
        LEAD_GROUPING,
        TITLE_GROUPING,
        BriefingBuilder,
        StoryGrouping,
        group_stories,
    )
    from chatbot.vocabulary import Article

    rows = [json.loads(line) for line in args.data.open(encoding="utf-8")]
    labels = load_labels(args.labels, rows)
    chosen = [r for r in rows if r["published_at"] in labels]
    events = sum(len(set(v.values())) for v in labels.values())
    print(
        f"labelled: {len(labels)} days, {len(chosen)} articles, {events} events",
        file=sys.stderr,
    )

    bot = Chatbot(
        Settings(
            store_path=args.store or workdir / "vectorstore",
            data_dir=workdir / "data",
            llm_backend="extractive",
        )
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
    corpus_id = {a.id: rid for rid, a in articles.items()}
    title_of = {rid: a.title for rid, a in articles.items()}

    def builder(grouping: StoryGrouping) -> BriefingBuilder:
        return BriefingBuilder(
            bot.store,
            bot.embedder,
            bot.summarizer,
            out_dir=workdir / "briefings",
            state_dir=workdir / "state",
            grouping=grouping,
        )

    days = sorted(labels)
    listed = {}
    for day in days:
        since, until = day_range(day)
        found = bot.store.list_articles(since=since, until=until)
        listed[day] = sorted((a for a in found if a.id in corpus_id), key=lambda a: a.id)
    truth = {
        day: {
            p
            for p in itertools.combinations(sorted(labels[day]), 2)
            if labels[day][p[0]] == labels[day][p[1]]
        }
        for day in days
    }

    runs: dict[str, dict[str, Any]] = {}
    for name, grouping in (("old", TITLE_GROUPING), ("new", LEAD_GROUPING)):
        b = builder(grouping)
        started = time.perf_counter()
        groups = {day: [[corpus_id[a.id] for a in g] for g in b.group(listed[day])] for day in days}
        seconds = time.perf_counter() - started
        per_day = {day: counts(same_story_pairs(groups[day]), truth[day]) for day in days}
        runs[name] = {"grouping": grouping, "groups": groups, "per_day": per_day, "s": seconds}

    print()
    print(f"{'day':<10} {'arts':>4} {'events':>6} {'pairs':>5}   old tp/fp/fn   new tp/fp/fn")
    for day in days:
        old, new = runs["old"]["per_day"][day], runs["new"]["per_day"][day]
        print(
            f"{day:<10} {len(labels[day]):>4} {len(set(labels[day].values())):>6} "
            f"{len(truth[day]):>5}   {'/'.join(map(str, old)):>12}   {'/'.join(map(str, new)):>12}"
        )
    print()
    summary: dict[str, Any] = {}
    for name, r in runs.items():
        p, rc, f1 = scores(total(r["per_day"].values()))
        macro = float(np.mean([scores(c)[2] for c in r["per_day"].values()]))
        g = r["grouping"]
        print(
            f"{name}: precision {p:.3f}  recall {rc:.3f}  F1 {f1:.3f}  (per-day mean F1 "
            f"{macro:.3f}; {total(r['per_day'].values())} tp/fp/fn; grouping {r['s']:.1f} s) "
            f"article {g.article_weight} title {g.title_weight} lead {g.lead_weight}"
            f"@{g.lead_chars} threshold {g.threshold}"
        )
        summary[name] = {
            "precision": round(p, 4),
            "recall": round(rc, 4),
            "f1": round(f1, 4),
            "per_day_mean_f1": round(macro, 4),
            "counts": total(r["per_day"].values()),
            "grouping": vars(g),
            "per_day": r["per_day"],
            "groups": {d: [x for x in gs if len(x) > 1] for d, gs in r["groups"].items()},
        }

    if args.show_errors:
        for name, r in runs.items():
            print(f"\n{name}: pairs grouped wrongly")
            for day in days:
                grouped = same_story_pairs(r["groups"][day])
                for x, y in sorted(grouped - truth[day]):
                    print(f"  MERGED {day} {title_of[x][:50]!r} ~ {title_of[y][:50]!r}")
                for x, y in sorted(truth[day] - grouped):
                    print(f"  SPLIT  {day} {title_of[x][:50]!r} ~ {title_of[y][:50]!r}")

    if args.cv:
        # One similarity matrix per part; the grid combines them without embedding again.
        unit_parts = {
            "article": StoryGrouping(1.0, 0.0, 0.0, 0.0),
            "title": StoryGrouping(0.0, 1.0, 0.0, 0.0),
            **{f"lead{n}": StoryGrouping(0.0, 0.0, 1.0, 0.0, n) for n in LEAD_CHARS},
        }
        summary["cv"] = cross_validate(
            days,
            truth,
            {day: [corpus_id[a.id] for a in listed[day]] for day in days},
            {
                day: {k: builder(g).similarity(listed[day]) for k, g in unit_parts.items()}
                for day in days
            },
            group_stories,
            LEAD_GROUPING,
        )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"labels": str(args.labels), "days": days, **summary}, indent=2, default=str)
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
