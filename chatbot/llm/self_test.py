"""Whether the local model works on this machine: a short generation in a child process, run
once and remembered per llama-cpp-python build, model file and CPU.

``auto`` picks the local model only when it passed. A llama.cpp compiled for another CPU, or a
build that miscompiles for this one, dies with a signal here instead of in front of a user.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from chatbot.llm.llama_engine import EngineConfig
from chatbot.llm.local import WORKER_MODULE, exit_reason, worker_env

SELF_TEST_TIMEOUT = 180.0  # the first run also converts the model (~3 s) and loads it
CACHE_NAME = "local-self-test.json"


@dataclass(frozen=True)
class SelfTestResult:
    ok: bool
    reason: str  # why it failed, or what passed
    cached: bool = False


def cpu_signature() -> str:
    """The CPU features native code may use (x86 flags, ARM features), as one string."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith(("flags", "Features")):
                return " ".join(sorted(line.split(":", 1)[1].split()))
    return f"{platform.machine()} {platform.processor()}"


def llama_cpp_build() -> str:
    """The installed llama-cpp-python version and its native libraries (a rebuild with other
    flags changes their sizes and times)."""
    try:
        version = importlib.metadata.version("llama_cpp_python")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    libs = []
    with contextlib.suppress(ImportError, ValueError, TypeError, OSError):
        spec = importlib.util.find_spec("llama_cpp")
        if spec and spec.submodule_search_locations:
            lib_dir = Path(next(iter(spec.submodule_search_locations))) / "lib"
            for lib in sorted(lib_dir.glob("*")):
                stat = lib.stat()
                libs.append(f"{lib.name}:{stat.st_size}:{int(stat.st_mtime)}")
    return f"{version} [{' '.join(libs)}]"


def _key(config: EngineConfig) -> str:
    model = Path(config.model_path)
    try:
        stat = model.stat()
        model_id = f"{model.resolve()}:{stat.st_size}:{int(stat.st_mtime)}"
    except OSError:
        model_id = str(model)
    parts = [llama_cpp_build(), model_id, cpu_signature(), str(config.gpu_layers)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def run_self_test(
    config: EngineConfig, timeout: float = SELF_TEST_TIMEOUT, *, module: str = WORKER_MODULE
) -> SelfTestResult:
    """Load the model and generate a few tokens in a child process."""
    with tempfile.TemporaryFile() as log:
        try:
            done = subprocess.run(
                [sys.executable, "-m", module, "--self-test", json.dumps(asdict(config))],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                timeout=timeout,
                text=True,
                errors="replace",
                env=worker_env(),
            )
        except subprocess.TimeoutExpired:
            return SelfTestResult(False, f"did not finish within {timeout:g} s")
        except OSError as exc:
            return SelfTestResult(False, f"could not be started ({exc})")
    fatal = ""
    for line in done.stdout.splitlines():
        with contextlib.suppress(ValueError):
            message = json.loads(line)
            if isinstance(message, dict) and message.get("ok") and done.returncode == 0:
                return SelfTestResult(True, "generated text in a child process")
            if isinstance(message, dict) and "fatal" in message:
                fatal = str(message["fatal"])
    reason = exit_reason(done.returncode)
    return SelfTestResult(False, f"{reason}: {fatal}" if fatal else reason)


def self_test(config: EngineConfig, cache_dir: Path) -> SelfTestResult:
    """The remembered result for this build, model and CPU, or a new run (then remembered)."""
    cache = cache_dir / CACHE_NAME
    key = _key(config)
    known: dict[str, dict[str, object]] = {}
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads(cache.read_text(encoding="utf-8"))
        if isinstance(loaded, dict):
            known = loaded
    entry = known.get(key)
    if isinstance(entry, dict) and isinstance(entry.get("ok"), bool):
        return SelfTestResult(bool(entry["ok"]), str(entry.get("reason", "")), cached=True)
    result = run_self_test(config)
    known[key] = {"ok": result.ok, "reason": result.reason, "at": time.time()}
    with contextlib.suppress(OSError):  # a read-only data folder: test again next time
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".self-test-", dir=cache_dir)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(known, handle)
        os.replace(tmp, cache)
    return result
