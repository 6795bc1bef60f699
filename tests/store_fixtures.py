"""Store fixtures: the real packaged embedder, embedded Chroma and a `chroma run` server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatbot.config import Settings
from chatbot.models.embeddings import Embedder, create_embedder
from harness import servers
from tests.paths import example_article, shared_evaldata


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real default embedding model, loaded once for the whole run."""
    return create_embedder(Settings())


@pytest.fixture(scope="session")
def seed_file() -> Path:
    return example_article()


@pytest.fixture(scope="session")
def evaldata() -> Path:
    """``../shared/evaldata`` beside the repository; tests that need it skip where it is absent."""
    folder = shared_evaldata()
    if not folder.is_dir():
        pytest.skip(f"evaluation data missing: {folder}")
    return folder


def settings_in(folder: Path, **fields: Any) -> Settings:
    """Settings whose store, data and briefings all live in ``folder``; extractive unless
    ``fields`` say otherwise."""
    defaults: dict[str, Any] = {
        "store_path": folder / "vs",
        "data_dir": folder / "data",
        "briefings_dir": folder / "briefings",
        "llm_backend": "extractive",
    }
    return Settings(**{**defaults, **fields})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_in(tmp_path, allow_private_urls=True)


@pytest.fixture
def bot(settings: Settings, embedder: Embedder):
    from chatbot.bot import Chatbot

    return Chatbot(settings, embedder=embedder)


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `chroma run` server on 127.0.0.1, stopped at the end of the session."""
    with servers.chroma_server(tmp_path_factory.mktemp("chroma-server"), timeout=60) as url:
        yield url
