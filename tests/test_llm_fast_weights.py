"""The local backend's one-time Q8_0 copy of the packaged model (faster prompt evaluation)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from chatbot.config import Settings
from chatbot.llm.base import Message
from chatbot.llm.local import FAST_QUANT, LocalBackend

pytestmark = pytest.mark.slow


def test_packaged_model_is_converted_once_and_answers(
    smollm2_path: Path, llm_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    pytest.importorskip("llama_cpp", reason="pip install 'chatbot[local]'")
    settings = llm_settings(data_dir=tmp_path / "data", llm_threads=1, llm_context_window=512)
    backend = LocalBackend.from_settings(settings)
    try:
        backend.load()
        copies = list((tmp_path / "data" / "models").glob(f"*.{FAST_QUANT}.gguf"))
        assert len(copies) == 1 and copies[0].stat().st_size > 50_000_000
        assert not list((tmp_path / "data" / "models").glob(".convert-*"))
        assert backend.weights == copies[0]  # the worker runs the copy
        reply = backend.complete([Message("user", "Name three colours.")], max_tokens=8)
        assert reply.strip()
    finally:
        backend.close()
    made = copies[0].stat().st_mtime_ns

    again = LocalBackend.from_settings(settings)
    try:
        again.load()
        assert again.weights == copies[0] and copies[0].stat().st_mtime_ns == made  # reused
    finally:
        again.close()


def test_a_chosen_model_file_is_used_as_given(
    smollm2_path: Path, llm_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    pytest.importorskip("llama_cpp", reason="pip install 'chatbot[local]'")
    settings = llm_settings(
        data_dir=tmp_path / "data", llm_model_path=smollm2_path, llm_context_window=512
    )
    backend = LocalBackend.from_settings(settings)
    try:
        backend.load()
        assert backend.weights == smollm2_path
        assert not (tmp_path / "data" / "models").exists()
    finally:
        backend.close()
