"""Big JSON inputs are read record by record: a dump larger than ``max_file_bytes`` loads in
bounded memory, and the limit then applies to one record."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

from chatbot.bot import Chatbot
from chatbot.sources.fetch import Fetcher
from chatbot.sources.loaders import iter_articles
from chatbot.vocabulary import Article, IngestEvent, LoadFailure
from tests.fakes import HashingEmbedder
from tests.store_fixtures import settings_in


def _record(i: int, words: int = 120) -> dict:
    return {
        "title": f"Council vote {i}",
        "text": f"The council of town {i} voted on the budget. " + "Details follow. " * words,
        "url": f"https://news.example/{i}",
        "source": "Example News",
        "published_at": f"2025-02-{i % 28 + 1:02d}",
    }


def _load(path: Path, limit: int) -> list[Article | LoadFailure]:
    fetcher = Fetcher(timeout=5, max_bytes=1_000_000, allow_private=False)
    return list(iter_articles(path, fetcher=fetcher, max_file_bytes=limit))


def test_a_jsonl_dump_over_the_file_limit_loads_record_by_record(tmp_path: Path) -> None:
    dump = tmp_path / "dump.jsonl"
    with dump.open("w", encoding="utf-8") as out:
        for i in range(400):
            out.write(json.dumps(_record(i)) + "\n")
    limit = 10_000  # about 5 records' worth; the file is ~800 KB
    assert dump.stat().st_size > 50 * limit
    tracemalloc.start()
    results = _load(dump, limit)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [type(r) for r in results] == [Article] * 400
    assert results[7].title == "Council vote 7"
    # Bounded: the articles themselves (~0.9 MB of text) plus small buffers, not a file copy.
    assert peak < 6_000_000


def test_one_record_over_the_limit_is_reported_and_the_rest_loads(tmp_path: Path) -> None:
    dump = tmp_path / "mixed.jsonl"
    rows = [_record(0), _record(1, words=5_000), _record(2)]
    dump.write_text(
        "\n".join(json.dumps(r) for r in rows) + "\nnot json\n[1, 2]\n", encoding="utf-8"
    )
    results = _load(dump, 20_000)
    assert [r.title for r in results if isinstance(r, Article)] == [
        "Council vote 0",
        "Council vote 2",
    ]
    failures = {r.item: r.reason for r in results if isinstance(r, LoadFailure)}
    assert set(failures) == {f"{dump}:2", f"{dump}:4", f"{dump}:5"}
    assert "over the limit of 20000 bytes per record" in failures[f"{dump}:2"]
    assert "invalid JSON on line 4" in failures[f"{dump}:4"]
    assert failures[f"{dump}:5"] == "expected a JSON object on line 5, got a list"


def test_a_json_array_over_the_file_limit_streams(tmp_path: Path) -> None:
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps([_record(i) for i in range(60)], indent=1), encoding="utf-8")
    results = _load(dump, 8_000)
    assert [type(r) for r in results] == [Article] * 60
    assert results[-1].title == "Council vote 59"


def test_a_large_json_that_is_not_an_array_says_what_to_do(tmp_path: Path) -> None:
    dump = tmp_path / "wrapped.json"
    dump.write_text(json.dumps({"articles": [_record(i) for i in range(30)]}), encoding="utf-8")
    (failure,) = _load(dump, 5_000)
    assert isinstance(failure, LoadFailure)
    assert "must be one array" in failure.reason and "JSON Lines" in failure.reason
    small = _load(dump, 10_000_000)  # under the limit: read whole, the list key is found
    assert len(small) == 30 and all(isinstance(r, Article) for r in small)


def test_a_truncated_array_keeps_what_came_before(tmp_path: Path) -> None:
    dump = tmp_path / "cut.json"
    text = json.dumps([_record(i) for i in range(20)])
    dump.write_text(text[: len(text) * 3 // 4], encoding="utf-8")
    results = _load(dump, 4_000)
    articles = [r for r in results if isinstance(r, Article)]
    assert 10 <= len(articles) < 20
    assert isinstance(results[-1], LoadFailure) and "invalid JSON" in results[-1].reason


def test_ingest_of_a_big_dump_reports_progress_per_record(tmp_path: Path) -> None:
    dump = tmp_path / "dump.jsonl"
    dump.write_text("".join(json.dumps(_record(i, 20)) + "\n" for i in range(30)), encoding="utf-8")
    events: list[IngestEvent] = []
    settings = settings_in(tmp_path, max_file_bytes=2_000)
    with Chatbot(settings, embedder=HashingEmbedder()) as bot:
        report = bot.ingest(dump, progress=events.append)
        assert len(report.added) == 30 and not report.failed
        assert [e.status for e in events] == ["added"] * 30
        again = bot.ingest(dump)
        assert len(again.unchanged) == 30 and bot.store.count_articles() == 30
