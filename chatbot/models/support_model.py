"""The trained support checker as the support checker uses it: a cross-encoder that reads a
claim and a window of consecutive source sentences (``python -m training.support_checker``).

A long source is scored as the best of its windows; only the windows that share most words with
the claim are read (a claim is about one place in its source, and each window costs a model
call). When the weights cannot be read, :meth:`SupportModel.logits` gives None (and one logged
error names the file), so that the checker falls back to its features instead of failing."""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from chatbot.models.cross_encoder import PACKAGED_SUPPORT, CrossEncoder, CrossEncoderError
from chatbot.models.minilm import read_json

log = logging.getLogger(__name__)

__all__ = ["WINDOW", "SupportModel", "windows"]

WINDOW = 3  # sentences a window holds (as trained)
MAX_WINDOWS = 4  # windows read per (claim, source)
_WORD = re.compile(r"\w+")


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if len(w) > 2}


def windows(
    text: str, spans: Sequence[tuple[int, int]], claim: str, most: int = MAX_WINDOWS
) -> list[tuple[int, int]]:
    """Character spans of up to ``most`` windows of ``WINDOW`` consecutive sentences of
    ``text`` (``spans`` are its sentences), those sharing most words with ``claim`` first."""
    if len(spans) <= WINDOW:
        return [(spans[0][0], spans[-1][1])] if spans else []
    wanted = _words(claim)
    sentence_words = [_words(text[s:e]) for s, e in spans]
    scored = []
    for start in range(len(spans) - WINDOW + 1):
        shared = len(wanted & set().union(*sentence_words[start : start + WINDOW]))
        scored.append((-shared, start))
    return [(spans[start][0], spans[start + WINDOW - 1][1]) for _, start in sorted(scored)[:most]]


class SupportModel:
    """(claim, source window) -> logit; loads its weights once, on first use."""

    def __init__(self, path: str | Path = PACKAGED_SUPPORT) -> None:
        self.encoder = CrossEncoder(Path(path), batch_size=8)
        self.path = self.encoder.path
        self.error: str | None = None  # why the model is off, once loading failed
        self.threshold_logit = 0.0  # the logit of balanced errors on held-apart data
        # (model logit, features' log-odds, bias) when cross-validation found the features add
        self.combine: tuple[float, float, float] | None = None
        self._lock = threading.Lock()

    def ready(self) -> bool:
        """Whether the weights load (on the first call; then remembered)."""
        if self.error is not None:
            return False
        try:
            self.encoder.load()
            config = read_json(self.path / "config.json")
            tuned = float(config.get("support_threshold", 0.5))
            combine = config.get("support_combine")
            if combine is not None:
                a, b, c = (float(x) for x in combine)
                self.combine = (a, b, c)
        except (CrossEncoderError, OSError, ValueError, TypeError) as e:
            self._off(e)
            return False
        tuned = min(max(tuned, 1e-6), 1 - 1e-6)
        self.threshold_logit = math.log(tuned / (1 - tuned))
        return True

    def probability(self, logit: float, feature_score: float) -> float:
        """The support probability the checker compares with its threshold (0.5 = the tuned
        threshold of balanced errors): the model's logit, with the features' score where
        cross-validation found that they add."""
        z = logit
        if self.combine is not None:
            p = min(max(feature_score, 1e-4), 1 - 1e-4)
            a, b, c = self.combine
            z = a * logit + b * math.log(p / (1 - p)) + c
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z - self.threshold_logit))))

    def logits(self, claim: str, texts: Sequence[str]) -> np.ndarray | None:
        """One logit per window text, or None when the weights are unusable."""
        if not self.ready():
            return None
        try:
            return self.encoder.score(claim, list(texts))
        except CrossEncoderError as e:
            self._off(e)
            return None

    def _off(self, error: Exception) -> None:
        with self._lock:
            if self.error is None:
                self.error = str(error)
                log.error("trained support checker off, the features decide: %s", error)
