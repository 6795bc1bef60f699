"""Contextual chunk headers: chunks are embedded with their article's title, the store records
the format, and a store from before is upgraded in place by ``chatbot reindex``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from chatbot.bot import Chatbot
from chatbot.index.chunking import CHUNK_FORMAT, embedding_text
from chatbot.models.embeddings import Embedder
from chatbot.vocabulary import Article
from tests.fakes import HashingEmbedder
from tests.paths import REPO, example_article
from tests.store_fixtures import settings_in


def _articles() -> list[Article]:
    body = "The minister said the plan would start next year. " * 30
    return [
        Article.create(title=f"Harbour bridge plan {i}", text=f"Story {i}. {body}", source="X")
        for i in range(4)
    ]


def _stored(bot: Chatbot) -> dict[str, tuple[str, str, np.ndarray]]:
    passages = list(bot.store.iter_chunks())
    vectors = bot.store.chunk_vectors([p.chunk_id for p in passages])
    return {p.chunk_id: (p.title, p.text, vectors[p.chunk_id]) for p in passages}


def test_chunks_are_embedded_with_their_title(tmp_path: Path) -> None:
    embedder = HashingEmbedder()
    with Chatbot(settings_in(tmp_path), embedder=embedder) as bot:
        bot.ingest(_articles())
        assert bot.store.chunk_format == CHUNK_FORMAT and not bot.store.needs_reindex()
        assert bot.status()["chunk_vectors"] == CHUNK_FORMAT
        for title, text, vector in _stored(bot).values():
            assert not text.startswith(title)  # quotes stay the article's own text
            expected = embedder.embed([embedding_text(title, text)])[0]
            assert np.allclose(vector, expected, atol=1e-6)


def test_an_older_store_keeps_working_and_reindex_upgrades_it(tmp_path: Path) -> None:
    embedder = HashingEmbedder()
    with Chatbot(settings_in(tmp_path), embedder=embedder) as bot:
        bot.ingest(_articles())
        # What a store written by the previous version holds: plain chunk vectors, no record.
        plain = {cid: embedder.embed([text])[0] for cid, (_, text, _) in _stored(bot).items()}
        bot.store.replace_vectors(plain)
        bot.store.set_chunk_format("plain")
        assert bot.store.needs_reindex()
        assert "chatbot reindex" in bot.status()["chunk_vectors"]
        before = bot.ask("When will the harbour bridge plan start?")
        assert before.citations  # still answers from the old vectors

        seen: list[tuple[int, int]] = []
        assert bot.reindex(lambda done, total: seen.append((done, total))) == len(plain)
        assert seen[-1] == (len(plain), len(plain))
        assert not bot.store.needs_reindex() and bot.store.count_articles() == 4
        after = _stored(bot)
        assert set(after) == set(plain)
        for title, text, vector in after.values():
            assert np.allclose(vector, embedder.embed([embedding_text(title, text)])[0], atol=1e-6)
        # The article vector (briefings group stories by it) is the mean of the new vectors.
        article_id = next(iter(after)).split(":")[0]
        mine = [v for cid, (_, _, v) in after.items() if cid.startswith(article_id + ":")]
        mean = np.mean(mine, axis=0)
        stored = bot.store._articles.get(ids=[article_id], include=["embeddings"])["embeddings"][0]
        assert np.allclose(stored, mean / np.linalg.norm(mean), atol=1e-5)
        assert bot.ask("When will the harbour bridge plan start?").citations


def test_reindex_from_the_command_line(tmp_path: Path, embedder: Embedder) -> None:
    settings = settings_in(tmp_path)
    with Chatbot(settings, embedder=embedder) as bot:
        bot.ingest(example_article())
        bot.store.set_chunk_format("plain")  # as a store from the previous version
        chunks = bot.store.count_chunks()
    env = {
        **os.environ,
        "CHATBOT_STORE_PATH": str(settings.store_path),
        "CHATBOT_DATA_DIR": str(settings.data_dir),
        "CHATBOT_LLM_BACKEND": "extractive",
        "HF_HUB_OFFLINE": "1",
    }

    def chatbot(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "chatbot", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    assert "`chatbot reindex` upgrades them" in chatbot("status")
    assert f"Reindexed {chunks} chunks ({CHUNK_FORMAT})." in chatbot("reindex", "--quiet")
    assert f"chunk_vectors: {CHUNK_FORMAT}" in chatbot("status")
