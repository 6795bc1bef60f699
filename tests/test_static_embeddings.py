"""The fast ingest mode: static vectors distilled from the packaged MiniLM (real model)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from chatbot.bot import Chatbot
from chatbot.config import Settings
from chatbot.index.store import StoreError
from chatbot.models.embeddings import (
    STATIC_MODEL_NAME,
    Embedder,
    EmbeddingError,
    StaticEmbedder,
    create_embedder,
)
from tests.static_fixtures import static_model_dir
from tests.test_chat import OTHERS, SEED_ID_QUESTION

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def static_dir(pytestconfig: pytest.Config) -> Path:
    return static_model_dir(pytestconfig)


@pytest.fixture(scope="module")
def static(static_dir: Path) -> Embedder:
    embedder = create_embedder(Settings(embedding_backend="static", static_model_dir=static_dir))
    assert isinstance(embedder, StaticEmbedder)
    return embedder


def test_vectors_are_normalised_and_neighbours_make_sense(static: Embedder) -> None:
    docs = [
        "The central bank raised interest rates to fight inflation.",
        "The striker scored twice as the team won the football match.",
        "Heavy rain flooded villages and forced hundreds to evacuate.",
        "Lawmakers passed the budget bill after a long debate in parliament.",
    ]
    vectors = static.embed(docs)
    assert vectors.shape == (4, static.dimension) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    queries = {
        "monetary policy and borrowing costs": 0,
        "goal in the soccer game": 1,
        "storm and flood damage": 2,
        "vote on government spending in congress": 3,
    }
    for query, expected in queries.items():
        sims = vectors @ static.embed_query(query)
        assert int(np.argmax(sims)) == expected, (query, sims)
    assert static.embed([]).shape == (0, static.dimension)


def test_fast_mode_store_answers_the_example_question(
    tmp_path: Path, static: Embedder, seed_file: Path
) -> None:
    settings = Settings(
        store_path=tmp_path / "vs",
        data_dir=tmp_path / "data",
        llm_backend="extractive",
        embedding_backend="static",
    )
    bot = Chatbot(settings, embedder=static)
    report = bot.ingest([seed_file, *OTHERS])
    assert report.ok and len(report.added) == 4
    answer = bot.ask(SEED_ID_QUESTION)
    assert not answer.refused
    assert "Istanbul" in answer.text
    assert any("Istanbul" in c.quote for c in answer.citations)


def test_a_fast_mode_store_refuses_the_default_model(
    tmp_path: Path, static: Embedder, embedder: Embedder, seed_file: Path
) -> None:
    settings = Settings(store_path=tmp_path / "vs", llm_backend="extractive")
    bot = Chatbot(settings, embedder=static)
    bot.ingest([seed_file])
    bot.store.close()
    with pytest.raises(StoreError, match=STATIC_MODEL_NAME):
        Chatbot(settings, embedder=embedder)


def test_missing_model2vec_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "model2vec", None)  # import now raises ImportError
    embedder = StaticEmbedder(tmp_path / "model")
    with pytest.raises(EmbeddingError, match=r"chatbot\[fast\]"):
        embedder.embed(["text"])
