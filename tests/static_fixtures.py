"""The fast-mode (static) embedder for tests: distilled once, cached in pytest's cache folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot.models.embeddings import STATIC_MODEL_NAME, StaticEmbedder


def static_model_dir(config: pytest.Config) -> Path:
    """The distilled model's folder, distilling it on first use (about 2 minutes, offline).

    Kept in .pytest_cache so later runs reuse it, like a user's data_dir would.
    """
    folder = config.cache.mkdir("static-embedder") / STATIC_MODEL_NAME
    StaticEmbedder(folder).embed(["distil now if needed"])
    return folder
