"""Store fixtures: the real packaged embedder, embedded Chroma and a `chroma run` server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chatbot.config import Settings
from chatbot.embeddings import Embedder, create_embedder
from evals import servers

SEED_DIR = Path(__file__).resolve().parents[2] / "shared" / "seed"
EVALDATA = Path(__file__).resolve().parents[2] / "shared" / "evaldata"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real default embedding model, loaded once for the whole run."""
    return create_embedder(Settings())


@pytest.fixture(scope="session")
def seed_file() -> Path:
    files = sorted(SEED_DIR.glob("*.txt"))
    assert files, f"the example article is missing from {SEED_DIR}"
    return files[0]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        store_path=tmp_path / "vectorstore",
        data_dir=tmp_path / "data",
        briefings_dir=tmp_path / "briefings",
        llm_backend="extractive",
        allow_private_urls=True,
    )


@pytest.fixture
def bot(settings: Settings, embedder: Embedder):
    from chatbot.api import Chatbot

    return Chatbot(settings, embedder=embedder)


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `chroma run` server on 127.0.0.1, stopped at the end of the session."""
    with servers.chroma_server(tmp_path_factory.mktemp("chroma-server"), timeout=60) as url:
        yield url
