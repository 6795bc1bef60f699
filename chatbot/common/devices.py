"""Which device computes embeddings (``CHATBOT_EMBEDDING_DEVICE``) and how many layers of the
local LLM go to the GPU: the choice is pure, the probes are passed in, and torch is imported
only where a GPU may actually be present (importing it costs seconds)."""

from __future__ import annotations

import os
import platform
import shutil
from collections.abc import Callable

SETTING = "CHATBOT_EMBEDDING_DEVICE"
CHOICES = ("auto", "cpu", "cuda", "mps")
_LABELS = {"cuda": "CUDA", "mps": "Apple MPS"}


def select_device(
    setting: str,
    *,
    cuda_available: Callable[[], bool],
    mps_available: Callable[[], bool],
) -> str:
    """ "auto" -> cuda, else mps, else cpu; an explicit device must be available.

    Raises ValueError naming the setting for an unknown value or an unavailable device."""
    choice = setting.strip().lower()
    if choice not in CHOICES:
        raise ValueError(f"{SETTING}={setting!r} is not one of {', '.join(CHOICES)}.")
    if choice == "cpu":
        return "cpu"  # no probe: must not import torch
    probes = {"cuda": cuda_available, "mps": mps_available}
    if choice == "auto":
        # Probe lazily and in order: with CUDA present, the MPS probe never runs.
        return next((name for name, probe in probes.items() if probe()), "cpu")
    if probes[choice]():
        return choice
    available = ["cpu", *(name for name, probe in probes.items() if name != choice and probe())]
    raise ValueError(
        f"{SETTING}={choice} but no {_LABELS[choice]} device is available "
        f"(available here: {', '.join(available)}). Set {SETTING}=auto or "
        f"{SETTING}={available[-1]}."
    )


def nvidia_driver_present() -> bool:
    """A cheap sign of an NVIDIA GPU (no torch import): the kernel driver or its tool."""
    return os.path.exists("/proc/driver/nvidia/version") or shutil.which("nvidia-smi") is not None


def apple_silicon() -> bool:
    return platform.system() == "Darwin" and platform.machine() == "arm64"


def torch_cuda_available() -> bool:
    if not nvidia_driver_present():
        return False
    try:
        import torch  # seconds: only where a GPU may be there
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def torch_mps_available() -> bool:
    if not apple_silicon():
        return False
    try:
        import torch
    except ImportError:
        return False
    mps = getattr(torch.backends, "mps", None)  # absent on old torch builds
    return bool(mps is not None and mps.is_available())


def embedding_device(setting: str) -> str:
    return select_device(
        setting, cuda_available=torch_cuda_available, mps_available=torch_mps_available
    )


def llm_gpu_layers(setting: int | None, *, offload_supported: Callable[[], bool]) -> int:
    """Layers of the local model to offload: the setting when given (-1 = all), else all of
    them when this llama.cpp build can offload (a CUDA/Metal/Vulkan build), else none."""
    if setting is not None:
        return setting
    return -1 if offload_supported() else 0
