"""RealTimeQA-dev: the store, the questions, and answer-string matching shared by the evals."""

from __future__ import annotations

import json
import re
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EVALDATA = Path(__file__).resolve().parents[2] / "shared" / "evaldata"
RTQA = EVALDATA / "realtimeqa-dev"
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_STORE = Path(__file__).resolve().parent / ".cache" / "rtqa-store"


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


def load_questions() -> list[Question]:
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


def load_articles() -> dict[str, dict[str, Any]]:
    return {a["id"]: a for a in map(json.loads, (RTQA / "articles.jsonl").open())}


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


def open_bot(store: Path, **settings: Any):
    """A Chatbot over the eval store, ingesting the corpus first if the store is empty."""
    from chatbot.api import Chatbot
    from chatbot.config import Settings

    bot = Chatbot(Settings(store_path=store, **settings))
    if bot.store.count_articles() < 1813:
        started = time.perf_counter()
        report = bot.ingest([RTQA / "articles.jsonl"])
        print(f"ingested: {report.summary()} in {time.perf_counter() - started:.0f} s")
    return bot


def write_results(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str))
    return path
