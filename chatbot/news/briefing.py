"""Daily briefings: the day's articles grouped into stories, each told once with citations.

``BriefingBuilder.build`` lists the articles of a day (or a range, or everything since the last
briefing), groups them into stories (the same event from several outlets, syndicated copies of
one wire story, or a new angle on the event such as an explainer beside the report, become one
story that is "also reported by" the others), orders the stories by weight and summarizes each
with the ``Summarizer`` (cached per article). A ``Briefing`` renders itself as Markdown,
self-contained HTML and JSON; ``write`` puts the files into the briefings folder and every built
briefing is kept as JSON under ``state_dir`` so that the chat can answer "tell me more about the
second story" (``story_article_ids``).

Scheduling: ``schedule.run_schedule(job, at="07:00", timezone=...)`` runs ``job`` every day
with APScheduler; a failed run is logged and the next tick runs as usual. The cron alternative:
``0 7 * * * cd /path && chatbot briefing --date today`` (or ``--since-last``: no gaps, no overlap).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from chatbot.answering.summaries import Summarizer, SummaryError
from chatbot.codecs import briefing_from_json, briefing_to_json
from chatbot.common.dates import DateLike, day_range, to_datetime, utc_label
from chatbot.common.files import atomic_write
from chatbot.errors import ChatbotError
from chatbot.index.chunking import embedding_text
from chatbot.index.store import ArticleStore
from chatbot.models.embeddings import Embedder
from chatbot.presentation.briefing import briefing_html, briefing_markdown
from chatbot.vocabulary import (
    Briefing,
    StoredArticle,
    Story,
    StoryLink,
    Summary,
    key_of,
)

log = logging.getLogger(__name__)

FORMATS = ("md", "html", "json")


class BriefingError(ChatbotError):
    """A briefing cannot be built, found or scheduled; the message says what to do."""


# --- types --------------------------------------------------------------------------------------


def story_article_ids(briefing: Briefing, number: int) -> tuple[str, ...]:
    """The article ids of story ``number`` (1-based, as numbered in the briefing: "the second
    story" is 2), for routing follow-up questions to those articles."""
    if not 1 <= number <= len(briefing.stories):
        raise BriefingError(
            f"The briefing for {briefing.period} has {len(briefing.stories)} "
            f"stor{'y' if len(briefing.stories) == 1 else 'ies'}; there is no story {number}."
        )
    return briefing.stories[number - 1].article_ids


# --- story grouping -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StoryGrouping:
    """How a day's articles become stories: story similarity is a weighted sum of three cosine
    similarities (the article's mean chunk vector, its title, its lead: the title and the first
    ``lead_chars`` characters of the text), and average linkage merges while it is at least
    ``threshold``."""

    article_weight: float
    title_weight: float
    lead_weight: float
    threshold: float
    lead_chars: int = 800


# Before issue 37: article vector and title. Article vectors are means of chunk vectors that carry
# the title too (contextual headers), so the title's own share is small. It merges copies and
# close retellings but splits a new angle on an event (an explainer beside the report): on the
# labelled days of evals/data/story_events.json, pairwise precision 1.00, recall 0.88, F1 0.93.
TITLE_GROUPING = StoryGrouping(article_weight=0.8, title_weight=0.2, lead_weight=0.0, threshold=0.6)
# The lead says which event an article is about even when the rest of it is an explainer or a
# history; the article vector keeps two events about one subject apart. Weights, lead length and
# threshold: the best F1 (averaged over neighbouring thresholds, so a plateau beats a lucky edge)
# on evals/data/story_events.json; `python -m evals.story_events --cv` prints the
# leave-one-day-out figures of that choice.
LEAD_GROUPING = StoryGrouping(
    article_weight=0.4, title_weight=0.0, lead_weight=0.6, threshold=0.475
)


def lead_of(title: str, text: str, chars: int) -> str:
    """What is embedded as an article's lead: its title, then the start of its text."""
    return embedding_text(title, text[:chars])


def story_similarity(
    grouping: StoryGrouping,
    article_vectors: np.ndarray,
    title_vectors: np.ndarray | None = None,
    lead_vectors: np.ndarray | None = None,
) -> np.ndarray:
    """Pairwise story similarity of a day's articles (unit vectors, one row per article)."""
    sims = grouping.article_weight * (article_vectors @ article_vectors.T).astype(np.float64)
    for weight, vectors in (
        (grouping.title_weight, title_vectors),
        (grouping.lead_weight, lead_vectors),
    ):
        if weight:
            if vectors is None:
                raise ValueError("this grouping needs title and lead vectors for its weights")
            sims += weight * (vectors @ vectors.T)
    return sims


def group_stories(similarity: np.ndarray, threshold: float) -> list[list[int]]:
    """Average-linkage agglomerative clustering on a story similarity matrix.

    Average linkage (not single) keeps one chain of loosely related articles from swallowing a
    day. Clusters are returned in input order of their first member; deterministic (ties merge
    the earliest pair)."""
    n = len(similarity)
    if n == 0:
        return []
    sims = np.array(similarity, dtype=np.float64)
    np.fill_diagonal(sims, -np.inf)
    members: list[list[int] | None] = [[i] for i in range(n)]
    active = np.ones(n, dtype=bool)
    while True:
        masked = np.where(np.outer(active, active), sims, -np.inf)
        flat = int(np.argmax(masked))
        a, b = divmod(flat, n)
        if masked[a, b] < threshold:
            break
        a, b = min(a, b), max(a, b)
        size_a, size_b = len(members[a] or ()), len(members[b] or ())
        # Lance-Williams update for average linkage.
        merged = (size_a * sims[a] + size_b * sims[b]) / (size_a + size_b)
        sims[a], sims[:, a] = merged, merged
        sims[a, a] = -np.inf
        members[a] = sorted((members[a] or []) + (members[b] or []))
        members[b] = None
        active[b] = False
    return [m for m in members if m]


# --- building -----------------------------------------------------------------------------------


class BriefingBuilder:
    def __init__(
        self,
        store: ArticleStore,
        embedder: Embedder,
        summarizer: Summarizer,
        *,
        max_stories: int = 10,
        out_dir: Path,
        state_dir: Path,
        grouping: StoryGrouping = LEAD_GROUPING,
        continuity_threshold: float = 0.6,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.continuity_threshold = continuity_threshold
        self.store = store
        self.embedder = embedder
        self.summarizer = summarizer
        self.max_stories = max_stories
        self.out_dir = Path(out_dir)
        self.state_dir = Path(state_dir)
        self.grouping = grouping
        self._clock = clock or (lambda: datetime.now(UTC))

    def build(
        self,
        date: DateLike | None = None,
        *,
        since: DateLike | None = None,
        until: DateLike | None = None,
        since_last: bool = False,
        keep: bool = True,
    ) -> Briefing:
        """The briefing for a day (default today, UTC), a range [since, until), or everything
        since the last briefing. ``keep`` stores it for ``load_briefing``/the chat."""
        day, start, end = self._period(date, since, until, since_last)
        listed = self.store.list_articles(since=start, until=end)
        skipped: list[tuple[str, str]] = []
        articles: list[StoredArticle] = []
        texts: dict[str, str] = {}
        for a in sorted(listed, key=lambda a: (a.published_at or start, a.id)):
            full = self.store.get_article(a.id)
            if full is None or not full.text.strip():
                skipped.append((a.id, f"“{a.title}” has no text"))
            else:
                articles.append(a)
                texts[a.id] = full.text
        backend = self.summarizer.backend_label()
        generated_at = self._clock()
        if not articles:
            where = (
                f"on {day.isoformat()}" if day else f"from {utc_label(start)} to {utc_label(end)}"
            )
            notice = f"No articles were published {where}."
            if skipped:
                notice = f"No articles with text were published {where}."
            briefing = Briefing(
                day, start, end, (), generated_at, backend, _notes(notice, skipped), tuple(skipped)
            )
            return self._keep(briefing) if keep else briefing

        groups = self.group(articles, texts)
        ranked = sorted(groups, key=lambda g: _weight(g), reverse=True)
        shown, hidden = ranked[: self.max_stories], ranked[self.max_stories :]
        stories = []
        for group in shown:
            try:
                stories.append(self._story(group))
            except SummaryError as exc:  # e.g. deleted while the briefing was being built
                skipped.append((group[0].id, str(exc)))
        notices = []
        if hidden:
            count = sum(len(g) for g in hidden)
            notices.append(
                f"{len(hidden)} smaller {'story' if len(hidden) == 1 else 'stories'} "
                f"({count} article{'s' if count != 1 else ''}) not shown "
                f"(at most {self.max_stories} "
                f"{'story' if self.max_stories == 1 else 'stories'})."
            )
        fallbacks = sum(1 for s in stories if "extractive fallback" in s.notice)
        if fallbacks:
            notices.append(
                f"The language model failed for {fallbacks} "
                f"{'story' if fallbacks == 1 else 'stories'}; "
                f"{'it shows' if fallbacks == 1 else 'they show'} sentences from the articles "
                "(extractive fallback)."
            )
        briefing = Briefing(
            date=day,
            since=start,
            until=end,
            stories=tuple(self._link(stories, key_of(day, start, end), end)),
            generated_at=generated_at,
            backend=backend,
            notice=_notes(" ".join(notices), skipped),
            skipped=tuple(skipped),
        )
        return self._keep(briefing) if keep else briefing

    def _period(
        self,
        day: DateLike | None,
        since: DateLike | None,
        until: DateLike | None,
        since_last: bool,
    ) -> tuple[date | None, datetime, datetime]:
        asked = [day is not None, since is not None or until is not None, since_last]
        if sum(asked) > 1:
            raise BriefingError("Give a date, or a since/until range, or since_last — not several.")
        now = self._clock()
        if since_last:
            last = max((b.until for b in self._stored()), default=None)
            # No earlier briefing: the last 24 hours.
            return None, last or now - timedelta(days=1), now
        if since is not None or until is not None:
            start = to_datetime(since) if since is not None else now - timedelta(days=1)
            end = to_datetime(until) if until is not None else now
            if end <= start:
                raise BriefingError(
                    f"The range is empty: {utc_label(start)} is not before {utc_label(end)}."
                )
            return None, start, end
        if day is None or (isinstance(day, str) and day.strip().lower() == "today"):
            day = now
        elif isinstance(day, str) and day.strip().lower() == "yesterday":
            day = now - timedelta(days=1)
        start, end = day_range(day)
        return start.date(), start, end

    def group(
        self, articles: Sequence[StoredArticle], texts: Mapping[str, str] | None = None
    ) -> list[list[StoredArticle]]:
        """Every story among ``articles`` (uncapped, unordered), the headline's article first.
        ``texts`` (article id -> text) saves reading the leads from the store again."""
        if not articles:
            return []
        sims = self.similarity(articles, texts)
        result = []
        for members in group_stories(sims, self.grouping.threshold):
            # The headline is the most central article: closest on average to the rest. Ties
            # (always, for two) go to the first given (``build`` gives publication order); the
            # tolerance keeps float rounding of a symmetric product from breaking them.
            sub = sims[np.ix_(members, members)]
            np.fill_diagonal(sub, 0.0)
            closeness = sub.sum(axis=1)
            centre = members[int(np.flatnonzero(closeness >= closeness.max() - 1e-6)[0])]
            rest = [articles[i] for i in members if i != centre]
            result.append([articles[centre], *rest])
        return result

    def similarity(
        self, articles: Sequence[StoredArticle], texts: Mapping[str, str] | None = None
    ) -> np.ndarray:
        """The grouping's pairwise story similarity of ``articles`` (rows in their order)."""
        g = self.grouping
        vectors = self.store.article_vectors([a.id for a in articles])
        matrix = np.stack([vectors[a.id] for a in articles])
        titles = leads = None
        if g.title_weight:
            titles = self.embedder.embed([a.title or "(untitled)" for a in articles])
        if g.lead_weight:
            known = dict(texts or {})
            for a in articles:
                if a.id not in known:
                    full = self.store.get_article(a.id)
                    known[a.id] = full.text if full is not None else ""
            leads = self.embedder.embed(
                [lead_of(a.title, known[a.id], g.lead_chars) or "(untitled)" for a in articles]
            )
        return story_similarity(g, matrix, titles, leads)

    def _link(self, stories: list[Story], key: str, until: datetime) -> list[Story]:
        """Mark each story new or continuing, against the stories of the previous briefing
        (the stored one whose period ends last, at or before this one's end). A story continues
        an earlier one when they share an article or their articles' mean vectors are close:
        linked by content, never by title text."""
        earlier = [b for b in self._stored() if b.key != key and b.until <= until]
        previous = max(earlier, key=lambda b: (b.until, b.generated_at), default=None)
        if previous is None or not previous.stories:
            return [replace(s, story_id=_new_id(s), status="new") for s in stories]
        centroids = self._centroids([*stories, *previous.stories])
        linked = []
        for story in stories:
            best, best_score = None, -1.0
            mine = centroids.get(story.article_ids)
            for number, old in enumerate(previous.stories, 1):
                if set(story.article_ids) & set(old.article_ids):
                    score = 2.0  # the same article: surely the same story
                else:
                    theirs = centroids.get(old.article_ids)
                    score = float(mine @ theirs) if mine is not None and theirs is not None else -1
                if score > best_score:
                    best, best_score = (number, old), score
            if best is not None and best_score >= self.continuity_threshold:
                number, old = best
                linked.append(
                    replace(
                        story,
                        story_id=old.story_id or _new_id(old),
                        status="continuing",
                        continues=StoryLink(previous.key, number, old.headline),
                    )
                )
            else:
                linked.append(replace(story, story_id=_new_id(story), status="new"))
        return linked

    def _centroids(self, stories: Sequence[Story]) -> dict[tuple[str, ...], np.ndarray]:
        """Unit mean article vector per story (articles deleted since are left out)."""
        ids = sorted({i for s in stories for i in s.article_ids})
        vectors = self.store.article_vectors(ids) if ids else {}
        found: dict[tuple[str, ...], np.ndarray] = {}
        for story in stories:
            rows = [vectors[i] for i in story.article_ids if i in vectors]
            if rows:
                mean = np.mean(np.stack(rows), axis=0)
                norm = float(np.linalg.norm(mean))
                if norm > 0:
                    found[story.article_ids] = mean / norm
        return found

    def _story(self, group: list[StoredArticle]) -> Story:
        ids = [a.id for a in group]
        summary: Summary = (
            self.summarizer.summarize_article(ids[0])
            if len(ids) == 1
            else self.summarizer.summarize_articles(ids)
        )
        outlets = tuple(dict.fromkeys(a.source or "unknown outlet" for a in group))
        return Story(
            headline=group[0].title or "(untitled)",
            summary=summary.text,
            citations=summary.citations,
            articles=tuple(group),
            outlets=outlets,
            sentences=summary.sentences,
            notice=summary.notice,
        )

    # --- files and state -----------------------------------------------------------------------

    def write(self, briefing: Briefing, formats: Iterable[str] = FORMATS) -> list[Path]:
        """``briefing-KEY.{md,html,json}`` in out_dir; re-running for the same key replaces them."""
        renderers = {
            "md": lambda: briefing_markdown(briefing),
            "html": lambda: briefing_html(briefing),
            "json": lambda: briefing_to_json(briefing),
        }
        wanted = list(dict.fromkeys(formats))
        if unknown := [f for f in wanted if f not in renderers]:
            raise BriefingError(f"Unknown briefing format {unknown[0]!r}; use md, html or json.")
        paths = []
        for fmt in wanted:
            path = self.out_dir / f"briefing-{briefing.key}.{fmt}"
            atomic_write(path, renderers[fmt]())
            paths.append(path)
        return paths

    def files(self, key: str, formats: Iterable[str] = FORMATS) -> list[Path]:
        """The written files of the briefing ``key`` that exist, in ``formats`` order."""
        paths = (self.out_dir / f"briefing-{key}.{fmt}" for fmt in formats)
        return [path for path in paths if path.exists()]

    def _keep(self, briefing: Briefing) -> Briefing:
        atomic_write(self._state_path(briefing.key), briefing_to_json(briefing))
        return briefing

    def _state_path(self, key: str) -> Path:
        return self.state_dir / f"briefing-{key}.json"

    def _stored(self) -> list[Briefing]:
        found = []
        for path in sorted(self.state_dir.glob("briefing-*.json")):
            try:
                found.append(briefing_from_json(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("ignoring unreadable stored briefing %s: %s", path, exc)
        return found

    def list_briefings(self) -> list[str]:
        """Keys of the stored briefings, oldest period first."""
        return [b.key for b in sorted(self._stored(), key=lambda b: (b.until, b.key))]

    def load_briefing(self, key: DateLike) -> Briefing:
        """A stored briefing by its key (``YYYY-MM-DD`` for a day)."""
        if isinstance(key, datetime):
            key = key.date()
        text_key = key.isoformat() if isinstance(key, date) else str(key).strip()
        path = self._state_path(text_key)
        if not path.is_file():
            known = ", ".join(self.list_briefings()[-5:]) or "none yet"
            raise BriefingError(
                f"No stored briefing for {text_key}; build it first (`chatbot briefing --date "
                f"{text_key}`). Stored: {known}."
            )
        return briefing_from_json(path.read_text(encoding="utf-8"))

    def latest_briefing(self) -> Briefing | None:
        """The most recently generated briefing (the one the user last saw)."""
        return max(self._stored(), key=lambda b: b.generated_at, default=None)


def _new_id(story: Story) -> str:
    return f"story-{story.article_ids[0]}" if story.article_ids else "story-empty"


def _weight(group: Sequence[StoredArticle]) -> tuple[int, int, float, str]:
    """More outlets, then more articles, then the newest article; the title breaks ties."""
    newest = max((a.published_at.timestamp() for a in group if a.published_at), default=0.0)
    return (len({a.source for a in group}), len(group), newest, group[0].title)


def _notes(notice: str, skipped: Sequence[tuple[str, str]]) -> str:
    if skipped:
        skip = "Skipped: " + "; ".join(reason for _, reason in skipped) + "."
        return f"{notice} {skip}".strip()
    return notice


# --- scheduling ---------------------------------------------------------------------------------


# --- rendering helpers --------------------------------------------------------------------------
