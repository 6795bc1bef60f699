"""Extractive answers and their short answers, with the answer ranker, on both question sets.

    python -m evals.short_answer [--data heldout,dev] [--model packaged]

For each answerable question: its passages as an answer retrieves them, then the extractive
answer's evidence as the product selects it (the ranker's shortlist and weights, the margin):
- the share of answers holding the gold, with the fitted features and with the ranker;
- the short answer (the words the span head marks in the first sentence) at a grid of
  thresholds of its confidence (``chatbot.answering.strategies.short_answer``): how often it
  is shown, and how often it is right when shown (it holds at least half of the gold answer's
  words);
- answers holding the gold with the ranker weighed in other ways beside the features.

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

THRESHOLDS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def variants() -> dict[str, dict[str, float]]:
    """Ways to weigh the ranker's logit with the fitted features, measured beside the
    product's (``RANKED_WEIGHTS``)."""
    from chatbot.answering.evidence import WEIGHTS

    cue = {k: WEIGHTS[k] for k in ("cue", "cue_exact")}
    return {
        "ranker/2": {"ranker": 0.5},
        "ranker/2+cue": {"ranker": 0.5, **cue},
        "ranker+cue": {"ranker": 1.0, **cue},
        "ranker/2+features": {**WEIGHTS, "ranker": 0.5},
        "ranker+features": {**WEIGHTS, "ranker": 1.0},
    }
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
        SHORT_ANSWER_CONFIDENCE,
        short_answer,
    )
    from evals.answer_quality import CachedRanker

    questions = retrieval_questions(load_questions(data), load_articles(data))
    bot = open_bot(default_store(data), data, llm_backend="extractive", ranker_model=model)
    try:
        ranker = getattr(bot.strategy, "ranker", None)
        if ranker is None or not ranker.ready():
            raise SystemExit(f"the ranker {model!r} is off: {getattr(ranker, 'error', 'none')}")
        cached = CachedRanker(ranker)
        ways = variants()
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
                ranker=cached,
                **common,
            )
            times.append(time.perf_counter() - started)
            # Other ways to weigh the ranker (its scores cached: only selection runs again).
            got = {
                name: q.answered_by(
                    " ".join(
                        p.text
                        for p in evidence.select_evidence(
                            q.question,
                            found.passages,
                            bot.embedder,
                            EXTRACTIVE_SENTENCES,
                            ranker=cached,
                            ranked_weights=weights,
                            **common,
                        )
                    )
                )
                for name, weights in ways.items()
            }
            short = short_answer(q.question, ranked, threshold=0.0)
            rows.append(
                {
                    "id": q.id,
                    "features_gold": q.answered_by(" ".join(p.text for p in features)),
                    "ranker_gold": q.answered_by(" ".join(p.text for p in ranked)),
                    "variants": got,
                    "sentences": len(ranked),
                    "confidence": short.confidence if short else 0.0,
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
        for name in ways:
            out[f"variant_{name}"] = statistics.mean(r["variants"][name] for r in rows)
            print(f"[{data}] answers hold the gold, ranker weighed as {name}: "
                  f"{out[f'variant_{name}']:.3f}")
        grid = []
        print(f"[{data}] short answer at confidence >= t: shown / right when shown")
        for t in THRESHOLDS:
            shown = [r for r in rows if r["short"] and r["confidence"] >= t]
            right = sum(r["short_right"] for r in shown)
            rate = len(shown) / n
            precision = right / len(shown) if shown else 0.0
            grid.append({"threshold": t, "shown": rate, "right": precision})
            print(f"  t {t:.2f}: shown {rate:.3f}, right {precision:.3f}")
        shown = [r for r in rows if r["short"] and r["confidence"] >= SHORT_ANSWER_CONFIDENCE]
        out["product"] = {
            "threshold": SHORT_ANSWER_CONFIDENCE,
            "shown": len(shown) / n,
            "right": sum(r["short_right"] for r in shown) / len(shown) if shown else 0.0,
        }
        print(
            f"[{data}] product threshold {SHORT_ANSWER_CONFIDENCE}: "
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
    for key in ("features_gold", "ranker_gold", *(f"variant_{v}" for v in variants())):
        value = sum(r[key] * r["questions"] for r in pooled) / total
        print(f"pooled ({total} questions): {key} {value:.3f}")
    print(f"written: {write_results(args.out, results)}")


if __name__ == "__main__":
    main()
