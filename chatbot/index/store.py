"""Chroma storage: the only module that imports chromadb, and the single source of truth.

Two collections: ``articles`` (one record per article, full text, the article's mean chunk vector)
and ``chunks`` (one record per chunk). Chunk ids carry the article's content version, and the
article record is written last: it is the commit point. Until it is written, new chunks are
invisible to readers (``committed`` filters them); after it, stale chunks are deleted. A crash at
any moment therefore leaves either the old article or the new one, never a mix, and ``repair``
removes whatever a crash left behind.

An embedded store belongs to one process at a time: Chroma's embedded client caches the index in
memory, so a second process reading while another writes sees stale segments ("Error finding
id") or worse. ``open`` therefore takes a process lock on the folder (readers too) and refuses a
second process with a clear error; several processes share a store through a Chroma server.
Within the process, the writer lock serialises writers.
"""

from __future__ import annotations

import contextlib
import uuid
import weakref
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings
from filelock import FileLock, Timeout

from chatbot.errors import StoreError
from chatbot.index.chunking import CHUNK_FORMAT, TEXT_FORMAT
from chatbot.index.process_lock import ProcessLock
from chatbot.index.records import JsonRecords
from chatbot.vocabulary import Article, Chunk, Passage, StoredArticle

_WRITE_BATCH = 1000
_WRITE_TOKEN = "write_token"
_FORMAT = "chunk_format"  # on the chunks collection: how its vectors were made
_TEXT_FORMAT = "text_format"  # on the articles collection: how pages became articles
_PREVIOUS_TOKEN = "previous_write_token"  # the token before the last write began


def _ts(value: datetime | None) -> float:
    return value.timestamp() if value else -1.0


def _from_ts(value: Any) -> datetime | None:
    if value is None or float(value) < 0:
        return None
    return datetime.fromtimestamp(float(value), tz=UTC)


def version_of(content_hash: str) -> str:
    return content_hash[:12]


def _close(client: Any, lock: ProcessLock | None) -> None:
    """Release a store's resources (also run by the garbage collector; must not see ``self``)."""
    with contextlib.suppress(Exception):  # a half-built or already stopped client
        close = getattr(client, "close", None)
        if close is not None:
            close()
    if lock is not None:
        lock.release()


class ArticleStore:
    def __init__(
        self,
        client: Any,
        *,
        embedding_model: str,
        dimension: int,
        articles_collection: str = "articles",
        chunks_collection: str = "chunks",
        lock_path: Path | None = None,
        location: str = "",
        process_lock: ProcessLock | None = None,
        feeds_collection: str = "feeds",
        watches_collection: str = "watches",
    ) -> None:
        self.location = location
        self._client = client
        self.feeds = JsonRecords(client, feeds_collection, kind="feed subscriptions", label="url")
        self.watches = JsonRecords(
            client, watches_collection, kind="watched questions", label="question"
        )
        # Closing the client and dropping the process lock when this object goes away lets
        # another process open the folder after this one is done with it.
        self._finalizer = weakref.finalize(self, _close, client, process_lock)
        self._finalizer.atexit = False  # at exit the kernel drops the lock anyway
        meta: dict[str, Any] = {"embedding_model": embedding_model, "dimension": dimension}
        try:
            # A new articles collection holds live blogs as entries from the start.
            self._articles = self._collection(
                articles_collection, {**meta, _TEXT_FORMAT: TEXT_FORMAT}
            )
            # A new chunks collection is written in the current format from the start.
            self._chunks = self._collection(chunks_collection, {**meta, _FORMAT: CHUNK_FORMAT})
            if self.text_format != TEXT_FORMAT and self._articles.count() == 0:
                self.set_text_format(TEXT_FORMAT)  # an empty store of before: nothing to split
        except BaseException:
            self.close()
            raise
        self._lock = FileLock(str(lock_path)) if lock_path else None

    @property
    def embedded(self) -> bool:
        """An embedded store (one process at a time), not a Chroma server."""
        return self._lock is not None

    @property
    def writing_now(self) -> bool:
        """This store object is inside ``writing()`` (an embedded store's write is under way)."""
        return self._lock is not None and self._lock.is_locked

    def close(self) -> None:
        """Release the Chroma client and this process's claim on an embedded store folder."""
        self._finalizer()

    def __enter__(self) -> ArticleStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def open(
        cls,
        *,
        path: Path | None = None,
        url: str | None = None,
        embedding_model: str,
        dimension: int,
        articles_collection: str = "articles",
        chunks_collection: str = "chunks",
        feeds_collection: str = "feeds",
        watches_collection: str = "watches",
    ) -> ArticleStore:
        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        process_lock: ProcessLock | None = None
        try:
            if url:
                from urllib.parse import urlsplit

                parts = urlsplit(url)
                client = chromadb.HttpClient(
                    host=parts.hostname or "127.0.0.1",
                    port=parts.port or (443 if parts.scheme == "https" else 8000),
                    ssl=parts.scheme == "https",
                    settings=chroma_settings,
                )
                client.heartbeat()
                location, lock_path = url, None
            else:
                assert path is not None
                path.mkdir(parents=True, exist_ok=True)
                process_lock = ProcessLock(path)  # before Chroma reads anything
                client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
                location, lock_path = str(path), path / ".writer.lock"
        except StoreError:
            raise
        except Exception as exc:
            if process_lock is not None:
                process_lock.release()
            where = url or path
            hint = (
                "Start the Chroma server (chroma run --host 127.0.0.1 --port 8000) or unset "
                "CHATBOT_CHROMA_URL to use the embedded store."
                if url
                else "Check that the folder is writable, or set CHATBOT_STORE_PATH."
            )
            raise StoreError(f"Cannot open the Chroma store at {where}: {exc}. {hint}") from exc
        return cls(
            client,
            embedding_model=embedding_model,
            dimension=dimension,
            articles_collection=articles_collection,
            chunks_collection=chunks_collection,
            lock_path=lock_path,
            location=location,
            process_lock=process_lock,
            feeds_collection=feeds_collection,
            watches_collection=watches_collection,
        )

    def _collection(self, name: str, meta: dict[str, Any]) -> Any:
        collection = self._client.get_or_create_collection(
            name,
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
            metadata=meta,
        )
        found = collection.metadata or {}
        if (found.get("embedding_model"), found.get("dimension")) != (
            meta["embedding_model"],
            meta["dimension"],
        ):
            raise StoreError(
                f"The store at {self.location or 'this location'} was built with the embedding "
                f"model {found.get('embedding_model')!r} ({found.get('dimension')} dimensions), "
                f"not {meta['embedding_model']!r} ({meta['dimension']}). Use the same model "
                "(CHATBOT_EMBEDDING_BACKEND / CHATBOT_EMBEDDING_MODEL), or point "
                "CHATBOT_STORE_PATH at a new folder and ingest again."
            )
        return collection

    @property
    def chunk_format(self) -> str:
        """How the stored chunk vectors were made (``CHUNK_FORMAT`` now; "plain" before)."""
        return str((self._chunks.metadata or {}).get(_FORMAT, "plain"))

    def needs_reindex(self) -> bool:
        return self.chunk_format != CHUNK_FORMAT and self._chunks.count() > 0

    @property
    def text_format(self) -> str:
        """How pages became articles (``TEXT_FORMAT`` now; "pages" before live-blog entries)."""
        return str((self._articles.metadata or {}).get(_TEXT_FORMAT, "pages"))

    def needs_entries(self) -> bool:
        """Whether stored pages predate live-blog entries (``chatbot reindex`` splits them)."""
        return self.text_format != TEXT_FORMAT and self._articles.count() > 0

    def set_text_format(self, value: str) -> None:
        current = self._client.get_collection(self._articles.name)
        current.modify(metadata={**(current.metadata or {}), _TEXT_FORMAT: value})
        self._articles = self._client.get_collection(self._articles.name)

    def set_chunk_format(self, value: str) -> None:
        current = self._client.get_collection(self._chunks.name)
        current.modify(metadata={**(current.metadata or {}), _FORMAT: value})
        self._chunks = self._client.get_collection(self._chunks.name)

    def replace_vectors(self, chunk_vectors: dict[str, np.ndarray]) -> None:
        """New vectors for existing chunks, and their articles' mean vectors to match."""
        ids = sorted(chunk_vectors)
        for i in range(0, len(ids), _WRITE_BATCH):
            part = ids[i : i + _WRITE_BATCH]
            self._chunks.update(ids=part, embeddings=np.asarray([chunk_vectors[c] for c in part]))
        by_article: dict[str, list[np.ndarray]] = {}
        for chunk_id in ids:
            by_article.setdefault(chunk_id.split(":")[0], []).append(chunk_vectors[chunk_id])
        articles = sorted(by_article)
        for i in range(0, len(articles), _WRITE_BATCH):
            part = articles[i : i + _WRITE_BATCH]
            means = [np.mean(by_article[a], axis=0) for a in part]
            self._articles.update(
                ids=part,
                embeddings=np.asarray([m / max(float(np.linalg.norm(m)), 1e-12) for m in means]),
            )

    # --- writing -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the single-writer lock of an embedded store (the server serialises by itself)."""
        if self._lock is None:
            yield
            return
        try:
            with self._lock.acquire(timeout=0.5):
                yield
        except Timeout as exc:
            raise StoreError(
                f"Another process is writing to the store at {self.location}. The embedded store "
                "takes one writer at a time: wait for it to finish, or run a Chroma server "
                "(CHATBOT_CHROMA_URL) for several writers."
            ) from exc

    def write_article(self, article: Article, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Write an article whole: chunks first, then the article record that commits them."""
        self.write_articles([(article, chunks, vectors)])

    def write_articles(self, items: Sequence[tuple[Article, Sequence[Chunk], np.ndarray]]) -> None:
        """Write several articles, each whole, in a few calls (Chroma's cost is mostly per call):
        all their chunks, then all their article records (each record commits its own chunks,
        so a crash in between leaves every article either old or new), then stale chunks go."""
        if not items:
            return
        ids: list[str] = []
        embeddings: list[np.ndarray] = []
        documents: list[str] = []
        metadatas: list[dict[str, Any]] = []
        records: list[tuple[str, np.ndarray, str, dict[str, Any]]] = []
        for article, chunks, vectors in items:
            if len(chunks) != len(vectors) or not chunks:
                raise ValueError("an article needs at least one chunk and one vector per chunk")
            version = version_of(article.content_hash)
            base = {
                "article_id": article.id,
                "version": version,
                "title": article.title,
                "source": article.source,
                "published_ts": _ts(article.published_at),
                "url": article.url or "",
                "authors": "|".join(article.authors),
            }
            for c, vector in zip(chunks, vectors, strict=True):
                ids.append(f"{article.id}:{version}:{c.n}")
                embeddings.append(vector)
                documents.append(c.text)
                chunk_meta = {
                    **base,
                    "n": c.n,
                    "char_start": c.char_start,
                    "char_end": c.char_end,
                }
                if c.page is not None:  # only paged documents (PDF) have one
                    chunk_meta["page"] = c.page
                metadatas.append(chunk_meta)
            mean = vectors.mean(axis=0)
            mean = mean / max(float(np.linalg.norm(mean)), 1e-12)
            meta = {
                **{k: v for k, v in base.items() if k != "article_id"},
                "language": article.language or "",
                "content_hash": article.content_hash,
                "chunks": len(chunks),
                # When this version arrived: a watched question's alert needs news, not an
                # answer that changed among articles it could already have read.
                "stored_ts": datetime.now(UTC).timestamp(),
            }
            if article.pages:  # page starts, so that a read-back article keeps its pages
                meta["pages"] = ",".join(map(str, article.pages))
            records.append((article.id, mean, article.text, meta))
        before = self._begin_change()
        for i in range(0, len(ids), _WRITE_BATCH):
            self._chunks.upsert(
                ids=ids[i : i + _WRITE_BATCH],
                embeddings=np.asarray(embeddings[i : i + _WRITE_BATCH]),
                documents=documents[i : i + _WRITE_BATCH],
                metadatas=metadatas[i : i + _WRITE_BATCH],
            )
        for i in range(0, len(records), _WRITE_BATCH):  # the commit point of each article
            part = records[i : i + _WRITE_BATCH]
            self._articles.upsert(
                ids=[r[0] for r in part],
                embeddings=np.asarray([r[1] for r in part]),
                documents=[r[2] for r in part],
                metadatas=[r[3] for r in part],
            )
        versions = {r[0]: r[3]["version"] for r in records}
        written = sorted(versions)
        for i in range(0, len(written), _WRITE_BATCH):
            found = self._chunks.get(
                where={"article_id": {"$in": written[i : i + _WRITE_BATCH]}}, include=["metadatas"]
            )
            stale = [
                chunk_id
                for chunk_id, meta in zip(found["ids"], found["metadatas"], strict=True)
                if meta["version"] != versions[meta["article_id"]]
            ]
            for j in range(0, len(stale), _WRITE_BATCH):
                self._chunks.delete(ids=stale[j : j + _WRITE_BATCH])
        self.mark_changed(previous=before)

    def delete_article(self, article_id: str) -> bool:
        found = self._articles.get(ids=[article_id], include=[])["ids"]
        before = self._begin_change()
        # The article record goes first, so a crash in between leaves only invisible chunks.
        self._articles.delete(ids=[article_id])
        self._chunks.delete(where={"article_id": article_id})
        self.mark_changed(previous=before)
        return bool(found)

    def _begin_change(self) -> str | None:
        """Change the token before a write too, so that a crash in the middle of it still
        shows as a change; returns the token from before."""
        before = self.write_token()
        self.mark_changed(previous=before)
        return before

    def mark_changed(self, previous: str | None = None) -> None:
        """Mark the committed content as changed, for readers that cache what they derive from
        it (the keyword index). Set after the write, so a reader that saw the old token may
        hold newer data (and catches up needlessly) but never older data under a new token.
        ``previous`` (default: the current token) is kept beside it: an index that reflected
        the token from before a write, and has applied that write, may take the new one."""
        current = self._client.get_collection(self._chunks.name)
        meta = dict(current.metadata or {})
        meta[_PREVIOUS_TOKEN] = previous if previous is not None else meta.get(_WRITE_TOKEN, "")
        meta[_WRITE_TOKEN] = uuid.uuid4().hex
        current.modify(metadata=meta)

    @property
    def identity(self) -> str:
        """Where the chunks live: the store's location and collection."""
        return f"{self.location}|{self._chunks.name}"

    def write_token(self) -> str | None:
        """Changes with every write or delete by this project's code, in any process; None for
        a store written before tokens existed."""
        return self.write_state()[0]

    def write_state(self) -> tuple[str | None, str | None]:
        """The write token and the token from before the last write began (see mark_changed)."""
        meta = self._client.get_collection(self._chunks.name).metadata or {}
        token, previous = meta.get(_WRITE_TOKEN), meta.get(_PREVIOUS_TOKEN)
        return (str(token) if token else None, str(previous) if previous else None)

    def repair(self) -> int:
        """Delete chunks that no committed article version owns (left by a crash)."""
        versions = self.versions()
        stale: list[str] = []
        offset = 0
        while True:
            page = self._chunks.get(include=["metadatas"], limit=5000, offset=offset)
            if not page["ids"]:
                break
            for chunk_id, meta in zip(page["ids"], page["metadatas"], strict=True):
                if versions.get(meta["article_id"]) != meta["version"]:
                    stale.append(chunk_id)
            offset += len(page["ids"])
        for i in range(0, len(stale), _WRITE_BATCH):
            self._chunks.delete(ids=stale[i : i + _WRITE_BATCH])
        return len(stale)

    # --- reading -----------------------------------------------------------------------------

    def chunk_inventory(self) -> dict[str, dict[str, set[int]]]:
        """Every chunk record, committed or not: article id -> version -> chunk numbers (for
        consistency checks; readers use the committed views below)."""
        found: dict[str, dict[str, set[int]]] = {}
        offset = 0
        while True:
            page = self._chunks.get(include=["metadatas"], limit=5000, offset=offset)
            if not page["ids"]:
                return found
            for meta in page["metadatas"]:
                found.setdefault(meta["article_id"], {}).setdefault(meta["version"], set()).add(
                    int(meta["n"])
                )
            offset += len(page["ids"])

    def versions(self, ids: Sequence[str] | None = None) -> dict[str, str]:
        """Committed content version per article id."""
        hashes = self.content_hashes(ids)
        return {k: version_of(v) for k, v in hashes.items()}

    def content_hashes(self, ids: Sequence[str] | None = None) -> dict[str, str]:
        if ids is not None and not ids:
            return {}
        result: dict[str, str] = {}
        offset = 0
        while True:
            if ids is not None:
                page = self._articles.get(ids=list(ids), include=["metadatas"])
            else:
                page = self._articles.get(include=["metadatas"], limit=5000, offset=offset)
            for article_id, meta in zip(page["ids"], page["metadatas"], strict=True):
                result[article_id] = meta["content_hash"]
            if ids is not None or not page["ids"]:
                return result
            offset += len(page["ids"])

    def count_articles(self) -> int:
        return self._articles.count()

    def count_chunks(self) -> int:
        return self._chunks.count()

    def list_articles(
        self,
        *,
        sources: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[StoredArticle]:
        where = self.article_filter(sources=sources, since=since, until=until)
        page = self._articles.get(
            ids=list(ids) if ids is not None else None, where=where, include=["metadatas"]
        )
        articles = [
            StoredArticle(
                id=article_id,
                title=meta["title"],
                source=meta["source"],
                published_at=_from_ts(meta["published_ts"]),
                url=meta["url"] or None,
                authors=tuple(a for a in meta["authors"].split("|") if a),
                language=meta["language"] or None,
                chunks=int(meta["chunks"]),
                content_hash=meta["content_hash"],
            )
            for article_id, meta in zip(page["ids"], page["metadatas"], strict=True)
        ]
        newest_first = datetime.min.replace(tzinfo=UTC)
        articles.sort(key=lambda a: (a.published_at or newest_first, a.title), reverse=True)
        return articles

    def stored_at(self, ids: Sequence[str]) -> dict[str, datetime | None]:
        """When each article's current version was stored (None: stored before this was
        recorded)."""
        if not ids:
            return {}
        page = self._articles.get(ids=list(ids), include=["metadatas"])
        return {
            article_id: _from_ts(meta.get("stored_ts"))
            for article_id, meta in zip(page["ids"], page["metadatas"], strict=True)
        }

    def get_article(self, article_id: str) -> Article | None:
        page = self._articles.get(ids=[article_id], include=["metadatas", "documents"])
        if not page["ids"]:
            return None
        meta, text = page["metadatas"][0], page["documents"][0]
        return Article(
            id=article_id,
            title=meta["title"],
            text=text,
            source=meta["source"],
            authors=tuple(a for a in meta["authors"].split("|") if a),
            published_at=_from_ts(meta["published_ts"]),
            url=meta["url"] or None,
            language=meta["language"] or None,
            pages=tuple(int(x) for x in str(meta.get("pages") or "").split(",") if x),
        )

    def article_vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        page = self._articles.get(ids=list(ids), include=["embeddings"])
        return {
            i: np.asarray(v, dtype=np.float32)
            for i, v in zip(page["ids"], page["embeddings"], strict=True)
        }

    @staticmethod
    def article_filter(
        *,
        sources: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        article_ids: Sequence[str] | None = None,
        id_field: str | None = None,
    ) -> dict[str, Any] | None:
        """A Chroma ``where`` filter over article metadata (``until`` is exclusive)."""
        clauses: list[dict[str, Any]] = []
        if sources:
            clauses.append({"source": {"$in": list(sources)}})
        if since:
            clauses.append({"published_ts": {"$gte": since.timestamp()}})
        if until:
            clauses.append({"published_ts": {"$lt": until.timestamp()}})
        if article_ids and id_field:
            clauses.append({id_field: {"$in": list(article_ids)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def query_chunks(
        self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None
    ) -> list[Passage]:
        """Nearest committed chunks, best first; score is cosine similarity."""
        return self.nearest_chunks(vector, k, where)[0]

    def nearest_chunks(
        self,
        vector: np.ndarray,
        k: int,
        where: dict[str, Any] | None = None,
        ids: Sequence[str] | None = None,
    ) -> tuple[list[Passage], dict[str, np.ndarray]]:
        """:meth:`query_chunks` plus the hits' stored vectors, read in the same call; ``ids``
        limits the search to those chunks."""
        if ids is not None and not ids:
            return [], {}
        # Chroma answers an empty collection, or k above its size, with what it has.
        result = self._chunks.query(
            query_embeddings=[vector],
            n_results=k,
            where=where,
            ids=list(ids) if ids is not None else None,
            include=["metadatas", "documents", "distances", "embeddings"],
        )
        hits = [
            self._hit(chunk_id, meta, text, 1.0 - float(distance))
            for chunk_id, meta, text, distance in zip(
                result["ids"][0],
                result["metadatas"][0],
                result["documents"][0],
                result["distances"][0],
                strict=True,
            )
        ]
        embeddings = result["embeddings"][0] if result["embeddings"] is not None else []
        vectors = {
            i: np.asarray(v, dtype=np.float32)
            for i, v in zip(result["ids"][0], embeddings, strict=True)
        }
        committed = self.committed(hits)
        return committed, {h.chunk_id: vectors[h.chunk_id] for h in committed}

    def chunk_vectors(self, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors by chunk id; ids this client cannot read are left out."""
        if not chunk_ids:
            return {}
        try:
            page = self._chunks.get(ids=list(chunk_ids), include=["embeddings"])
        except chromadb.errors.ChromaError:
            # Another process wrote to the embedded store after this client loaded its vector
            # segment; those newest chunks are unreadable here until the store is reopened.
            if len(chunk_ids) == 1:
                return {}
            return {k: v for c in chunk_ids for k, v in self.chunk_vectors([c]).items()}
        return {
            i: np.asarray(v, dtype=np.float32)
            for i, v in zip(page["ids"], page["embeddings"], strict=True)
        }

    def get_chunks(self, chunk_ids: Sequence[str]) -> list[Passage]:
        if not chunk_ids:
            return []
        page = self._chunks.get(ids=list(chunk_ids), include=["metadatas", "documents"])
        hits = {
            chunk_id: self._hit(chunk_id, meta, text, 0.0)
            for chunk_id, meta, text in zip(
                page["ids"], page["metadatas"], page["documents"], strict=True
            )
        }
        return self.committed([hits[c] for c in chunk_ids if c in hits])

    def iter_chunks(self, batch: int = 5000) -> Iterator[Passage]:
        """Every committed chunk (for building the keyword index)."""
        versions = self.versions()
        offset = 0
        while True:
            page = self._chunks.get(include=["metadatas", "documents"], limit=batch, offset=offset)
            if not page["ids"]:
                return
            for chunk_id, meta, text in zip(
                page["ids"], page["metadatas"], page["documents"], strict=True
            ):
                if versions.get(meta["article_id"]) == meta["version"]:
                    yield self._hit(chunk_id, meta, text, 0.0)
            offset += len(page["ids"])

    def article_chunks(self, versions: dict[str, str], batch: int = 200) -> list[Passage]:
        """The chunks of these articles' given versions (committed ones, for the keyword
        index to add), in article order then chunk order."""
        found: list[Passage] = []
        ids = list(versions)
        for i in range(0, len(ids), batch):
            part = ids[i : i + batch]
            page = self._chunks.get(
                where={"article_id": {"$in": part}}, include=["metadatas", "documents"]
            )
            found += [
                self._hit(chunk_id, meta, text, 0.0)
                for chunk_id, meta, text in zip(
                    page["ids"], page["metadatas"], page["documents"], strict=True
                )
                if versions.get(meta["article_id"]) == meta["version"]
            ]
        order = {a: i for i, a in enumerate(ids)}
        found.sort(key=lambda p: (order[p.article_id], p.n))
        return found

    def committed(self, hits: list[Passage]) -> list[Passage]:
        """Drop chunks of article versions that were never committed or were superseded."""
        versions = self.versions(sorted({h.article_id for h in hits}))
        return [h for h in hits if versions.get(h.article_id) == h.chunk_id.split(":")[1]]

    @staticmethod
    def _hit(chunk_id: str, meta: dict[str, Any], text: str, score: float) -> Passage:
        return Passage(
            chunk_id=chunk_id,
            article_id=meta["article_id"],
            n=int(meta["n"]),
            text=text,
            char_start=int(meta["char_start"]),
            char_end=int(meta["char_end"]),
            title=meta["title"],
            source=meta["source"],
            published_at=_from_ts(meta["published_ts"]),
            url=meta["url"] or None,
            authors=tuple(a for a in meta["authors"].split("|") if a),
            score=score,
            page=int(meta["page"]) if meta.get("page") is not None else None,
        )
