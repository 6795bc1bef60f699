"""Fakes shared by the tests, built on the real interfaces (``LLMBackend``, ``Embedder``) and
passed in the way real ones are: ``create_backend(settings, extra_backends=FAKE_BACKENDS)``,
``Chatbot(settings, embedder=...)``, ``SupportChecker(embedder)``."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np

from chatbot.common.text import words
from chatbot.common.tokens import count_cl100k
from chatbot.config import Settings
from chatbot.llm.base import LLMBackend, LLMError, Message
from chatbot.models.embeddings import Embedder

_SOURCE = re.compile(r'<source n="(\d+)"[^>]*>\n(.*?)\n</source>', re.S)


def first_source_sentence(prompt: str) -> str:
    """The first sentence of the first ``<source>`` in the prompt, cited; else its first note
    line ("- ..."); else "Nothing."."""
    source = _SOURCE.search(prompt)
    if source:
        first = re.split(r"(?<=[.!?])\s", source.group(2).strip())[0]
        return f"{first} [{source.group(1)}]"
    note = re.search(r"^- (.+)$", prompt, re.M)
    return note.group(1) if note else "Nothing."


class ScriptedLLM(LLMBackend):
    """A generative backend that writes ``reply(prompt)`` word by word (by default the first
    sentence of the first source it is shown, cited) and records what it was asked. ``fail``
    makes it raise ``LLMError(fail_message)`` for the prompts it accepts."""

    generative = True

    def __init__(
        self,
        reply: Callable[[str], str] = first_source_sentence,
        *,
        context_window: int = 4096,
        fail: Callable[[str], bool] | None = None,
        fail_message: str = "scripted failure",
        name: str = "scripted",
        model: str = "echo",
    ) -> None:
        self.reply = reply
        self.context_window = context_window
        self.fail = fail
        self.fail_message = fail_message
        self.name = name
        self.model = model
        self.calls: list[tuple[list[Message], int | None]] = []
        self.prompts: list[str] = []
        self.cited_calls: list[int] = []

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        prompt = messages[-1].content
        self.calls.append((list(messages), max_tokens))
        self.prompts.append(prompt)
        if self.fail and self.fail(prompt):
            raise LLMError(self.fail_message)
        yield from re.findall(r"\S+\s*", self.reply(prompt))

    def stream_cited(
        self,
        messages: Sequence[Message],
        sources: int,
        *,
        sentences: int = 2,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Iterator[str]:
        self.cited_calls.append(sources)
        return self.stream(messages, max_tokens=max_tokens, temperature=temperature)

    def count_tokens(self, text: str) -> int:
        return count_cl100k(text)


class EchoBackend(LLMBackend):
    """Repeats the last message; counts words as tokens."""

    name = "echo"
    model = "echo-1"
    context_window = 1000

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        yield messages[-1].content

    def count_tokens(self, text: str) -> int:
        return len(text.split())


FAKE_BACKENDS: Mapping[str, Callable[[Settings], LLMBackend]] = {
    "scripted": lambda settings: ScriptedLLM(),
    "echo": lambda settings: EchoBackend(),
}


class CountingEmbedder(Embedder):
    """Another embedder, counting its calls: ``calls`` holds the batch size of each."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.name, self.dimension = inner, inner.name, inner.dimension
        self.calls: list[int] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        return self.inner.embed(texts)


class HashingEmbedder(Embedder):
    """Deterministic and model-free: each word adds to a hashed dimension. Texts that share words
    are similar, which is all that tests of storage, caching and plumbing need."""

    def __init__(self, dimension: int = 64) -> None:
        self.name = f"hashing-{dimension}"
        self.dimension = dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in words(text) or ["<empty>"]:
                digest = hashlib.blake2b(word.encode("utf-8"), digest_size=4).digest()
                out[row, int.from_bytes(digest, "little") % self.dimension] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)
