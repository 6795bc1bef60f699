"""BM25 over the stored chunks, derived from Chroma (the source of truth) and kept fresh by ingest.

The index is rebuilt only when ingest or delete marks it stale, or when the store's chunk count
shows another process changed it; never per query.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
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
    # Per-passage columns, so that date/outlet/article filters are array operations per query
    # rather than a Python loop over every stored chunk.
    timestamps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sources: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    article_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    chunk_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))


class KeywordIndex:
    def __init__(self, store: ArticleStore, *, recheck_seconds: float = 1.0) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._stale = True
        # This process's own writes mark the index stale at once; counting the store's chunks
        # (to notice other writers to a shared server) costs a round trip, so at most this often.
        self._recheck_seconds = recheck_seconds
        self._checked_at = float("-inf")

    def mark_stale(self) -> None:
        self._stale = True

    def _current(self) -> _Snapshot:
        with self._lock:
            snap = self._snapshot
            now = time.monotonic()
            if (
                snap is not None
                and not self._stale
                and now - self._checked_at < self._recheck_seconds
            ):
                return snap
            count = self._store.count_chunks()
            self._checked_at = now
            if snap is None or self._stale or snap.chunk_count != count:
                self._stale = False
                self._snapshot = snap = self._build()
            return snap

    def _build(self) -> _Snapshot:
        count = self._store.count_chunks()
        passages = list(self._store.iter_chunks())
        if not passages:
            return _Snapshot(None, [], count)
        # bm25s sets its own logger to DEBUG, which put "Building index" lines in CLI output.
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        index = bm25s.BM25()
        corpus = [keyword_tokens(f"{p.title} {p.text}") or ["_empty_"] for p in passages]
        index.index(corpus, show_progress=False)
        dates = [p.published_at for p in passages if p.published_at]
        return _Snapshot(
            index,
            passages,
            count,
            max(dates, default=None),
            min(dates, default=None),
            timestamps=np.array(
                [p.published_at.timestamp() if p.published_at else np.nan for p in passages]
            ),
            sources=np.array([p.source for p in passages], dtype=object),
            article_ids=np.array([p.article_id for p in passages], dtype=object),
            chunk_ids=np.array([p.chunk_id for p in passages], dtype=object),
        )

    def refresh(self) -> None:
        self._current()

    def newest(self) -> datetime | None:
        """Publication date of the newest stored article: "today" for time phrases."""
        return self._current().newest

    def oldest(self) -> datetime | None:
        return self._current().oldest

    def chunk_ids_where(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        sources: Collection[str] = (),
        article_ids: Collection[str] = (),
    ) -> list[str] | None:
        """Ids of the chunks those filters admit (None: no filter given). Chroma filters
        metadata slowly (~70 ms at 17.5k chunks); a list of ids it answers in a few."""
        snap = self._current()
        mask = _column_mask(snap, since, until, sources, article_ids)
        return None if mask is None else snap.chunk_ids[mask].tolist()

    def search(
        self,
        query: str,
        k: int,
        mask_fn: Callable[[Passage], bool] | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        sources: Collection[str] = (),
        article_ids: Collection[str] = (),
    ) -> list[Passage]:
        """Best ``k`` passages by BM25 among those published in [since, until), from
        ``sources``, in ``article_ids`` and accepted by ``mask_fn(passage)`` (each optional)."""
        snap = self._current()
        tokens = keyword_tokens(query)
        if snap.index is None or not tokens:
            return []
        mask = _column_mask(snap, since, until, sources, article_ids)
        if mask_fn is not None:
            accepted = np.fromiter((mask_fn(p) for p in snap.passages), dtype=bool)
            mask = accepted if mask is None else mask & accepted
        if mask is not None and not mask.any():
            return []
        k = min(k, len(snap.passages))
        ids, scores = snap.index.retrieve(
            [tokens],
            k=k,
            show_progress=False,
            weight_mask=None if mask is None else mask.astype(np.float32),
            n_threads=1,
        )
        found: list[Passage] = []
        for i, score in zip(ids[0], scores[0], strict=True):
            if score <= 0:
                continue
            found.append(replace(snap.passages[int(i)], score=float(score)))
        return found


def _column_mask(
    snap: _Snapshot,
    since: datetime | None,
    until: datetime | None,
    sources: Collection[str],
    article_ids: Collection[str],
) -> np.ndarray | None:
    if not (since or until or sources or article_ids):
        return None
    mask = np.ones(len(snap.passages), dtype=bool)
    # NaN (no date) compares False, so undated passages fail any date bound, as Filters does.
    if since:
        mask &= snap.timestamps >= since.timestamp()
    if until:
        mask &= snap.timestamps < until.timestamp()
    if sources:
        mask &= np.isin(snap.sources, list(sources))
    if article_ids:
        mask &= np.isin(snap.article_ids, list(article_ids))
    return mask
