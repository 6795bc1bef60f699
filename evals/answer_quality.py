"""End-to-end answer quality on RealTimeQA-dev, per answering backend (the answers issue's eval).

    python -m evals.answer_quality [--data dev|heldout] [--backends extractive,local] [--limit N]
    python -m evals.answer_quality --fit         # fit evidence-selection weights (nested CV)

For the questions whose gold answer appears in their own retrieved pages (112 of dev; with
``--data heldout`` those of the weeks the answer ranker's training held out), each backend
answers through ``Chatbot.stream`` as of the question's date, and the table reports:

- ``contains_gold``: the answer text contains the gold answer (the user got the answer);
- ``passages_gold``: its passages contain it (the ceiling for any answer);
- ``shown_supported``: share of shown sentences the checker supports;
- ``cited``: share of answers (with relevant passages) carrying at least one supported citation;
- first-token p50/p95 and total p50 (seconds).

``--fit`` fits the evidence-selection weights (a softmax over each question's sentences) with
nested cross-validation across weeks: the questions are split into folds of consecutive weeks,
each fold is answered with weights fitted on the others, and the table reports every fold (what
to expect on unseen weeks); then it prints the weights fitted on all weeks, to ship.
With the answer ranker on (``CHATBOT_RANKER_MODEL``, default the packaged one), ``--fit``
fits the features together with the ranker's score and also reports the ranker alone on the
same folds: the features stay beside the ranker only if the held-out folds say they add.
The script uses only the public API, so it also measures an older checkout of the project
(``PYTHONPATH=/path/to/old/checkout python evals/answer_quality.py ...``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals.rtqa import (
    DATASETS,
    Question,
    default_store,
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
                "unsupported": [[s.text, s.reason] for s in sentences if not s.supported],
                "quoted": sum(s.quoted for s in sentences),  # the sources' words in place of
                "sentences": len(sentences),  # the model's (generative backends)
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


# --- fitted evidence-selection weights -----------------------------------------------------------

LAMBDAS = (1.0, 3.0, 10.0, 30.0, 100.0)


class CachedRanker:
    """The bot's answer ranker with its scores remembered: the nested cross-validation asks
    for the same (question, sentence) pairs many times."""

    def __init__(self, ranker: Any) -> None:
        self.ranker = ranker
        self.error = None
        self.cache: dict[tuple[str, str, str], tuple[float, Any]] = {}

    def ready(self) -> bool:
        ok = bool(self.ranker.ready())
        self.error = self.ranker.error
        return ok

    def scores(self, question: str, sentences: Sequence[tuple[str, Any]]) -> list[float] | None:
        got = self.reading(question, sentences)
        return None if got is None else got[0]

    def reading(
        self, question: str, sentences: Sequence[tuple[str, Any]]
    ) -> tuple[list[float], list[Any]] | None:
        keys = [(question, text, p.chunk_id) for text, p in sentences]
        missing = [i for i, k in enumerate(keys) if k not in self.cache]
        if missing:
            got = self.ranker.reading(question, [sentences[i] for i in missing])
            if got is None:
                return None
            self.cache.update(zip([keys[i] for i in missing], zip(*got, strict=True), strict=True))
        return [self.cache[k][0] for k in keys], [self.cache[k][1] for k in keys]


def sentence_tables(
    bot: Any, questions: Sequence[Question], ranker: Any = None, drop: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Per question: its top-5 passages and every candidate sentence's features and label
    (the sentence contains the gold answer); with ``ranker``, its score as a feature; less the
    features named in ``drop``."""
    from chatbot.answering import evidence

    tables = []
    for q in questions:
        reference = question_date(q)
        passages = bot.retriever.retrieve(q.question, 5, reference=reference).passages
        pool = evidence.candidates(evidence.analyse(q.question), passages, reference)
        vectors = bot.embedder.embed([q.question] + [c.text for c in pool]) if pool else None
        if vectors is not None:
            pool = evidence.with_cosines(pool, [float(x) for x in vectors[1:] @ vectors[0]])
        if ranker is not None and pool:
            logits = ranker.scores(q.question, [(c.text, c.passage) for c in pool])
            pool = [
                replace(c, features={**c.features, "ranker": r})
                for c, r in zip(pool, logits, strict=True)
            ]
        tables.append(
            {
                "question": q,
                "passages": passages,
                "features": [{n: v for n, v in c.features.items() if n not in drop} for c in pool],
                "labels": [q.answered_by(c.text) for c in pool],
            }
        )
    return tables


def fit_softmax(tables: Sequence[dict[str, Any]], lam: float) -> dict[str, float]:
    """Weights of a linear score trained as a softmax over each question's sentences (the
    target spread over the ones holding the answer), with an L2 penalty on standardised
    features; returned in raw feature units."""
    import numpy as np
    from scipy.optimize import minimize

    from chatbot.answering.evidence import FIXED_WEIGHTS

    rows = [t for t in tables if any(t["labels"])]
    names = sorted({n for t in rows for f in t["features"] for n in f} - set(FIXED_WEIGHTS))
    matrices = [np.array([[f.get(n, 0.0) for n in names] for f in t["features"]]) for t in rows]
    stacked = np.vstack(matrices)
    mean, scale = stacked.mean(0), stacked.std(0) + 1e-9
    # The fixed weights' part of each score: an offset the fit does not change.
    offsets = [
        np.array([sum(w * f.get(n, 0.0) for n, w in FIXED_WEIGHTS.items()) for f in t["features"]])
        for t in rows
    ]
    data = [
        ((m - mean) / scale, np.array(t["labels"], float), offset)
        for m, t, offset in zip(matrices, rows, offsets, strict=True)
    ]

    def loss(w: Any) -> tuple[float, Any]:
        value, grad = lam * float(w @ w), 2 * lam * w
        for x, y, offset in data:
            s = x @ w + offset
            p = np.exp(s - s.max())
            p /= p.sum()
            target = y / y.sum()
            value -= float(target @ np.log(p + 1e-12))
            grad -= x.T @ (target - p)
        return value, grad

    w = minimize(loss, np.zeros(len(names)), jac=True, method="L-BFGS-B").x
    return {n: round(float(v / sd), 4) for n, v, sd in zip(names, w, scale, strict=True)}


def answers_hold_gold(
    bot: Any,
    tables: Sequence[dict[str, Any]],
    weights: dict[str, float] | None,
    ranker: Any = None,
) -> list[bool]:
    """What the extractive answer would quote with ``weights`` (shortlist, margin and all).
    With ``ranker``, ``weights`` score the ranker's shortlist (None: the ranker alone) and the
    shipped weights pick it."""
    from chatbot.answering import evidence
    from chatbot.answering.strategies import EXTRACTIVE_MARGIN, EXTRACTIVE_SENTENCES

    hits = []
    for t in tables:
        q = t["question"]
        picks = evidence.select_evidence(
            q.question,
            t["passages"],
            bot.embedder,
            EXTRACTIVE_SENTENCES,
            margin=EXTRACTIVE_MARGIN,
            reference=question_date(q),
            weights=evidence.WEIGHTS if ranker is not None else weights,
            ranker=ranker,
            ranked_weights=weights if ranker is not None else None,
        )
        hits.append(q.answered_by(" ".join(p.text for p in picks)))
    return hits


def choose_lambda(
    bot: Any, tables: Sequence[dict[str, Any]], folds: list[list[int]], ranker: Any = None
) -> float:
    """The L2 strength with the most answers holding the gold on held-out folds."""

    def held_out(lam: float) -> int:
        total = 0
        for f, test in enumerate(folds):
            train = [tables[i] for g, idx in enumerate(folds) if g != f for i in idx]
            weights = fit_softmax(train, lam)
            total += sum(answers_hold_gold(bot, [tables[i] for i in test], weights, ranker))
        return total

    return max(LAMBDAS, key=held_out)


def fit(
    bot: Any,
    questions: Sequence[Question],
    folds: int,
    ranker: Any = None,
    tables: Sequence[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Nested cross-validation across weeks: each fold is answered with weights fitted on the
    others (their L2 strength chosen by an inner cross-validation); then the weights to ship,
    fitted on all weeks. With ``ranker``: the features fitted beside its score, and the
    ranker alone on the same folds. ``tables``: the questions' sentence tables, when built
    already (from several stores)."""
    from chatbot.answering import evidence
    from evals.retrieval_cv import week_folds

    tables = list(tables) if tables is not None else sentence_tables(bot, questions, ranker)
    outer = week_folds(questions, folds)
    rows = []
    for f, test in enumerate(outer):
        train_idx = [i for g, idx in enumerate(outer) if g != f for i in idx]
        train = [tables[i] for i in train_idx]
        inner = [[train_idx.index(i) for i in idx] for g, idx in enumerate(outer) if g != f]
        lam = choose_lambda(bot, train, inner, ranker)
        weights = fit_softmax(train, lam)
        held = answers_hold_gold(bot, [tables[i] for i in test], weights, ranker)
        shipped = answers_hold_gold(bot, [tables[i] for i in test], evidence.WEIGHTS)
        alone = answers_hold_gold(bot, [tables[i] for i in test], None, ranker) if ranker else []
        rows.append(
            {
                "fold": f,
                "questions": len(test),
                "lambda": lam,
                "held_out": statistics.mean(held) if held else float("nan"),
                "shipped_in_sample": statistics.mean(shipped) if shipped else float("nan"),
                "ranker_alone": statistics.mean(alone) if alone else float("nan"),
            }
        )
    lam = choose_lambda(bot, tables, outer, ranker)
    return {
        "folds": rows,
        "held_out_mean": sum(r["held_out"] * r["questions"] for r in rows) / len(tables),
        "ranker_alone_mean": sum(r["ranker_alone"] * r["questions"] for r in rows) / len(tables),
        "ceiling": statistics.mean(any(t["labels"]) for t in tables),
        "lambda": lam,
        "weights": fit_softmax(tables, lam),
    }


def answerable(data: str, limit: int = 0) -> list[Question]:
    """The questions of ``data`` whose gold answer is in their own pages (the first ``limit``)."""
    questions = retrieval_questions(load_questions(data), load_articles(data))
    return questions[:limit] if limit else questions


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data",
        default="dev",
        help=f"one of {', '.join(DATASETS)}; with --fit, several comma separated are pooled",
    )
    parser.add_argument(
        "--drop",
        default="",
        help="with --fit: features left out of the fit (e.g. cosine,cosine_gap: the ranked "
        "path then need not embed its shortlist)",
    )
    parser.add_argument("--store", type=Path, default=None, help="default: one per --data")
    parser.add_argument("--backends", default="extractive,local")
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions")
    parser.add_argument("--fit", action="store_true", help="fit selection weights (nested CV)")
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--out", default="answer_quality")
    args = parser.parse_args(argv)
    datas = args.data.split(",")
    if any(d not in DATASETS for d in datas) or (len(datas) > 1 and not args.fit):
        parser.error(f"--data: one of {', '.join(DATASETS)} (several only with --fit)")

    if args.fit:
        questions, tables, fitted_ranker = [], [], None
        drop = [d for d in args.drop.split(",") if d]
        for data in datas:
            asked = answerable(data, args.limit)
            bot = open_bot(args.store or default_store(data), data, llm_backend="extractive")
            ranker = getattr(bot.strategy, "ranker", None)
            try:
                if ranker is not None and fitted_ranker is None:
                    fitted_ranker = CachedRanker(ranker)
                tables += sentence_tables(bot, asked, fitted_ranker, drop)
            finally:
                bot.close()
            questions += asked
        results: dict[str, Any] = {"data": args.data, "questions": len(questions)}
        # select_evidence reads passages and the embedder only: the last bot's embedder serves.
        results["fit"] = fit(bot, questions, args.folds, fitted_ranker, tables)
        for row in results["fit"]["folds"]:
            print(
                f"fold {row['fold']} ({row['questions']} questions): held-out "
                f"{row['held_out']:.3f} (lambda {row['lambda']}), shipped weights "
                f"{row['shipped_in_sample']:.3f}, ranker alone {row['ranker_alone']:.3f}"
            )
        print(
            f"held-out mean {results['fit']['held_out_mean']:.3f}; ranker alone "
            f"{results['fit']['ranker_alone_mean']:.3f}; "
            f"ceiling {results['fit']['ceiling']:.3f}"
        )
        print(f"weights to ship (lambda {results['fit']['lambda']}):")
        print(json.dumps(results["fit"]["weights"], indent=4))
    else:
        store = args.store or default_store(args.data)
        questions = answerable(args.data, args.limit)
        results = {"data": args.data, "questions": len(questions)}
        print(
            f"{'backend':<12} {'gold':>6} {'ceiling':>8} {'supp.':>6} {'cited':>6} "
            f"{'ttft p50':>9} {'p95':>6} {'total':>6}"
        )
        for backend in args.backends.split(","):
            bot = open_bot(store, args.data, llm_backend=backend)
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
