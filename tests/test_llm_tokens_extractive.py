"""Offline tiktoken helper and the no-LLM extractive backend."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from chatbot.common import tokens
from chatbot.config import Settings
from chatbot.llm.base import LLMError, Message
from chatbot.llm.no_llm import NoLLM


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails loudly (tiktoken downloads on a cache miss)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_cl100k_is_offline_and_cached(no_network: None) -> None:
    tokens.cl100k.cache_clear()
    encoding = tokens.cl100k()
    assert encoding.name == "cl100k_base"
    assert encoding.encode("hello world") == [15339, 1917]
    assert tokens.cl100k() is encoding


def test_count_ignores_special_token_text(no_network: None) -> None:
    assert tokens.count_cl100k("<|endoftext|>") > 1
    assert tokens.count_cl100k("") == 0


def test_bundled_cache_ships_cl100k() -> None:
    folder = tokens.bundled_cache_dir()
    assert folder is not None
    assert tokens._cache_file(folder, "cl100k_base").is_file()


def test_model_encoding_offline(
    no_network: None, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))  # holds nothing
    tokens.encoding_for_model.cache_clear()
    try:
        # llama-index-core 0.14 bundles o200k_base as well as cl100k_base.
        assert tokens.encoding_for_model("gpt-4o-mini").name == "o200k_base"
        assert tokens.encoding_for_model("gpt-4").name == "cl100k_base"
        # p50k_base is in no local cache: never downloaded, cl100k instead.
        assert tokens.encoding_for_model("text-davinci-003").name == "cl100k_base"
        assert tokens.encoding_for_model("some-local-model").name == "cl100k_base"
    finally:
        tokens.encoding_for_model.cache_clear()


def test_extractive_writes_no_text(llm_settings: Callable[..., Settings]) -> None:
    backend = NoLLM.from_settings(llm_settings())
    assert backend.generative is False
    assert backend.model == "none"
    assert backend.name == "extractive"
    assert backend.context_window == 8192
    with pytest.raises(LLMError, match="writes no text"):
        backend.stream([Message("user", "hi")])  # raises at the call, not on iteration
    with pytest.raises(LLMError, match="CHATBOT_LLM_BACKEND"):
        backend.complete([Message("user", "hi")])
    assert backend.count_tokens("hello world") == 2
    assert "extractive" in backend.describe()


def test_extractive_context_window_setting(llm_settings: Callable[..., Settings]) -> None:
    backend = NoLLM.from_settings(llm_settings(llm_context_window=2048))
    assert backend.context_window == 2048


def test_without_llama_index_the_cache_is_looked_for_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # On a machine without llama-index (a slim install, the GPU machine of evals.gpu_ingest),
    # find_spec of "llama_index.core" raises instead of answering None.
    import importlib.util

    def missing(name: str, *args: object) -> None:
        raise ModuleNotFoundError(f"No module named {name.split('.')[0]!r}")

    monkeypatch.setattr(importlib.util, "find_spec", missing)
    assert tokens.bundled_cache_dir() is None
