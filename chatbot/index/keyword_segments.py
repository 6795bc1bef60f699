"""The keyword index on disk: BM25 postings in segments, in one SQLite file.

A write adds one small segment (the postings of the new chunks) and marks the chunks it replaces
or deletes dead; nothing is rebuilt. BM25 is scored at query time from the postings and the live
chunks' lengths and document frequencies, with bm25s's formula and arithmetic (Lucene idf, k1
1.5, b 0.75, float32 sums in query-token order). Scores are therefore those a fresh bm25s build
over the live chunks would give, whatever the segments look like, and rankings (so answer
quality) stay as they were before the index became incremental. Segments are merged now and then
to drop dead postings and keep their number small.

SQLite makes each change atomic and crash-safe, and lets one process write while others read
(WAL): processes sharing a store share its index file. Chunk texts stay on disk, not in memory;
a process holds only per-chunk columns (length, date, outlet, ids) for scoring and filters.

This module knows nothing of Chroma: ``chatbot.index.keyword_index`` decides what to write.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from chatbot.vocabulary import Passage

FORMAT = "4"
# bm25s's defaults (method "lucene"), which the index used before: the same scores.
K1 = 1.5
B = 0.75
EMPTY_TOKEN = "_empty_"  # what a chunk without keywords is indexed as (as bm25s was given)
_BATCH = 500  # ids per "IN (...)" (SQLite allows more; this keeps statements small)
# Merging, as log-structured indexes do: this many small segments of one size class (a power
# of _TIER) become one, so that a term has few segments to read while a chunk is rewritten only
# a few times. Big segments (a build's) are not merged: that would hold the write lock for
# seconds. A segment of at least _PURGE_MIN chunks is rewritten once this share of it is dead.
_TIER = 8
_MAX_MERGE_LEVEL = 3  # segments under _TIER**4 (4,096) chunks: merges stay small and quick
_DEAD_SHARE = 0.3
_PURGE_MIN = 1000
_LOAD_PAGE = 50_000  # rows per fetch when loading: bounds the memory a load takes

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS articles(
    article_id TEXT PRIMARY KEY, version TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS docs(
    id INTEGER PRIMARY KEY, segment INTEGER NOT NULL, article_id TEXT NOT NULL,
    chunk_id TEXT NOT NULL, length INTEGER NOT NULL, published REAL, source TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS passages(id INTEGER PRIMARY KEY, passage TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS docs_article ON docs(article_id);
CREATE INDEX IF NOT EXISTS docs_segment ON docs(segment);
CREATE TABLE IF NOT EXISTS dead(id INTEGER PRIMARY KEY, generation INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS dead_generation ON dead(generation);
CREATE TABLE IF NOT EXISTS segments(
    id INTEGER PRIMARY KEY, docs INTEGER NOT NULL, live INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS postings(
    term TEXT NOT NULL, segment INTEGER NOT NULL, docs BLOB NOT NULL, tfs BLOB NOT NULL,
    PRIMARY KEY(term, segment)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS postings_segment ON postings(segment);
"""


class Unreadable(sqlite3.DatabaseError):
    """The file is of another format or another store: it is rebuilt, not used."""


def damaged(exc: BaseException) -> bool:
    """A file to rebuild (not one that is merely locked or missing a folder)."""
    name = getattr(exc, "sqlite_errorname", "")
    return isinstance(exc, Unreadable) or name in ("SQLITE_CORRUPT", "SQLITE_NOTADB")


class Doc(NamedTuple):
    """A chunk to index: its passage (text included, kept on disk) and its keyword tokens."""

    passage: Passage
    tokens: list[str]


State = tuple[str | None, int]  # the store's write token and chunk count the index reflects


@dataclass(frozen=True)
class Snapshot:
    """One committed state of the index, as columns over doc ids (dead slots included)."""

    epoch: str
    generation: int
    n: int  # doc ids below this are covered
    live: np.ndarray  # bool
    length: np.ndarray  # int32: tokens per chunk
    published: np.ndarray  # float64 timestamps; NaN: undated
    source_codes: np.ndarray  # int32 into sources
    sources: tuple[str, ...]
    article_ids: np.ndarray  # object
    chunk_ids: np.ndarray  # object
    n_live: int
    has_dead: bool
    norm: np.ndarray  # float64: the BM25 length normalisation k1 * (1 - b + b * len / avg)
    newest: datetime | None
    oldest: datetime | None

    def source_mask(self, names: Iterable[str]) -> np.ndarray:
        index = {s: i for i, s in enumerate(self.sources)}
        codes = [index[s] for s in names if s in index]
        return np.isin(self.source_codes, codes)


def _columns(cursor: sqlite3.Cursor) -> tuple[np.ndarray, ...]:
    """(id, length, published, source, chunk_id, article_id) rows -> arrays, page by page."""
    parts: list[tuple[np.ndarray, ...]] = []
    while rows := cursor.fetchmany(_LOAD_PAGE):
        ids, lengths, published, sources, chunk_ids, article_ids = zip(*rows, strict=True)
        parts.append(
            (
                np.fromiter(ids, np.int64, len(ids)),
                np.fromiter(lengths, np.int32, len(ids)),
                np.array(published, dtype=np.float64),  # None -> NaN
                np.array(sources, dtype=object),
                np.array(chunk_ids, dtype=object),
                np.array(article_ids, dtype=object),
            )
        )
    if not parts:
        empty = np.zeros(0, dtype=object)
        return (np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0), empty, empty, empty)
    return tuple(np.concatenate(column) for column in zip(*parts, strict=True))


def _snapshot(
    epoch: str,
    generation: int,
    n: int,
    old: Snapshot | None,
    columns: tuple[np.ndarray, ...],
    dead: Iterable[int],
) -> Snapshot:
    """``old`` (or nothing) grown to ``n`` ids, with the docs in ``columns`` added and
    ``dead`` removed."""
    start = old.n if old is not None else 0
    grow = n - start

    def extend(column: np.ndarray | None, fill: Any, dtype: Any) -> np.ndarray:
        tail = np.full(grow, fill, dtype=dtype)
        return tail if column is None else np.concatenate([column, tail])

    live = extend(old.live if old else None, False, bool)
    length = extend(old.length if old else None, 0, np.int32)
    published = extend(old.published if old else None, np.nan, np.float64)
    codes = extend(old.source_codes if old else None, -1, np.int32)
    article_ids = extend(old.article_ids if old else None, None, object)
    chunk_ids = extend(old.chunk_ids if old else None, None, object)
    sources = list(old.sources) if old else []
    ids, lengths, dates, names, chunks, articles = columns
    if len(ids):
        index = {s: i for i, s in enumerate(sources)}
        for name in set(names.tolist()) - index.keys():
            index[name] = len(sources)
            sources.append(name)
        # One string object per article, not per chunk.
        interned: dict[str, str] = {}
        articles = np.array([interned.setdefault(a, a) for a in articles], dtype=object)
        live[ids] = True
        length[ids] = lengths
        published[ids] = dates
        codes[ids] = np.array([index[s] for s in names], dtype=np.int32)
        article_ids[ids] = articles
        chunk_ids[ids] = chunks
    dead_ids = np.fromiter(dead, np.int64)
    dead_ids = dead_ids[dead_ids < n]
    live[dead_ids] = False
    n_live = int(live.sum())
    avgdl = float(length[live].mean()) if n_live else 1.0
    # bm25s's arithmetic, elementwise and in the same order: the same float64 values.
    norm = K1 * ((1 - B) + B * length.astype(np.float64) / np.float64(avgdl))
    dated = published[live]
    dated = dated[~np.isnan(dated)]
    return Snapshot(
        epoch=epoch,
        generation=generation,
        n=n,
        live=live,
        length=length,
        published=published,
        source_codes=codes,
        sources=tuple(sources),
        article_ids=article_ids,
        chunk_ids=chunk_ids,
        n_live=n_live,
        has_dead=n_live < n,
        norm=norm,
        newest=datetime.fromtimestamp(float(dated.max()), UTC) if len(dated) else None,
        oldest=datetime.fromtimestamp(float(dated.min()), UTC) if len(dated) else None,
    )


def postings(doc_ids: Sequence[int], tokens: Sequence[list[str]]) -> Iterator[tuple[str, ...]]:
    """(term, doc ids int32 bytes, term frequencies float32 bytes), doc ids ascending.

    Vectorised: one (term, doc) key per token, counted by np.unique; a dict of lists per term
    cost several times more at 20,000 chunks."""
    vocab: dict[str, int] = {}
    flat = np.fromiter(
        (vocab.setdefault(w, len(vocab)) for toks in tokens for w in toks), dtype=np.int64
    )
    counts_per_doc = np.fromiter((len(t) for t in tokens), np.int64, len(tokens))
    docs = np.repeat(np.asarray(doc_ids, dtype=np.int64), counts_per_doc)
    keys, tfs = np.unique((flat << 32) | docs, return_counts=True)
    terms = keys >> 32
    doc_col = (keys & 0xFFFFFFFF).astype(np.int32)
    tf_col = tfs.astype(np.float32)
    cuts = np.flatnonzero(np.diff(terms)) + 1
    names = list(vocab)
    for s, e in zip(np.r_[0, cuts], np.r_[cuts, len(keys)], strict=True):
        yield names[terms[s]], doc_col[s:e].tobytes(), tf_col[s:e].tobytes()


def top(scores: np.ndarray, k: int | None) -> np.ndarray:
    """Ids of the ``k`` best positive scores (all when None), best first, ties by id: one
    order for every path, so that a filter by columns and one by function agree."""
    found = np.flatnonzero(scores > 0)
    if k is not None and len(found) > k:
        values = scores[found]
        kth = np.partition(values, len(values) - k)[len(values) - k]
        found = found[values >= kth]
    order = found[np.lexsort((found, -scores[found]))]
    return order if k is None else order[:k]


def passage_row(p: Passage) -> str:
    published = p.published_at.timestamp() if p.published_at else None
    row = [p.chunk_id, p.article_id, p.n, p.text, p.char_start, p.char_end, p.title, p.source,
           published, p.url, list(p.authors)]  # fmt: skip
    if p.page is not None:  # a 12th field only for paged documents: rows written before still read
        row.append(p.page)
    return json.dumps(row)


def passage_of(row: str) -> Passage:
    fields = json.loads(row)
    (chunk_id, article_id, n, text, start, end, title, source, published, url, authors) = fields[
        :11
    ]
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
        page=fields[11] if len(fields) > 11 else None,
    )


def version_of_chunk(chunk_id: str) -> str:
    return chunk_id.rsplit(":", 2)[-2]  # "<article id>:<version>:<n>"


def _merge_choice(written: dict[int, int], live: dict[int, int]) -> list[int]:
    """Segments to merge next (see _TIER), or none."""
    gone = sorted(s for s in written if not live.get(s))
    if gone:
        return gone
    for s, n in sorted(written.items()):
        if n >= _PURGE_MIN and (n - live[s]) / n >= _DEAD_SHARE:
            return [s]
    tiers: dict[int, list[int]] = {}
    for s in written:
        level, size = 0, live[s]
        while size >= _TIER:
            size //= _TIER
            level += 1
        tiers.setdefault(level, []).append(s)
    for level in sorted(tiers):
        if level <= _MAX_MERGE_LEVEL and len(tiers[level]) >= _TIER:
            return sorted(tiers[level], key=lambda s: (live[s], s))[:_TIER]
    return []


def _batches(items: Sequence[Any], size: int = _BATCH) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _marks(count: int) -> str:
    return ",".join("?" * count)


class SegmentFile:
    """The index file of one store. Thread-safe: writes take turns on one connection, reads
    use a pool of connections (one per concurrent reader)."""

    def __init__(self, path: Path, identity: str) -> None:
        self.path = path
        self.identity = identity
        self._write_lock = threading.RLock()
        self._pool: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._snapshot_lock = threading.Lock()
        self._merged_at: str | None = None  # the generation merge() last found nothing to do
        self._conn = self._connect(cache_mb=32)
        try:
            meta = self._existing_meta()
            if not meta:  # a new file: the schema (the write lock only then, not per open)
                with self._writing() as conn:
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    meta = self._meta(conn)
                    if not meta:
                        meta = {"format": FORMAT, "identity": identity}
                        self._set_meta(
                            conn,
                            **meta,
                            epoch=uuid.uuid4().hex,
                            generation=0,
                            next_doc=0,
                            next_segment=0,
                            built=0,
                        )
            if meta.get("format") != FORMAT or meta.get("identity") != identity:
                raise Unreadable(
                    f"format {meta.get('format')} of {meta.get('identity')!r}, "
                    f"not format {FORMAT} of {identity!r}"
                )
        except BaseException:
            self.close()
            raise

    def _existing_meta(self) -> dict[str, str]:
        try:
            return self._meta(self._conn)
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return {}
            raise

    # --- connections ---------------------------------------------------------------------

    def _connect(self, cache_mb: int) -> sqlite3.Connection:
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE for writes).
        conn = sqlite3.connect(
            self.path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
        # Durable at checkpoints, not every commit: a lost commit is caught up from Chroma.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA cache_size=-{cache_mb * 1024}")
        return conn

    def close(self) -> None:
        with self._pool_lock:
            pool, self._pool = self._pool, []
        for conn in pool:
            conn.close()
        with self._write_lock:
            writer = getattr(self, "_conn", None)
            if writer is not None:
                writer.close()

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """A pooled connection inside one read transaction: every read sees one commit."""
        with self._pool_lock:
            conn = self._pool.pop() if self._pool else None
        if conn is None:
            conn = self._connect(cache_mb=4)
        try:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")
        except BaseException:
            conn.close()
            raise
        with self._pool_lock:
            self._pool.append(conn)

    @contextlib.contextmanager
    def _writing(self, patience: float = 0.0) -> Iterator[sqlite3.Connection]:
        """The write transaction; another process's may hold the lock for the connection's
        30 s timeout, or up to ``patience`` seconds more (a build elsewhere takes a minute)."""
        with self._write_lock:
            conn = self._conn
            deadline = time.monotonic() + patience
            while True:
                try:
                    conn.execute("BEGIN IMMEDIATE")  # the write lock now: no lost updates
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @staticmethod
    def _meta(conn: sqlite3.Connection) -> dict[str, str]:
        return dict(conn.execute("SELECT key, value FROM meta").fetchall())

    @staticmethod
    def _set_meta(conn: sqlite3.Connection, **values: Any) -> None:
        conn.executemany(
            "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
            [(k, "" if v is None else str(v)) for k, v in values.items()],
        )

    # --- reading ---------------------------------------------------------------------------

    def recorded_state(self) -> tuple[bool, State]:
        """Whether the index was ever built, and the store state it was last brought up to."""
        with self._reading() as conn:
            meta = self._meta(conn)
        return meta.get("built") == "1", (meta.get("token") or None, int(meta.get("chunks", -1)))

    def current(self) -> Snapshot | None:
        """The newest committed snapshot (None: never built); cheap when nothing changed."""
        with self._reading() as conn:
            return self._current(conn)

    def _current(self, conn: sqlite3.Connection) -> Snapshot | None:
        meta = self._meta(conn)
        if meta.get("built") != "1":
            return None
        epoch, generation = meta["epoch"], int(meta["generation"])
        old = self._snapshot
        if old is not None and old.epoch == epoch and old.generation == generation:
            return old
        n = int(meta["next_doc"])
        columns = "id, length, published, source, chunk_id, article_id"
        if old is None or old.epoch != epoch or old.generation > generation:
            rows = _columns(conn.execute(f"SELECT {columns} FROM docs"))
            snap = _snapshot(epoch, generation, n, None, rows, ())
        else:  # only what changed since: new docs, and docs that died
            rows = _columns(conn.execute(f"SELECT {columns} FROM docs WHERE id >= ?", (old.n,)))
            dead = conn.execute(
                "SELECT id FROM dead WHERE generation > ?", (old.generation,)
            ).fetchall()
            snap = _snapshot(epoch, generation, n, old, rows, (d for (d,) in dead))
        with self._snapshot_lock:  # keep the newest, whichever thread loaded it
            kept = self._snapshot
            if kept is None or kept.epoch != epoch or kept.generation < generation:
                self._snapshot = snap
        return snap

    def versions(self, article_ids: Sequence[str] | None = None) -> dict[str, str]:
        """Indexed version per article (all, or those of ``article_ids`` it holds)."""
        with self._reading() as conn:
            return self._versions(conn, article_ids)

    @staticmethod
    def _versions(conn: sqlite3.Connection, article_ids: Sequence[str] | None) -> dict[str, str]:
        if article_ids is None:
            return dict(conn.execute("SELECT article_id, version FROM articles").fetchall())
        found: dict[str, str] = {}
        for part in _batches(list(article_ids)):
            found.update(
                conn.execute(
                    f"SELECT article_id, version FROM articles WHERE article_id IN "
                    f"({_marks(len(part))})",
                    part,
                ).fetchall()
            )
        return found

    def search(
        self,
        tokens: list[str],
        k: int,
        mask_of: Callable[[Snapshot], np.ndarray | None],
        accept: Callable[[Passage], bool] | None = None,
    ) -> list[Passage]:
        """Best ``k`` passages by BM25 among those ``mask_of(snapshot)`` admits (None: all)
        and ``accept`` accepts, best first. One read transaction: one committed state."""
        with self._reading() as conn:
            snap = self._current(conn)
            if snap is None or not snap.n_live or not tokens:
                return []
            mask = mask_of(snap)
            if mask is not None and not mask.any():
                return []
            scores = self._scores(conn, snap, tokens)
            if mask is not None:
                scores[~mask] = 0
            if accept is None:
                ids = top(scores, min(k, snap.n_live))
                return self._passages(conn, ids, scores)
            # A filter by function needs the passages: read them best first, page by page.
            found: list[Passage] = []
            ranked = top(scores, None)
            page = max(4 * k, 64)
            for start in range(0, len(ranked), page):
                found += [p for p in self._passages(conn, ranked[start : start + page], scores)]
                found = [p for p in found if accept(p)]
                if len(found) >= k:
                    break
                page *= 4
            return found[:k]

    @staticmethod
    def _scores(conn: sqlite3.Connection, snap: Snapshot, tokens: list[str]) -> np.ndarray:
        terms = sorted(set(tokens))
        blobs: dict[str, list[tuple[bytes, bytes]]] = {}
        for term, docs, tfs in conn.execute(
            f"SELECT term, docs, tfs FROM postings WHERE term IN ({_marks(len(terms))})", terms
        ):
            blobs.setdefault(term, []).append((docs, tfs))
        weights: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for term, parts in blobs.items():
            docs = np.concatenate([np.frombuffer(d, np.int32) for d, _ in parts])
            tfs = np.concatenate([np.frombuffer(t, np.float32) for _, t in parts])
            if snap.has_dead or (len(docs) and int(docs.max()) >= snap.n):
                keep = docs < snap.n
                keep[keep] = snap.live[docs[keep]]
                docs, tfs = docs[keep], tfs[keep]
            df = len(docs)
            if not df:
                continue
            # bm25s: idf in float64 stored as float32; tf / (norm + tf) in float64; their
            # product stored as float32.
            idf = np.float32(math.log(1 + (snap.n_live - df + 0.5) / (df + 0.5)))
            tf64 = tfs.astype(np.float64)
            weights[term] = (docs, (idf * (tf64 / (snap.norm[docs] + tf64))).astype(np.float32))
        scores = np.zeros(snap.n, dtype=np.float32)
        for token in tokens:  # query order, repeats included: bm25s's float32 sums
            if token in weights:
                docs, weight = weights[token]
                scores[docs] += weight  # a doc appears once per term: no need for np.add.at
        return scores

    @staticmethod
    def _passages(conn: sqlite3.Connection, ids: np.ndarray, scores: np.ndarray) -> list[Passage]:
        wanted = [int(i) for i in ids]
        rows: dict[int, str] = {}
        for part in _batches(wanted):
            rows.update(
                conn.execute(
                    f"SELECT id, passage FROM passages WHERE id IN ({_marks(len(part))})", part
                ).fetchall()
            )
        # An id missing here died after the snapshot (a concurrent delete): left out.
        return [replace(passage_of(rows[i]), score=float(scores[i])) for i in wanted if i in rows]

    # --- writing ---------------------------------------------------------------------------

    def build(self, docs: Iterable[list[Doc]], state: State, *, unless_built: bool = False) -> bool:
        """Replace everything with ``docs`` (batches: one segment each), in one transaction:
        readers see the old index until the new one is whole. With ``unless_built``, nothing
        if another process built the file meanwhile (``docs`` is then never read). True if it
        built."""
        with self._writing(patience=600.0) as conn:
            meta = self._meta(conn)
            if unless_built and meta.get("built") == "1":
                return False
            for table in ("articles", "docs", "passages", "dead", "segments", "postings"):
                conn.execute(f"DELETE FROM {table}")
            next_doc, next_segment = 0, 0
            for batch in docs:
                if batch:
                    self._add(conn, batch, next_doc, next_segment)
                    next_doc += len(batch)
                    next_segment += 1
            self._set_meta(
                conn,
                epoch=uuid.uuid4().hex,
                generation=int(meta.get("generation", 0)) + 1,
                next_doc=next_doc,
                next_segment=next_segment,
                built=1,
                token=state[0],
                chunks=state[1],
            )
        return True

    def apply(
        self,
        changes: Mapping[str, list[Doc] | None],
        expected: Mapping[str, str | None],
        *,
        record: State | None = None,
        record_if: str | None = None,
        record_always: bool = False,
    ) -> int:
        """Give each article in ``changes`` its new chunks (None: remove it), but only if the
        index still holds the version ``expected`` for it (another writer may have moved it on
        meanwhile). Then record ``record`` as the store state the index reflects: always, or
        only if the recorded token is ``record_if``. Returns the number of articles changed."""
        with self._writing() as conn:
            meta = self._meta(conn)
            if meta.get("built") != "1":
                return 0
            held = self._versions(conn, list(changes))
            touched = [a for a in changes if held.get(a) == expected.get(a)]
            generation = int(meta["generation"]) + 1
            next_doc, next_segment = int(meta["next_doc"]), int(meta["next_segment"])
            for part in _batches(touched):
                marks = _marks(len(part))
                conn.executemany(  # live counts per segment, for choosing merges
                    "UPDATE segments SET live = live - ? WHERE id = ?",
                    conn.execute(
                        f"SELECT count(*), segment FROM docs WHERE article_id IN ({marks}) "
                        "GROUP BY segment",
                        part,
                    ).fetchall(),
                )
                conn.execute(
                    f"INSERT INTO dead(id, generation) SELECT id, ? FROM docs "
                    f"WHERE article_id IN ({marks})",
                    [generation, *part],
                )
                conn.execute(
                    f"DELETE FROM passages WHERE id IN (SELECT id FROM docs "
                    f"WHERE article_id IN ({marks}))",
                    part,
                )
                conn.execute(f"DELETE FROM docs WHERE article_id IN ({marks})", part)
                conn.execute(f"DELETE FROM articles WHERE article_id IN ({marks})", part)
            added = [doc for a in touched for doc in changes[a] or ()]
            if added:
                self._add(conn, added, next_doc, next_segment)
                next_doc += len(added)
                next_segment += 1
            values: dict[str, Any] = {}
            if touched:
                values |= {
                    "generation": generation,
                    "next_doc": next_doc,
                    "next_segment": next_segment,
                }
            if record is not None and (record_always or (meta.get("token") or None) == record_if):
                values |= {"token": record[0], "chunks": record[1]}
            if values:
                self._set_meta(conn, **values)
            return len(touched)

    @staticmethod
    def _add(conn: sqlite3.Connection, docs: Sequence[Doc], first: int, segment: int) -> None:
        ids = range(first, first + len(docs))
        # The columns a process loads apart from the texts: a load then reads only them.
        conn.executemany(
            "INSERT INTO docs(id, segment, article_id, chunk_id, length, published, source) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    i,
                    segment,
                    d.passage.article_id,
                    d.passage.chunk_id,
                    len(d.tokens),
                    d.passage.published_at.timestamp() if d.passage.published_at else None,
                    d.passage.source,
                )
                for i, d in zip(ids, docs, strict=True)
            ),
        )
        conn.executemany(
            "INSERT INTO passages(id, passage) VALUES (?, ?)",
            ((i, passage_row(d.passage)) for i, d in zip(ids, docs, strict=True)),
        )
        conn.executemany(
            "INSERT OR REPLACE INTO articles(article_id, version) VALUES (?, ?)",
            {d.passage.article_id: version_of_chunk(d.passage.chunk_id) for d in docs}.items(),
        )
        # In term order: the inserts then walk the postings tree once instead of jumping
        # around it.
        rows = sorted(postings(ids, [d.tokens for d in docs]))
        conn.executemany(
            "INSERT INTO postings(term, segment, docs, tfs) VALUES (?, ?, ?, ?)",
            ((t, segment, d, f) for t, d, f in rows),
        )
        conn.execute(
            "INSERT INTO segments(id, docs, live) VALUES (?, ?, ?)", (segment, len(docs), len(docs))
        )

    def segment_count(self) -> int:
        with self._reading() as conn:
            return int(conn.execute("SELECT count(*) FROM segments").fetchone()[0])

    def merge(self) -> bool:
        """One merge step, if one is due: drop dead segments, rewrite a mostly dead one, or
        merge _TIER segments of one size class. Live chunks keep their ids, so snapshots stay
        valid. True if it changed something (call again until False)."""
        with self._reading() as conn:
            generation = self._meta(conn).get("generation")
        if generation == self._merged_at:
            return False  # nothing was written since the last look
        with self._writing() as conn:
            rows = conn.execute("SELECT id, docs, live FROM segments").fetchall()
            written = {s: n for s, n, _ in rows}
            live = {s: n for s, _, n in rows}
            chosen = _merge_choice(written, live)
            if not chosen:
                self._merged_at = self._meta(conn).get("generation")
                return False
            segment = int(self._meta(conn)["next_segment"])
            parts = chosen
            marks = _marks(len(parts))
            alive = np.array(
                sorted(
                    i
                    for (i,) in conn.execute(
                        f"SELECT id FROM docs WHERE segment IN ({marks})", parts
                    )
                ),
                dtype=np.int32,
            )
            # Streamed term by term (SQLite sorts on disk): a merge of big segments must not
            # hold all their postings in memory.
            merged = conn.execute(
                f"SELECT term, docs, tfs FROM postings WHERE segment IN ({marks}) ORDER BY term",
                parts,
            )
            for term, group in itertools.groupby(merged, key=lambda r: r[0]):
                found = list(group)
                docs = np.concatenate([np.frombuffer(r[1], np.int32) for r in found])
                tfs = np.concatenate([np.frombuffer(r[2], np.float32) for r in found])
                keep = np.isin(docs, alive, assume_unique=True)
                if keep.any():
                    order = np.argsort(docs[keep], kind="stable")
                    conn.execute(
                        "INSERT INTO postings(term, segment, docs, tfs) VALUES (?, ?, ?, ?)",
                        (term, segment, docs[keep][order].tobytes(), tfs[keep][order].tobytes()),
                    )
            conn.execute(f"DELETE FROM postings WHERE segment IN ({marks})", parts)
            conn.execute(f"DELETE FROM segments WHERE id IN ({marks})", parts)
            if len(alive):
                conn.execute(
                    f"UPDATE docs SET segment = ? WHERE segment IN ({marks})", [segment, *parts]
                )
                conn.execute(
                    "INSERT INTO segments(id, docs, live) VALUES (?, ?, ?)",
                    (segment, len(alive), len(alive)),
                )
            self._set_meta(conn, next_segment=segment + 1)
            return True

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the file (after a build it is as big as the index)."""
        with self._write_lock, contextlib.suppress(sqlite3.OperationalError):
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
