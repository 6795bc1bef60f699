"""The trained support checker as the support checker uses it: a cross-encoder that reads a
claim and a window of consecutive source sentences (``python -m training.support_checker``).

A long source is scored as the best of its windows; only the windows that share most words with
the claim are read (a claim is about one place in its source, and each window costs a model
call). When the weights cannot be read, :meth:`SupportModel.score` gives None (and one logged
error names the file), so that the checker falls back to its features instead of failing."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chatbot.models.cross_encoder import PACKAGED_SUPPORT, OptionalCrossEncoder

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


class SupportModel(OptionalCrossEncoder):
    """(claim, source window) -> logit; loads its weights once, on first use."""

    off_message = "trained support checker off, the features decide: %s"

    def __init__(self, path: str | Path = PACKAGED_SUPPORT) -> None:
        super().__init__(Path(path), batch_size=8)
        self.threshold_logit = 0.0  # the logit of balanced errors on held-apart data
        # (model logit, features' log-odds, bias) when cross-validation found the features add
        self.combine: tuple[float, float, float] | None = None

    def configure(self, config: dict[str, Any]) -> None:
        tuned = min(max(float(config.get("support_threshold", 0.5)), 1e-6), 1 - 1e-6)
        self.threshold_logit = math.log(tuned / (1 - tuned))
        if config.get("support_combine") is not None:
            a, b, c = (float(x) for x in config["support_combine"])
            self.combine = (a, b, c)

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
