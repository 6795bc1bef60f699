"""The answer ranker as evidence selection uses it: a cross-encoder's score per candidate
sentence, or None (and one logged error naming the file) when its weights cannot be read, so
that selection falls back to the fitted features instead of failing the answer."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from chatbot.models.cross_encoder import (
    PACKAGED_RANKER,
    CrossEncoder,
    CrossEncoderError,
    ranker_text,
)

if TYPE_CHECKING:
    from chatbot.config import Settings
    from chatbot.vocabulary import Passage

log = logging.getLogger(__name__)

__all__ = ["AnswerRanker", "create_ranker"]


class AnswerRanker:
    """Scores (question, sentence of a passage) pairs; loads its weights once, on first use."""

    def __init__(self, path: str | Path = PACKAGED_RANKER) -> None:
        """``path``: a folder, or (as a string) a Hugging Face hub name."""
        self.encoder = CrossEncoder(path)
        self.path = self.encoder.path
        self.error: str | None = None  # why the ranker is off, once loading failed
        self._lock = threading.Lock()

    def ready(self) -> bool:
        """Whether the weights load (on the first call; then remembered)."""
        if self.error is not None:
            return False
        try:
            self.encoder.load()
        except CrossEncoderError as e:
            self._off(e)
            return False
        return True

    def scores(self, question: str, sentences: Sequence[tuple[str, Passage]]) -> list[float] | None:
        """One logit per (sentence, its passage), or None when the weights are unusable."""
        if not self.ready():
            return None
        texts = [ranker_text(s, p.title, p.published_at) for s, p in sentences]
        try:
            return [float(x) for x in self.encoder.score(question, texts)]
        except CrossEncoderError as e:
            self._off(e)
            return None

    def _off(self, error: CrossEncoderError) -> None:
        with self._lock:
            if self.error is None:
                self.error = str(error)
                log.error(
                    "answer ranker off, evidence selection uses the fitted features: %s", error
                )


def create_ranker(settings: Settings) -> AnswerRanker | None:
    """The ranker ``ranker_model`` names: the packaged one, a folder, a hub name, or none."""
    name = settings.ranker_model.strip()
    if name.lower() in ("none", "off", ""):
        return None
    return AnswerRanker(PACKAGED_RANKER if name == "packaged" else name)
