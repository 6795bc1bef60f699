"""Offline tiktoken: cl100k_base from llama-index's bundled cache (tiktoken would download it)."""

from __future__ import annotations

import os
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

import tiktoken


def _bundled_cache_dir() -> Path | None:
    spec = find_spec("llama_index.core")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "_static" / "tiktoken_cache"
    return path if path.is_dir() else None


@lru_cache(maxsize=1)
def cl100k() -> tiktoken.Encoding:
    """The cl100k_base encoding, loaded without network access."""
    if "TIKTOKEN_CACHE_DIR" not in os.environ and (cache := _bundled_cache_dir()):
        # tiktoken reads this variable on each load; setting it only when unset keeps a user's own.
        os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    return tiktoken.get_encoding("cl100k_base")


def count_tokens(text: str) -> int:
    return len(cl100k().encode(text, disallowed_special=()))
