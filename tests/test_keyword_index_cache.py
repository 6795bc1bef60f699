"""The keyword index is kept in a file under data_dir and used by the next process; writes
change it in place (see test_keyword_incremental.py), and a damaged file is rebuilt."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from chatbot.bot import Chatbot
from chatbot.config import Settings
from chatbot.models.embeddings import Embedder
from tests.test_chat import OTHERS, SEED_ID_QUESTION

QUERY = "diplomats talks Istanbul"


def _hits(bot: Chatbot, query: str = QUERY) -> list[tuple[str, float]]:
    return [(p.chunk_id, round(p.score, 5)) for p in bot.keyword_index.search(query, 10)]


def _caches(settings: Settings) -> list[Path]:
    """The index files (one per store), without SQLite's -wal and -shm companions."""
    folder = settings.data_dir / "keyword-index"
    return sorted(folder.glob("*.sqlite3")) if folder.exists() else []


@pytest.fixture
def stored(settings: Settings, embedder: Embedder, seed_file: Path) -> list[tuple[str, float]]:
    """A store with the seed and three other articles; the hits of QUERY, index built once."""
    with Chatbot(settings, embedder=embedder) as bot:
        assert bot.ingest([seed_file, *OTHERS]).ok
        hits = _hits(bot)
        assert hits and bot.keyword_index.builds == 1
    return hits


def test_the_next_process_loads_the_saved_index(
    settings: Settings, embedder: Embedder, stored: list[tuple[str, float]]
) -> None:
    assert len(_caches(settings)) == 1
    with Chatbot(settings, embedder=embedder) as bot:
        assert _hits(bot) == stored
        assert bot.keyword_index.builds == 0
        # Filters work on the loaded columns as on built ones.
        assert bot.keyword_index.search(QUERY, 10, sources=["Reuters"]) == []
        assert bot.keyword_index.newest() is not None


def test_a_change_in_another_process_reaches_the_next_without_a_rebuild(
    settings: Settings, embedder: Embedder, stored: list[tuple[str, float]]
) -> None:
    reader = Chatbot(settings, embedder=embedder)
    assert _hits(reader) == stored and reader.keyword_index.builds == 0
    reader.close()

    with Chatbot(settings, embedder=embedder) as writer:  # delete the seed article
        seed_id = stored[0][0].split(":")[0]
        assert writer.delete(seed_id)
        assert writer.keyword_index.builds == 0
    with Chatbot(settings, embedder=embedder) as bot:
        hits = _hits(bot)
        assert bot.keyword_index.builds == 0  # the delete changed the file in place
        assert all(not chunk_id.startswith(seed_id) for chunk_id, _ in hits)
    assert len(_caches(settings)) == 1


def test_a_damaged_cache_is_rebuilt_with_a_warning(
    settings: Settings,
    embedder: Embedder,
    stored: list[tuple[str, float]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    (cache,) = _caches(settings)
    data = cache.read_bytes()
    cache.write_bytes(data[:4096] + b"\x00garbage" * 1000)  # the header survives, little else
    with caplog.at_level(logging.WARNING), Chatbot(settings, embedder=embedder) as bot:
        assert _hits(bot) == stored
        assert bot.keyword_index.builds == 1
    assert "keyword index cache" in caplog.text and "rebuilding" in caplog.text
    with Chatbot(settings, embedder=embedder) as bot:  # and saved whole again
        assert _hits(bot) == stored and bot.keyword_index.builds == 0


def test_an_unwritable_cache_folder_only_costs_time(
    tmp_path: Path, embedder: Embedder, seed_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data folder should be")
    settings = Settings(store_path=tmp_path / "vs", data_dir=blocker, llm_backend="extractive")
    with caplog.at_level(logging.WARNING), Chatbot(settings, embedder=embedder) as bot:
        assert bot.ingest([seed_file]).ok
        assert _hits(bot)
    assert "cannot save the keyword index cache" in caplog.text


def test_warm_up_prepares_the_first_question(
    settings: Settings, embedder: Embedder, stored: list[tuple[str, float]]
) -> None:
    with Chatbot(settings, embedder=embedder) as bot:
        bot.warm_up()
        answer = bot.ask(SEED_ID_QUESTION)
        assert "Istanbul" in answer.text
        assert bot.keyword_index.builds == 0


def test_a_store_from_before_write_tokens_gets_one_and_is_cached(
    settings: Settings, embedder: Embedder, stored: list[tuple[str, float]]
) -> None:
    with Chatbot(settings, embedder=embedder) as bot:  # drop the token, as older versions wrote
        chunks = bot.store._client.get_collection(settings.chunks_collection)
        chunks.modify(metadata={k: v for k, v in chunks.metadata.items() if k != "write_token"})
        assert bot.store.write_token() is None
    for cache in _caches(settings):
        cache.unlink()
    with Chatbot(settings, embedder=embedder) as bot:
        assert _hits(bot) == stored and bot.keyword_index.builds == 1
        assert bot.store.write_token() is not None
    with Chatbot(settings, embedder=embedder) as bot:
        assert _hits(bot) == stored and bot.keyword_index.builds == 0
