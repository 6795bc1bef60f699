"""A stand-in for the local model's worker, for the failures llama.cpp cannot be made to show on
demand: ``python -m tests.scripted_worker CONFIG`` speaks the worker protocol and misbehaves as
``SCRIPTED_WORKER`` says: ``garbage`` (a reply that is not JSON), ``unreadable`` (text of control
characters), ``crash`` (SIGSEGV while answering), ``fatal`` (cannot load), ``ok`` (answers)."""

from __future__ import annotations

import json
import os
import signal
import sys

READY = {"ready": {"weights": "scripted.gguf", "n_ctx": 512}}


def main() -> int:
    mode = os.environ.get("SCRIPTED_WORKER", "ok")
    out = sys.stdout
    if "--self-test" in sys.argv:
        if mode == "crash":
            os.kill(os.getpid(), signal.SIGSEGV)
        print(json.dumps({"ok": True, "text": "hi"}), flush=True)
        return 0
    if mode == "fatal":
        print(json.dumps({"fatal": "ValueError: failed to load model"}), flush=True)
        return 3
    print(json.dumps(READY), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        rid = request.get("id")
        if request.get("op") == "tokenize":
            print(json.dumps({"id": rid, "count": len(request["text"].split())}), flush=True)
            continue
        if request.get("op") != "chat":
            continue
        if mode == "garbage":
            out.write("Segmentation fault in ggml_compute_forward\n")
        elif mode == "unreadable":
            for _ in range(8):
                print(json.dumps({"id": rid, "piece": "\x00\x01\ufffd\x02"}), flush=True)
        elif mode == "crash":
            print(json.dumps({"id": rid, "piece": "Istanbul"}), flush=True)
            os.kill(os.getpid(), signal.SIGSEGV)
        else:
            print(json.dumps({"id": rid, "piece": "Fine."}), flush=True)
            print(json.dumps({"id": rid, "done": True}), flush=True)
        out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
