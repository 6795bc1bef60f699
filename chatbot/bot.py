"""The Chatbot facade: the one place where parts are wired from Settings."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date
from importlib.resources import files
from os import PathLike
from pathlib import Path
from typing import Any

from chatbot.answering.chat import ChatEngine, ChatSession
from chatbot.answering.citations import SupportChecker
from chatbot.answering.retrieval import Retriever
from chatbot.answering.strategies import create_strategy
from chatbot.answering.summaries import Summarizer, SummaryError
from chatbot.common.dates import DateLike, to_datetime
from chatbot.config import Settings, load_settings
from chatbot.errors import ChatbotError
from chatbot.index.chunking import CHUNK_FORMAT, TEXT_FORMAT, Chunker
from chatbot.index.ingest import Ingestor
from chatbot.index.keyword_index import KeywordIndex
from chatbot.index.store import ArticleStore
from chatbot.llm.base import LLMBackend, LLMError
from chatbot.llm.registry import create_backend
from chatbot.models.answer_ranker import create_ranker
from chatbot.models.embeddings import Embedder, create_embedder
from chatbot.news.briefing import FORMATS, BriefingBuilder, story_article_ids
from chatbot.news.desk import NewsDesk
from chatbot.news.feeds import FeedManager
from chatbot.news.schedule import ScheduleStats, briefing_job, run_schedule
from chatbot.news.stories import StoryTimelines
from chatbot.news.watches import Watches
from chatbot.sources.fetch import Fetcher
from chatbot.sources.live_blogs import live_blog_articles
from chatbot.sources.loaders import iter_articles
from chatbot.vocabulary import (
    Answer,
    Article,
    Briefing,
    Filters,
    IngestReport,
    ProgressCallback,
    RefreshReport,
    StoredArticle,
    StoryInfo,
    StreamEvent,
    Subscription,
    Summary,
    Timeline,
    Watch,
    final_answer,
)

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
            feeds_collection=s.feeds_collection,
            watches_collection=s.watches_collection,
        )
        self.fetcher = Fetcher.from_settings(s)
        self.keyword_index = KeywordIndex(self.store, cache_dir=s.data_dir / "keyword-index")
        self.ingestor = Ingestor(
            self.store,
            self.embedder,
            Chunker(s.chunk_size, s.chunk_overlap),
            listeners=[self.keyword_index],
        )
        self.retriever = Retriever(
            self.store,
            self.embedder,
            self.keyword_index,
            recency_weight=s.recency_weight,
            recency_days=s.recency_days,
        )
        if llm is None:
            llm, self.backend_reason = create_backend(s)
        else:
            self.backend_reason = f"{llm.name}: given by the caller"
        log.info("LLM backend %s", self.backend_reason)
        self.llm = llm
        if s.support_method == "llm" and not llm.generative:  # the judge must write
            raise ChatbotError(
                f"CHATBOT_SUPPORT_METHOD=llm needs an LLM that writes text, but the backend is "
                f"{llm.name}. Choose another backend or CHATBOT_SUPPORT_METHOD=hybrid."
            )
        self.checker = SupportChecker(
            self.embedder,
            method=s.support_method,
            threshold=s.support_threshold,
            judge=llm if s.support_method == "llm" else None,
        )
        # How answers and summaries are written, chosen once: the rest asks the strategy.
        self.strategy = create_strategy(
            llm,
            self.embedder,
            self.checker,
            context=s.answer_context,
            policy=s.unsupported_policy,
            max_tokens=s.llm_max_tokens,
            temperature=s.llm_temperature,
            reason=self.backend_reason,
            ranker=create_ranker(s),
            short_answers=s.short_answers,
        )
        self.engine = ChatEngine(
            self.retriever, self.strategy, top_k=s.top_k, min_relevance=s.min_relevance
        )

        self.summarizer = Summarizer(
            self.store,
            self.embedder,
            self.strategy,
            self.checker,
            cache_dir=s.data_dir / "summaries",
            max_tokens=s.llm_max_tokens,
            temperature=s.llm_temperature,
            unsupported_policy=s.unsupported_policy,
        )
        self.briefings = BriefingBuilder(
            self.store,
            self.embedder,
            self.summarizer,
            max_stories=s.briefing_max_stories,
            out_dir=s.briefings_dir,
            state_dir=s.data_dir / "briefings",
        )
        self.timelines = StoryTimelines(
            self.store,
            self.embedder,
            self.summarizer,
            self.checker,
            self.briefings,
            self.retriever,
            min_relevance=s.min_relevance,
        )
        self.watch_list = Watches(
            self.store.watches,
            self.ask,
            self.checker,
            store_token=self.store.write_token,
            stored_at=self.store.stored_at,
            embedder=self.embedder,
            min_relevance=s.min_relevance,
        )
        self.feed_manager = FeedManager(
            self.store,
            self.fetcher,
            self.ingestor,
            default_every=s.feed_every,
            workers=s.feed_workers,
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

    def load_example_if_empty(self) -> IngestReport | None:
        """Load the packaged example article into an empty store, so a first start has news."""
        if self.store.count_articles():
            return None
        return self.ingest(sorted(Path(str(files("chatbot") / "examples")).glob("*.txt")))

    def reindex(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Bring a store from an older version up to this one: split its live blogs into dated
        entries (``TEXT_FORMAT``), then embed every stored chunk again in the current format
        (``CHUNK_FORMAT``: with its article's title), recording each on the store; returns
        the number of chunks. Safe to stop and run again: a format is recorded only when all
        of its work is done."""
        if self.store.needs_entries():
            self.split_live_blogs()
        return self.ingestor.reindex(progress)

    def split_live_blogs(self) -> list[str]:
        """Store each stored live blog as its dated entries (:mod:`chatbot.sources.live_blogs`),
        in place of the page; returns the ids of the pages split. The entries are written
        before the page is deleted, so a run cut short loses nothing and the next one finishes
        it."""
        split: list[str] = []
        for stored in self.store.list_articles():
            page = self.store.get_article(stored.id)
            entries = live_blog_articles(page) if page is not None else None
            if page is None or not entries:
                continue
            report = self.ingestor.ingest(entries)
            if report.failed:
                log.warning("Live blog %s kept whole: %s", page.id, report.failed[0][1])
                continue
            if page.id not in {e.id for e in entries}:
                self.ingestor.delete(page.id)
            split.append(page.id)
        self.store.set_text_format(TEXT_FORMAT)
        return split

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

    def article_days(self) -> list[tuple[date, int]]:
        """The days that have articles, as briefings count days (UTC), newest first, each with
        its number of articles: what the UI offers for a briefing. Undated articles count for
        no day."""
        days = Counter(
            a.published_at.astimezone(UTC).date()
            for a in self.store.list_articles()
            if a.published_at
        )
        return sorted(days.items(), reverse=True)

    def article(self, article_id: str) -> Article | None:
        return self.store.get_article(article_id)

    def delete(self, article_id: str) -> bool:
        return self.ingestor.delete(article_id)

    def news_desk(self, **options: Any) -> NewsDesk:
        """The scheduler that refreshes feeds and writes and delivers the daily briefing
        (options: ``briefing_at``, ``timezone``, ``channels``, ...; see ``NewsDesk``)."""
        return NewsDesk(
            self.briefings, self.feed_manager, self.settings, watches=self.watch_list, **options
        )

    # --- feed subscriptions --------------------------------------------------------------------

    def add_feed(self, url: str, name: str | None = None, every: str | None = None) -> Subscription:
        """Subscribe to an RSS/Atom feed (kept with the store); ``every`` like 30m, 1h, 6h, 1d."""
        return self.feed_manager.add(url, name=name, every=every)

    def feeds(self) -> list[Subscription]:
        return self.feed_manager.list()

    def feed(self, url: str) -> Subscription | None:
        """One subscription as stored now (None: not subscribed)."""
        return self.feed_manager.get(url)

    def remove_feed(self, url: str) -> bool:
        """Unsubscribe; articles already stored from the feed stay."""
        return self.feed_manager.remove(url)

    def refresh(
        self, urls: Sequence[str] | str | None = None, *, due_only: bool = False
    ) -> RefreshReport:
        """Poll every feed now (or the named ones; only the due ones with ``due_only``, as the
        news desk's timer does) and store their new and changed articles in full; an unchanged
        feed costs one conditional request (304). The report says per feed what was added,
        updated and failed."""
        if isinstance(urls, str):
            urls = [urls]
        return self.feed_manager.refresh(urls or None, due_only=due_only)

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
        as_of: DateLike | None = None,
    ) -> Iterator[StreamEvent]:
        """Text pieces as they are generated (TokenEvent), then the checked Answer (AnswerEvent).

        ``as_of`` reads the news as of that date ("today", "latest" and the recency preference
        count from it) instead of from the newest stored article."""
        filters = make_filters(since, until, sources, authors, article_ids, as_of)
        return self.engine.stream(question, filters)

    def ask(self, question: str, **filters: Any) -> Answer:
        return final_answer(self.stream(question, **filters))

    def chat_session(self, **filters: Any) -> ChatSession:
        """A conversation with its own memory; follow-up questions are understood in context."""
        return ChatSession(
            self.engine, max_turns=self.settings.history_turns, filters=make_filters(**filters)
        )

    # --- summaries and briefings --------------------------------------------------------------

    def summarize(
        self,
        article_id: str | None = None,
        *,
        query: str | None = None,
        since: DateLike | None = None,
        until: DateLike | None = None,
        sources: Sequence[str] | str | None = None,
        limit: int = 5,
    ) -> Summary:
        """One article's cited summary, or one summary of the ``limit`` articles most relevant
        to ``query`` and/or of all articles published in [since, until)."""
        if article_id is not None:
            return self.summarizer.summarize_article(article_id)
        if query:
            found = self.retriever.retrieve(
                query, max(self.settings.top_k, 4 * limit), make_filters(since, until, sources)
            )
            if not found.passages or found.best_similarity < self.settings.min_relevance:
                raise SummaryError(f"No stored article matches {query!r}.")
            ids = list(dict.fromkeys(p.article_id for p in found.passages))[:limit]
        elif since or until:
            listed = self.articles(source=sources, since=since, until=until)
            if not listed:
                raise SummaryError("No stored article was published in that period.")
            ids = [a.id for a in listed]  # a period means all of it: none silently dropped
        else:
            raise SummaryError("Give an article id, a query, or a since/until period.")
        return self.summarizer.summarize_articles(ids)

    def briefing(
        self,
        date: DateLike | None = None,
        *,
        since: DateLike | None = None,
        until: DateLike | None = None,
        since_last: bool = False,
    ) -> Briefing:
        return self.briefings.build(date, since=since, until=until, since_last=since_last)

    def write_briefing(self, briefing: Briefing, formats: Iterable[str] = FORMATS) -> list[Path]:
        return self.briefings.write(briefing, formats)

    def briefing_files(self, date: DateLike, formats: Iterable[str] = FORMATS) -> list[Path]:
        """The written files (md, html, json) of the day's briefing that exist."""
        return self.briefings.files(to_datetime(date).date().isoformat(), formats)

    def list_briefings(self) -> list[str]:
        return self.briefings.list_briefings()

    def load_briefing(self, date: DateLike) -> Briefing:
        return self.briefings.load_briefing(date)

    def story_articles(self, number: int, date: DateLike | None = None) -> tuple[str, ...]:
        """Ids of story ``number`` (1-based) of the briefing for ``date`` (default: the latest),
        for "tell me more about the second story": bot.ask(q, article_ids=bot.story_articles(2))."""
        brief = self.briefings.load_briefing(date) if date else self.briefings.latest_briefing()
        if brief is None:
            raise SummaryError("No briefing yet: run `chatbot briefing` first.")
        return story_article_ids(brief, number)

    # --- stories -------------------------------------------------------------------------------

    def stories(self) -> list[StoryInfo]:
        """The stories of the stored briefings, the most recently seen first."""
        return self.timelines.stories()

    def story(
        self,
        story_id: str | None = None,
        *,
        query: str | None = None,
        article_id: str | None = None,
        since: DateLike | None = None,
    ) -> Timeline:
        """A story's timeline: its dated developments, oldest first, each a cited summary of
        what that day's articles added. Name the story by a briefing's story id, by one of its
        articles, or by a query; ``since`` keeps what is new since that day."""
        timeline = self.timelines.timeline(story_id, query=query, article_id=article_id)
        return timeline.since(to_datetime(since).date()) if since else timeline

    # --- watched questions ---------------------------------------------------------------------

    def watch(self, question: str, *, every: str | int | None = None) -> Watch:
        """Watch a question: answered now, and again after each refresh of the news desk (at
        most ``every``, like 1h, when given); the desk sends an alert when the new answer
        states something the last one's sources did not. Kept with the store."""
        return self.watch_list.add(question, every)

    def watches(self) -> list[Watch]:
        return self.watch_list.all()

    def unwatch(self, watch_id: str) -> bool:
        """Stop watching; False when there was no such watch."""
        return self.watch_list.remove(watch_id)

    def run_briefing_schedule(
        self,
        *,
        at: str = "07:00",
        timezone: str | None = None,
        formats: Iterable[str] = FORMATS,
        stop_event: threading.Event | None = None,
    ) -> ScheduleStats:
        return run_schedule(
            briefing_job(lambda: self.briefings, formats),
            at=at,
            timezone=timezone or self.settings.desk_timezone,
            stop_event=stop_event,
        )

    def warm_up(self) -> None:
        """Load what the first question needs (the keyword index, the embedding model), so that
        it does not wait for them; the UI calls this in the background at start."""
        self.keyword_index.refresh()
        self.embedder.embed_query("warm-up")
        try:
            self.llm.warm_up()  # a local model's process loads while nobody waits
        except LLMError as exc:  # the first answer falls back and says why
            log.warning("The LLM could not be warmed up: %s", exc)

    def close(self) -> None:
        """Release the store (an embedded store admits one process at a time)."""
        self.keyword_index.close()  # its background catch-up reads the store
        self.store.close()
        self.llm.close()

    def __enter__(self) -> Chatbot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def counts(self) -> tuple[int, int]:
        """(articles, chunks) in the store."""
        return self.store.count_articles(), self.store.count_chunks()

    @property
    def streams_tokens(self) -> bool:
        """Whether answers arrive word by word (a writing model) or whole (quoted sources)."""
        return self.strategy.streams_tokens

    @property
    def llm_description(self) -> str:
        """The LLM backend in words, e.g. 'local llama.cpp (SmolLM2-135M, 1 thread)'."""
        return self.llm.describe()

    def llm_health(self) -> dict[str, Any] | None:
        """The local model's process: state, pid, restarts, last failure (None: no process)."""
        return self.llm.health()

    def status(self) -> dict[str, Any]:
        process = self.llm.health()
        return {
            "llm_backend": self.llm.describe(),
            "llm_backend_reason": self.backend_reason,
            **({"llm_process": describe_health(process)} if process is not None else {}),
            "answering": self.strategy.describe(),
            "answering_reason": self.strategy.reason,
            "store": self.store.location,
            "embedding_model": self.embedder.name,
            "embedding_precision": self.embedder.precision,
            "articles": self.store.count_articles(),
            "chunks": self.store.count_chunks(),
            "chunk_vectors": (
                f"{self.store.chunk_format}: older than this version; `chatbot reindex` "
                "upgrades them (better retrieval)"
                if self.store.needs_reindex()
                else CHUNK_FORMAT
            ),
            "article_texts": (
                f"{self.store.text_format}: older than this version; `chatbot reindex` "
                "stores live blogs as dated entries"
                if self.store.needs_entries()
                else TEXT_FORMAT
            ),
        }


def describe_health(health: dict[str, Any]) -> str:
    """'ready (pid 412), 1 restart; last failure: killed by signal 11 (SIGSEGV) at ...'."""
    text = str(health.get("state"))
    if health.get("pid"):
        text += f" (pid {health['pid']})"
    restarts = int(health.get("restarts") or 0)
    if restarts:
        text += f", {restarts} restart{'s' if restarts != 1 else ''}"
    if health.get("last_failure"):
        text += f"; last failure: {health['last_failure']} at {health.get('last_failure_at')}"
    return text


def make_filters(
    since: DateLike | None = None,
    until: DateLike | None = None,
    sources: Sequence[str] | str | None = None,
    authors: Sequence[str] | str | None = None,
    article_ids: Sequence[str] | str | None = None,
    as_of: DateLike | None = None,
) -> Filters:
    def many(value: Sequence[str] | str | None) -> tuple[str, ...]:
        return (value,) if isinstance(value, str) else tuple(value or ())

    return Filters(
        since=to_datetime(since) if since else None,
        until=to_datetime(until) if until else None,
        sources=many(sources),
        authors=many(authors),
        article_ids=many(article_ids),
        as_of=to_datetime(as_of) if as_of else None,
    )
