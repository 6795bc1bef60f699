"""The shared fakes behave like the real parts they stand in for (so tests using them mean
something)."""

from __future__ import annotations

import numpy as np

from chatbot.config import Settings
from chatbot.llm.base import LLMError, Message
from chatbot.llm.registry import create_backend
from tests.fakes import FAKE_BACKENDS, HashingEmbedder, ScriptedLLM


def test_fakes_are_registered_like_real_backends() -> None:
    settings = Settings(llm_backend="extractive").model_copy(update={"llm_backend": "scripted"})
    backend, reason = create_backend(settings, extra_backends=FAKE_BACKENDS)
    assert isinstance(backend, ScriptedLLM) and reason.startswith("scripted:")
    prompt = (
        '<source n="2" title="x">\nThe talks were held in Istanbul. They lasted hours.\n</source>'
    )
    assert backend.complete([Message("user", prompt)]) == "The talks were held in Istanbul. [2]"
    assert backend.prompts == [prompt]


def test_scripted_failure_raises_the_backend_error() -> None:
    llm = ScriptedLLM(fail=lambda p: "bank" in p, fail_message="reset")
    try:
        llm.complete([Message("user", "the bank story")])
    except LLMError as exc:
        assert str(exc) == "reset"
    else:
        raise AssertionError("the scripted failure did not raise")


def test_hashing_embedder_is_deterministic_normalised_and_word_based() -> None:
    emb = HashingEmbedder()
    a = emb.embed(["Talks in Istanbul", "talks in istanbul!", "Rain in Paris", ""])
    assert a.shape == (4, emb.dimension) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0)
    assert np.allclose(a[0], a[1])  # the same words
    assert a[0] @ a[1] > a[0] @ a[2]
    assert np.array_equal(HashingEmbedder().embed(["Talks in Istanbul"])[0], a[0])
