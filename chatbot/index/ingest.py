"""Ingest: sources -> articles -> chunks -> vectors -> store, reporting every item's fate.

Embedding runs on a worker thread (:mod:`.overlap`) while this thread chunks the next group and
writes the previous one, so an ingest goes at about the embedder's own rate."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol

import numpy as np

from chatbot.index.chunking import CHUNK_FORMAT, Chunker, embedding_text
from chatbot.index.overlap import overlapped
from chatbot.index.store import ArticleStore
from chatbot.models.embeddings import Embedder
from chatbot.vocabulary import (
    Article,
    Chunk,
    IngestEvent,
    IngestReport,
    LoadFailure,
    Passage,
    ProgressCallback,
)


class IndexListener(Protocol):
    """What is derived from the store (the keyword index), told of each write."""

    def articles_changed(self, article_ids: Sequence[str]) -> None:
        """These articles were just written or deleted (called inside the writer's turn)."""

    def mark_stale(self) -> None:
        """Something changed, it is not known what (a write that failed half-way)."""


EMBED_GROUP_CHUNKS = 256  # chunks embedded per model call: larger groups pad less
# Articles whose stored content hashes are looked up in one store read (one read per article
# was a visible share of a fast-mode ingest).
_LOOKUP_BATCH = 64


class Ingestor:
    def __init__(
        self,
        store: ArticleStore,
        embedder: Embedder,
        chunker: Chunker,
        listeners: Iterable[IndexListener] = (),
        group_chunks: int = EMBED_GROUP_CHUNKS,
    ) -> None:
        """``group_chunks``: chunks per embedding call and per store write (smaller groups
        let tests and the crash harness run many overlapped groups on a few articles)."""
        self._store = store
        self._embedder = embedder
        self._chunker = chunker
        self._listeners = list(listeners)
        self.group_chunks = group_chunks
        # Writers of this process take turns here (the UI's ingest and the news desk's feed
        # refresh share one Ingestor); the store's file lock would refuse the second instead.
        self._turn = threading.Lock()

    def ingest(
        self,
        loaded: Iterable[Article | LoadFailure],
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        report = IngestReport()

        def emit(item: str, status: str, detail: str = "") -> None:
            if progress:
                progress(IngestEvent(item, status, detail))

        with self._turn, self._store.writing():
            self._store.repair()
            try:
                overlapped(
                    self._groups(loaded, report, emit),
                    self._embed_group,
                    lambda group, vectors: self._write_group(group, vectors, report, emit),
                )
            except BaseException:
                for listener in self._listeners:
                    listener.mark_stale()
                raise
        return report

    def _groups(
        self,
        loaded: Iterable[Article | LoadFailure],
        report: IngestReport,
        emit: Callable[[str, str, str], None],
    ) -> Iterator[list[tuple[Article, list[Chunk], bool]]]:
        """Articles that need writing, grouped so that one embedding call covers many chunks."""
        seen: dict[str, str] = {}
        group: list[tuple[Article, list[Chunk], bool]] = []
        size = 0
        for batch, stored_hashes in self._with_stored_hashes(loaded):
            for item in batch:
                if isinstance(item, LoadFailure):
                    report.failed.append((item.item, item.reason))
                    emit(item.item, "failed", item.reason)
                    continue
                label = item.url or item.title or item.id
                if item.id in seen:
                    reason = f"duplicate of an earlier item in this batch ({seen[item.id]})"
                    report.skipped.append((label, reason))
                    emit(label, "skipped", reason)
                    continue
                seen[item.id] = label
                if not item.text.strip():
                    report.failed.append((label, "the article has no text"))
                    emit(label, "failed", "the article has no text")
                    continue
                stored = stored_hashes.get(item.id)
                if stored == item.content_hash:
                    report.unchanged.append(item.id)
                    emit(label, "unchanged", "")
                    continue
                chunks = self._chunker.chunk(item)
                group.append((item, chunks, stored is not None))
                size += len(chunks)
                if size >= self.group_chunks:
                    yield group
                    group, size = [], 0
        if group:
            yield group

    def _with_stored_hashes(
        self, loaded: Iterable[Article | LoadFailure]
    ) -> Iterator[tuple[list[Article | LoadFailure], dict[str, str]]]:
        """Items in input order, in batches, with the stored content hashes of their articles."""
        batch: list[Article | LoadFailure] = []
        articles = 0
        for item in loaded:
            batch.append(item)
            articles += isinstance(item, Article)
            if articles >= _LOOKUP_BATCH:
                yield batch, self._stored_hashes(batch)
                batch, articles = [], 0
        if batch:
            yield batch, self._stored_hashes(batch)

    def _stored_hashes(self, batch: list[Article | LoadFailure]) -> dict[str, str]:
        ids = sorted({i.id for i in batch if isinstance(i, Article)})
        return self._store.content_hashes(ids) if ids else {}

    def _embed_group(self, group: list[tuple[Article, list[Chunk], bool]]) -> np.ndarray:
        """The vectors of a group's chunks (on the worker thread: touches no store)."""
        return self._embedder.embed_bulk(
            [embedding_text(a.title, c.text) for a, chunks, _ in group for c in chunks]
        )

    def _write_group(
        self,
        group: list[tuple[Article, list[Chunk], bool]],
        vectors: np.ndarray,
        report: IngestReport,
        emit: Callable[[str, str, str], None],
    ) -> None:
        items: list[tuple[Article, list[Chunk], np.ndarray]] = []
        offset = 0
        for article, chunks, _ in group:
            items.append((article, chunks, vectors[offset : offset + len(chunks)]))
            offset += len(chunks)
        # One write per collection for the whole group: Chroma's cost is mostly per call, so
        # article-by-article writes took ~75% of a fast-mode ingest.
        self._store.write_articles(items)
        # Group by group, so that a long ingest becomes searchable as it goes.
        for listener in self._listeners:
            listener.articles_changed([article.id for article, _, _ in group])
        for article, chunks, existed in group:
            report.chunks += len(chunks)
            (report.updated if existed else report.added).append(article.id)
            emit(article.url or article.title, "updated" if existed else "added", article.id)

    def reindex(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Re-embed every stored chunk in the current format; ``progress(done, total)``."""
        with self._turn, self._store.writing():
            total = self._store.count_chunks()
            done = 0

            def write(passages: list[Passage], vectors: np.ndarray) -> None:
                nonlocal done
                ids = [p.chunk_id for p in passages]
                self._store.replace_vectors(dict(zip(ids, vectors, strict=True)))
                done += len(passages)
                if progress and done < total:
                    progress(done, total)

            overlapped(self._reindex_groups(), self._reembed, write)
            self._store.set_chunk_format(CHUNK_FORMAT)
        if progress:
            progress(done, total)
        return done

    def _reindex_groups(self) -> Iterator[list[Passage]]:
        batch: list[Passage] = []
        for passage in self._store.iter_chunks():
            # Groups end between articles (their chunks are stored together), so that each
            # article's mean vector is made from all of its chunks.
            if len(batch) >= self.group_chunks and passage.article_id != batch[-1].article_id:
                yield batch
                batch = []
            batch.append(passage)
        if batch:
            yield batch

    def _reembed(self, passages: list[Passage]) -> np.ndarray:
        return self._embedder.embed_bulk([embedding_text(p.title, p.text) for p in passages])

    def delete(self, article_id: str) -> bool:
        with self._turn, self._store.writing():
            deleted = self._store.delete_article(article_id)
            if deleted:
                for listener in self._listeners:
                    listener.articles_changed([article_id])
        return deleted
