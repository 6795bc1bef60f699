"""Backend names -> factories, and the choice of backend (with the reason, for the user)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from chatbot.config import Settings
from chatbot.llm.base import LLMBackend, LLMError

BackendFactory = Callable[[Settings], LLMBackend]


# Factories import their module on call, so choosing "extractive" never imports openai or
# llama_cpp, and importing this module does no work.
def _openai(settings: Settings) -> LLMBackend:
    from chatbot.llm.openai_backend import OpenAIBackend

    return OpenAIBackend(settings)


def _openai_compatible(settings: Settings) -> LLMBackend:
    from chatbot.llm.openai_backend import OpenAICompatibleBackend

    return OpenAICompatibleBackend(settings)


def _local(settings: Settings) -> LLMBackend:
    from chatbot.llm.local import LocalBackend

    return LocalBackend.from_settings(settings)


def _extractive(settings: Settings) -> LLMBackend:
    from chatbot.llm.no_llm import NoLLM

    return NoLLM.from_settings(settings)


BACKENDS: Mapping[str, BackendFactory] = MappingProxyType(
    {
        "openai": _openai,
        "openai-compatible": _openai_compatible,
        "local": _local,
        "extractive": _extractive,
    }
)


# `evals.answer_quality --data heldout` (2026-12-06): share of answers holding the gold answer
# and first-token p50, extractive against the packaged model.
PACKAGED_MODEL_MEASURED = (
    "on unseen weeks of news 0.593 of its answers held the answer against 0.585, "
    "the first words after 0.2 s against 2.2 s"
)


def _auto_choice(settings: Settings) -> tuple[str, str]:
    """The backend name 'auto' stands for, and why."""
    from chatbot.llm.local import llama_cpp_installed

    if settings.resolved_openai_key:
        reason = "auto: picked openai because an OpenAI API key is set (OPENAI_API_KEY)"
        if settings.llm_base_url:
            # The documented order puts the key first; say where requests go, since a base URL
            # alone would have meant openai-compatible.
            reason += f", sending requests to CHATBOT_LLM_BASE_URL ({settings.llm_base_url})"
        return "openai", reason
    if settings.llm_api_key is not None and not settings.llm_base_url:
        return "openai", "auto: picked openai because an API key is set (CHATBOT_LLM_API_KEY)"
    if settings.llm_base_url:
        return "openai-compatible", (
            "auto: picked openai-compatible because CHATBOT_LLM_BASE_URL is set "
            f"({settings.llm_base_url})"
        )

    if settings.llm_model_path is None:
        # Quality first, then latency: the packaged 135M model's answers held the answer no
        # more often than the sources' own sentences (it kept its own words in 1 of 123), and
        # took ten times as long.
        return "extractive", (
            "auto: picked extractive (answers quote the sources' own sentences) because it "
            f"answers as well as the packaged SmolLM2 model, faster ({PACKAGED_MODEL_MEASURED}); "
            "CHATBOT_LLM_BACKEND=local writes with that model, CHATBOT_LLM_MODEL_PATH names "
            "a larger one, CHATBOT_LLM_BASE_URL a model server"
        )
    has_llama = llama_cpp_installed()
    model_path = settings.llm_model_path
    has_model = model_path.expanduser().is_file()
    if has_llama and has_model:
        failure = _local_self_test_failure(settings)
        if failure is not None:
            return "extractive", (
                f"auto: picked extractive (answers quote the sources, no LLM) because the local "
                f"model failed its self-test: {failure}. Rebuild llama-cpp-python for this CPU "
                "(bash scripts/setup.sh) or set CHATBOT_LLM_BASE_URL to a model server"
            )
        return "local", (
            f"auto: picked local because llama-cpp-python is installed and {model_path} exists "
            "and passed its self-test"
        )

    missing = []
    if not has_llama:
        missing.append("llama-cpp-python is not installed")
    if not has_model:
        missing.append(f"the model file {model_path} does not exist")
    fix = (
        "fix CHATBOT_LLM_MODEL_PATH"
        if has_llama
        else "pip install 'chatbot[local]' for the local model"
    )
    return "extractive", (
        "auto: picked extractive (answers quote the sources, no LLM) because no API key or "
        f"CHATBOT_LLM_BASE_URL is set and {' and '.join(missing)}; {fix}"
    )


def _local_self_test_failure(settings: Settings) -> str | None:
    """Why the local model cannot be trusted here (None: it generated text in a child process,
    now or on an earlier run with the same build, model and CPU)."""
    from chatbot.llm.local import LocalBackend
    from chatbot.llm.self_test import self_test

    try:
        config = LocalBackend.from_settings(settings).config
    except LLMError as exc:
        return str(exc)
    result = self_test(config, settings.data_dir / "models")
    return None if result.ok else result.reason


def create_backend(
    settings: Settings, extra_backends: Mapping[str, BackendFactory] | None = None
) -> tuple[LLMBackend, str]:
    """The backend ``settings`` ask for, and a one-line reason for the choice.

    ``extra_backends`` adds or replaces factories by name (tests register fakes this way).
    Raises LLMError when the chosen backend cannot be built (e.g. openai without a key).
    """
    factories = {**BACKENDS, **(extra_backends or {})}
    if settings.llm_backend == "auto":
        name, reason = _auto_choice(settings)
    else:
        name = settings.llm_backend
        reason = f"{name}: chosen by the llm_backend setting (CHATBOT_LLM_BACKEND)"
    factory = factories.get(name)
    if factory is None:
        raise LLMError(
            f"Unknown LLM backend {name!r}; choose one of: auto, {', '.join(sorted(factories))}."
        )
    return factory(settings), reason
