"""Offline tiktoken: encodings come from a local cache, never from the network.

``tiktoken.get_encoding`` downloads its BPE file on first use. llama-index-core ships
cl100k_base in its ``_static/tiktoken_cache`` folder, so we point tiktoken there. An encoding
that is not in a local cache is never fetched: callers get cl100k_base instead (an approximation
that is within a few percent for English text).
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tiktoken

CL100K = "cl100k_base"
_BLOB_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"


def bundled_cache_dir() -> Path | None:
    """The tiktoken cache folder shipped inside llama-index-core, if installed."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("llama_index.core")
    except ModuleNotFoundError:  # no llama_index at all (find_spec imports the parent)
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "_static" / "tiktoken_cache"
        if folder.is_dir():
            return folder
    return None


def _cache_file(folder: Path, name: str) -> Path:
    # tiktoken names cache files by the sha1 of the download URL (tiktoken/load.py).
    return folder / hashlib.sha1(_BLOB_URL.format(name=name).encode()).hexdigest()


def _offline_cache_dir(name: str) -> Path | None:
    """A cache folder that already holds ``name``: the user's TIKTOKEN_CACHE_DIR, else ours."""
    candidates = [os.environ.get("TIKTOKEN_CACHE_DIR"), os.environ.get("DATA_GYM_CACHE_DIR")]
    folders = [Path(c) for c in candidates if c]
    bundled = bundled_cache_dir()
    if bundled is not None:
        folders.append(bundled)
    for folder in folders:
        if _cache_file(folder, name).is_file():
            return folder
    return None


def _load(name: str) -> tiktoken.Encoding:
    import tiktoken

    folder = _offline_cache_dir(name)
    if folder is None:
        raise RuntimeError(
            f"The tiktoken encoding {name!r} is not available offline. Install llama-index-core "
            "(it ships cl100k_base) or set TIKTOKEN_CACHE_DIR to a folder that holds it."
        )
    # tiktoken reads the cache location from the environment only; setting it is the same
    # thing llama-index's own get_tokenizer does. A user's own setting that already holds the
    # file is left alone (it was found first above).
    if os.environ.get("TIKTOKEN_CACHE_DIR") != str(folder):
        os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)
    return tiktoken.get_encoding(name)


@functools.lru_cache(maxsize=1)
def cl100k() -> tiktoken.Encoding:
    """The cl100k_base encoding, loaded from a local cache (never downloaded)."""
    return _load(CL100K)


@functools.lru_cache(maxsize=8)
def encoding_for_model(model: str) -> tiktoken.Encoding:
    """The model's own encoding if it is cached locally, else cl100k_base."""
    import tiktoken.model

    try:
        name = tiktoken.model.encoding_name_for_model(model)
    except KeyError:
        return cl100k()
    if name == CL100K or _offline_cache_dir(name) is None:
        return cl100k()
    return _load(name)


def count_cl100k(text: str) -> int:
    """Tokens of ``text`` in cl100k_base; special-token text is counted as plain text."""
    return len(cl100k().encode(text, disallowed_special=()))
