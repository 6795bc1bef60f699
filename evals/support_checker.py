"""Does the citation checker agree with people about what an article supports? (QAGS-XSum)

    cd /work/main && .venv/bin/python -m evals.support_checker [--data PATH] [--out PATH]
        [--judge local|openai|openai-compatible] [--limit N] [--cost N]

QAGS-XSum (Wang et al., ACL 2020): 239 BBC articles, each with one model-written summary sentence
and three crowd-worker yes/no answers to "is this sentence supported by the article?". The label is
the majority vote (supported when at least 2 of 3 said yes). Each sentence is scored with
:class:`SupportChecker` against the whole article (the checker splits the
evidence into sentences itself), for each method (embedding, lexical, hybrid), and the table
reports:

- ROC AUC (rank formula, ties averaged): how well the score orders supported above unsupported;
- balanced accuracy at the checker's default threshold: what the product actually does;
- balanced accuracy at the best threshold for this data: tuned on the test set, for information
  only (it says how much a better calibration could gain, not what the checker achieves).

Caveat: this is the only labelled support data the project has. The hybrid method's missing-word
weights were fitted on it (``python -m evals.support_fit`` reports the same procedure under
repeated 5-fold cross-validation: ROC AUC 0.700 +- 0.059, balanced accuracy 0.675 +- 0.056), and
the lexical method's hand-set weights were chosen with it in view, so the numbers here are
somewhat optimistic. ``--data PATH`` reads any file in the same format (one JSON object per line:
``article`` and ``summary_sentences``, each with ``sentence`` and ``responses`` of yes/no).

``--cost N`` (default 20) also times :func:`check_answer` on five-sentence
answers built from N RealTimeQA news pages: quoted (as extractive answers are) and reworded
(every sentence goes through the model).

The data is read from ../shared/evaldata and never copied into the repository. Results are also
written as JSON to evals/results/support_qags.json.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chatbot.answering.citations import SupportChecker
from chatbot.config import Settings
from chatbot.llm.base import LLMBackend
from chatbot.llm.registry import create_backend
from chatbot.models.cross_encoder import PACKAGED_SUPPORT
from chatbot.models.embeddings import Embedder, create_embedder
from chatbot.models.support_model import SupportModel

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "evaldata" / "qags" / "qags_xsum.jsonl"
DEFAULT_OUT = ROOT / "evals" / "results" / "support_qags.json"
METHODS = ("embedding", "lexical", "hybrid", "trained")


@dataclass(frozen=True)
class Example:
    article: str
    sentence: str
    yes_votes: int
    votes: int

    @property
    def supported(self) -> bool:
        return 2 * self.yes_votes > self.votes  # majority: >= 2 of 3


def load(path: Path) -> list[Example]:
    examples = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            for item in row["summary_sentences"]:
                answers = [r["response"].strip().lower() for r in item["responses"]]
                examples.append(
                    Example(row["article"], item["sentence"], answers.count("yes"), len(answers))
                )
    return examples


class CachingEmbedder(Embedder):
    """Embeds each distinct text once for the whole run, so that the three methods share the
    work (the hybrid and embedding methods see exactly the same vectors)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self._cache: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            self._cache.update(zip(missing, self.inner.embed(missing), strict=True))
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Mann-Whitney form of ROC AUC, with average ranks for tied scores."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=bool)
    positives, negatives = int(y.sum()), int((~y).sum())
    if not positives or not negatives:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=float)
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1  # 1-based average rank of the tie group
        i = j + 1
    return float((ranks[y].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def balanced_accuracy(scores: Sequence[float], labels: Sequence[bool], threshold: float) -> float:
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=bool)
    predicted = s >= threshold
    tpr = (predicted & y).sum() / max(1, y.sum())
    tnr = (~predicted & ~y).sum() / max(1, (~y).sum())
    return float((tpr + tnr) / 2)


def best_threshold(scores: Sequence[float], labels: Sequence[bool]) -> tuple[float, float]:
    """(threshold, balanced accuracy) maximising balanced accuracy on this very data."""
    values = np.unique(np.asarray(scores, dtype=float))
    candidates = np.concatenate([values, [values[-1] + 1e-9]]) if len(values) else np.array([0.5])
    best = max(candidates, key=lambda t: balanced_accuracy(scores, labels, float(t)))
    return float(best), balanced_accuracy(scores, labels, float(best))


def evaluate(
    examples: list[Example],
    embedder: Embedder,
    judge: LLMBackend | None = None,
    model: Path = PACKAGED_SUPPORT,
    methods: Sequence[str] = METHODS,
) -> dict[str, object]:
    labels = [e.supported for e in examples]
    pairs = [(e.sentence, e.article) for e in examples]
    cached = CachingEmbedder(embedder)
    results: dict[str, object] = {}
    for method in (*methods, "llm") if judge else methods:
        trained = SupportModel(model) if method == "trained" else None
        checker = SupportChecker(cached, method=method, judge=judge, model=trained)  # type: ignore[arg-type]
        started = time.perf_counter()
        scores = [score for score, _span in checker.score_many(pairs)]
        seconds = time.perf_counter() - started
        threshold, tuned = best_threshold(scores, labels)
        predicted = np.asarray(scores) >= checker.threshold
        results[method] = {
            "roc_auc": round(roc_auc(scores, labels), 4),
            "default_threshold": checker.threshold,
            "balanced_accuracy": round(balanced_accuracy(scores, labels, checker.threshold), 4),
            "predicted_supported": int(predicted.sum()),
            "best_threshold_tuned_on_test": round(threshold, 4),
            "balanced_accuracy_at_best_threshold_tuned_on_test": round(tuned, 4),
            "seconds": round(seconds, 1),
        }
    return results


RTQA_ARTICLES = ROOT.parent / "shared" / "evaldata" / "realtimeqa-dev" / "articles.jsonl"


def check_cost(
    embedder: Embedder, trials: int, method: str = "hybrid", model: Path = PACKAGED_SUPPORT
) -> dict[str, float]:
    """Milliseconds for :func:`check_answer` on three- and five-sentence answers citing as many
    passages (five sentences each) of a real news page (RealTimeQA), each trial a different
    page so nothing is cached from the last: (a) extractive, every sentence quoted from its
    passage; (b) reworded, every sentence changed a little (first word dropped, one word added)
    so that every one goes through the model."""
    from chatbot.answering.citations import check_answer
    from chatbot.common.text import sentence_spans
    from chatbot.vocabulary import Passage

    quoted: list[float] = []
    reworded: list[float] = []
    reworded3: list[float] = []
    with RTQA_ARTICLES.open(encoding="utf-8") as fh:
        for line in fh:
            if len(quoted) >= trials:
                break
            text = json.loads(line)["text"]
            spans = [(a, b) for a, b in sentence_spans(text) if 80 <= b - a <= 300]
            if len(spans) < 25:
                continue
            # Five passages of five sentences; the answer quotes the first of each.
            passages, sentences = [], []
            for n in range(5):
                group = spans[5 * n : 5 * n + 5]
                start, end = group[0][0], group[-1][1]
                passages.append(
                    Passage(f"c{n}", "a", n, text[start:end], start, end, "t", "s", None, None)
                )
                sentences.append(text[group[0][0] : group[0][1]])
            changed = [f"Reportedly {s.split(' ', 1)[1]}" for s in sentences]
            answers = {
                "quoted": " ".join(f"{s} [{n + 1}]" for n, s in enumerate(sentences)),
                "reworded": " ".join(f"{s} [{n + 1}]" for n, s in enumerate(changed)),
                "reworded3": " ".join(f"{s} [{n + 1}]" for n, s in enumerate(changed[:3])),
            }
            trained = SupportModel(model) if method == "trained" else None
            checker = SupportChecker(embedder, method=method, model=trained)  # type: ignore[arg-type]
            if trained is not None:
                trained.ready()  # loading the weights is start-up work, not checking
            for kind, out in (
                ("quoted", quoted),
                ("reworded", reworded),
                ("reworded3", reworded3),
            ):
                started = time.perf_counter()
                check_answer(answers[kind], passages, checker)
                out.append(1000 * (time.perf_counter() - started))
    return {
        "trials": len(quoted),
        "quoted_p50_ms": round(float(np.percentile(quoted, 50)), 1),
        "reworded_p50_ms": round(float(np.percentile(reworded, 50)), 1),
        "reworded_p95_ms": round(float(np.percentile(reworded, 95)), 1),
        "three_sentences_reworded_p50_ms": round(float(np.percentile(reworded3, 50)), 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--judge",
        choices=["local", "openai", "openai-compatible"],
        help="also score with this LLM as judge (CHATBOT_LLM_* settings apply)",
    )
    parser.add_argument(
        "--limit", type=int, help="first N sentences only (the LLM judge takes a while)"
    )
    parser.add_argument(
        "--cost",
        type=int,
        default=20,
        metavar="N",
        help="also time checking five-sentence answers on N news pages (0: skip)",
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=PACKAGED_SUPPORT,
        help="the trained support checker's folder (default: the packaged one)",
    )
    parser.add_argument(
        "--methods", default=",".join(METHODS), help="comma-separated, of " + ", ".join(METHODS)
    )
    args = parser.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]

    examples = load(args.data)[: args.limit]
    positives = sum(e.supported for e in examples)
    print(f"QAGS-XSum: {len(examples)} sentences, {positives} supported by majority vote")
    embedder = create_embedder(Settings())
    judge = None
    if args.judge:
        judge, reason = create_backend(Settings(llm_backend=args.judge))
        print(f"judge: {reason}")
    results = evaluate(examples, embedder, judge, args.model, methods)

    header = (
        f"{'method':<10} {'ROC AUC':>8} {'BA@default':>11} {'pred. yes':>10} "
        f"{'BA@best*':>9} {'best thr*':>10} {'seconds':>8}"
    )
    print(header)
    print("-" * len(header))
    for method in results:
        r = results[method]
        assert isinstance(r, dict)
        print(
            f"{method:<10} {r['roc_auc']:>8.3f} {r['balanced_accuracy']:>11.3f} "
            f"{r['predicted_supported']:>10d} "
            f"{r['balanced_accuracy_at_best_threshold_tuned_on_test']:>9.3f} "
            f"{r['best_threshold_tuned_on_test']:>10.3f} {r['seconds']:>8.1f}"
        )
    print("BA@default: balanced accuracy at the checker's default threshold (0.5).")
    print("* tuned on the test set itself: for information only, not a result.")
    print("seconds: the first method pays for embedding; the others reuse the same vectors.")

    cost = {}
    for method in ("hybrid", "trained") if args.cost else ():
        if method not in methods:
            continue
        c = cost[method] = check_cost(embedder, args.cost, method, args.model)
        print(
            f"check_answer ({method}), {c['trials']} pages: five quoted sentences p50 "
            f"{c['quoted_p50_ms']:.0f} ms; five reworded p50 {c['reworded_p50_ms']:.0f} ms, "
            f"p95 {c['reworded_p95_ms']:.0f} ms; three reworded p50 "
            f"{c['three_sentences_reworded_p50_ms']:.0f} ms"
        )

    report = {
        "dataset": "QAGS-XSum (Wang et al., 2020)",
        "examples": len(examples),
        "supported_by_majority": positives,
        "label": "supported when >= 2 of 3 workers answered yes",
        "embedder": embedder.name,
        "judge": judge.describe() if judge else None,
        "methods": results,
        "support_model": str(args.model) if "trained" in methods else None,
        "check_cost": cost or None,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
