"""RealTimeQA: the store, the questions, and answer-string matching shared by the evals.

Two question sets: ``dev`` (``../shared/evaldata/realtimeqa-dev``, what the shipped features were
fitted on) and ``heldout``: the last ``HELDOUT_WEEKS`` weeks of ``../shared/traindata``'s quizzes,
which the answer ranker's training holds out for validation (``training.answer_ranker``), so
nothing shipped was fitted on them.
"""

from __future__ import annotations

import gzip
import json
import re
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[2] / "shared"
EVALDATA = SHARED / "evaldata"
RTQA = EVALDATA / "realtimeqa-dev"
TRAINDATA = SHARED / "traindata" / "realtimeqa-train"
# The weeks the answer ranker's training validates on (its --val-weeks default).
HELDOUT_WEEKS = 16
RESULTS = Path(__file__).resolve().parent / "results"
CACHE = Path(__file__).resolve().parent / ".cache"
DEFAULT_STORE = CACHE / "rtqa-store"
DATASETS = ("dev", "heldout")


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    for a, b in (("’", "'"), ("‘", "'"), ("“", '"'), ("”", '"'), ("–", "-"), ("—", "-")):
        text = text.replace(a, b)
    return re.sub(r"\s+", " ", text).lower()


@dataclass(frozen=True)
class Question:
    id: str
    date: str
    question: str
    choices: tuple[str, ...]
    answers: tuple[str, ...]
    answer_index: tuple[int, ...]
    retrieved_article_ids: tuple[str, ...]

    def answered_by(self, text: str) -> bool:
        norm = normalise(text)
        return any(normalise(a) in norm for a in self.answers)


def heldout_weeks(rows: list[dict[str, Any]], weeks: int = HELDOUT_WEEKS) -> set[str]:
    """The last ``weeks`` quiz weeks of the training questions."""
    return set(sorted({r["week"] for r in rows})[-weeks:])


def load_questions(data: str = "dev") -> list[Question]:
    if data == "heldout":
        rows = [json.loads(line) for line in (TRAINDATA / "questions.jsonl").open()]
        kept = heldout_weeks(rows)
        rows = [r for r in rows if r["week"] in kept]
    else:
        rows = [json.loads(line) for line in (RTQA / "questions.jsonl").open()]
    return [
        Question(
            r["id"],
            r["date"],
            r["question"],
            tuple(r["choices"]),
            tuple(r["answer"]),
            tuple(r["answer_index"]),
            tuple(r["retrieved_article_ids"]),
        )
        for r in rows
    ]


def load_articles(data: str = "dev") -> dict[str, dict[str, Any]]:
    if data == "heldout":
        wanted = {a for q in load_questions(data) for a in q.retrieved_article_ids}
        with gzip.open(TRAINDATA / "articles.jsonl.gz", "rt", encoding="utf-8") as f:
            return {a["id"]: a for a in map(json.loads, f) if a["id"] in wanted}
    return {a["id"]: a for a in map(json.loads, (RTQA / "articles.jsonl").open())}


def default_store(data: str) -> Path:
    return DEFAULT_STORE if data == "dev" else CACHE / f"rtqa-{data}-store"


def corpus_file(data: str) -> Path:
    """The articles to ingest, as a JSON-lines file (the held-out subset is written to the
    evals' cache, outside the repository's history)."""
    if data == "dev":
        return RTQA / "articles.jsonl"
    path = CACHE / f"rtqa-{data}-articles.jsonl"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for article in load_articles(data).values():
                f.write(json.dumps(article) + "\n")
        tmp.replace(path)
    return path


def retrieval_questions(questions: list[Question], articles: dict[str, dict]) -> list[Question]:
    """Questions whose gold answer appears verbatim in their own retrieved pages."""
    return [
        q
        for q in questions
        if any(
            q.answered_by(articles[i]["title"] + "\n" + articles[i]["text"])
            for i in q.retrieved_article_ids
            if i in articles
        )
    ]


def open_bot(store: Path, data: str = "dev", **settings: Any):
    """A Chatbot over the eval store, ingesting the corpus first if the store is short of it."""
    from chatbot.bot import Chatbot
    from chatbot.config import Settings

    bot = Chatbot(Settings(store_path=store, **settings))
    corpus = corpus_file(data)
    # Outlets' copies of one report are stored once, so the count can stay below the lines.
    done = Path(store) / f".ingested-{data}"
    if not done.exists():
        started = time.perf_counter()
        report = bot.ingest([corpus])
        print(f"ingested: {report.summary()} in {time.perf_counter() - started:.0f} s")
        if not report.failed:
            done.write_text(report.summary() + "\n", encoding="utf-8")
    return bot


def write_results(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str))
    return path
