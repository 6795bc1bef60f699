"""Summaries kept on disk: one JSON file per (articles and their content versions, backend,
settings), so that a summary is written once and a changed article or setting misses."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from chatbot.codecs import summary_from_dict, summary_to_dict
from chatbot.common.files import atomic_write
from chatbot.vocabulary import Summary

log = logging.getLogger(__name__)

# Bump when summaries would come out differently for the same article: old cache files are ignored.
CACHE_VERSION = 1


class SummaryCache:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, name: str, key: list[Any]) -> Path:
        """The file for ``key`` (JSON values naming what the summary depends on)."""
        digest = hashlib.sha256(json.dumps([CACHE_VERSION, *key]).encode("utf-8")).hexdigest()
        return self.folder / f"{name}-{digest[:20]}.json"

    def get(self, path: Path) -> Summary | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return summary_from_dict(data["summary"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable summary cache %s: %s", path, exc)
            return None

    def put(self, path: Path, summary: Summary) -> None:
        payload = json.dumps({"version": CACHE_VERSION, "summary": summary_to_dict(summary)})
        atomic_write(path, payload)
