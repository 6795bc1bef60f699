"""BM25 over the stored chunks, derived from Chroma (the source of truth) and kept fresh by ingest.

The index is rebuilt only when ingest or delete marks it stale, or when the store's write token
or chunk count shows another process changed it; never per query. Building reads every chunk
(about 70 s at 200,000 chunks), so a built index is saved under ``cache_dir`` keyed by the
store's write token and loaded from there by the next process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import bm25s
import numpy as np

from chatbot.common.text import words
from chatbot.index.store import ArticleStore
from chatbot.vocabulary import Passage

log = logging.getLogger(__name__)
_CACHE_FORMAT = 1
_CACHE_KEEP = 8  # stores whose keyword index stays cached

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
    state: tuple[str | None, int]  # the store's write token and chunk count it was built from
    newest: datetime | None = None
    oldest: datetime | None = None
    # Per-passage columns, so that date/outlet/article filters are array operations per query
    # rather than a Python loop over every stored chunk.
    timestamps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sources: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    article_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    chunk_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))

    @classmethod
    def of(
        cls, index: bm25s.BM25 | None, passages: list[Passage], state: tuple[str | None, int]
    ) -> _Snapshot:
        dates = [p.published_at for p in passages if p.published_at]
        return cls(
            index,
            passages,
            state,
            max(dates, default=None),
            min(dates, default=None),
            timestamps=np.array(
                [p.published_at.timestamp() if p.published_at else np.nan for p in passages]
            ),
            sources=np.array([p.source for p in passages], dtype=object),
            article_ids=np.array([p.article_id for p in passages], dtype=object),
            chunk_ids=np.array([p.chunk_id for p in passages], dtype=object),
        )


class KeywordIndex:
    def __init__(
        self,
        store: ArticleStore,
        *,
        recheck_seconds: float = 1.0,
        cache_dir: Path | None = None,
    ) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._stale = True
        # This process's own writes mark the index stale at once; asking the store for its state
        # (to notice other writers to a shared server) costs round trips, so at most this often.
        self._recheck_seconds = recheck_seconds
        self._checked_at = float("-inf")
        self.cache_dir = cache_dir
        self.builds = 0  # full builds from the store (not cache loads) in this process

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
            state = self._store_state()
            self._checked_at = now
            if snap is None or self._stale or snap.state != state:
                self._stale = False
                self._snapshot = snap = self._load(state) or self._build(state)
            return snap

    def _store_state(self) -> tuple[str | None, int]:
        token = self._store.write_token()
        if token is None and self.cache_dir is not None:
            # A store written before write tokens existed: give it one, so it can be cached.
            with contextlib.suppress(Exception):
                self._store.mark_changed()
                token = self._store.write_token()
        return token, self._store.count_chunks()

    def _build(self, state: tuple[str | None, int]) -> _Snapshot:
        self.builds += 1
        passages = list(self._store.iter_chunks())
        if not passages:
            return _Snapshot(None, [], state)
        # bm25s sets its own logger to DEBUG, which put "Building index" lines in CLI output.
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        index = bm25s.BM25()
        # Interned: one string object per distinct word, not per occurrence (at 200,000 chunks
        # the copies alone took gigabytes).
        corpus = [
            [sys.intern(w) for w in keyword_tokens(f"{p.title} {p.text}")] or ["_empty_"]
            for p in passages
        ]
        index.index(corpus, show_progress=False)
        del corpus
        snap = _Snapshot.of(index, passages, state)
        self._save(snap)
        return snap

    # --- the on-disk cache ---------------------------------------------------------------------

    def _cache_path(self, state: tuple[str | None, int]) -> Path | None:
        token, count = state
        if self.cache_dir is None or token is None:
            return None
        prefix = hashlib.sha1(self._store.identity.encode()).hexdigest()[:12]
        return self.cache_dir / f"{prefix}-{token}-{count}"

    def _load(self, state: tuple[str | None, int]) -> _Snapshot | None:
        path = self._cache_path(state)
        if path is None or not path.is_dir():
            return None
        try:
            with (path / "passages.jsonl").open(encoding="utf-8") as lines:
                header = json.loads(next(lines))
                if header != {"format": _CACHE_FORMAT, "passages": state[1]}:
                    raise ValueError(f"format or size differs: {header}")
                passages = [_passage(json.loads(line)) for line in lines]
            if len(passages) != state[1]:
                raise ValueError(f"{len(passages)} passages instead of {state[1]}")
            logging.getLogger("bm25s").setLevel(logging.WARNING)
            index = bm25s.BM25.load(str(path), show_progress=False)
        except Exception as exc:  # a damaged cache is rebuilt, never trusted
            log.warning("keyword index cache %s is unreadable (%s); rebuilding it", path, exc)
            shutil.rmtree(path, ignore_errors=True)
            return None
        return _Snapshot.of(index, passages, state)

    def _save(self, snap: _Snapshot) -> None:
        path = self._cache_path(snap.state)
        if path is None or snap.index is None or len(snap.passages) != snap.state[1]:
            return  # uncommitted chunks in the count: this set may never be seen again
        work: Path | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix=".building-", dir=path.parent))
            snap.index.save(str(work), show_progress=False)
            with (work / "passages.jsonl").open("w", encoding="utf-8") as out:
                out.write(json.dumps({"format": _CACHE_FORMAT, "passages": len(snap.passages)}))
                for p in snap.passages:  # line by line: one big string would double the memory
                    out.write("\n" + json.dumps(_row(p)))
            os.replace(work, path)  # readers see a whole cache or none
        except OSError as exc:
            if work is not None:
                shutil.rmtree(work, ignore_errors=True)
            if not path.is_dir():  # else another process saved the same state first
                log.warning("cannot save the keyword index cache in %s: %s", path.parent, exc)
            return
        # This store's older states are useless; other stores' caches stay, up to a few.
        prefix = path.name.split("-", 1)[0] + "-"
        others = []
        for old in path.parent.iterdir():
            if old == path or old.name.startswith(".building-"):
                continue
            if old.name.startswith(prefix):
                shutil.rmtree(old, ignore_errors=True)
            else:
                others.append(old)
        others.sort(key=lambda d: d.stat().st_mtime, reverse=True)
        for old in others[_CACHE_KEEP - 1 :]:
            shutil.rmtree(old, ignore_errors=True)

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


def _row(p: Passage) -> list:
    published = p.published_at.timestamp() if p.published_at else None
    return [
        p.chunk_id, p.article_id, p.n, p.text, p.char_start, p.char_end, p.title, p.source,
        published, p.url, list(p.authors),
    ]  # fmt: skip


def _passage(row: list) -> Passage:
    (chunk_id, article_id, n, text, start, end, title, source, published, url, authors) = row
    return Passage(
        chunk_id=chunk_id,
        article_id=article_id,
        n=n,
        text=text,
        char_start=start,
        char_end=end,
        title=title,
        source=source,
        published_at=None if published is None else datetime.fromtimestamp(published, UTC),
        url=url,
        authors=tuple(authors),
    )
