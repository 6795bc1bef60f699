"""The keyword index is saved under data_dir and reused by the next process, until the store
changes (in this process or another)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from chatbot.api import Chatbot
from chatbot.config import Settings
from chatbot.index.embeddings import Embedder
from tests.test_chat import OTHERS, SEED_ID_QUESTION

QUERY = "diplomats talks Istanbul"


def _hits(bot: Chatbot, query: str = QUERY) -> list[tuple[str, float]]:
    return [(p.chunk_id, round(p.score, 5)) for p in bot.keyword_index.search(query, 10)]


def _caches(settings: Settings) -> list[Path]:
    folder = settings.data_dir / "keyword-index"
    return (
        sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.exists() else []
    )


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


def test_a_change_in_another_process_is_never_served_from_the_cache(
    settings: Settings, embedder: Embedder, stored: list[tuple[str, float]]
) -> None:
    reader = Chatbot(settings, embedder=embedder)
    assert _hits(reader) == stored and reader.keyword_index.builds == 0
    reader.close()

    with Chatbot(settings, embedder=embedder) as writer:  # delete the seed article
        seed_id = stored[0][0].split(":")[0]
        assert writer.delete(seed_id)
    with Chatbot(settings, embedder=embedder) as bot:
        hits = _hits(bot)
        assert bot.keyword_index.builds == 1
        assert all(not chunk_id.startswith(seed_id) for chunk_id, _ in hits)
    # The store's old state is useless now: only the current one stays cached.
    assert len(_caches(settings)) == 1


def test_a_damaged_cache_is_rebuilt_with_a_warning(
    settings: Settings,
    embedder: Embedder,
    stored: list[tuple[str, float]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    (cache,) = _caches(settings)
    text = (cache / "passages.jsonl").read_text(encoding="utf-8")
    (cache / "passages.jsonl").write_text(text[: len(text) // 2], encoding="utf-8")
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
        for cache in _caches(settings):  # from here on, only memory can serve the index
            for file in cache.iterdir():
                file.unlink()
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
        for file in cache.iterdir():
            file.unlink()
        cache.rmdir()
    with Chatbot(settings, embedder=embedder) as bot:
        assert _hits(bot) == stored and bot.keyword_index.builds == 1
        assert bot.store.write_token() is not None
    with Chatbot(settings, embedder=embedder) as bot:
        assert _hits(bot) == stored and bot.keyword_index.builds == 0
