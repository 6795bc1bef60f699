"""Plain data types shared by every layer. No I/O here."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_TRACKING_PARAMS = ("utm_", "fbclid", "gclid", "mc_cid", "mc_eid", "ref", "cmpid")


def canonical_url(url: str) -> str:
    """Normalise a URL so that the same article gets the same id from any link to it."""
    parts = urlsplit(url.strip())
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith(_TRACKING_PARAMS)
    ]
    path = parts.path.rstrip("/") or "/"
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), path, urlencode(sorted(query)), "")
    )


def content_hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


def article_id_for(url: str | None, title: str, text: str) -> str:
    """Stable id: from the canonical URL when there is one, else from the content."""
    basis = canonical_url(url) if url else content_hash(title.strip(), text.strip())
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:16]


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

    def __post_init__(self) -> None:
        if self.published_at is not None and self.published_at.tzinfo is None:
            # Naive dates are taken as UTC so that date filters compare like with like.
            object.__setattr__(self, "published_at", self.published_at.replace(tzinfo=UTC))

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
        )

    @property
    def content_hash(self) -> str:
        """Changes whenever anything stored about the article changes."""
        return content_hash(
            self.title,
            self.text,
            self.source,
            "|".join(self.authors),
            self.published_at.isoformat() if self.published_at else "",
            self.url or "",
            self.language or "",
        )


@dataclass(frozen=True)
class Chunk:
    article_id: str
    n: int
    text: str
    char_start: int
    char_end: int

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


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    citations: tuple[int, ...]
    supported: bool
    score: float
    reason: str = ""  # as Citation.reason; empty for sentences that need no source


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
