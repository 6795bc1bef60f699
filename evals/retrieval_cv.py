"""Retrieval on RealTimeQA-dev by folds of weeks, so that a figure predicts unseen news.

    python -m evals.retrieval_cv [--store LABEL=PATH ...] [--folds 4]

The 112 questions whose gold answer is in their own pages are split into ``--folds`` blocks of
consecutive weeks. For every store given (e.g. one ingested with contextual chunk headers and
one without) and every retriever (dense, BM25, hybrid), the table gives answer-recall@5 and
MRR@10 per fold. The "chosen by CV" row picks, for each fold, the store x retriever with the
best recall on the *other* folds and reports it on the held-out one: the honest figure for a
choice made on this data. The ceilings bound what any second stage over the hybrid's top 10, or
any fusion of the dense and BM25 lists, could reach.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from evals.retrieval_qa import question_date
from evals.rtqa import (
    DEFAULT_STORE,
    Question,
    load_articles,
    load_questions,
    open_bot,
    retrieval_questions,
    write_results,
)


def week_folds(questions: Sequence[Question], folds: int) -> list[list[int]]:
    """Indices of the questions in ``folds`` blocks of whole, consecutive ISO weeks."""
    weeks = sorted({date.fromisoformat(q.date[:10]).isocalendar()[:2] for q in questions})
    per = len(weeks) / folds
    block = {w: min(int(i / per), folds - 1) for i, w in enumerate(weeks)}
    out: list[list[int]] = [[] for _ in range(folds)]
    for i, q in enumerate(questions):
        out[block[date.fromisoformat(q.date[:10]).isocalendar()[:2]]].append(i)
    return out


def per_question(
    bot: Any, questions: Sequence[Question], mode: str
) -> list[tuple[float, float, float]]:
    """(hit@5, reciprocal rank within 10, hit@10) per question."""
    bot.retriever.mode = mode
    rows = []
    for q in questions:
        found = bot.retriever.retrieve(q.question, 10, reference=question_date(q))
        ranks = [i for i, p in enumerate(found.passages) if q.answered_by(p.text)]
        rows.append(
            (
                1.0 if ranks and ranks[0] < 5 else 0.0,
                1.0 / (ranks[0] + 1) if ranks else 0.0,
                1.0 if ranks else 0.0,
            )
        )
    return rows


def mean_over(rows: Sequence[tuple[float, ...]], idx: Sequence[int], k: int) -> float:
    return statistics.mean(rows[i][k] for i in idx) if idx else float("nan")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--store",
        action="append",
        metavar="LABEL=PATH",
        help=f"a store to compare (repeatable; default: current={DEFAULT_STORE})",
    )
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument(
        "--dense-weights",
        default="0.5",
        help="hybrid rows for these shares of the dense ranking in the fusion (comma-separated)",
    )
    args = parser.parse_args(argv)
    stores = [s.split("=", 1) for s in (args.store or [f"current={DEFAULT_STORE}"])]

    questions = retrieval_questions(load_questions(), load_articles())
    folds = week_folds(questions, args.folds)
    results: dict[str, list[tuple[float, float, float]]] = {}
    timings: dict[str, float] = {}
    for label, path in stores:
        bot = open_bot(Path(path), llm_backend="extractive")
        bot.keyword_index.refresh()
        runs = [("dense", "dense", 0.5), ("bm25", "keyword", 0.5)] + [
            (f"hybrid w={w}", "hybrid", float(w)) for w in args.dense_weights.split(",")
        ]
        for name, mode, weight in runs:
            bot.retriever.dense_weight = weight
            started = time.perf_counter()
            results[f"{label} {name}"] = per_question(bot, questions, mode)
            timings[f"{label} {name}"] = 1000 * (time.perf_counter() - started) / len(questions)
        bot.close()

    every = list(range(len(questions)))
    sizes = " ".join(f"{len(f):>6}" for f in folds)
    print(f"{len(questions)} questions; folds of consecutive weeks, sizes: {sizes}")
    print(f"\n{'recall@5':<28}" + "".join(f"{'fold ' + str(i + 1):>8}" for i in range(len(folds))))
    table: dict[str, Any] = {}
    for name, rows in results.items():
        per_fold = [mean_over(rows, f, 0) for f in folds]
        table[name] = {
            "recall@5_by_fold": per_fold,
            "recall@5": mean_over(rows, every, 0),
            "mrr@10": mean_over(rows, every, 1),
            "ms_per_question": timings[name],
        }
        print(
            f"{name:<28}"
            + "".join(f"{v:>8.3f}" for v in per_fold)
            + f"   all {table[name]['recall@5']:.3f}  MRR@10 {table[name]['mrr@10']:.3f}"
        )
    # What any reordering could reach: a second stage over the hybrid's top 10 cannot do better
    # than its hit@10, and a fusion of the two lists than their union.
    print("\nceilings (share of questions with a gold passage in)")
    ceilings: dict[str, float] = {}
    for label, _ in stores:
        dense, bm25 = results[f"{label} dense"], results[f"{label} bm25"]
        hybrids = [n for n in results if n.startswith(f"{label} hybrid")]
        either5 = [max(d[0], b[0]) for d, b in zip(dense, bm25, strict=True)]
        either10 = [max(d[2], b[2]) for d, b in zip(dense, bm25, strict=True)]
        lines = {
            f"{label}, {n.split(' ', 1)[1]} top 10": mean_over(results[n], every, 2)
            for n in hybrids
        }
        lines[f"{label}, dense or BM25 top 5"] = statistics.mean(either5)
        lines[f"{label}, dense or BM25 top 10"] = statistics.mean(either10)
        for name, value in lines.items():
            print(f"  {name:<40} {value:.3f}")
            ceilings[name] = value
    # Leave-one-fold-out choice among everything measured.
    chosen, held_out = [], []
    for i, fold in enumerate(folds):
        train = [j for k, f in enumerate(folds) if k != i for j in f]
        best = max(results, key=lambda n: (mean_over(results[n], train, 0), n))
        chosen.append(best)
        held_out.append(mean_over(results[best], fold, 0))
    cv = sum(v * len(f) for v, f in zip(held_out, folds, strict=True)) / len(questions)
    print(f"{'chosen by CV':<28}" + "".join(f"{v:>8.3f}" for v in held_out) + f"   all {cv:.3f}")
    print("chosen per fold: " + ", ".join(chosen))
    path = write_results(
        "retrieval_cv",
        {
            "folds": [len(f) for f in folds],
            "rows": table,
            "ceilings": ceilings,
            "cv": cv,
            "chosen": chosen,
        },
    )
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
