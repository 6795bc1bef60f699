"""The local model runs in a supervised worker process: a crash, a hang or garbage from native
code becomes an LLMError naming the reason, the worker is restarted with backoff, and `auto`
trusts only a model that passed its self-test here."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chatbot.config import Settings
from chatbot.llm.base import LLMError, Message
from chatbot.llm.local import LocalBackend, exit_reason
from chatbot.llm.registry import create_backend
from chatbot.llm.self_test import CACHE_NAME, _key, run_self_test, self_test

pytest.importorskip("llama_cpp", reason="pip install 'chatbot[local]'")

QUESTION = [Message("user", "Name three colours.")]
SCRIPTED = "tests.scripted_worker"


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _wait_state(backend: LocalBackend, state: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while backend.health()["state"] != state:
        assert time.monotonic() < deadline, backend.health()
        time.sleep(0.05)


@pytest.fixture
def real(smollm2_path: Path) -> Iterator[LocalBackend]:
    backend = LocalBackend(smollm2_path, n_ctx=512, n_threads=1, temperature=0.0, timeout=30)
    yield backend
    backend.close()


def test_exit_reasons_name_the_signal() -> None:
    assert exit_reason(-11) == "killed by signal 11 (SIGSEGV)"
    assert exit_reason(3) == "exited with status 3"


def test_a_crash_mid_generation_names_the_signal_and_the_model_comes_back(
    real: LocalBackend,
) -> None:
    real.load()
    first = real.health()["pid"]
    stream = real.stream([Message("user", "Write a long story about the sea.")], max_tokens=200)
    next(iter(stream))  # the worker is generating
    os.kill(first, signal.SIGSEGV)
    with pytest.raises(LLMError, match=r"killed by signal 11 \(SIGSEGV\); restarting it"):
        list(stream)
    health = real.health()
    assert health["failures"] == 1 and "SIGSEGV" in health["last_failure"]
    _wait_state(real, "ready")  # restarted in the background, before anyone asks
    again = real.health()["pid"]
    assert again != first and _gone(first)
    assert real.complete(QUESTION, max_tokens=4).strip()
    assert real.health()["restarts"] == 1


def test_a_hung_worker_is_killed_after_the_timeout(smollm2_path: Path) -> None:
    backend = LocalBackend(smollm2_path, n_ctx=512, n_threads=1, timeout=1.5)
    try:
        backend.load()
        pid = backend.health()["pid"]
        os.kill(pid, signal.SIGSTOP)  # alive, but answers nothing
        started = time.monotonic()
        with pytest.raises(LLMError, match=r"gave no reply within 1.5 s"):
            backend.complete(QUESTION, max_tokens=4)
        assert time.monotonic() - started < 10
        assert _gone(pid)
        assert backend.complete(QUESTION, max_tokens=4).strip()  # a new worker answers
    finally:
        backend.close()


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("garbage", "malformed reply"), ("unreadable", "unreadable text")],
)
def test_garbage_from_the_worker_is_a_failure(
    monkeypatch: pytest.MonkeyPatch, smollm2_path: Path, mode: str, reason: str
) -> None:
    monkeypatch.setenv("SCRIPTED_WORKER", mode)
    backend = LocalBackend(smollm2_path, worker_module=SCRIPTED, timeout=10)
    try:
        with pytest.raises(LLMError, match=reason):
            backend.complete(QUESTION)
        assert reason in backend.health()["last_failure"]
    finally:
        backend.close()


def test_a_model_that_cannot_load_says_why(
    monkeypatch: pytest.MonkeyPatch, smollm2_path: Path
) -> None:
    monkeypatch.setenv("SCRIPTED_WORKER", "fatal")
    backend = LocalBackend(smollm2_path, worker_module=SCRIPTED)
    with pytest.raises(LLMError) as info:
        backend.complete(QUESTION)
    assert "failed to load model" in str(info.value) and str(smollm2_path) in str(info.value)
    backend.close()


def test_repeated_crashes_back_off(monkeypatch: pytest.MonkeyPatch, smollm2_path: Path) -> None:
    monkeypatch.setenv("SCRIPTED_WORKER", "crash")
    backend = LocalBackend(smollm2_path, worker_module=SCRIPTED, timeout=10)
    try:
        for _ in range(3):  # restarts after 1 s, then 2 s: short waits, the caller waits
            with pytest.raises(LLMError, match="SIGSEGV"):
                backend.complete(QUESTION)
        started = time.monotonic()
        with pytest.raises(LLMError, match=r"restarting it in [34] s"):
            backend.complete(QUESTION)  # the next restart is 4 s away: no waiting
        assert time.monotonic() - started < 1
        assert backend.health()["failures"] == 3
    finally:
        backend.close()


def test_a_death_noticed_twice_counts_once(
    monkeypatch: pytest.MonkeyPatch, smollm2_path: Path
) -> None:
    # The answering thread and the background restart can both find the same dead worker
    # (CI once saw the backoff double to 8 s that way).
    monkeypatch.setenv("SCRIPTED_WORKER", "crash")
    backend = LocalBackend(smollm2_path, worker_module=SCRIPTED, timeout=10)
    try:
        worker = backend._running_worker()
        with pytest.raises(LLMError, match="SIGSEGV"):
            backend.complete(QUESTION)
        backend._failed(worker, "killed by signal 11 (SIGSEGV)")  # as the restart timer would
        assert backend.health()["failures"] == 1
        with pytest.raises(LLMError, match=r"restarting it in 1 s|SIGSEGV"):
            backend.complete(QUESTION)
        assert backend.health()["failures"] == 2
    finally:
        backend.close()


def test_closing_stops_the_worker(real: LocalBackend) -> None:
    real.load()
    pid = real.health()["pid"]
    real.close()
    assert _gone(pid) and real.health()["state"] == "stopped"
    with pytest.raises(LLMError, match="shut down"):
        real.complete(QUESTION)


def test_an_abandoned_stream_leaves_the_worker_ready(real: LocalBackend) -> None:
    stream = real.stream([Message("user", "Write a long story about the sea.")], max_tokens=200)
    next(iter(stream))
    stream.close()  # type: ignore[attr-defined]
    assert real.health()["state"] == "ready"
    assert real.complete(QUESTION, max_tokens=3).strip()
    assert real.health()["failures"] == 0


# --- the self-test before `auto` trusts the local model ---------------------------------------


def test_the_self_test_passes_here_and_is_remembered(real: LocalBackend, tmp_path: Path) -> None:
    first = self_test(real.config, tmp_path)
    assert first.ok and not first.cached, first
    again = self_test(real.config, tmp_path)
    assert again.ok and again.cached


def test_a_crashing_build_fails_the_self_test_with_its_signal(
    monkeypatch: pytest.MonkeyPatch, real: LocalBackend
) -> None:
    monkeypatch.setenv("SCRIPTED_WORKER", "crash")
    result = run_self_test(real.config, module=SCRIPTED)
    assert not result.ok and result.reason == "killed by signal 11 (SIGSEGV)"


def test_auto_picks_extractive_when_the_self_test_failed(
    llm_settings: Callable[..., Settings], tmp_path: Path, smollm2_path: Path
) -> None:
    # auto considers the local model only when one is named.
    settings = llm_settings(data_dir=tmp_path / "data", llm_model_path=smollm2_path)
    config = LocalBackend.from_settings(settings).config
    cache = tmp_path / "data" / "models" / CACHE_NAME
    cache.parent.mkdir(parents=True)
    # What a build that segfaults here leaves behind (the real run is the test above).
    cache.write_text(json.dumps({_key(config): {"ok": False, "reason": exit_reason(-11)}}))
    backend, reason = create_backend(settings)
    assert backend.name == "extractive"
    assert "local model failed its self-test: killed by signal 11 (SIGSEGV)" in reason
