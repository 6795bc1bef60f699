"""The local model's worker process: ``python -m chatbot.llm.local_worker CONFIG_JSON``.

It loads the model, says ``{"ready": ...}`` (or ``{"fatal": reason}`` and exits 3), then
answers JSON-line requests from stdin on stdout, one generation at a time:

- ``{"id": n, "op": "chat", "messages": [...], "max_tokens": k, "temperature": t,
  "stop": [...] | null, "cited": [sources, sentences] | null}`` ->
  ``{"id": n, "piece": "..."}`` ... then ``{"id": n, "done": true}`` or ``{"id": n, "error": ...}``
- ``{"id": n, "op": "tokenize", "text": "..."}`` -> ``{"id": n, "count": k}`` (answered at once,
  also during a generation)
- ``{"op": "cancel", "id": n}`` ends generation n early (it still ends with ``done``).

``--self-test`` loads the model, generates a few tokens and exits 0 (the ``auto`` check).
stdin closing ends the worker: it never outlives the process that started it.
"""

from __future__ import annotations

import faulthandler
import json
import os
import queue
import sys
import threading
from typing import Any, TextIO

from chatbot.llm.llama_engine import EngineConfig, LlamaEngine

SELF_TEST_PROMPT = [{"role": "user", "content": "Say hello."}]


class _Output:
    """Protocol lines on the real stdout; anything native code prints goes to stderr."""

    def __init__(self) -> None:
        out_fd = os.dup(1)
        os.dup2(2, 1)  # printf from llama.cpp must not corrupt the protocol
        sys.stdout = sys.stderr
        self._stream: TextIO = os.fdopen(out_fd, "w", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        line = json.dumps(message, ensure_ascii=False)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()


def _load(config: EngineConfig, out: _Output) -> LlamaEngine:
    try:
        return LlamaEngine(config)
    except Exception as exc:  # a Python-level failure (no llama_cpp, a broken file): say why
        out.send({"fatal": f"{type(exc).__name__}: {exc}"})
        raise SystemExit(3) from exc


def _serve(engine: LlamaEngine, out: _Output) -> None:
    jobs: queue.Queue[dict[str, Any] | None] = queue.Queue()
    cancelled: set[int] = set()

    def read_requests() -> None:
        for line in sys.stdin:
            try:
                request = json.loads(line)
            except ValueError:
                continue
            op = request.get("op")
            if op == "cancel":
                cancelled.add(int(request["id"]))
            elif op == "tokenize":  # reads only the vocabulary: safe beside a generation
                try:
                    count = engine.count_tokens(str(request.get("text", "")))
                    out.send({"id": request["id"], "count": count})
                except Exception as exc:
                    out.send({"id": request["id"], "error": f"{type(exc).__name__}: {exc}"})
            else:
                jobs.put(request)
        jobs.put(None)  # stdin closed: the parent is gone or done

    threading.Thread(target=read_requests, daemon=True).start()
    while (request := jobs.get()) is not None:
        rid = int(request["id"])
        try:
            cited = request.get("cited")
            for piece in engine.generate(
                request["messages"],
                max_tokens=int(request["max_tokens"]),
                temperature=float(request["temperature"]),
                stop=request.get("stop"),
                cited=(int(cited[0]), int(cited[1])) if cited else None,
                cancelled=lambda rid=rid: rid in cancelled,  # type: ignore[misc]
            ):
                out.send({"id": rid, "piece": piece})
            out.send({"id": rid, "done": True})
        except Exception as exc:  # e.g. "Requested tokens (5000) exceed context window"
            out.send({"id": rid, "error": f"{type(exc).__name__}: {exc}"})
        cancelled.discard(rid)


def main(argv: list[str]) -> int:
    faulthandler.enable()  # a native crash leaves a Python traceback in the log
    self_test = "--self-test" in argv
    args = [a for a in argv if a != "--self-test"]
    config = EngineConfig(**json.loads(args[0]))
    out = _Output()
    engine = _load(config, out)
    if self_test:
        text = "".join(
            engine.generate(
                SELF_TEST_PROMPT,
                max_tokens=8,
                temperature=0.0,
                stop=None,
                cited=None,
                cancelled=lambda: False,
            )
        )
        out.send({"ok": True, "text": text})
        return 0
    out.send({"ready": {"weights": str(engine.weights), "n_ctx": config.n_ctx}})
    _serve(engine, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
