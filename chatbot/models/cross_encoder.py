"""A cross-encoder (question, sentence) -> score, run by the numpy BERT engine of :mod:`.minilm`.

The answer ranker is MiniLM fine-tuned to read a question and a candidate sentence together
(`python -m training.answer_ranker`); a cross-encoder sees which words of the sentence answer
which words of the question, which two separate embeddings cannot. The folder holds a Hugging
Face ``BertForSequenceClassification`` export with one output: ``config.json``,
``model.safetensors`` (float16 or float32), ``tokenizer.json``; scores are logits (log-odds
between sentences of one question, as the ranker is trained with a softmax over them).

No torch: answering never imports it. The weights load on the first ``score`` call, once.
A Hugging Face hub name (``owner/name``, for users who are online) is fetched then, once, into
the hub's own cache; nothing is fetched for the packaged ranker or a local folder.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chatbot.errors import ChatbotError
from chatbot.models.minilm import BertWeights, BlasCap, bert_states, load_bert, read_json

if TYPE_CHECKING:
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

__all__ = [
    "PACKAGED_RANKER",
    "PACKAGED_SUPPORT",
    "CrossEncoder",
    "CrossEncoderError",
    "OptionalCrossEncoder",
    "SpanGuess",
    "pair_tokenizer",
    "ranker_text",
]

# The shipped answer ranker (package data next to this module).
PACKAGED_RANKER = Path(__file__).resolve().parent / "weights" / "answer_ranker"
# Where the support checker's weights go (claim x source window; none ship yet: see
# docs/evaluation.md), written by `python -m training.support_checker`.
PACKAGED_SUPPORT = Path(__file__).resolve().parent / "weights" / "support_checker"
# Questions and news sentences are short: 96 tokens hold nearly all pairs (training used it).
DEFAULT_MAX_LENGTH = 96
_FILES = ("config.json", "model.safetensors", "tokenizer.json")
_F32 = np.float32
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def hub_id(name: str) -> str | None:
    """``name`` as a hub repository id ("owner/name"), or None for a local path."""
    name = name.strip()
    if Path(name).expanduser().exists() or not _HUB_ID.fullmatch(name):
        return None
    return name


def fetch_from_hub(repo_id: str) -> Path:
    """The folder of ``repo_id``'s cross-encoder files, downloaded into the hub cache when
    missing (raises :class:`CrossEncoderError` saying what to do when it cannot be)."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, allow_patterns=list(_FILES)))
    except Exception as e:  # offline, unknown repository, no access
        raise CrossEncoderError(
            f"cross-encoder {repo_id!r} could not be fetched from the Hugging Face hub ({e}); "
            "fetch it while online, or set CHATBOT_RANKER_MODEL to a local folder"
        ) from e


class CrossEncoderError(ChatbotError):
    """The cross-encoder's files are missing or unreadable (the message names the file)."""


def ranker_text(sentence: str, title: str = "", published: datetime | str | None = None) -> str:
    """Segment B of a ranker input: "title (date): sentence". The title says what the report
    is about and the date which event, which a lone sentence ("He said it would ...") lacks."""
    day = published.strftime("%Y-%m-%d") if isinstance(published, datetime) else published
    head = f"{title.strip()} ({day})" if day else title.strip()
    return f"{head}: {sentence}" if head else sentence


def pair_tokenizer(path: Path, max_length: int) -> Tokenizer:
    """The folder's tokenizer set up for (question, sentence) pairs: truncation of the longer
    side first, no fixed padding (batches pad to their longest). Training uses it too, so both
    sides see the same token ids."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_length, strategy="longest_first")
    tokenizer.no_padding()
    return tokenizer


# The longest short answer the span head may mark, in tokens ("the Istanbul residence of the
# US consul general" is 10).
MAX_SPAN_TOKENS = 16


@dataclass(frozen=True)
class SpanGuess:
    """Where the span head puts the answer in a text, given that the text holds one: the most
    likely span, characters ``start:end``, and its ``confidence`` (the probability of its start
    token times that of its end token, each a softmax over the text's tokens); ``tokens`` holds
    every token as (first char, end char, P(start), P(end)), so that a caller can score other
    spans (:meth:`score`); ``none`` is what the head gives [CLS], "no answer here", before the
    text's tokens are renormalised without it."""

    start: int
    end: int
    confidence: float
    tokens: tuple[tuple[int, int, float, float], ...] = ()
    none: float = 0.0

    def score(self, start: int, end: int) -> float:
        """P(start) x P(end) of characters ``start:end`` (0 when no token covers them)."""
        inside = [t for t in self.tokens if t[1] > start and t[0] < end]
        return inside[0][2] * inside[-1][3] if inside else 0.0

    def shifted(self, offset: int) -> SpanGuess | None:
        """The guess for the text without its first ``offset`` characters (tokens there
        dropped), or None when the best span starts there."""
        if self.start < offset:
            return None
        return SpanGuess(
            self.start - offset,
            self.end - offset,
            self.confidence,
            tuple((s - offset, e - offset, ps, pe) for s, e, ps, pe in self.tokens if s >= offset),
            self.none,
        )


class _Model:
    def __init__(
        self,
        encoder: BertWeights,
        pooler: tuple[np.ndarray, np.ndarray] | None,
        head: tuple[np.ndarray, np.ndarray],
        span: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self.encoder = encoder
        self.pooler = pooler
        self.head = head
        self.span = span


def _load(path: Path) -> _Model:
    from safetensors.numpy import load_file

    for name in _FILES:
        if not (path / name).is_file():
            raise CrossEncoderError(f"cross-encoder file missing: {path / name}")
    try:
        config: dict[str, Any] = read_json(path / "config.json")
        max_length = int(config.get("ranker_max_length", DEFAULT_MAX_LENGTH))
        max_length = min(max_length, int(config["max_position_embeddings"]))
        tokenizer = pair_tokenizer(path, max_length)
    except Exception as e:  # broken JSON, missing key, bad tokenizer file
        raise CrossEncoderError(
            f"cross-encoder config or tokenizer unreadable in {path}: {e}"
        ) from e
    weights = path / "model.safetensors"
    try:
        tensors = load_file(str(weights))
    except Exception as e:
        raise CrossEncoderError(f"cross-encoder weights unreadable: {weights}: {e}") from e
    try:
        encoder = load_bert(path, config, tensors, tokenizer)
        pooler = None
        if "bert.pooler.dense.weight" in tensors:
            pooler = (
                tensors["bert.pooler.dense.weight"].astype(_F32).T,
                tensors["bert.pooler.dense.bias"].astype(_F32),
            )
        head = (
            tensors["classifier.weight"].astype(_F32).T,
            tensors["classifier.bias"].astype(_F32),
        )
        span = None
        if "span.weight" in tensors:
            span = (tensors["span.weight"].astype(_F32).T, tensors["span.bias"].astype(_F32))
    except (KeyError, ValueError) as e:
        raise CrossEncoderError(
            f"cross-encoder weights incomplete or not a BERT classifier: "
            f"{path / 'model.safetensors'}: {e}"
        ) from e
    if head[0].shape[1] != 1:
        raise CrossEncoderError(f"{path / 'config.json'}: the ranker needs exactly one output")
    return _Model(encoder, pooler, head, span)


class CrossEncoder:
    """Scores (query, text) pairs like ``BertForSequenceClassification`` with one label (to
    float32 rounding), with numpy. Thread-safe; the weights load once, on first use."""

    def __init__(
        self, path: str | Path, *, batch_size: int = 4, blas_threads: int | None = 2
    ) -> None:
        """``path``: a folder, or a hub name (fetched on first use). ``blas_threads``: as for
        :class:`~chatbot.models.minilm.NumpyMiniLM`. An answer's 8 pairs of about 90 tokens,
        on a quiet 2-core machine: 166 ms p50 in batches of 4 on 2 threads, 235 ms in one
        batch on 1 (the pairs differ in length, and 4 pad less)."""
        self.hub_id = hub_id(str(path)) if isinstance(path, str) else None
        self.path = Path(path).expanduser()
        self.batch_size = batch_size
        self._blas_cap = BlasCap(blas_threads) if blas_threads is not None else None
        self._model: _Model | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load now (raises :class:`CrossEncoderError` naming the file when it is missing or
        corrupt)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    if self.hub_id is not None:
                        self.path = fetch_from_hub(self.hub_id)
                    self._model = _load(self.path)

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """One logit per text (higher: more likely to answer ``query``), float32."""
        return self.read(query, texts)[0]

    def read(self, query: str, texts: Sequence[str]) -> tuple[np.ndarray, list[SpanGuess | None]]:
        """One logit per text, and per text the words its span head marks as the answer (all
        None when the model has no span head), from one pass."""
        if not texts:
            return np.zeros(0, dtype=_F32), []
        self.load()
        assert self._model is not None
        if self._blas_cap is None:
            return self._score(self._model, query, texts)
        with self._blas_cap():
            return self._score(self._model, query, texts)

    def has_span_head(self) -> bool:
        self.load()
        return self._model is not None and self._model.span is not None

    def _score(
        self, m: _Model, query: str, texts: Sequence[str]
    ) -> tuple[np.ndarray, list[SpanGuess | None]]:
        enc = m.encoder.tokenizer.encode_batch([(query, t) for t in texts])
        order = sorted(range(len(texts)), key=lambda i: -len(enc[i].ids))
        out = np.empty(len(texts), dtype=_F32)
        spans: list[SpanGuess | None] = [None] * len(texts)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            length = len(enc[chunk[0]].ids)
            ids = np.full((len(chunk), length), m.encoder.pad_id, dtype=np.int64)
            types = np.zeros((len(chunk), length), dtype=np.int64)
            mask = np.zeros((len(chunk), length), dtype=bool)
            for row, i in enumerate(chunk):
                n = len(enc[i].ids)
                ids[row, :n] = enc[i].ids
                types[row, :n] = enc[i].type_ids
                mask[row, :n] = True
            states = bert_states(m.encoder, ids, mask, types)
            cls = states[:, 0]
            if m.pooler is not None:
                cls = np.tanh(cls @ m.pooler[0] + m.pooler[1])
            out[chunk] = (cls @ m.head[0] + m.head[1])[:, 0]
            if m.span is not None:
                logits = states @ m.span[0] + m.span[1]
                for row, i in enumerate(chunk):
                    spans[i] = _best_span(logits[row], enc[i])
        return out, spans


def _best_span(logits: np.ndarray, encoding: Any) -> SpanGuess | None:
    """The most likely (start <= end) span of the second text's tokens, by the head's start
    and end logits (``logits``: (tokens, 2)), given that the text holds an answer: [CLS]
    (trained as "none here", which the 7 negatives of every group make the likeliest) is left
    out and the rest renormalised; whether the text answers is the ranker's score's to say."""
    n = len(encoding.ids)
    allowed = [t for t in range(n) if encoding.sequence_ids[t] == 1 and encoding.offsets[t][1] > 0]
    if not allowed:
        return None
    full = logits[[0, *allowed]].astype(np.float64)
    full_p = np.exp(full - full.max(axis=0))
    full_p /= full_p.sum(axis=0)
    sub = logits[allowed].astype(np.float64)
    p = np.exp(sub - sub.max(axis=0))
    p /= p.sum(axis=0)
    start_p, end_p = p[:, 0], p[:, 1]
    # Products of start and end for start <= end < start + MAX_SPAN_TOKENS.
    grid = np.triu(np.outer(start_p, end_p))
    grid = np.tril(grid, MAX_SPAN_TOKENS - 1)
    i, j = np.unravel_index(int(np.argmax(grid)), grid.shape)
    tokens = tuple(
        (int(encoding.offsets[t][0]), int(encoding.offsets[t][1]), float(a), float(b))
        for t, a, b in zip(allowed, start_p, end_p, strict=True)
    )
    return SpanGuess(
        int(encoding.offsets[allowed[i]][0]),
        int(encoding.offsets[allowed[j]][1]),
        float(grid[i, j]),
        tokens,
        float(full_p[0, 0] * full_p[0, 1]),
    )


class OptionalCrossEncoder:
    """A cross-encoder the caller can do without: its weights load once, on first use, and
    the first failure (a missing or corrupt file) is logged once, naming the file; after it
    :meth:`score` gives None, so that the caller falls back instead of failing."""

    off_message = "cross-encoder off: %s"  # what the caller does without it

    def __init__(self, path: str | Path, *, batch_size: int = 4) -> None:
        """``path``: a folder, or (as a string) a Hugging Face hub name."""
        self.encoder = CrossEncoder(path, batch_size=batch_size)
        self.path = self.encoder.path
        self.error: str | None = None  # why it is off, once loading or scoring failed
        self._loaded = False
        self._lock = threading.Lock()

    def ready(self) -> bool:
        """Whether the weights load (on the first call; then remembered)."""
        if self.error is not None:
            return False
        if not self._loaded:
            try:
                self.encoder.load()
                self.configure(read_json(self.encoder.path / "config.json"))
            except (CrossEncoderError, OSError, ValueError, TypeError) as e:
                self._off(e)
                return False
            self._loaded = True
        return True

    def configure(self, config: dict[str, Any]) -> None:
        """Read what the model's ``config.json`` says beyond the network (once, at load)."""

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray | None:
        """One logit per text, or None when the weights are unusable."""
        if not self.ready():
            return None
        try:
            return self.encoder.score(query, texts)
        except CrossEncoderError as e:
            self._off(e)
            return None

    def read(
        self, query: str, texts: Sequence[str]
    ) -> tuple[np.ndarray, list[SpanGuess | None]] | None:
        """Logits and span guesses (as :meth:`CrossEncoder.read`), or None when the weights
        are unusable."""
        if not self.ready():
            return None
        try:
            return self.encoder.read(query, texts)
        except CrossEncoderError as e:
            self._off(e)
            return None

    def _off(self, error: Exception) -> None:
        with self._lock:
            if self.error is None:
                self.error = str(error)
                log.error(self.off_message, error)
