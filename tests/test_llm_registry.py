"""Which backend 'auto' picks, and why; explicit names; fakes registered like real backends."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from chatbot.config import Settings
from chatbot.llm.base import LLMError, Message
from chatbot.llm.no_llm import NoLLM
from chatbot.llm.openai_backend import OpenAIBackend, OpenAICompatibleBackend
from chatbot.llm.registry import BACKENDS, create_backend
from tests.fakes import EchoBackend

MakeSettings = Callable[..., Settings]


def test_names() -> None:
    assert set(BACKENDS) == {"openai", "openai-compatible", "local", "extractive"}
    with pytest.raises(TypeError):
        BACKENDS["x"] = lambda s: EchoBackend()  # type: ignore[index]


def test_auto_openai_with_key(llm_settings: MakeSettings) -> None:
    backend, reason = create_backend(llm_settings(openai_api_key="sk-1"))
    assert isinstance(backend, OpenAIBackend)
    assert reason == "auto: picked openai because an OpenAI API key is set (OPENAI_API_KEY)"


def test_auto_openai_key_wins_over_base_url(llm_settings: MakeSettings) -> None:
    url = "http://127.0.0.1:8080/v1"
    backend, reason = create_backend(llm_settings(openai_api_key="sk-1", llm_base_url=url))
    assert isinstance(backend, OpenAIBackend)
    assert backend.base_url == url
    assert reason.endswith(f"sending requests to CHATBOT_LLM_BASE_URL ({url})")


def test_auto_openai_with_env_key(
    llm_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    backend, reason = create_backend(llm_settings())
    assert isinstance(backend, OpenAIBackend)
    assert reason.startswith("auto: picked openai because")


def test_auto_openai_with_llm_key_only(llm_settings: MakeSettings) -> None:
    backend, reason = create_backend(llm_settings(llm_api_key="k"))
    assert isinstance(backend, OpenAIBackend)
    assert "CHATBOT_LLM_API_KEY" in reason


def test_auto_openai_compatible_with_base_url(llm_settings: MakeSettings) -> None:
    url = "http://127.0.0.1:11434/v1"
    backend, reason = create_backend(llm_settings(llm_base_url=url, llm_api_key="k"))
    assert isinstance(backend, OpenAICompatibleBackend)
    assert reason == (f"auto: picked openai-compatible because CHATBOT_LLM_BASE_URL is set ({url})")


def test_auto_quotes_the_sources_when_no_model_is_named(llm_settings: MakeSettings) -> None:
    # The packaged SmolLM2 answers no better than the sources' own sentences and is slower,
    # so without a named model or server auto picks extractive and says why.
    backend, reason = create_backend(llm_settings())
    assert isinstance(backend, NoLLM)
    assert reason.startswith("auto: picked extractive")
    assert "as well as the packaged SmolLM2 model, faster" in reason
    assert "CHATBOT_LLM_BACKEND=local" in reason


def test_auto_local_with_model_path(llm_settings: MakeSettings, smollm2_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    backend, reason = create_backend(llm_settings(llm_model_path=smollm2_path))
    assert backend.name == "local"
    assert str(smollm2_path) in reason


def test_auto_extractive_without_llama_cpp(
    llm_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    backend, reason = create_backend(llm_settings(llm_model_path=tmp_path / "model.gguf"))
    assert isinstance(backend, NoLLM)
    assert reason.startswith("auto: picked extractive")
    assert "llama-cpp-python is not installed" in reason
    assert "pip install 'chatbot[local]'" in reason


def test_auto_extractive_without_model_file(llm_settings: MakeSettings, tmp_path: Path) -> None:
    missing = tmp_path / "gone.gguf"
    backend, reason = create_backend(llm_settings(llm_model_path=missing))
    assert isinstance(backend, NoLLM)
    assert f"the model file {missing} does not exist" in reason
    assert "CHATBOT_LLM_MODEL_PATH" in reason or "llama-cpp-python is not installed" in reason


@pytest.mark.parametrize("name", ["extractive", "openai-compatible", "openai"])
def test_explicit_choice(llm_settings: MakeSettings, name: str) -> None:
    settings = llm_settings(
        llm_backend=name, llm_base_url="http://127.0.0.1:9/v1", openai_api_key="sk-1"
    )
    backend, reason = create_backend(settings)
    assert backend.name == name
    assert reason == f"{name}: chosen by the llm_backend setting (CHATBOT_LLM_BACKEND)"


def test_explicit_choice_that_cannot_be_built(llm_settings: MakeSettings) -> None:
    with pytest.raises(LLMError, match="OPENAI_API_KEY"):
        create_backend(llm_settings(llm_backend="openai"))


def test_fake_replaces_a_real_backend(llm_settings: MakeSettings) -> None:
    backend, reason = create_backend(
        llm_settings(openai_api_key="sk-1"), extra_backends={"openai": lambda s: EchoBackend()}
    )
    assert isinstance(backend, EchoBackend)
    assert backend.complete([Message("user", "hi")]) == "hi"
    assert reason.startswith("auto: picked openai")


def test_fake_under_its_own_name(llm_settings: MakeSettings) -> None:
    # llm_backend is validated against the built-in names; a test may bypass that on purpose.
    settings = llm_settings().model_copy(update={"llm_backend": "echo"})
    backend, reason = create_backend(settings, extra_backends={"echo": lambda s: EchoBackend()})
    assert isinstance(backend, EchoBackend)
    assert reason.startswith("echo:")
    with pytest.raises(LLMError, match="Unknown LLM backend 'echo'"):
        create_backend(settings)
