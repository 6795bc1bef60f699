"""BM25 over the stored chunks, derived from Chroma (the source of truth) and kept fresh by ingest.

The index is rebuilt only when ingest or delete marks it stale, or when the store's chunk count
shows another process changed it; never per query.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

import bm25s
import numpy as np

from chatbot.models import Passage
from chatbot.store import ArticleStore
from chatbot.text import words

# A short list: BM25's idf already discounts common words; these only add noise to queries.
_STOPWORDS = frozenset(
    "a an and are as at be been but by did do does for from had has have he her his how i in is "
    "it its of on or she that the their them they this to was were what when where which who whom "
    "why will with you your".split()
)


def keyword_tokens(text: str) -> list[str]:
    return [w for w in words(text) if w not in _STOPWORDS]


@dataclass
class _Snapshot:
    index: bm25s.BM25 | None
    passages: list[Passage]
    chunk_count: int
    newest: datetime | None = None
    oldest: datetime | None = None


class KeywordIndex:
    def __init__(self, store: ArticleStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._stale = True

    def mark_stale(self) -> None:
        self._stale = True

    def _current(self) -> _Snapshot:
        with self._lock:
            count = self._store.count_chunks()
            snap = self._snapshot
            if snap is None or self._stale or snap.chunk_count != count:
                self._stale = False
                self._snapshot = snap = self._build()
            return snap

    def _build(self) -> _Snapshot:
        count = self._store.count_chunks()
        passages = list(self._store.iter_chunks())
        if not passages:
            return _Snapshot(None, [], count)
        index = bm25s.BM25()
        corpus = [keyword_tokens(f"{p.title} {p.text}") or ["_empty_"] for p in passages]
        index.index(corpus, show_progress=False)
        dates = [p.published_at for p in passages if p.published_at]
        return _Snapshot(index, passages, count, max(dates, default=None), min(dates, default=None))

    def refresh(self) -> None:
        self._current()

    def newest(self) -> datetime | None:
        """Publication date of the newest stored article: "today" for time phrases."""
        return self._current().newest

    def oldest(self) -> datetime | None:
        return self._current().oldest

    def search(
        self, query: str, k: int, mask_fn: Callable[[Passage], bool] | None = None
    ) -> list[Passage]:
        """Best ``k`` passages by BM25, optionally restricted by ``mask_fn(passage) -> bool``."""
        snap = self._current()
        tokens = keyword_tokens(query)
        if snap.index is None or not tokens:
            return []
        mask = None
        if mask_fn is not None:
            mask = np.fromiter(
                (mask_fn(p) for p in snap.passages), dtype=bool, count=len(snap.passages)
            ).astype(np.float32)
            if not mask.any():
                return []
        k = min(k, len(snap.passages))
        ids, scores = snap.index.retrieve(
            [tokens], k=k, show_progress=False, weight_mask=mask, n_threads=1
        )
        found: list[Passage] = []
        for i, score in zip(ids[0], scores[0], strict=True):
            if score <= 0:
                continue
            found.append(replace(snap.passages[int(i)], score=float(score)))
        return found
