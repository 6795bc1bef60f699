"""The public vocabulary: the data types that users, shells and every stage share.

Plain dataclasses; no I/O, no models. Their JSON forms are in :mod:`chatbot.codecs`; how they
look to people (text, Markdown, HTML) is :mod:`chatbot.presentation`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chatbot.common.dates import utc_label
from chatbot.common.ids import article_id_for, content_hash, feed_key

__all__ = [
    "Alert",
    "Answer",
    "AnswerEvent",
    "AnswerSentence",
    "Article",
    "Briefing",
    "Chunk",
    "Citation",
    "Development",
    "FeedReport",
    "Filters",
    "IngestEvent",
    "IngestReport",
    "LoadFailure",
    "Passage",
    "ProgressCallback",
    "RefreshReport",
    "ShortAnswer",
    "StoredArticle",
    "Story",
    "StoryInfo",
    "StoryLink",
    "StreamEvent",
    "Subscription",
    "Summary",
    "Timeline",
    "TokenEvent",
    "Turn",
    "Watch",
    "final_answer",
]


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    text: str
    source: str = ""
    authors: tuple[str, ...] = ()
    published_at: datetime | None = None
    url: str | None = None
    language: str | None = None
    # Where each page starts in ``text`` (character offsets, one per page, first page first) for
    # documents with pages (PDF); empty for everything else. Chunks keep within one page.
    pages: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.published_at is not None and self.published_at.tzinfo is None:
            # Naive dates are taken as UTC so that date filters compare like with like.
            object.__setattr__(self, "published_at", self.published_at.replace(tzinfo=UTC))
        if self.pages and (
            self.pages[0] != 0
            or self.pages[-1] > len(self.text)
            or any(b < a for a, b in zip(self.pages, self.pages[1:], strict=False))
        ):
            # Chunking trusts these offsets: text outside every page would never be indexed.
            raise ValueError("pages must be ascending offsets into the text, the first one 0")

    @classmethod
    def create(
        cls,
        *,
        title: str,
        text: str,
        source: str = "",
        authors: tuple[str, ...] | list[str] = (),
        published_at: datetime | None = None,
        url: str | None = None,
        language: str | None = None,
        id: str | None = None,
        pages: tuple[int, ...] | list[int] = (),
    ) -> Article:
        return cls(
            id=id or article_id_for(url, title, text),
            title=title.strip(),
            text=text,
            source=source.strip(),
            authors=tuple(a.strip() for a in authors if a and a.strip()),
            published_at=published_at,
            url=url,
            language=language,
            pages=tuple(pages),
        )

    @property
    def content_hash(self) -> str:
        """Changes whenever anything stored about the article changes."""
        parts = [
            self.title,
            self.text,
            self.source,
            "|".join(self.authors),
            self.published_at.isoformat() if self.published_at else "",
            self.url or "",
            self.language or "",
        ]
        if self.pages:  # only when paged: the hashes of articles stored before stay the same
            parts.append(",".join(map(str, self.pages)))
        return content_hash(*parts)

    def page_spans(self) -> list[tuple[int, int, int]]:
        """(page number from 1, start, end) of each page in ``text``; empty when not paged."""
        ends = [*self.pages[1:], len(self.text)]
        return [(i, s, e) for i, (s, e) in enumerate(zip(self.pages, ends, strict=True), 1)]


@dataclass(frozen=True)
class Chunk:
    article_id: str
    n: int
    text: str
    char_start: int
    char_end: int
    page: int | None = None  # the page (from 1) of a paged document that the chunk lies on

    @property
    def id(self) -> str:
        return f"{self.article_id}:{self.n}"


@dataclass(frozen=True)
class LoadFailure:
    """An input item that could not be turned into an article, and why."""

    item: str
    reason: str


@dataclass(frozen=True)
class StoredArticle:
    """What the store knows about an article, without its full text."""

    id: str
    title: str
    source: str
    published_at: datetime | None
    url: str | None
    authors: tuple[str, ...]
    language: str | None
    chunks: int
    content_hash: str


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    chunks: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped, "
            f"{len(self.failed)} failed ({self.chunks} chunks written)"
        )


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk of an article, with what is needed to cite it."""

    chunk_id: str
    article_id: str
    n: int
    text: str
    char_start: int
    char_end: int
    title: str
    source: str
    published_at: datetime | None
    url: str | None
    authors: tuple[str, ...] = ()
    score: float = 0.0
    # Other outlets that carried the same passage (syndicated wire copy), collapsed into this one.
    also_in: tuple[str, ...] = ()
    page: int | None = None  # the page (from 1) of a paged document (PDF), else None


@dataclass(frozen=True)
class Citation:
    """Source [n] as cited by an answer: the exact quoted sentence(s) and their span."""

    n: int
    article_id: str
    title: str
    source: str
    published_at: datetime | None
    url: str | None
    quote: str
    char_start: int
    char_end: int
    supported: bool
    score: float
    # Why the checker decided so, in words: "supported", "not found in the source: Geneva",
    # "contradicts the source: 87 vs 92".
    reason: str = ""
    page: int | None = None  # the page (from 1) of a paged document (PDF) the quote is on


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    citations: tuple[int, ...]
    supported: bool
    score: float
    reason: str = ""  # as Citation.reason; empty for sentences that need no source
    # The sources' own words, shown where (or beside what) the language model wrote: its
    # sentence was not supported, or left out a fact the question led to.
    quoted: bool = False


@dataclass(frozen=True)
class ShortAnswer:
    """The words that answer, as the answer ranker marks them in the quoted sentence it is
    surest of: ``text`` is ``quote[start:end]``, in the source's own words, and ``n`` the
    citation it comes from. An answer has one only when the ranker is confident."""

    text: str
    n: int
    quote: str
    start: int
    end: int
    confidence: float


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    citations: tuple[Citation, ...]
    sources: tuple[Passage, ...]
    sentences: tuple[AnswerSentence, ...] = ()
    backend: str = ""
    refused: bool = False
    notice: str = ""
    # The standalone question that retrieval used (differs from ``question`` for follow-ups).
    interpreted_as: str = ""
    # Sentences the language model wrote that were replaced with the sources' own words.
    repaired: int = 0
    # The words that answer, when the ranker is sure of them ("Istanbul" [1]); ``text`` then
    # opens with them.
    short_answer: ShortAnswer | None = None

    def uncited_sources(self) -> tuple[Passage, ...]:
        """Passages the answer was written from that no citation points at: one per article,
        so that a reader sees everything that was read, not only what was quoted."""
        cited = {c.article_id for c in self.citations}
        seen: dict[str, Passage] = {}
        for p in self.sources:
            if p.article_id not in cited and p.article_id not in seen:
                seen[p.article_id] = p
        return tuple(seen.values())


@dataclass(frozen=True)
class TokenEvent:
    """A piece of an answer's text as it is written (streaming)."""

    text: str


@dataclass(frozen=True)
class AnswerEvent:
    """The finished, checked answer: always the last event of a stream."""

    answer: Answer


StreamEvent = TokenEvent | AnswerEvent


def final_answer(events: Iterable[StreamEvent]) -> Answer:
    """The checked Answer that ends a stream of events (the text pieces before it dropped)."""
    answer = None
    for event in events:
        if isinstance(event, AnswerEvent):
            answer = event.answer
    if answer is None:  # every stream ends with its answer; this would be a bug
        raise RuntimeError("The answer stream ended without an answer; please report this.")
    return answer


@dataclass(frozen=True)
class Summary:
    text: str
    citations: tuple[Citation, ...]
    sentences: tuple[AnswerSentence, ...]
    article_ids: tuple[str, ...]
    backend: str
    notice: str = ""
    # Articles that were asked for but had nothing to summarize: (article id, reason).
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def empty(self) -> bool:
        return not self.text.strip()


@dataclass(frozen=True)
class StoryLink:
    """The story of an earlier briefing that a story continues."""

    briefing: str  # that briefing's key
    number: int  # 1-based, as numbered there
    headline: str


@dataclass(frozen=True)
class Story:
    headline: str
    summary: str
    citations: tuple[Citation, ...]
    articles: tuple[StoredArticle, ...]  # the headline's article first
    outlets: tuple[str, ...]  # the headline's outlet first
    sentences: tuple[AnswerSentence, ...] = ()
    notice: str = ""
    # Story identity across briefings: a continuing story keeps the id of the one it continues.
    story_id: str = ""
    status: str = ""  # "new" | "continuing" ("" in briefings written before this existed)
    continues: StoryLink | None = None

    @property
    def also_reported_by(self) -> tuple[str, ...]:
        return self.outlets[1:]

    @property
    def article_ids(self) -> tuple[str, ...]:
        return tuple(a.id for a in self.articles)


@dataclass(frozen=True)
class Briefing:
    date: date | None  # set for a one-day briefing; None for a range
    since: datetime
    until: datetime  # exclusive
    stories: tuple[Story, ...]
    generated_at: datetime
    backend: str
    notice: str = ""
    skipped: tuple[tuple[str, str], ...] = ()  # (article id or title, reason)

    @property
    def key(self) -> str:
        """The name in file names: ``YYYY-MM-DD`` for a day, ``start_end`` for a range."""
        return key_of(self.date, self.since, self.until)

    @property
    def news_count(self) -> str:
        """'2 new, 1 continuing', or '' (no stories, or written before stories were linked)."""
        new = sum(1 for s in self.stories if s.status == "new")
        going_on = sum(1 for s in self.stories if s.status == "continuing")
        return f"{new} new, {going_on} continuing" if new or going_on else ""

    @property
    def period(self) -> str:
        if self.date is not None:
            return self.date.isoformat()
        return f"{utc_label(self.since)} to {utc_label(self.until)}"


@dataclass(frozen=True)
class Development:
    """What one day's articles added to a story: a cited summary of only the sentences that
    the story's earlier coverage does not support."""

    day: date
    summary: Summary
    articles: tuple[StoredArticle, ...]
    repeated: int = 0  # sentences of the day's summary that earlier coverage already held


@dataclass(frozen=True)
class Watch:
    """A question answered again after each refresh, with the answer it last got."""

    id: str
    question: str
    every: int | None  # at most this often, in seconds; None: after every refresh
    added_at: datetime
    answer: str = ""  # the last answer's text ("" before the first, or when nothing matched)
    sentences: tuple[AnswerSentence, ...] = ()
    citations: tuple[Citation, ...] = ()
    # The passages its answers stood on, newest first: a new answer they support is no news.
    evidence: tuple[str, ...] = ()
    last_checked: datetime | None = None
    store_token: str | None = None  # the store's write token when last answered
    alerts: int = 0
    last_alert_at: datetime | None = None
    last_error: str = ""

    def due(self, now: datetime) -> bool:
        if self.last_checked is None or self.every is None:
            return True
        return now >= self.last_checked + timedelta(seconds=self.every)


@dataclass(frozen=True)
class Alert:
    """A watched question's answer changed: the new cited sentences and the answer before."""

    watch_id: str
    question: str
    at: datetime
    sentences: tuple[AnswerSentence, ...]  # only what the previous answer's sources did not say
    citations: tuple[Citation, ...]
    previous: str  # the previous answer's text ("" when there was none)

    @property
    def key(self) -> str:
        return f"{self.watch_id}-{self.at.strftime('%Y%m%dT%H%M%S%fZ')}"


@dataclass(frozen=True)
class StoryInfo:
    """A story as the stored briefings know it: for listing and choosing one."""

    story_id: str
    headline: str
    last_seen: str  # the key of the newest briefing that has it
    briefings: int  # how many stored briefings have it
    articles: int


@dataclass(frozen=True)
class Timeline:
    """A story's dated developments, oldest first."""

    story_id: str
    headline: str
    developments: tuple[Development, ...]
    notice: str = ""

    @property
    def articles(self) -> tuple[StoredArticle, ...]:
        return tuple(a for d in self.developments for a in d.articles)

    def since(self, day: date) -> Timeline:
        """What's new since ``day``: the developments of that day and after."""
        kept = tuple(d for d in self.developments if d.day >= day)
        return Timeline(self.story_id, self.headline, kept, self.notice)


def key_of(day: date | None, since: datetime, until: datetime) -> str:
    """A briefing's key (see ``Briefing.key``) before the briefing exists."""
    return day.isoformat() if day is not None else f"{_stamp(since)}_{_stamp(until)}"


def _stamp(value: datetime) -> str:
    value = value.astimezone(UTC)
    if value.hour == value.minute == value.second == 0:
        return value.date().isoformat()
    return value.strftime("%Y-%m-%dT%H%M")


@dataclass(frozen=True)
class Filters:
    since: datetime | None = None
    until: datetime | None = None
    sources: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    article_ids: tuple[str, ...] = ()
    # Read the news as of this date: "today", "this week", "latest" and the recency preference
    # count from it (default: the newest stored article). Not a filter by itself.
    as_of: datetime | None = None

    def accepts(self, p: Passage) -> bool:
        if self.sources and p.source not in self.sources:
            return False
        if self.article_ids and p.article_id not in self.article_ids:
            return False
        if self.authors and not set(self.authors) & set(p.authors):
            return False
        if self.since and (p.published_at is None or p.published_at < self.since):
            return False
        return not (self.until and (p.published_at is None or p.published_at >= self.until))


@dataclass(frozen=True)
class IngestEvent:
    """One item's outcome, for progress displays."""

    item: str
    status: str  # added | updated | unchanged | skipped | failed
    detail: str = ""


ProgressCallback = Callable[[IngestEvent], None]


@dataclass(frozen=True)
class Subscription:
    """One feed and what the last refreshes found. ``entries`` maps an entry's key to what was
    stored for it: ``fp`` (the feed item's fingerprint), ``id`` (the article id), ``seen`` (first
    seen), ``teaser`` (stored from the feed's summary only), ``attempts`` (failed tries)."""

    url: str
    name: str
    every: int  # seconds between polls
    added_at: datetime
    last_checked: datetime | None = None
    last_success: datetime | None = None
    last_error: str = ""
    last_result: str = ""  # one line: what the last refresh did
    articles_added: int = 0
    etag: str = ""
    last_modified: str = ""
    retry_at: datetime | None = None  # the server asked us to wait (429/503 Retry-After)
    entries: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> str:
        return feed_key(self.url)

    @property
    def next_due(self) -> datetime:
        if self.last_checked is None:
            due = self.added_at  # never polled: due at once
        else:
            due = self.last_checked + timedelta(seconds=self.every)
        return max(due, self.retry_at) if self.retry_at else due

    def due(self, now: datetime) -> bool:
        return now >= self.next_due


@dataclass
class FeedReport:
    """What one refresh did with one feed. ``added``/``updated`` are article ids; ``unchanged``
    counts entries (seen before and unchanged, or re-read with the same content)."""

    url: str
    name: str
    status: str = "ok"  # ok | not modified | failed | abandoned
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    teasers: list[tuple[str, str]] = field(default_factory=list)  # (link, why the page failed)
    notes: list[tuple[str, str]] = field(default_factory=list)
    removed: int = 0  # entries the feed no longer lists (their articles stay stored)
    postponed: int = 0  # new entries left for the next refresh (MAX_NEW_ENTRIES)
    requests: int = 0
    seconds: float = 0.0
    load_seconds: float = 0.0  # of which: fetching and extracting the article pages
    error: str = ""  # why the feed itself failed

    def summary(self) -> str:
        if self.status == "failed":
            return f"failed: {self.error}"
        if self.status == "not modified":
            return "not modified (HTTP 304)"
        if self.status == "abandoned":
            return "abandoned (stopping)"
        text = (
            f"{len(self.added)} added, {len(self.updated)} updated, {self.unchanged} unchanged, "
            f"{len(self.failed)} failed"
        )
        if self.teasers:
            text += f", {len(self.teasers)} from the feed's summary only"
        if self.postponed:
            text += f", {self.postponed} left for the next refresh"
        return text


@dataclass
class RefreshReport:
    feeds: list[FeedReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.status != "failed" and not f.failed for f in self.feeds)

    @property
    def added(self) -> int:
        return sum(len(f.added) for f in self.feeds)

    @property
    def updated(self) -> int:
        return sum(len(f.updated) for f in self.feeds)

    @property
    def requests(self) -> int:
        return sum(f.requests for f in self.feeds)

    def summary(self) -> str:
        failed = sum(1 for f in self.feeds if f.status == "failed")
        feeds = f"{len(self.feeds)} feed{'' if len(self.feeds) == 1 else 's'}"
        articles = f"{self.added} article{'' if self.added == 1 else 's'}"
        return (
            f"{feeds} refreshed ({failed} failed): {articles} added, {self.updated} updated, "
            f"{self.requests} requests"
        )


@dataclass(frozen=True)
class Turn:
    question: str
    standalone: str
    answer: str
