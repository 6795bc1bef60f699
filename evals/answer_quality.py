"""End-to-end answer quality on RealTimeQA-dev, per answering backend (the answers issue's eval).

    python -m evals.answer_quality [--store PATH] [--backends extractive,local] [--limit N]
    python -m evals.answer_quality --tune        # cross-validated evidence-selection weights

For the 112 questions whose gold answer appears in their own retrieved pages, each backend
answers through ``Chatbot.stream`` as of the question's date, and the table reports:

- ``contains_gold``: the answer text contains the gold answer (the user got the answer);
- ``passages_gold``: its passages contain it (the ceiling for any answer);
- ``shown_supported``: share of shown sentences the checker supports;
- ``cited``: share of answers (with relevant passages) carrying at least one supported citation;
- first-token p50/p95 and total p50 (seconds).

``--tune`` fits the evidence-selection weights by cross-validation across weeks: the questions
are split into folds of consecutive weeks, each fold is scored with the weights that did best
on the other folds, and the table reports every fold (what to expect on unseen weeks).
The script uses only the public API, so it also measures an older checkout of the project
(``PYTHONPATH=/path/to/old/checkout python evals/answer_quality.py ...``).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals.rtqa import (
    DEFAULT_STORE,
    Question,
    load_articles,
    load_questions,
    open_bot,
    retrieval_questions,
    write_results,
)


def question_date(q: Question) -> datetime:
    return datetime.fromisoformat(q.date).replace(tzinfo=UTC)


def answer_all(bot: Any, questions: Sequence[Question]) -> dict[str, Any]:
    gold, ceiling, shown, supported, cited, relevant, firsts, totals = [], [], 0, 0, 0, 0, [], []
    rows = []
    for q in questions:
        started = time.perf_counter()
        first = None
        answer = None
        for event in bot.stream(q.question, as_of=question_date(q)):
            # By class name: the event classes moved between modules over time.
            if type(event).__name__ == "TokenEvent" and first is None:
                first = time.perf_counter() - started
            elif type(event).__name__ == "AnswerEvent":
                answer = event.answer
        total = time.perf_counter() - started
        assert answer is not None
        firsts.append(first if first is not None else total)
        totals.append(total)
        gold.append(q.answered_by(answer.text))
        ceiling.append(any(q.answered_by(p.text) for p in answer.sources))
        sentences = [s for s in answer.sentences if s.text.strip()]
        shown += len(sentences)
        supported += sum(1 for s in sentences if s.supported)
        if not answer.refused:
            relevant += 1
            cited += any(s.supported and s.citations for s in sentences)
        rows.append(
            {
                "id": q.id,
                "question": q.question,
                "gold": list(q.answers),
                "answer": answer.text,
                "contains_gold": gold[-1],
                "notice": answer.notice,
                "first_s": round(firsts[-1], 3),
            }
        )
    return {
        "n": len(questions),
        "contains_gold": statistics.mean(gold),
        "passages_gold": statistics.mean(ceiling),
        "shown_supported": supported / shown if shown else 0.0,
        "cited": cited / relevant if relevant else 0.0,
        "refused": len(questions) - relevant,
        "first_p50_s": statistics.median(firsts),
        "first_p95_s": sorted(firsts)[int(0.95 * (len(firsts) - 1))],
        "total_p50_s": statistics.median(totals),
        "answers": rows,
    }


# --- cross-validated weights ---------------------------------------------------------------------

GRID = {
    "W_CUE": (0.0, 0.15, 0.25),
    "W_CUE_EXACT": (0.15, 0.35, 0.5),
    "W_PRESENT": (0.0, 0.05),
}


def tune(bot: Any, questions: Sequence[Question], folds: int) -> dict[str, Any]:
    from chatbot.answering import evidence

    found = {
        q.id: bot.retriever.retrieve(q.question, 5, reference=question_date(q)) for q in questions
    }
    configs = [dict(zip(GRID, values, strict=True)) for values in itertools.product(*GRID.values())]
    hits: dict[int, dict[str, bool]] = {}
    for i, config in enumerate(configs):
        for name, value in config.items():
            setattr(evidence, name, value)
        hits[i] = {}
        for q in questions:
            picks = evidence.select_evidence(
                q.question, found[q.id].passages, bot.embedder, 2, margin=0.1
            )
            hits[i][q.id] = q.answered_by(" ".join(p.text for p in picks))
    weeks = sorted({q.date for q in questions})
    size = -(-len(weeks) // folds)
    fold_of = {w: n // size for n, w in enumerate(weeks)}
    table = []
    for f in range(folds):
        train = [q.id for q in questions if fold_of[q.date] != f]
        test = [q.id for q in questions if fold_of[q.date] == f]
        if not test:
            continue
        best = max(range(len(configs)), key=lambda i: sum(hits[i][x] for x in train))
        table.append(
            {
                "fold": f,
                "weeks": [w for w in weeks if fold_of[w] == f],
                "questions": len(test),
                "chosen": configs[best],
                "held_out_accuracy": statistics.mean(hits[best][x] for x in test),
                "train_accuracy": statistics.mean(hits[best][x] for x in train),
            }
        )
    overall = {json_key(c): statistics.mean(hits[i].values()) for i, c in enumerate(configs)}
    return {"folds": table, "all_configs": overall}


def json_key(config: dict[str, float]) -> str:
    return ",".join(f"{k}={v}" for k, v in config.items())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE)
    parser.add_argument("--backends", default="extractive,local")
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions")
    parser.add_argument("--tune", action="store_true", help="cross-validate selection weights")
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--out", default="answer_quality")
    args = parser.parse_args(argv)

    questions = retrieval_questions(load_questions(), load_articles())
    if args.limit:
        questions = questions[: args.limit]
    results: dict[str, Any] = {"questions": len(questions)}
    if args.tune:
        bot = open_bot(args.store, llm_backend="extractive")
        try:
            results["tune"] = tune(bot, questions, args.folds)
        finally:
            bot.close()
        for row in results["tune"]["folds"]:
            print(
                f"fold {row['fold']} ({len(row['weeks'])} weeks, {row['questions']} questions): "
                f"held-out {row['held_out_accuracy']:.3f}, train {row['train_accuracy']:.3f}, "
                f"chosen {json_key(row['chosen'])}"
            )
        held = [r["held_out_accuracy"] for r in results["tune"]["folds"]]
        print(
            f"held-out mean {statistics.mean(held):.3f} (min {min(held):.3f}, max {max(held):.3f})"
        )
    else:
        print(
            f"{'backend':<12} {'gold':>6} {'ceiling':>8} {'supp.':>6} {'cited':>6} "
            f"{'ttft p50':>9} {'p95':>6} {'total':>6}"
        )
        for backend in args.backends.split(","):
            bot = open_bot(args.store, llm_backend=backend)
            try:
                r = answer_all(bot, questions)
            finally:
                bot.close()
            results[backend] = r
            print(
                f"{backend:<12} {r['contains_gold']:>6.3f} {r['passages_gold']:>8.3f} "
                f"{r['shown_supported']:>6.3f} {r['cited']:>6.3f} {r['first_p50_s']:>9.2f} "
                f"{r['first_p95_s']:>6.2f} {r['total_p50_s']:>6.2f}",
                flush=True,
            )
            write_results(args.out, results)
    print(f"written: {write_results(args.out, results)}")


if __name__ == "__main__":
    main()
