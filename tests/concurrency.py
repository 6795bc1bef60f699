"""Many chat sessions at once while an ingest runs in the same process (the hardening test and
``python -m evals.stress`` share this harness)."""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatbot.bot import Chatbot
from chatbot.config import Settings
from chatbot.models.embeddings import Embedder, create_embedder
from tests.paths import shared_evaldata


def source_articles(n: int, chars: int = 600) -> list[dict[str, Any]]:
    """``n`` short articles: RealTimeQA-dev cut to ``chars`` characters at a word boundary, or
    (without the eval data) generated ones, so the tests still run elsewhere."""
    rows: list[dict[str, Any]] = []
    articles = shared_evaldata() / "realtimeqa-dev" / "articles.jsonl"
    if articles.exists():
        with articles.open(encoding="utf-8") as handle:
            for line in handle:
                data = json.loads(line)
                text = data.get("text") or ""
                if len(text) < chars // 2 or not data.get("url"):
                    continue
                cut = text[:chars].rsplit(" ", 1)[0] if len(text) > chars else text
                rows.append(
                    {
                        "title": data["title"],
                        "text": cut,
                        "url": data["url"],
                        "source": data.get("source") or "",
                        "published_at": data.get("published_at"),
                    }
                )
                if len(rows) == n:
                    break
    for i in range(len(rows), n):
        rows.append(
            {
                "title": f"Generated story {i}",
                "text": f"Story {i}: the council of town {i} met on day {i % 28 + 1}. " * 8,
                "url": f"https://stress.example/story/{i}",
                "source": "Generated",
                "published_at": f"2025-02-{i % 28 + 1:02d}",
            }
        )
    return rows


def write_jsonl(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def stress_settings(store: Path, work: Path) -> Settings:
    """Settings that ignore the developer's CHATBOT_* environment where it matters."""
    return Settings(
        store_path=store,
        chroma_url=None,
        data_dir=work / "data",
        briefings_dir=work / "briefings",
        llm_backend="extractive",
    )


@dataclass
class ConcurrencyResult:
    sessions: int
    articles: int
    turns: int
    baseline_latencies: list[float]
    load_latencies: list[float]
    answers_during_ingest: int
    ingest_seconds: float
    final_articles: int
    final_chunks: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    @staticmethod
    def percentiles(values: Sequence[float]) -> tuple[float, float]:
        if not values:
            return float("nan"), float("nan")
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        return statistics.median(ordered), p95


def session_questions(rows: Sequence[dict[str, Any]], session: int, turns: int) -> list[str]:
    """Each session asks about its own articles; every other question is a follow-up."""
    out: list[str] = []
    for t in range(turns):
        row = rows[(session * 7 + t * 13) % len(rows)]
        out.append(
            f"What happened in the story “{row['title'][:80]}”?"
            if t % 2 == 0
            else "And who was involved in it?"
        )
    return out


def run_concurrency(
    sessions: int = 8,
    articles: int = 300,
    turns: int = 4,
    *,
    chars: int = 600,
    embedder: Embedder | None = None,
    work: Path | None = None,
    ask: Ask | None = None,
    log: Callable[[str], None] = print,
) -> ConcurrencyResult:
    """Half the articles are stored first; ``sessions`` threads then ask ``turns`` questions each
    alone (baseline), and again while the other half is ingested in the same process.

    ``ask(bot, state, question) -> (text, problem or None, state)`` lets the tests drive the
    UI's handler instead of the Python API (the default)."""
    embedder = embedder or create_embedder(Settings())
    owned = work is None
    work = work or Path(tempfile.mkdtemp(prefix="chatbot-concurrency-"))
    ask = ask or api_ask
    problems: list[str] = []
    try:
        rows = source_articles(articles, chars)
        first = write_jsonl(rows[: len(rows) // 2], work / "first.jsonl")
        second = write_jsonl(rows[len(rows) // 2 :], work / "second.jsonl")
        bot = Chatbot(stress_settings(work / "vs", work), embedder=embedder)
        try:
            report = bot.ingest([first])
            if report.failed:
                raise RuntimeError(f"ingest failed: {report.failed[:3]}")
            log(f"{len(report.added)} articles stored; {sessions} sessions x {turns} questions")
            base, _ = _ask_all(bot, rows, sessions, turns, ask, problems, None)
            ingest_done = threading.Event()
            ingest_span: list[float] = []

            def ingest() -> None:
                start = time.monotonic()
                try:
                    rep = bot.ingest([second])
                    if rep.failed:
                        problems.append(f"concurrent ingest failed items: {rep.failed[:3]}")
                except Exception as exc:  # reported as a problem, not a crash of the run
                    problems.append(f"concurrent ingest raised {type(exc).__name__}: {exc}")
                finally:
                    ingest_span.extend([start, time.monotonic()])
                    ingest_done.set()

            runner = threading.Thread(target=ingest)
            runner.start()
            load, stamps = _ask_all(bot, rows, sessions, turns, ask, problems, ingest_done)
            runner.join()
            during = sum(1 for s in stamps if ingest_span[0] <= s <= ingest_span[1])
            stored = bot.articles()
            ids = [a.id for a in stored]
            want = {_id_of(r) for r in rows}
            if len(ids) != len(set(ids)):
                problems.append("duplicated articles")
            if set(ids) != want:
                problems.append(
                    f"{len(want - set(ids))} articles lost, {len(set(ids) - want)} unexpected"
                )
            chunks = bot.store.count_chunks()
            if chunks != sum(a.chunks for a in stored):
                problems.append(f"{chunks} chunks stored, articles account for a different count")
            return ConcurrencyResult(
                sessions,
                len(rows),
                turns,
                base,
                load,
                during,
                ingest_span[1] - ingest_span[0],
                len(ids),
                chunks,
                problems,
            )
        finally:
            bot.store.close()
    finally:
        if owned:
            shutil.rmtree(work, ignore_errors=True)


def _id_of(row: dict[str, Any]) -> str:
    from chatbot.vocabulary import Article

    return Article.create(title=row["title"], text=row["text"], url=row["url"]).id


Ask = Callable[[Chatbot, Any, str], tuple[str, str | None, Any]]


def api_ask(bot: Chatbot, state: Any, question: str) -> tuple[str, str | None, Any]:
    """One turn through the Python API: (answer text, a problem or None, the session)."""
    session = state or bot.chat_session()
    answer = session.ask(question)
    bad = None
    if any(not 1 <= c.n <= len(answer.sources) for c in answer.citations):
        bad = "a citation points at no source"
    return answer.text, bad, session


def _ask_all(
    bot: Chatbot,
    rows: Sequence[dict[str, Any]],
    sessions: int,
    turns: int,
    ask: Ask,
    problems: list[str],
    keep_going_until: threading.Event | None,
) -> tuple[list[float], list[float]]:
    """Every session asks its questions in its own thread (and, under load, keeps asking until
    the ingest is done); returns latencies and completion times, and checks each history."""
    latencies: list[float] = []
    stamps: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(sessions)

    def run(i: int) -> None:
        state: Any = None
        asked: list[str] = []
        try:
            start.wait()
            t = 0
            while t < turns or (keep_going_until is not None and not keep_going_until.is_set()):
                question = session_questions(rows, i, t + 1)[-1] + f" (session {i})"
                began = time.monotonic()
                text, bad, state = ask(bot, state, question)
                took = time.monotonic() - began
                asked.append(question)
                with lock:
                    latencies.append(took)
                    stamps.append(time.monotonic())
                if not text.strip():
                    problems.append(f"session {i}: empty answer")
                if bad:
                    problems.append(f"session {i}: {bad}")
                t += 1
            history = [turn.question for turn in _history(state)]
            keep = bot.settings.history_turns
            if history != asked[-keep:]:
                problems.append(f"session {i}: history {history[-2:]} is not its own questions")
        except Exception as exc:  # collected: the run reports every failure
            problems.append(f"session {i} raised {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(sessions)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return latencies, stamps


def _history(state: Any) -> list[Any]:
    session = getattr(state, "session", state)  # the UI's ChatState wraps the API session
    return list(session.history)
