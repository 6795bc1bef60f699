"""The Chatbot facade: the one place where parts are wired from Settings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from os import PathLike
from typing import Any

from chatbot.chunking import Chunker
from chatbot.config import Settings, load_settings
from chatbot.dates import DateLike, to_datetime
from chatbot.embeddings import Embedder, create_embedder
from chatbot.fetch import Fetcher
from chatbot.ingest import Ingestor, ProgressCallback
from chatbot.loaders import iter_articles
from chatbot.models import Article, IngestReport, StoredArticle
from chatbot.store import ArticleStore

IngestItem = str | PathLike[str] | Article | dict[str, Any]


class Chatbot:
    """Ingest articles, list and delete them, ask questions, summarise, brief.

    Collaborators are built once here from Settings; tests and embedding applications may pass
    their own (e.g. a shared embedder) instead.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        store: ArticleStore | None = None,
        **overrides: Any,
    ) -> None:
        self.settings = settings or load_settings(**overrides)
        s = self.settings
        self.embedder = embedder or create_embedder(s)
        self.store = store or ArticleStore.open(
            path=None if s.chroma_url else s.store_path,
            url=s.chroma_url,
            embedding_model=self.embedder.name,
            dimension=self.embedder.dimension,
            articles_collection=s.articles_collection,
            chunks_collection=s.chunks_collection,
        )
        self.fetcher = Fetcher.from_settings(s)
        self.ingestor = Ingestor(self.store, self.embedder, Chunker(s.chunk_size, s.chunk_overlap))

    # --- library -----------------------------------------------------------------------------

    def ingest(
        self, items: IngestItem | Iterable[IngestItem], progress: ProgressCallback | None = None
    ) -> IngestReport:
        if isinstance(items, str | PathLike | Article | dict):
            items = [items]
        loaded = iter_articles(
            items, fetcher=self.fetcher, max_file_bytes=self.settings.max_file_bytes
        )
        return self.ingestor.ingest(loaded, progress)

    def articles(
        self,
        *,
        source: str | Sequence[str] | None = None,
        since: DateLike | None = None,
        until: DateLike | None = None,
    ) -> list[StoredArticle]:
        sources = [source] if isinstance(source, str) else source
        return self.store.list_articles(
            sources=sources,
            since=to_datetime(since) if since else None,
            until=to_datetime(until) if until else None,
        )

    def article(self, article_id: str) -> Article | None:
        return self.store.get_article(article_id)

    def delete(self, article_id: str) -> bool:
        return self.ingestor.delete(article_id)

    def status(self) -> dict[str, Any]:
        return {
            "store": self.store.location,
            "embedding_model": self.embedder.name,
            "articles": self.store.count_articles(),
            "chunks": self.store.count_chunks(),
        }
