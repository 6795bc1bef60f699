"""The Chatbot facade: the one place where parts are wired from Settings."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from os import PathLike
from typing import Any

from chatbot.chat import AnswerEvent, ChatEngine, ChatSession, StreamEvent
from chatbot.chunking import Chunker
from chatbot.citations import SupportChecker
from chatbot.config import Settings, load_settings
from chatbot.dates import DateLike, to_datetime
from chatbot.embeddings import Embedder, create_embedder
from chatbot.fetch import Fetcher
from chatbot.ingest import Ingestor, ProgressCallback
from chatbot.keyword_index import KeywordIndex
from chatbot.llm.base import LLMBackend
from chatbot.llm.registry import create_backend
from chatbot.loaders import iter_articles
from chatbot.models import Answer, Article, IngestReport, StoredArticle
from chatbot.retrieval import Filters, Retriever
from chatbot.store import ArticleStore

log = logging.getLogger(__name__)
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
        llm: LLMBackend | None = None,
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
        self.keyword_index = KeywordIndex(self.store)
        self.ingestor = Ingestor(
            self.store,
            self.embedder,
            Chunker(s.chunk_size, s.chunk_overlap),
            listeners=[self.keyword_index],
        )
        self.retriever = Retriever(self.store, self.embedder, self.keyword_index)
        if llm is None:
            llm, self.backend_reason = create_backend(s)
        else:
            self.backend_reason = f"{llm.name}: given by the caller"
        log.info("LLM backend %s", self.backend_reason)
        self.llm = llm
        self.checker = SupportChecker(
            self.embedder, method=s.support_method, threshold=s.support_threshold
        )
        self.engine = ChatEngine(
            self.retriever,
            self.llm,
            self.checker,
            self.embedder,
            top_k=s.top_k,
            min_relevance=s.min_relevance,
            unsupported_policy=s.unsupported_policy,
            max_tokens=s.llm_max_tokens,
            temperature=s.llm_temperature,
        )

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

    # --- questions -----------------------------------------------------------------------------

    def stream(
        self,
        question: str,
        *,
        since: DateLike | None = None,
        until: DateLike | None = None,
        sources: Sequence[str] | None = None,
        authors: Sequence[str] | None = None,
        article_ids: Sequence[str] | None = None,
    ) -> Iterator[StreamEvent]:
        """Text pieces as they are generated (TokenEvent), then the checked Answer (AnswerEvent)."""
        filters = make_filters(since, until, sources, authors, article_ids)
        return self.engine.stream(question, filters)

    def ask(self, question: str, **filters: Any) -> Answer:
        answer: Answer | None = None
        for event in self.stream(question, **filters):
            if isinstance(event, AnswerEvent):
                answer = event.answer
        assert answer is not None
        return answer

    def chat_session(self, **filters: Any) -> ChatSession:
        """A conversation with its own memory; follow-up questions are understood in context."""
        return ChatSession(
            self.engine, max_turns=self.settings.history_turns, filters=make_filters(**filters)
        )

    def status(self) -> dict[str, Any]:
        return {
            "llm_backend": self.llm.describe(),
            "llm_backend_reason": self.backend_reason,
            "store": self.store.location,
            "embedding_model": self.embedder.name,
            "articles": self.store.count_articles(),
            "chunks": self.store.count_chunks(),
        }


def make_filters(
    since: DateLike | None = None,
    until: DateLike | None = None,
    sources: Sequence[str] | str | None = None,
    authors: Sequence[str] | str | None = None,
    article_ids: Sequence[str] | str | None = None,
) -> Filters:
    def many(value: Sequence[str] | str | None) -> tuple[str, ...]:
        return (value,) if isinstance(value, str) else tuple(value or ())

    return Filters(
        since=to_datetime(since) if since else None,
        until=to_datetime(until) if until else None,
        sources=many(sources),
        authors=many(authors),
        article_ids=many(article_ids),
    )
