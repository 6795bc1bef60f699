"""How evidence selection should use the answer ranker, measured on both question sets.

    python -m evals.ranker_use [--data dev,heldout] [--shortlists 8,12,16] [--temperatures 1,2,4]

For each question, its top passages as an answer retrieves them; then what the extractive
answer would quote (up to 3 sentences, a further one only within the margin of the first) with
the fitted features alone, and with the ranker ordering the features' shortlist of N, its logits
divided by a temperature T. The margin is in log-odds, and a ranker trained as a softmax over
groups of 8 sentences is sharper than the features' softmax over a question's hundred: T > 1
lets a second sentence in where the ranker is less sure. Prints, per set: the share of answers
holding the gold, sentences per answer, and the ranker's time per answer (p50, uncached).

``heldout`` (the ranker's validation weeks) chooses; ``dev`` (the features' fitting set, never
seen by the ranker) confirms: a setting is worth shipping only if both agree.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals.answer_quality import CachedRanker, question_date
from evals.rtqa import (
    DATASETS,
    default_store,
    load_articles,
    load_questions,
    open_bot,
    retrieval_questions,
    write_results,
)


class ScaledRanker:
    """A ranker whose logits are divided by ``temperature``."""

    def __init__(self, ranker: Any, temperature: float) -> None:
        self.ranker = ranker
        self.temperature = temperature
        self.error = None

    def ready(self) -> bool:
        return bool(self.ranker.ready())

    def scores(self, question: str, sentences: Sequence[tuple[str, Any]]) -> list[float] | None:
        got = self.reading(question, sentences)
        return None if got is None else got[0]

    def reading(
        self, question: str, sentences: Sequence[tuple[str, Any]]
    ) -> tuple[list[float], list[Any]] | None:
        got = self.ranker.reading(question, sentences)
        return None if got is None else ([x / self.temperature for x in got[0]], got[1])


def picks_hold_gold(
    bot: Any,
    tables: Sequence[tuple[Any, Any]],
    ranker: Any,
    shortlist: int | None,
    temperature: float = 1.0,
    ranked_weights: dict[str, float] | None = None,
) -> tuple[float, float]:
    """(share of answers holding the gold, mean sentences per answer); ``temperature`` divides
    the fitted features' score (without ``ranker``)."""
    from chatbot.answering import evidence
    from chatbot.answering.strategies import EXTRACTIVE_MARGIN, EXTRACTIVE_SENTENCES

    hits, counts = [], []
    for q, passages in tables:
        picks = evidence.select_evidence(
            q.question,
            passages,
            bot.embedder,
            EXTRACTIVE_SENTENCES,
            margin=EXTRACTIVE_MARGIN,
            reference=question_date(q),
            ranker=ranker,
            shortlist=shortlist,
            weights={k: v / temperature for k, v in evidence.WEIGHTS.items()},
            ranked_weights=ranked_weights,
        )
        hits.append(q.answered_by(" ".join(p.text for p in picks)))
        counts.append(len(picks))
    return statistics.mean(hits), statistics.mean(counts)


def ranker_seconds(
    bot: Any, tables: Sequence[tuple[Any, Any]], ranker: Any, shortlist: int
) -> float:
    """p50 of the ranker's scoring time per answer (uncached), on up to 40 questions."""
    from chatbot.answering import evidence

    times = []
    for q, passages in tables[:40]:
        pool = evidence.candidates(evidence.analyse(q.question), passages, question_date(q))
        pool.sort(key=lambda c: evidence.score(c.features, evidence.WEIGHTS), reverse=True)
        pool = pool[:shortlist]
        started = time.perf_counter()
        ranker.scores(q.question, [(c.text, c.passage) for c in pool])
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(
    data: str, model: str, shortlists: Sequence[int], temperatures: Sequence[float]
) -> dict[str, Any]:
    from chatbot.answering import evidence

    questions = retrieval_questions(load_questions(data), load_articles(data))
    bot = open_bot(default_store(data), data, llm_backend="extractive", ranker_model=model)
    try:
        ranker = getattr(bot.strategy, "ranker", None)
        if ranker is None or not ranker.ready():
            raise SystemExit(f"the ranker {model!r} is off: {getattr(ranker, 'error', 'none')}")
        tables = []
        for q in questions:
            found = bot.retriever.retrieve(
                q.question, bot.settings.top_k, reference=question_date(q)
            )
            tables.append((q, found.passages))
        ceiling = statistics.mean(
            any(q.answered_by(p.text) for p in passages) for q, passages in tables
        )
        rows = []
        print(f"[{data}] {len(tables)} questions, passages hold the gold {ceiling:.3f}")
        # The same temperatures for the features: more sentences pass the margin, which alone
        # holds the gold more often; the ranker must win at the same number of sentences.
        for t in temperatures:
            gold, count = picks_hold_gold(bot, tables, None, None, t)
            rows.append({"order": "features", "shortlist": None, "T": t, "gold": gold, "n": count})
            print(
                f"[{data}] features alone, T {t:g}: gold {gold:.3f}, {count:.2f} sentences",
                flush=True,
            )
        cached = CachedRanker(ranker)
        for n in shortlists:
            seconds = ranker_seconds(bot, tables, ranker, n)
            for t in temperatures:
                gold, count = picks_hold_gold(bot, tables, ScaledRanker(cached, t), n)
                rows.append(
                    {
                        "order": "ranker",
                        "shortlist": n,
                        "T": t,
                        "gold": gold,
                        "n": count,
                        "ranker_p50_s": seconds,
                    }
                )
                print(
                    f"[{data}] ranker, shortlist {n:>2}, T {t:g}: gold {gold:.3f}, "
                    f"{count:.2f} sentences, ranker p50 {seconds * 1000:.0f} ms",
                    flush=True,
                )
                # Both as log-odds, added: the fitted features' score plus the ranker's / T.
                both = {**evidence.WEIGHTS, "ranker": 1 / t}
                gold, count = picks_hold_gold(bot, tables, cached, n, ranked_weights=both)
                rows.append(
                    {"order": "features+ranker", "shortlist": n, "T": t, "gold": gold, "n": count}
                )
                print(
                    f"[{data}] features + ranker/T, shortlist {n:>2}, T {t:g}: gold {gold:.3f}, "
                    f"{count:.2f} sentences",
                    flush=True,
                )
        return {"questions": len(tables), "passages_gold": ceiling, "rows": rows}
    finally:
        bot.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="heldout,dev")
    parser.add_argument("--model", default="packaged", help="CHATBOT_RANKER_MODEL to measure")
    parser.add_argument("--shortlists", default="8,12,16")
    parser.add_argument("--temperatures", default="1,2,3,4")
    parser.add_argument("--out", default="ranker_use")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"model": args.model}
    for data in args.data.split(","):
        if data not in DATASETS:
            raise SystemExit(f"--data: {data!r} is not one of {', '.join(DATASETS)}")
        results[data] = measure(
            data,
            str(Path(args.model).expanduser()) if args.model != "packaged" else args.model,
            [int(x) for x in args.shortlists.split(",")],
            [float(x) for x in args.temperatures.split(",")],
        )
        write_results(args.out, results)
    print(f"written: {write_results(args.out, results)}")


if __name__ == "__main__":
    main()
