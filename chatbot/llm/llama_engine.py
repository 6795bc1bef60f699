"""llama.cpp itself: load a GGUF model, generate (optionally under a citation grammar), count
tokens. Runs only inside the model's worker process (``local_worker``), never in the process
that serves users: native code that crashes there takes down only the worker."""

from __future__ import annotations

import ctypes
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatbot.common.devices import llm_gpu_layers

if TYPE_CHECKING:
    from llama_cpp import Llama

log = logging.getLogger(__name__)

# The packaged GGUF is Q4_1, for which llama.cpp on AVX2 has only slow matrix kernels: prompt
# evaluation (most of the time to first token) took 16.7 CPU-seconds per 1,500 tokens, against
# 9.8 for the same weights in Q8_0 and 8.9 in Q4_0 (one thread, evals/bench). Q8_0 keeps the
# Q4_1 weights almost exactly (its step is ~1/17 of theirs), so the packaged model is converted
# once, in about 3 s, into the data folder and the copy is used from then on.
FAST_QUANT = "Q8_0"
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


@dataclass(frozen=True)
class EngineConfig:
    """What the worker needs to load the model (sent to it as JSON)."""

    model_path: str
    n_ctx: int
    n_threads: int
    cache_dir: str | None = None  # where the Q8_0 copy is kept (None: use the file as given)
    gpu_layers: int | None = None


class LlamaEngine:
    """One loaded model and its context. Not thread-safe for generation (one at a time);
    tokenizing only reads the vocabulary and may run beside a generation."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._grammars: dict[tuple[int, int], Any] = {}
        # llama.cpp's OpenMP threads spin between operations by default. On a shared machine
        # spinning threads steal the cores the working thread needs: TTFT for 1,500 prompt
        # tokens went from 46-51 s to 26-29 s at load ~5 with PASSIVE. It must be set before
        # the library loads; an explicit user setting wins.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import llama_cpp

        self._llama_cpp = llama_cpp
        weights = self._fast_weights(Path(config.model_path))
        self.weights = weights
        self.llm: Llama = llama_cpp.Llama(
            model_path=str(weights),
            n_ctx=config.n_ctx,
            n_threads=config.n_threads,
            n_threads_batch=config.n_threads,
            n_gpu_layers=llm_gpu_layers(
                config.gpu_layers,
                offload_supported=lambda: bool(llama_cpp.llama_supports_gpu_offload()),
            ),
            # A fixed seed: the same question over the same sources gets the same answer
            # (llama.cpp seeds randomly by default).
            seed=SEED,
            verbose=False,
        )

    def _fast_weights(self, model_path: Path) -> Path:
        """The Q8_0 copy of the model in the cache folder, converting it on first use."""
        cache_dir = Path(self.config.cache_dir) if self.config.cache_dir else None
        if cache_dir is None or FAST_QUANT.lower() in model_path.stem.lower():
            return model_path
        # The size in the name: an upgraded packaged model gets a new copy.
        target = cache_dir / f"{model_path.stem}.{model_path.stat().st_size}.{FAST_QUANT}.gguf"
        if target.is_file():
            return target
        tmp: str | None = None
        llama_cpp = self._llama_cpp
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            # Written under a temporary name and renamed: never a half-written model file.
            fd, tmp = tempfile.mkstemp(prefix=".convert-", suffix=".gguf", dir=cache_dir)
            os.close(fd)
            params = llama_cpp.llama_model_quantize_default_params()
            params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
            params.allow_requantize = True
            params.nthread = self.config.n_threads
            # llama.cpp logs every tensor it converts (~270 lines); users need none of them.
            logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
            code = llama_cpp.llama_model_quantize(
                str(model_path).encode(), tmp.encode(), ctypes.byref(params)
            )
            if code != 0:
                raise OSError(f"llama_model_quantize returned {code}")
            os.replace(tmp, target)
            return target
        except OSError as exc:  # a read-only data folder or a full disk: slower, not broken
            log.warning("Using %s as it is (no %s copy: %s)", model_path, FAST_QUANT, exc)
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            return model_path

    def grammar(self, sources: int, sentences: int) -> Any:
        grammar = self._grammars.get((sources, sentences))
        if grammar is None:
            text = cited_grammar(sources, sentences)
            grammar = self._llama_cpp.LlamaGrammar.from_string(text, verbose=False)
            self._grammars[(sources, sentences)] = grammar
        return grammar

    def generate(
        self,
        messages: Sequence[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] | None,
        cited: tuple[int, int] | None,
        cancelled: Callable[[], bool],
    ) -> Iterator[str]:
        """Text pieces of a chat completion; stops early when ``cancelled()`` turns true.

        The context keeps its evaluated tokens between calls, so a prompt that starts like the
        previous one (the system prompt) is not evaluated again."""
        grammar = self.grammar(*cited) if cited else None
        # The chat template comes from the GGUF metadata (tokenizer.chat_template).
        chunks: Any = self.llm.create_chat_completion(
            messages=list(messages),  # type: ignore[arg-type]
            max_tokens=max_tokens,
            temperature=temperature,
            stop=list(stop) if stop else None,
            stream=True,
            grammar=grammar,
        )
        try:
            for chunk in chunks:
                for choice in chunk["choices"][:1]:
                    piece = choice.get("delta", {}).get("content")
                    if piece:
                        yield piece
                if cancelled():
                    return
        finally:
            chunks.close()  # stop llama.cpp's generator before the next request runs

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))
