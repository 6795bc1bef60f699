"""openai / openai-compatible backends against a real llama.cpp server on 127.0.0.1.

This is the code path an Ollama, vLLM or LM Studio user runs. SmolLM2-135M is weak, so the
assertions are about behaviour (text arrives, streams in pieces, stops at max_tokens), not wording.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from chatbot.config import Settings
from chatbot.llm.base import LLMError, Message
from chatbot.llm.openai_backend import OpenAIBackend, OpenAICompatibleBackend
from harness.servers import free_port

QUESTION = [Message("user", "Name three colours.")]
LONG_TASK = [Message("user", "Write a long story about a dragon who learns to cook soup.")]


@pytest.fixture
def compatible(llama_server: str, llm_settings: Callable[..., Settings]) -> OpenAICompatibleBackend:
    return OpenAICompatibleBackend(
        llm_settings(llm_base_url=llama_server, llm_temperature=0.0, llm_max_tokens=24)
    )


def test_default_model_is_asked_from_the_server(compatible: OpenAICompatibleBackend) -> None:
    assert compatible._model is None  # lazily: nothing was requested at construction
    assert compatible.model  # the first id from GET /v1/models
    assert compatible.model in compatible.describe()


def test_complete_returns_text(compatible: OpenAICompatibleBackend) -> None:
    text = compatible.complete(QUESTION)
    assert text.strip()


def test_stream_yields_several_pieces(compatible: OpenAICompatibleBackend) -> None:
    pieces = list(compatible.stream(QUESTION, max_tokens=16))
    assert len(pieces) > 1
    assert all(isinstance(p, str) for p in pieces)
    assert "".join(pieces).strip()


def test_max_tokens_stops_with_length(
    compatible: OpenAICompatibleBackend, local_llm: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="chatbot.llm.openai_backend"):
        text = compatible.complete(LONG_TASK, max_tokens=8)
    assert text.strip()
    # Same GGUF in-process = the server's tokenizer; re-tokenizing may merge differently by 1.
    assert local_llm.count_tokens(text) <= 8 + 1
    assert "finish_reason=length" in caplog.text


def test_system_prompt_is_sent_and_answered(compatible: OpenAICompatibleBackend) -> None:
    messages = [
        Message("system", "You are a parrot. Whatever the user says, reply only: banana."),
        Message("user", "Hello there!"),
    ]
    text = compatible.complete(messages, max_tokens=12)
    assert text.strip()


def test_stop_sequence_is_passed(compatible: OpenAICompatibleBackend) -> None:
    messages = [Message("user", "Count from 1 to 10, separated by commas.")]
    text = compatible.complete(messages, max_tokens=40, stop=["5"])
    assert "5" not in text


def test_openai_backend_via_base_url(
    llama_server: str, llm_settings: Callable[..., Settings]
) -> None:
    backend = OpenAIBackend(
        llm_settings(
            llm_base_url=llama_server, openai_api_key="sk-test-not-real", llm_max_tokens=12
        )
    )
    assert backend.model == "gpt-4o-mini"  # llama.cpp serves its one model under any name
    pieces = list(backend.stream(QUESTION))
    assert "".join(pieces).strip()
    assert backend.count_tokens("hello world") == 2  # cl100k offline


@pytest.mark.parametrize("model", [None, "some-model"], ids=["listing-models", "chat"])
def test_server_not_running(llm_settings: Callable[..., Settings], model: str | None) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    backend = OpenAICompatibleBackend(
        llm_settings(llm_base_url=url, llm_model=model, llm_timeout=30.0)
    )
    started = time.monotonic()
    with pytest.raises(LLMError) as info:
        backend.complete(QUESTION)
    elapsed = time.monotonic() - started
    message = str(info.value)
    assert url in message
    assert "CHATBOT_LLM_BASE_URL" in message and "CHATBOT_LLM_BACKEND" in message
    assert elapsed < 10  # connection refused is immediate; only the client's short backoff
