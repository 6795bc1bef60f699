"""Retrieval and answer quality on RealTimeQA-dev (the chat issue's eval).

    python -m evals.retrieval_qa [--store PATH] [--parts retrieval,mc,answer,llm] [--llm-limit N]

Rows: dense only, BM25 only, this project's hybrid, and stock llama-index (VectorStoreIndex over
the same Chroma collection with the same embedder, default retriever): answer-recall@5 and
MRR@10 over the questions whose gold answer appears in their own retrieved pages. Then
multiple-choice accuracy over all questions: extractive (the choice the retrieved passages
support best) and the local LLM (asked to pick a letter from the same passages). And how often
an extractive ``ask`` answer contains the gold answer (with its latency).
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from evals.rtqa import (
    DEFAULT_STORE,
    Question,
    load_articles,
    load_questions,
    normalise,
    open_bot,
    retrieval_questions,
    write_results,
)


def ranking_metrics(
    questions: Sequence[Question], search: Callable[[Question], list[str]]
) -> dict[str, float]:
    recall5, mrr10, latencies = [], [], []
    for q in questions:
        started = time.perf_counter()
        texts = search(q)[:10]
        latencies.append(time.perf_counter() - started)
        ranks = [i for i, t in enumerate(texts) if q.answered_by(t)]
        recall5.append(1.0 if ranks and ranks[0] < 5 else 0.0)
        mrr10.append(1.0 / (ranks[0] + 1) if ranks else 0.0)
    return {
        "answer_recall@5": statistics.mean(recall5),
        "mrr@10": statistics.mean(mrr10),
        "p50_ms": 1000 * statistics.median(latencies),
    }


def question_date(q: Question) -> datetime:
    return datetime.fromisoformat(q.date).replace(tzinfo=UTC)


def llama_index_search(bot: Any) -> Callable[[Question], list[str]]:
    """Stock llama-index: VectorStoreIndex over our chunks collection, default retriever."""
    from llama_index.core import VectorStoreIndex
    from llama_index.core.embeddings import BaseEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

    embedder = bot.embedder

    class SameEmbedder(BaseEmbedding):
        def _get_query_embedding(self, query: str) -> list[float]:
            return embedder.embed_query(query).tolist()

        def _get_text_embedding(self, text: str) -> list[float]:
            return embedder.embed([text])[0].tolist()

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

    store = ChromaVectorStore(chroma_collection=bot.store._chunks)
    index = VectorStoreIndex.from_vector_store(store, embed_model=SameEmbedder())
    retriever = index.as_retriever(similarity_top_k=10)
    return lambda q: [n.node.get_content() for n in retriever.retrieve(q.question)]


def choice_support(bot: Any, q: Question) -> int:
    """Extractive multiple choice: the choice the retrieved passages support best."""
    found = bot.retriever.retrieve(q.question, 8, reference=question_date(q))
    texts = [normalise(p.text) for p in found.passages]
    evidence = [p.text for p in found.passages[:5]]
    pairs = [(f"{q.question} {choice}", text) for choice in q.choices for text in evidence]
    support = [score for score, _ in bot.checker.score_many(pairs)] if pairs else []
    scores = []
    for i, choice in enumerate(q.choices):
        c = normalise(choice)
        # Literal mentions weigh most (by rank); checker support breaks ties and covers
        # paraphrases. One batched checker call per question.
        literal = sum(
            1.0 / (rank + 1)
            for rank, t in enumerate(texts)
            if re.search(rf"(?<!\w){re.escape(c)}(?!\w)", t)
        )
        best = max(support[i * len(evidence) : (i + 1) * len(evidence)], default=0.0)
        scores.append(literal + best)
    return max(range(len(scores)), key=scores.__getitem__)


def extractive_answers(bot: Any, questions: list[Question]) -> dict[str, float]:
    """``ask`` with the extractive backend, as of each question's date: how often the answer
    text contains the gold answer, against how often its passages do (the ceiling)."""
    hits, ceiling, times = [], [], []
    for q in questions:
        started = time.perf_counter()
        answer = bot.ask(q.question, as_of=question_date(q))
        times.append(1000 * (time.perf_counter() - started))
        hits.append(q.answered_by(answer.text))
        ceiling.append(any(q.answered_by(p.text) for p in answer.sources))
    return {
        "accuracy": statistics.mean(hits),
        "n": len(questions),
        "passages_contain_gold": statistics.mean(ceiling),
        "p50_ms": statistics.median(times),
    }


def llm_choice(bot: Any, llm: Any, q: Question) -> int:
    from chatbot.answering.prompting import render_source
    from chatbot.llm.base import Message

    found = bot.retriever.retrieve(q.question, 5, reference=question_date(q))
    sources = "\n".join(render_source(n, p) for n, p in enumerate(found.passages, 1))
    letters = "ABCD"
    options = "\n".join(f"{letters[i]}. {c}" for i, c in enumerate(q.choices))
    prompt = (
        f"{sources}\n\nQuestion: {q.question}\n{options}\n"
        "Using the sources, answer with the letter of the correct option only.\nAnswer:"
    )
    reply = llm.complete([Message("user", prompt)], max_tokens=4, temperature=0.0)
    match = re.search(r"\b([ABCD])\b", reply.upper())
    return letters.index(match.group(1)) if match else -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", default=str(DEFAULT_STORE))
    parser.add_argument("--llm-limit", type=int, default=60, help="questions for the local LLM")
    parser.add_argument("--skip-llm", action="store_true", help="leave out the llm part")
    parser.add_argument(
        "--parts",
        default="retrieval,mc,answer,llm",
        help="comma-separated: retrieval (the four retrievers), mc (extractive multiple "
        "choice, all questions), answer (extractive answers that contain the gold answer), "
        "llm (local LLM multiple choice, --llm-limit questions)",
    )
    parser.add_argument(
        "--embedding-backend",
        default="local",
        help="CHATBOT_EMBEDDING_BACKEND of the store (static = the fast ingest mode)",
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if args.skip_llm:
        parts.discard("llm")

    bot = open_bot(args.store, llm_backend="extractive", embedding_backend=args.embedding_backend)
    questions = load_questions()
    articles = load_articles()
    subset = retrieval_questions(questions, articles)
    print(f"{len(subset)} of {len(questions)} questions have their gold answer in their pages")

    def ours(mode: str) -> Callable[[Question], list[str]]:
        def search(q: Question) -> list[str]:
            bot.retriever.mode = mode
            found = bot.retriever.retrieve(q.question, 10, reference=question_date(q))
            return [p.text for p in found.passages]

        return search

    bot.keyword_index.refresh()
    rows: dict[str, dict[str, float]] = {}
    if "retrieval" in parts:
        rows = {
            "dense only": ranking_metrics(subset, ours("dense")),
            "BM25 only": ranking_metrics(subset, ours("keyword")),
            "hybrid (ours)": ranking_metrics(subset, ours("hybrid")),
            "llama-index VectorStoreIndex": ranking_metrics(subset, llama_index_search(bot)),
        }
        bot.retriever.mode = "hybrid"
        print(f"\n{'retriever':<30} {'recall@5':>9} {'MRR@10':>7} {'p50 ms':>7}")
        for name, m in rows.items():
            print(
                f"{name:<30} {m['answer_recall@5']:>9.3f} {m['mrr@10']:>7.3f} {m['p50_ms']:>7.1f}"
            )

    accuracy: dict[str, dict[str, float]] = {}
    if "mc" in parts:
        correct = [choice_support(bot, q) in q.answer_index for q in questions]
        accuracy["extractive"] = {"accuracy": statistics.mean(correct), "n": len(questions)}
    if "answer" in parts:
        accuracy["extractive answer contains gold"] = extractive_answers(bot, subset)
    if "llm" in parts:
        from chatbot.config import Settings
        from chatbot.llm.registry import create_backend

        llm, _ = create_backend(Settings(llm_backend="local"))
        sample = questions[: args.llm_limit]
        picks = [llm_choice(bot, llm, q) for q in sample]
        accuracy["local LLM"] = {
            "accuracy": statistics.mean(
                p in q.answer_index for p, q in zip(picks, sample, strict=True)
            ),
            "n": len(sample),
            "unparsed": sum(p < 0 for p in picks),
        }
        same = [choice_support(bot, q) in q.answer_index for q in sample]
        accuracy["extractive, same questions"] = {
            "accuracy": statistics.mean(same),
            "n": len(sample),
        }
    print(f"\n{'multiple choice':<30} {'accuracy':>9} {'n':>5}")
    for name, m in accuracy.items():
        print(f"{name:<30} {m['accuracy']:>9.3f} {m['n']:>5}")
    suffix = "" if args.embedding_backend == "local" else f"-{args.embedding_backend}"
    if parts != {"retrieval", "mc", "answer", "llm"}:
        suffix += "-" + "-".join(sorted(parts))
    path = write_results(
        f"retrieval_qa{suffix}",
        {"retrieval": rows, "multiple_choice": accuracy, "retrieval_questions": len(subset)},
    )
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
