"""Article summaries on REALSumm (100 CNN/DailyMail test articles): ROUGE against the gold
highlights for this project's extractive and local-LLM summaries, Lead-3, a plain-centrality
variant and the 25 published systems, plus the share of summary sentences the citation checker
marks supported.

    python -m evals.summary_rouge [--limit N] [--llm-limit N] [--store PATH]

The articles are stored lowercased and tokenized (``source_lower_tok``): the project's sentence
splitter looks for a capital after a full stop, so sentences are split on the tokenized ``.``,
``!`` and ``?`` here and put on lines of their own before ingest (a line break is a sentence end
for the splitter). Lead-3 and every variant use the same sentences. All ROUGE numbers are F1 of
rouge-score with stemming; ROUGE-L is the summary-level ``rougeLsum`` over newline-separated
sentences. The published systems are shown twice: their stored scores (computed by REALSumm with
pyrouge) and their summaries rescored here, which is the like-for-like comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chatbot.models.embeddings import Embedder

EVALDATA = Path(__file__).resolve().parents[2] / "shared" / "evaldata"
DATA = EVALDATA / "realsumm" / "realsumm_cnndm_test100.jsonl"
RESULTS = Path(__file__).resolve().parent / "results"
METRICS = ("rouge1", "rouge2", "rougeLsum")
_ENDS = {".", "!", "?"}
_CLOSERS = {"''", ")", "'", "]"}


def split_tokenized(text: str) -> list[str]:
    """Sentences of a tokenized, lowercased text: a sentence ends at a ``.``/``!``/``?`` token
    (plus any closing quote or bracket tokens right after it)."""
    tokens = text.split()
    sentences: list[str] = []
    current: list[str] = []
    for i, token in enumerate(tokens):
        current.append(token)
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        ended = token in _ENDS or (token in _CLOSERS and len(current) > 1 and current[-2] in _ENDS)
        if ended and following not in _CLOSERS:
            sentences.append(" ".join(current))
            current = []
    if current:
        sentences.append(" ".join(current))
    return sentences


def reference_lines(reference: str) -> str:
    return "\n".join(split_tokenized(reference))


class MemoEmbedder(Embedder):
    """Wraps the real embedder so that the variants reuse the vectors the summarizer computed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.memo: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self.memo))
        if missing:
            for text, vector in zip(missing, self.inner.embed(missing), strict=True):
                self.memo[text] = vector
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self.memo[t] for t in texts])


def _scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)


def _rouge(scorer: Any, reference: str, summary_lines: Sequence[str]) -> list[float]:
    scores = scorer.score(reference, "\n".join(summary_lines))
    return [scores[m].fmeasure for m in METRICS]


def _mean(rows: list[list[float]]) -> list[float]:
    return [float(x) for x in np.mean(rows, axis=0)] if rows else [float("nan")] * 3


def main(argv: Sequence[str] | None = None) -> int:
    with tempfile.TemporaryDirectory(prefix="realsumm-") as tmp:
        return run(Path(tmp), argv)


def run(workdir: Path, argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--limit", type=int, default=100, help="articles for extractive (100)")
    parser.add_argument(
        "--llm-limit", type=int, default=10, help="articles for the local LLM (10; 0 = skip)"
    )
    parser.add_argument("--llm-max-tokens", type=int, default=128)
    parser.add_argument("--store", type=Path, help="reuse this store folder (default: temporary)")
    parser.add_argument("--out", type=Path, default=RESULTS / "summaries_realsumm.json")
    args = parser.parse_args(argv)

    from chatbot.answering.centrality import candidate_sentences
    from chatbot.answering.strategies import create_strategy
    from chatbot.answering.summaries import Summarizer
    from chatbot.bot import Chatbot
    from chatbot.common.text import words
    from chatbot.config import Settings
    from chatbot.llm.base import LLMError
    from chatbot.llm.no_llm import NoLLM
    from chatbot.vocabulary import Article

    rows = [json.loads(line) for line in args.data.open(encoding="utf-8")][: args.limit]
    store_path = args.store or workdir / "vectorstore"
    bot = Chatbot(
        Settings(store_path=store_path, data_dir=workdir / "data", llm_backend="extractive")
    )
    embedder = MemoEmbedder(bot.embedder)
    articles = []
    for row in rows:
        lines = split_tokenized(row["source_lower_tok"])
        articles.append(
            Article.create(
                title=f"CNN/DailyMail test article {row['doc_id']}",
                text="\n".join(lines),
                source="cnndm",
                url=f"https://realsumm.invalid/{row['doc_id']}",
            )
        )
    started = time.perf_counter()
    report = bot.ingest(articles)
    print(f"ingest: {report.summary()} in {time.perf_counter() - started:.0f} s", file=sys.stderr)

    scorer = _scorer()
    refs = [reference_lines(r["reference"]) for r in rows]
    extractive = Summarizer(
        bot.store,
        embedder,
        create_strategy(NoLLM(), embedder, bot.checker),
        bot.checker,
        cache_dir=workdir / "cache-extractive",
        sentences=3,
    )
    scores: dict[str, list[list[float]]] = {"extractive": [], "lead3": [], "centrality": []}
    supported: dict[str, list[bool]] = {"extractive": [], "local-llm": []}
    started = time.perf_counter()
    for i, (article, ref) in enumerate(zip(articles, refs, strict=True)):
        summary = extractive.summarize_article(article.id)
        scores["extractive"].append(_rouge(scorer, ref, [s.text for s in summary.sentences]))
        supported["extractive"].extend(s.supported for s in summary.sentences)
        lines = article.text.split("\n")
        scores["lead3"].append(_rouge(scorer, ref, lines[:3]))
        # Variant: centrality = similarity to the article's mean sentence (no position).
        _, sentences = candidate_sentences(article.text, extractive.max_candidates)
        vectors = embedder.embed(sentences)
        centre = vectors.mean(axis=0)
        order = np.argsort(-(vectors @ centre), kind="stable")
        eligible = [int(j) for j in order if len(words(sentences[j])) >= 6][:3]
        scores["centrality"].append(_rouge(scorer, ref, [sentences[j] for j in sorted(eligible)]))
        if (i + 1) % 20 == 0:
            print(f"extractive: {i + 1}/{len(rows)}", file=sys.stderr)
    extractive_seconds = time.perf_counter() - started

    llm_rows: list[list[float]] = []
    llm_subset: dict[str, list[list[float]]] = {"extractive": [], "lead3": []}
    llm_notes: list[str] = []
    llm_used = 0
    llm_seconds = 0.0
    llm_name = "local-llm (not run)"
    if args.llm_limit > 0:
        from chatbot.llm.registry import create_backend

        try:
            llm, _ = create_backend(
                Settings(llm_backend="local", llm_temperature=0.0, store_path=store_path)
            )
            llm_name = f"local-llm ({llm.model})"
            abstractive = Summarizer(
                bot.store,
                bot.embedder,
                create_strategy(llm, bot.embedder, bot.checker),
                bot.checker,
                cache_dir=workdir / "cache-llm",
                max_tokens=args.llm_max_tokens,
                sentences=3,
                temperature=0.0,
            )
            started = time.perf_counter()
            for i, (article, ref) in enumerate(zip(articles, refs, strict=True)):
                if i >= args.llm_limit:
                    break
                summary = abstractive.summarize_article(article.id)
                if summary.notice:
                    llm_notes.append(summary.notice)
                llm_rows.append(_rouge(scorer, ref, [s.text for s in summary.sentences]))
                supported["local-llm"].extend(s.supported for s in summary.sentences)
                llm_subset["extractive"].append(scores["extractive"][i])
                llm_subset["lead3"].append(scores["lead3"][i])
                llm_used += 1
                print(f"local LLM: {llm_used}/{args.llm_limit}", file=sys.stderr)
            llm_seconds = time.perf_counter() - started
        except LLMError as exc:
            llm_notes.append(f"local LLM unavailable: {exc}")

    systems: dict[str, dict[str, list[float]]] = {}
    for name in sorted(rows[0]["system_summaries"]):
        stored, rescored = [], []
        for row, ref in zip(rows, refs, strict=True):
            entry = row["system_summaries"][name]
            s = entry["scores"]
            stored.append([s["rouge_1_f_score"], s["rouge_2_f_score"], s["rouge_l_f_score"]])
            rescored.append(_rouge(scorer, ref, split_tokenized(entry["summary"])))
        systems[name] = {"stored": _mean(stored), "rescored": _mean(rescored)}

    n = len(rows)
    table: list[dict[str, Any]] = [
        {"system": "extractive (ours: PacSum-style centrality)", "n": n},
        {"system": "lead-3", "n": n},
        {"system": "centrality to article mean (variant)", "n": n},
    ]
    for row, key in zip(table, ("extractive", "lead3", "centrality"), strict=True):
        row["rescored"] = _mean(scores[key])
    if llm_used:
        table += [
            {"system": llm_name, "n": llm_used, "rescored": _mean(llm_rows)},
            {
                "system": f"extractive (ours) on the same {llm_used}",
                "n": llm_used,
                "rescored": _mean(llm_subset["extractive"]),
            },
            {
                "system": f"lead-3 on the same {llm_used}",
                "n": llm_used,
                "rescored": _mean(llm_subset["lead3"]),
            },
        ]
    for name, values in sorted(systems.items(), key=lambda kv: -kv[1]["rescored"][0]):
        table.append({"system": name, "n": n, **values})

    print()
    print(f"{'system':<48} {'n':>4}  {'R1':>6} {'R2':>6} {'RLsum':>6}   stored R1/R2/RL")
    for row in table:
        r1, r2, rl = row["rescored"]
        stored = row.get("stored")
        tail = f"   {stored[0]:.3f}/{stored[1]:.3f}/{stored[2]:.3f}" if stored else ""
        print(f"{row['system']:<48} {row['n']:>4}  {r1:6.3f} {r2:6.3f} {rl:6.3f}{tail}")
    print()
    share = {k: (sum(v) / len(v) if v else None, len(v)) for k, v in supported.items()}
    for key, (value, count) in share.items():
        if value is not None:
            print(f"supported sentences ({key}): {value:.1%} of {count}")
    ours, lead = _mean(scores["extractive"]), _mean(scores["lead3"])
    beats = ours[0] >= lead[0] and ours[1] >= lead[1]
    print(f"extractive >= lead-3 on ROUGE-1 and ROUGE-2: {beats}")
    print(
        f"time: extractive {extractive_seconds:.0f} s for {n}; local LLM {llm_seconds:.0f} s for "
        f"{llm_used} (the LLM was run on the first {llm_used} articles only)"
    )
    for note in dict.fromkeys(llm_notes):
        print(f"note: {note}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "data": str(args.data),
                "metrics": "rouge-score F1 with stemming: rouge1, rouge2, rougeLsum",
                "articles": n,
                "llm_articles": llm_used,
                "table": table,
                "supported_share": {k: {"share": v, "sentences": c} for k, (v, c) in share.items()},
                "extractive_beats_lead3_r1_r2": beats,
                "seconds": {"extractive": extractive_seconds, "local_llm": llm_seconds},
                "notes": list(dict.fromkeys(llm_notes)),
            },
            indent=2,
        )
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
