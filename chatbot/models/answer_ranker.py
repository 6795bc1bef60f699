"""The answer ranker as evidence selection uses it: a cross-encoder's score per candidate
sentence, or None (and one logged error naming the file) when its weights cannot be read, so
that selection falls back to the fitted features instead of failing the answer."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from chatbot.models.cross_encoder import (
    PACKAGED_RANKER,
    OptionalCrossEncoder,
    SpanGuess,
    ranker_text,
)

if TYPE_CHECKING:
    from chatbot.config import Settings
    from chatbot.vocabulary import Passage

log = logging.getLogger(__name__)

__all__ = ["AnswerRanker", "create_ranker"]


class AnswerRanker(OptionalCrossEncoder):
    """Scores (question, sentence of a passage) pairs; loads its weights once, on first use."""

    off_message = "answer ranker off, evidence selection uses the fitted features: %s"

    def scores(self, question: str, sentences: Sequence[tuple[str, Passage]]) -> list[float] | None:
        """One logit per (sentence, its passage), or None when the weights are unusable."""
        got = self.reading(question, sentences)
        return None if got is None else got[0]

    def reading(
        self, question: str, sentences: Sequence[tuple[str, Passage]]
    ) -> tuple[list[float], list[SpanGuess | None]] | None:
        """Per (sentence, its passage): its logit, and the words of the sentence that answer
        (characters of the sentence; None when the model marks none there, or has no span
        head); None when the weights are unusable."""
        texts = [ranker_text(s, p.title, p.published_at) for s, p in sentences]
        got = self.read(question, texts)
        if got is None:
            return None
        logits, guesses = got
        spans: list[SpanGuess | None] = []
        for (sentence, _), text, guess in zip(sentences, texts, guesses, strict=True):
            # The model reads "title (date): sentence"; words in the title are no quote.
            offset = len(text) - len(sentence)
            spans.append(None if guess is None else guess.shifted(offset))
        return [float(x) for x in logits], spans


def create_ranker(settings: Settings) -> AnswerRanker | None:
    """The ranker ``ranker_model`` names: the packaged one, a folder, a hub name, or none."""
    name = settings.ranker_model.strip()
    if name.lower() in ("none", "off", ""):
        return None
    return AnswerRanker(PACKAGED_RANKER if name == "packaged" else name)
