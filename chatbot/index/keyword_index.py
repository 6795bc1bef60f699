"""BM25 over the stored chunks, derived from Chroma (the source of truth) and kept current
incrementally.

The index lives in one SQLite file per store under ``cache_dir`` (:mod:`.keyword_segments`):
a write adds the new chunks as a small segment and marks replaced or deleted ones dead, so a
write costs in proportion to what it wrote, not to the store (a full rebuild took 5.5 s at dev
size and about 90 s at 200,000 chunks, and the next question waited for it).

How it stays equal to Chroma:
- Ingest and delete tell the index which articles they wrote (``articles_changed``), inside
  the writer's turn; the index reads those articles' committed chunks back from Chroma and
  applies them at once, so they are searchable when the write returns.
- Anything else (another process, a crash between the Chroma write and the index update, an
  index file from an older state) shows as a difference between the store's write token and
  chunk count and those the index recorded. Queries notice it (at most every
  ``recheck_seconds``) and start a catch-up in the background: the committed versions of all
  articles are compared with the indexed ones, and only the differences are applied. Queries
  meanwhile use the last consistent snapshot, and drop hits that Chroma no longer commits.
- A missing or damaged file is rebuilt from Chroma (``rebuild``); that, the first build of a
  store, is the only time a question waits for the index.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

import numpy as np

from chatbot.common.text import words
from chatbot.index.keyword_segments import EMPTY_TOKEN, Doc, SegmentFile, Snapshot, State, damaged
from chatbot.index.store import ArticleStore
from chatbot.vocabulary import Passage

log = logging.getLogger(__name__)
_BUILD_BATCH = 20_000  # chunks per segment of a full build: bounds the memory it takes
_OLD_CACHE = re.compile(r"[0-9a-f]{12}-.+")  # the bm25s cache folders of the format before

# A short list: BM25's idf already discounts common words; these only add noise to queries.
_STOPWORDS = frozenset(
    "a an and are as at be been but by did do does for from had has have he her his how i in is "
    "it its of on or she that the their them they this to was were what when where which who whom "
    "why will with you your".split()
)


def keyword_tokens(text: str) -> list[str]:
    return [w for w in words(text) if w not in _STOPWORDS]


def _doc(p: Passage) -> Doc:
    # Interned: one string object per distinct word while a segment is built.
    tokens = [sys.intern(w) for w in keyword_tokens(f"{p.title} {p.text}")]
    return Doc(p, tokens or [EMPTY_TOKEN])


class KeywordIndex:
    def __init__(
        self,
        store: ArticleStore,
        *,
        recheck_seconds: float = 1.0,
        cache_dir: Path | None = None,
    ) -> None:
        self._store = store
        self.cache_dir = cache_dir
        # Asking the store for its state (to notice other writers) costs round trips: at most
        # this often, and never in the question's own thread.
        self._recheck_seconds = recheck_seconds
        self._checked_at = float("-inf")
        self._lock = threading.Lock()  # the fields below
        self._file: SegmentFile | None = None
        self._worker: threading.Thread | None = None
        self._again = False
        self._closed = False
        # The store may have changes the index has not applied yet (true until the first
        # check: a process that crashed may have left some): hits are checked against Chroma.
        self._lagging = True
        self._sync = threading.RLock()  # builds and catch-ups take turns in this process
        self._private: Path | None = None  # a temporary folder when there is no cache_dir
        self.builds = 0  # full builds from the store (not loads) in this process

    # --- the file ----------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The index file of this store."""
        return self._segments().path

    def _segments(self) -> SegmentFile:
        file = self._file
        if file is not None:
            return file
        with self._lock:
            if self._file is None:
                self._file = self._open()
            return self._file

    def _open(self) -> SegmentFile:
        identity = self._store.identity
        name = hashlib.sha1(identity.encode()).hexdigest()[:12]
        folder = self.cache_dir
        if folder is not None:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                _prune(folder, folder / f"{name}.sqlite3")
                return self._open_file(folder / f"{name}.sqlite3", identity)
            except (OSError, sqlite3.OperationalError) as exc:
                log.warning("cannot save the keyword index cache in %s: %s", folder, exc)
        if self._private is None:  # this process only: removed with this object
            self._private = Path(tempfile.mkdtemp(prefix="keyword-index-"))
            weakref.finalize(self, shutil.rmtree, self._private, True)
        return self._open_file(self._private / f"{name}.sqlite3", identity)

    @staticmethod
    def _open_file(path: Path, identity: str) -> SegmentFile:
        try:
            return SegmentFile(path, identity)
        except sqlite3.DatabaseError as exc:  # a damaged file is rebuilt, never trusted
            if not damaged(exc):
                raise
            log.warning("keyword index cache %s is unreadable (%s); rebuilding it", path, exc)
            _remove(path)
            return SegmentFile(path, identity)

    def _damaged(self, file: SegmentFile, exc: Exception) -> None:
        """A read failed on a damaged file: start over with a new one (built on next use)."""
        log.warning("keyword index cache %s is unreadable (%s); rebuilding it", file.path, exc)
        with self._lock:
            if self._file is file:
                self._file = None
        file.close()
        _remove(file.path)

    def close(self) -> None:
        """Stop background work and close the file (the store is closed by its owner)."""
        with self._lock:
            self._closed = True
            worker, file = self._worker, self._file
            self._file = None
        if worker is not None:
            worker.join(timeout=30)
        if file is not None:
            with self._sync:
                file.close()

    # --- staying equal to the store ----------------------------------------------------------

    def articles_changed(self, article_ids: Sequence[str]) -> None:
        """Apply these articles' committed state from Chroma now (ingest and delete call this
        in the writer's turn, so what they wrote is searchable when they return)."""
        try:
            file = self._segments()
            built, _ = file.recorded_state()
            if not built:
                return  # the first build will read everything
            with self._sync:
                applied = self._apply(file, list(dict.fromkeys(article_ids)))
        except Exception as exc:  # the write succeeded; the index catches up later
            log.warning("keyword index update failed (%s); catching up in the background", exc)
            applied = False
        if not applied:
            self.mark_stale()
        else:
            self._lagging = False  # the index holds exactly the store's current state
            self._start_background()  # a merge may be due (the check itself is cheap)

    def _apply(self, file: SegmentFile, article_ids: list[str]) -> bool:
        """Apply ``article_ids``; True if the index could also record the store's new state
        (nobody else changed the store since the state it had recorded)."""
        committed = self._store.versions(article_ids)
        held = file.versions(article_ids)
        changes = self._changes(committed, held)
        token, previous = self._store.write_state()
        # Only an embedded store guarantees that no other process wrote in between: there the
        # token from before this write, if the index had recorded it, lets it take the new one.
        trusted = self._store.embedded and token is not None
        state = (token, self._store.count_chunks()) if trusted else None
        file.apply(changes, {a: held.get(a) for a in changes}, record=state, record_if=previous)
        built, recorded = file.recorded_state()
        return built and recorded == state

    def _changes(
        self, committed: dict[str, str], held: dict[str, str]
    ) -> dict[str, list[Doc] | None]:
        """What turns the index's articles ``held`` into Chroma's ``committed`` ones: new
        chunks per changed article, None per article gone."""
        changes: dict[str, list[Doc] | None] = {a: None for a in held if a not in committed}
        changed = {a: v for a, v in committed.items() if held.get(a) != v}
        added: dict[str, list[Doc]] = {}
        for p in self._store.article_chunks(changed):
            added.setdefault(p.article_id, []).append(_doc(p))
        # An article replaced again since ``committed`` was read has no chunks of that version
        # left: it is left to the next catch-up (its write changed the token).
        return changes | added

    def mark_stale(self) -> None:
        """Something changed in the store that the index was not told about: catch up in the
        background."""
        self._lagging = True
        self._start_background()

    def _store_state(self) -> State:
        token = self._store.write_token()
        if token is None:
            # A store written before write tokens existed: give it one, so that the index can
            # tell when it changes.
            with contextlib.suppress(Exception):
                self._store.mark_changed()
                token = self._store.write_token()
        return token, self._store.count_chunks()

    def _catch_up(self, file: SegmentFile) -> None:
        """Make the index equal to the store if their states differ (the caller holds _sync)."""
        state = self._store_state()  # before reading: a write after this shows up next time
        built, recorded = file.recorded_state()
        if not built:
            self._build(file, state)
            return
        if recorded == state:
            self._lagging = False
            return
        if self._store.writing_now:
            # This process's own write is under way (the token changes before it starts): it
            # tells the index what it wrote when done. Reading every article's version now
            # would only compete with it.
            return
        self._lagging = True
        held = file.versions()
        changes = self._changes(self._store.versions(), held)
        file.apply(changes, {a: held.get(a) for a in changes}, record=state, record_always=True)
        self._lagging = False
        log.info("keyword index caught up: %d articles changed", len(changes))

    def _build(
        self, file: SegmentFile, state: State | None = None, *, unless_built: bool = True
    ) -> None:
        state = state or self._store_state()
        started = time.perf_counter()
        # Smaller pages than Chroma reads by default: its replies are most of a build's memory.
        if not file.build(
            _batches(self._store.iter_chunks(batch=1000)), state, unless_built=unless_built
        ):
            return  # another process built it meanwhile
        self.builds += 1
        file.checkpoint()
        self._lagging = False
        self._start_background()  # writes during a long build show up in this check
        log.info("keyword index built in %.1f s", time.perf_counter() - started)

    def rebuild(self) -> None:
        """Build the index from Chroma from scratch (readers keep the old one meanwhile)."""
        with self._sync:
            self._build(self._segments(), unless_built=False)

    def refresh(self) -> None:
        """Bring the index up to the store's current state now, and load it (waits)."""
        file = self._segments()
        with self._sync:
            try:
                self._catch_up(file)
                file.current()
            except sqlite3.DatabaseError as exc:
                if not damaged(exc):
                    raise
                self._damaged(file, exc)
                self._catch_up(self._segments())
        self._checked_at = time.monotonic()

    def _start_background(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._again = True
            if self._worker is not None and self._worker.is_alive():
                return  # it runs once more when done
            self._worker = threading.Thread(
                target=self._background, name="keyword-index", daemon=True
            )
            self._worker.start()

    def _background(self) -> None:
        while True:
            with self._lock:
                if self._closed or not self._again:
                    self._worker = None
                    return
                self._again = False
            try:
                file = self._segments()
                with self._sync:
                    if self._closed:
                        return
                    self._catch_up(file)
                while file.merge():  # small segments into bigger ones, dead postings out
                    pass
            except Exception as exc:
                if not self._closed:
                    log.warning("keyword index: background catch-up failed: %s", exc)

    # --- reading -------------------------------------------------------------------------------

    def _current(self) -> Snapshot:
        """The last committed snapshot (built first if the store has none: the only wait)."""
        file = self._segments()
        try:
            snap = file.current()
            if snap is None:
                with self._sync:
                    snap = file.current()
                    if snap is None:
                        self._build(file)
                        snap = file.current()
        except sqlite3.DatabaseError as exc:
            if not damaged(exc):
                raise
            self._damaged(file, exc)
            return self._current()
        assert snap is not None
        now = time.monotonic()
        if now - self._checked_at >= self._recheck_seconds:
            self._checked_at = now
            self._start_background()
        return snap

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
        tokens = keyword_tokens(query)
        if not tokens:
            return []
        self._current()  # built, and a check of the store started when due
        file = self._segments()

        def mask_of(snap: Snapshot) -> np.ndarray | None:
            # Dead chunks need no mask: their postings are skipped when scoring.
            return _column_mask(snap, since, until, sources, article_ids)

        try:
            found = file.search(tokens, k, mask_of, mask_fn)
        except sqlite3.DatabaseError as exc:
            if not damaged(exc):
                raise
            self._damaged(file, exc)
            return self.search(
                query, k, mask_fn, since=since, until=until, sources=sources,
                article_ids=article_ids,
            )  # fmt: skip
        if self._lagging and found:
            # Until the catch-up is done the index may hold chunks Chroma dropped (a delete
            # by another process): never show those.
            found = self._store.committed(found)
        return found


def _column_mask(
    snap: Snapshot,
    since: datetime | None,
    until: datetime | None,
    sources: Collection[str],
    article_ids: Collection[str],
) -> np.ndarray | None:
    if not (since or until or sources or article_ids):
        return None
    mask = snap.live.copy()
    # NaN (no date) compares False, so undated passages fail any date bound, as Filters does.
    if since:
        mask &= snap.published >= since.timestamp()
    if until:
        mask &= snap.published < until.timestamp()
    if sources:
        mask &= snap.source_mask(sources)
    if article_ids:
        mask &= np.isin(snap.article_ids, list(article_ids))
    return mask


def _batches(passages: Iterable[Passage]) -> Iterator[list[Doc]]:
    batch: list[Doc] = []
    for p in passages:
        batch.append(_doc(p))
        if len(batch) >= _BUILD_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _prune(folder: Path, keep: Path) -> None:
    """Drop what no store can use: the previous format's folders, and the index files of
    embedded stores whose folder is gone (test and benchmark stores, mostly; a server's
    location is a URL, which is no absolute path)."""
    for old in folder.iterdir():
        if old.is_dir() and _OLD_CACHE.fullmatch(old.name):
            shutil.rmtree(old, ignore_errors=True)
        elif old.suffix == ".sqlite3" and old != keep:
            with contextlib.suppress(sqlite3.Error, OSError):
                with contextlib.closing(
                    sqlite3.connect(f"{old.resolve().as_uri()}?mode=ro", uri=True)
                ) as c:
                    row = c.execute("SELECT value FROM meta WHERE key = 'identity'").fetchone()
                location = Path(str(row[0]).rsplit("|", 1)[0]) if row else None
                # Only absolute folders: a relative one depends on where a process started.
                if location and location.is_absolute() and not location.exists():
                    _remove(old)


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()
