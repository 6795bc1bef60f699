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
    """What every trainer takes to make a run repeatable: seed, CPU threads and device."""
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--device", default="cpu", help="torch device to train on: cpu, or cuda on a GPU machine"
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
    model: Any, steps: int, lr: float, batch_loss: Callable[[int], Any], log_every: int
) -> tuple[list[float], float]:
    """Fine-tune the whole model for ``steps`` (AdamW, weight decay 0.01, 10% warm-up then
    linear decay, gradients clipped at 1); ``batch_loss(step)`` is that step's loss. Returns
    the losses and the seconds it took."""
    import numpy as np
    import torch
    from transformers import get_linear_schedule_with_warmup

    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, max(1, steps // 10), steps)
    model.train()
    started = time.perf_counter()
    losses: list[float] = []
    for step in range(steps):
        loss = batch_loss(step)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        if (step + 1) % log_every == 0 or step + 1 == steps:
            rate = (step + 1) / (time.perf_counter() - started)
            print(
                f"step {step + 1}/{steps} loss {np.mean(losses[-log_every:]):.4f} "
                f"({rate:.2f} steps/s, eta {(steps - step - 1) / rate / 60:.1f} min)",
                flush=True,
            )
    return losses, time.perf_counter() - started


def export(model: Any, base: Path, out: Path) -> int:
    """The model as float16 safetensors with its config and the base's tokenizer; its size."""
    out.mkdir(parents=True, exist_ok=True)
    model.to("cpu").half().save_pretrained(out, safe_serialization=True)
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
        "total_seconds": round(time.perf_counter() - started, 1),
        "git_commit": git_commit(),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
    }


def write_run(out: Path, info: dict[str, Any], card: Callable[[dict[str, Any]], str]) -> None:
    """``metrics.json`` and ``MODEL_CARD.md`` beside the weights."""
    (out / "metrics.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    (out / "MODEL_CARD.md").write_text(card(info), encoding="utf-8")
