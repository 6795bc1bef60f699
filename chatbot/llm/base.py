"""The one small interface every LLM backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from chatbot.errors import ChatbotError


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant"]
    content: str


class LLMError(ChatbotError):
    """A backend failure, worded for the user: what went wrong and what to do next."""


class LLMBackend(ABC):
    """Chat completion with streaming, plus token counting.

    ``generative`` is False only for the extractive backend, which writes no text of its own:
    the chat and summary features then assemble answers from source sentences instead.
    """

    name: str
    model: str
    context_window: int
    generative: bool = True

    @abstractmethod
    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        """Yield text pieces as they arrive; raise LLMError on failure (also mid-stream)."""

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] | None = None,
    ) -> str:
        return "".join(
            self.stream(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)
        )

    def stream_cited(
        self,
        messages: Sequence[Message],
        sources: int,
        *,
        sentences: int = 2,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Iterator[str]:
        """:meth:`stream` for at most ``sentences`` sentences, each ending with a citation
        marker ``[1]`` .. ``[sources]``. Backends that can constrain their output (llama.cpp
        grammars) enforce it; the others are asked to by the prompt, and the checker verifies."""
        return self.stream(messages, max_tokens=max_tokens, temperature=temperature)

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes in this model's context."""

    def describe(self) -> str:
        return f"{self.name} ({self.model})"

    def warm_up(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Load what the first request needs (a local model's process); by default nothing."""

    def health(self) -> dict[str, Any] | None:
        """The state of a process this backend supervises (``None``: it supervises none)."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Release what the backend holds (a worker process); by default nothing."""
