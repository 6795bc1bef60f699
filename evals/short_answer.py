"""Extractive answers and their short answers, with the answer ranker, on both question sets.

    python -m evals.short_answer [--data heldout,dev] [--model packaged]

For each answerable question: its passages as an answer retrieves them, then the extractive
answer's evidence as the product selects it (the ranker's shortlist and weights, the margin):
- the share of answers holding the gold, with the fitted features and with the ranker;
- the short answer (the words the span head marks in the first sentence) at a grid of
  thresholds on the ranker's likelihood of that sentence and the span head's confidence: how
  often it is shown, and how often it is right when shown (it holds at least half of the gold
  answer's words).

``heldout`` (the ranker's validation weeks) chooses the thresholds; ``dev`` (never trained on)
confirms. Prints a table per set and the product's thresholds' row.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals.answer_quality import question_date
from evals.rtqa import (
    DATASETS,
    default_store,
    load_articles,
    load_questions,
    normalise,
    open_bot,
    retrieval_questions,
    write_results,
)

LIKELIHOODS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
SPANS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
_WORD = re.compile(r"\w+")


def gold_words_held(short: str, answers: Sequence[str]) -> bool:
    """Whether ``short`` holds at least half of some gold answer's words."""
    have = set(_WORD.findall(normalise(short)))
    for a in answers:
        want = set(_WORD.findall(normalise(a)))
        if want and len(want & have) * 2 >= len(want):
            return True
    return False


def measure(data: str, model: str) -> dict[str, Any]:
    from chatbot.answering import evidence
    from chatbot.answering.strategies import (
        EXTRACTIVE_MARGIN,
        EXTRACTIVE_SENTENCES,
        SHORT_ANSWER_LIKELIHOOD,
        SHORT_ANSWER_SPAN,
        short_answer,
    )

    questions = retrieval_questions(load_questions(data), load_articles(data))
    bot = open_bot(default_store(data), data, llm_backend="extractive", ranker_model=model)
    try:
        ranker = getattr(bot.strategy, "ranker", None)
        if ranker is None or not ranker.ready():
            raise SystemExit(f"the ranker {model!r} is off: {getattr(ranker, 'error', 'none')}")
        rows = []
        times = []
        for q in questions:
            found = bot.retriever.retrieve(
                q.question, bot.settings.top_k, reference=question_date(q)
            )
            common = {
                "margin": EXTRACTIVE_MARGIN,
                "reference": question_date(q),
            }
            features = evidence.select_evidence(
                q.question, found.passages, bot.embedder, EXTRACTIVE_SENTENCES, **common
            )
            started = time.perf_counter()
            ranked = evidence.select_evidence(
                q.question,
                found.passages,
                bot.embedder,
                EXTRACTIVE_SENTENCES,
                ranker=ranker,
                **common,
            )
            times.append(time.perf_counter() - started)
            short = short_answer(q.question, ranked, likelihood=0.0, span=0.0)
            first = ranked[0] if ranked else None
            rows.append(
                {
                    "id": q.id,
                    "features_gold": q.answered_by(" ".join(p.text for p in features)),
                    "ranker_gold": q.answered_by(" ".join(p.text for p in ranked)),
                    "sentences": len(ranked),
                    "likelihood": first.likelihood if first else 0.0,
                    "span": first.answer.confidence if first and first.answer else 0.0,
                    "short": short.text if short else "",
                    "short_right": bool(short and gold_words_held(short.text, q.answers)),
                }
            )
        n = len(rows)
        # What a reader waits for: the first words of a streamed answer (the ranker included),
        # on the first 40 questions, after one warm-up.
        ttft = []
        list(bot.stream("warm-up question about the news"))
        for q in questions[:40]:
            started = time.perf_counter()
            for event in bot.stream(q.question):
                if getattr(event, "text", "x").strip():
                    break
            ttft.append(1000 * (time.perf_counter() - started))
        out: dict[str, Any] = {
            "first_token_p50_ms": statistics.median(ttft),
            "questions": n,
            "features_gold": statistics.mean(r["features_gold"] for r in rows),
            "ranker_gold": statistics.mean(r["ranker_gold"] for r in rows),
            "ranker_sentences": statistics.mean(r["sentences"] for r in rows),
            "selection_p50_ms": 1000 * statistics.median(times),
        }
        print(
            f"[{data}] {n} questions: answers hold the gold: features {out['features_gold']:.3f}, "
            f"ranker {out['ranker_gold']:.3f} ({out['ranker_sentences']:.2f} sentences); "
            f"selection with the ranker p50 {out['selection_p50_ms']:.0f} ms; extractive first "
            f"token p50 {out['first_token_p50_ms']:.0f} ms"
        )
        grid = []
        print(f"[{data}] short answer: shown / right when shown, by likelihood (rows), span (cols)")
        print("      " + " ".join(f"{s:>11.1f}" for s in SPANS))
        for lk in LIKELIHOODS:
            cells = []
            for sp in SPANS:
                shown = [
                    r for r in rows if r["short"] and r["likelihood"] >= lk and r["span"] >= sp
                ]
                right = sum(r["short_right"] for r in shown)
                rate = len(shown) / n
                precision = right / len(shown) if shown else 0.0
                grid.append({"likelihood": lk, "span": sp, "shown": rate, "right": precision})
                cells.append(f"{rate:.2f}/{precision:.2f}")
            print(f"{lk:>5.1f} " + " ".join(f"{c:>11}" for c in cells))
        shown = [
            r for r in rows
            if r["short"]
            and r["likelihood"] >= SHORT_ANSWER_LIKELIHOOD
            and r["span"] >= SHORT_ANSWER_SPAN
        ]
        out["product"] = {
            "likelihood": SHORT_ANSWER_LIKELIHOOD,
            "span": SHORT_ANSWER_SPAN,
            "shown": len(shown) / n,
            "right": sum(r["short_right"] for r in shown) / len(shown) if shown else 0.0,
        }
        print(
            f"[{data}] product thresholds ({SHORT_ANSWER_LIKELIHOOD}, {SHORT_ANSWER_SPAN}): "
            f"shown {out['product']['shown']:.3f}, right when shown {out['product']['right']:.3f}"
        )
        out["grid"] = grid
        out["rows"] = rows
        return out
    finally:
        bot.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="heldout,dev")
    parser.add_argument("--model", default="packaged", help="CHATBOT_RANKER_MODEL to measure")
    parser.add_argument("--out", default="short_answer")
    args = parser.parse_args(argv)
    model = str(Path(args.model).expanduser()) if args.model != "packaged" else args.model
    results: dict[str, Any] = {"model": args.model}
    for data in args.data.split(","):
        if data not in DATASETS:
            raise SystemExit(f"--data: {data!r} is not one of {', '.join(DATASETS)}")
        results[data] = measure(data, model)
        write_results(args.out, results)
    pooled = [results[d] for d in args.data.split(",")]
    total = sum(r["questions"] for r in pooled)
    for key in ("features_gold", "ranker_gold"):
        value = sum(r[key] * r["questions"] for r in pooled) / total
        print(f"pooled ({total} questions): {key} {value:.3f}")
    print(f"written: {write_results(args.out, results)}")


if __name__ == "__main__":
    main()
