"""No LLM at all (``CHATBOT_LLM_BACKEND=extractive``): it stands where a backend would, so that
chat and summaries know to quote source sentences and budgets still count tokens."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from chatbot.common.tokens import count_cl100k
from chatbot.config import Settings
from chatbot.llm.base import LLMBackend, LLMError, Message

DEFAULT_CONTEXT_WINDOW = 8192


class NoLLM(LLMBackend):
    """Writes no text: ``generative`` is False, and asking it to stream is an error that says
    which setting chooses a model that writes."""

    name = "extractive"
    model = "none"
    generative = False

    def __init__(self, context_window: int | None = None) -> None:
        # Budgets (how many source sentences fit) still use a context window and tokens.
        self.context_window = context_window or DEFAULT_CONTEXT_WINDOW

    @classmethod
    def from_settings(cls, settings: Settings) -> NoLLM:
        return cls(context_window=settings.llm_context_window)

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        # A plain function (not a generator) so the error comes at the call, not on iteration.
        raise LLMError(
            "The extractive backend writes no text: answers and summaries are assembled from "
            "source sentences. To generate text, choose an LLM with CHATBOT_LLM_BACKEND "
            "(openai, openai-compatible or local)."
        )

    def count_tokens(self, text: str) -> int:
        return count_cl100k(text)

    def describe(self) -> str:
        return "extractive (no LLM: answers quote the sources)"
