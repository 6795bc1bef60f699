"""What the trainers of the project's cross-encoders share: batches of pairs, scoring, the
torch set-up that makes a run deterministic for a seed, and how a run is written out."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """What every trainer takes to make a run repeatable: seed, CPU threads, device and
    precision, and where its checkpoints go."""
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--device", default="cpu", help="torch device to train on: cpu, or cuda on a GPU machine"
    )
    parser.add_argument(
        "--precision",
        choices=("auto", "bf16", "fp32"),
        default="auto",
        help="bf16 autocast where the CPU has native bf16 (AMX or AVX-512-BF16) or on a GPU; "
        "fp32 elsewhere",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="file to save the run's state to every --checkpoint-every steps, and to resume "
        "from when it exists (default: OUT/checkpoint.pt)",
    )
    parser.add_argument("--checkpoint-every", type=int, default=200)
    parser.add_argument(
        "--stop-after",
        type=int,
        default=None,
        help="train this many steps of the run, save the checkpoint and stop (run the same "
        "command again to go on): a long run in slices",
    )


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AMX tiles or AVX-512-BF16): there bf16
    autocast trains 1.6-2.6x faster than fp32; elsewhere it is emulated and slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return any(f in flags.split() for f in ("amx_bf16", "avx512_bf16"))


def resolve_precision(precision: str, device: str) -> str:
    if precision != "auto":
        return precision
    return "bf16" if device.startswith("cuda") or cpu_has_bf16() else "fp32"


def autocast(precision: str, device: str) -> Any:
    """The context a forward pass runs in: bf16 autocast, or nothing for fp32."""
    import contextlib

    import torch

    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(
        device_type="cuda" if device.startswith("cuda") else "cpu", dtype=torch.bfloat16
    )


def deterministic_torch(threads: int, seed: int) -> None:
    """Fixed threads, seed and algorithms: the same run gives the same weights, byte for byte."""
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    # cuBLAS is deterministic only with a fixed workspace (read when CUDA starts).
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "log", "-1", "--format=%H", "--", "training"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "-C",
                str(REPO),
                "status",
                "--porcelain",
                "--",
                "training",
                "chatbot/models/cross_encoder.py",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return (out or "unknown") + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def encode_pairs(tokenizer: Any, texts: Sequence[tuple[str, str]], device: Any = "cpu") -> Any:
    """Token ids, type ids and attention mask of a batch of pairs, padded to its longest, on
    ``device``."""
    import torch

    enc = tokenizer.encode_batch(list(texts))
    length = max(len(e.ids) for e in enc)
    ids = torch.zeros((len(enc), length), dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for i, e in enumerate(enc):
        n = len(e.ids)
        ids[i, :n] = torch.tensor(e.ids)
        types[i, :n] = torch.tensor(e.type_ids)
        mask[i, :n] = 1
    return ids.to(device), types.to(device), mask.to(device)


def score_pairs(
    model: Any, tokenizer: Any, pairs: Sequence[tuple[str, str]], batch: int = 32
) -> list[float]:
    import torch

    model.eval()
    device = next(model.parameters()).device
    out: list[float] = []
    with torch.inference_mode():
        for s in range(0, len(pairs), batch):
            ids, types, mask = encode_pairs(tokenizer, pairs[s : s + batch], device)
            logits = model(input_ids=ids, token_type_ids=types, attention_mask=mask).logits
            out.extend(logits[:, 0].tolist())
    return out


def fit(
    model: Any,
    steps: int,
    lr: float,
    batch_loss: Callable[[int], Any],
    log_every: int,
    checkpoint: Path | None = None,
    checkpoint_every: int = 200,
    stop_after: int | None = None,
) -> tuple[list[float], float] | None:
    """Fine-tune the whole model for ``steps`` (AdamW, weight decay 0.01, 10% warm-up then
    linear decay, gradients clipped at 1); ``batch_loss(step)`` is that step's loss. With
    ``checkpoint``, the model, optimizer, schedule, random state and losses are saved there
    every ``checkpoint_every`` steps, and a run that finds the file resumes after its last step
    (a session can be cut off midway); the batches are a function of the step, so a resumed run
    trains on what the uninterrupted one would have. Returns the losses and the seconds it took
    (this process's, plus those recorded before a resume); None when ``stop_after`` steps
    were trained and the run was saved to go on later."""
    import numpy as np
    import torch
    from transformers import get_linear_schedule_with_warmup

    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, max(1, steps // 10), steps)
    model.train()
    losses: list[float] = []
    first, before = 0, 0.0
    if checkpoint is not None and checkpoint.is_file():
        state = torch.load(checkpoint, weights_only=False)
        if state["steps"] != steps:
            raise SystemExit(
                f"{checkpoint} is of a run of {state['steps']} steps, not {steps}: "
                "delete it or pass the same options"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        torch.set_rng_state(state["rng"])
        losses, first, before = state["losses"], state["step"], state["seconds"]
        print(f"resumed from {checkpoint} after step {first}", flush=True)
    started = time.perf_counter()

    def save(step: int) -> None:
        assert checkpoint is not None
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        tmp = checkpoint.with_suffix(".tmp")
        torch.save(
            {
                "steps": steps,
                "step": step,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "rng": torch.get_rng_state(),
                "losses": losses,
                "seconds": before + time.perf_counter() - started,
            },
            tmp,
        )
        tmp.replace(checkpoint)  # a kill mid-save leaves the previous checkpoint whole

    for step in range(first, steps):
        if stop_after is not None and step - first >= stop_after:
            if checkpoint is not None:
                save(step)
            print(f"stopped after step {step}; run again to resume", flush=True)
            return None
        loss = batch_loss(step)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        if checkpoint is not None and (step + 1) % checkpoint_every == 0:
            save(step + 1)
        if (step + 1) % log_every == 0 or step + 1 == steps:
            rate = (step + 1 - first) / (time.perf_counter() - started)
            print(
                f"step {step + 1}/{steps} loss {np.mean(losses[-log_every:]):.4f} "
                f"({rate:.2f} steps/s, eta {(steps - step - 1) / rate / 60:.1f} min)",
                flush=True,
            )
    return losses, before + time.perf_counter() - started


def export(model: Any, base: Path, out: Path, extra: dict[str, Any] | None = None) -> int:
    """The model as float16 safetensors with its config and the base's tokenizer; its size.
    ``extra``: more tensors (a second head) stored beside the model's, as float16."""
    out.mkdir(parents=True, exist_ok=True)
    model.to("cpu").half().save_pretrained(out, safe_serialization=True)
    if extra:
        from safetensors.torch import load_file, save_file

        tensors = load_file(str(out / "model.safetensors"))
        tensors.update({k: v.detach().to("cpu").half().contiguous() for k, v in extra.items()})
        save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    shutil.copyfile(base / "tokenizer.json", out / "tokenizer.json")
    (out / "generation_config.json").unlink(missing_ok=True)
    return (out / "model.safetensors").stat().st_size


def run_record(args: Any, started: float) -> dict[str, Any]:
    """Where a run came from: seed, threads, total time, commit and versions."""
    import torch

    return {
        "seed": args.seed,
        "threads": args.threads,
        "device": args.device,
        "precision": getattr(args, "precision", "fp32"),
        "total_seconds": round(time.perf_counter() - started, 1),
        "git_commit": git_commit(),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
    }


def write_run(out: Path, info: dict[str, Any], card: Callable[[dict[str, Any]], str]) -> None:
    """``metrics.json`` and ``MODEL_CARD.md`` beside the weights."""
    (out / "metrics.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    (out / "MODEL_CARD.md").write_text(card(info), encoding="utf-8")
