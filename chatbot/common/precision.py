"""Which number format the local embedding model computes in when torch embeds (ingest-sized
calls; ``CHATBOT_EMBEDDING_PRECISION``): the choice is pure and the CPU's flags are read by a
function passed in, so tests can pretend to be any CPU."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

SETTING = "CHATBOT_EMBEDDING_PRECISION"
CHOICES = ("auto", "bf16", "fp32")
Precision = Literal["bf16", "fp32"]
# Instructions that make bf16 matrix products faster than fp32 ones (Intel AMX since Sapphire
# Rapids; AVX-512-BF16 on Cooper Lake and AMD Zen 4). Without them torch emulates bf16, slower.
NATIVE_BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (Linux); empty where it cannot be read."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86 / ARM spelling
            return frozenset(value.split())
    return frozenset()


def native_bf16(flags: frozenset[str]) -> bool:
    return bool(flags & NATIVE_BF16_FLAGS)


def select_precision(
    setting: str, device: str, *, flags: Callable[[], frozenset[str]] | None = None
) -> Precision:
    """ "auto" -> bf16 on a CPU with native bf16, else fp32 (GPUs keep fp32, as before);
    "bf16"/"fp32" force one. ``flags`` reads the CPU's flags (default :func:`cpu_flags`,
    looked up when called, so a test can replace it). Raises ValueError naming the setting
    for an unknown value."""
    choice = setting.strip().lower()
    if choice not in CHOICES:
        raise ValueError(f"{SETTING}={setting!r} is not one of {', '.join(CHOICES)}.")
    if choice != "auto":
        return "bf16" if choice == "bf16" else "fp32"
    if device != "cpu":
        return "fp32"  # no flag read: the CPU's flags say nothing about a GPU
    return "bf16" if native_bf16((flags or cpu_flags)()) else "fp32"
