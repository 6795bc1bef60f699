"""Daily briefings: the day's articles grouped into stories, each told once with citations.

``BriefingBuilder.build`` lists the articles of a day (or a range, or everything since the last
briefing), groups them into stories (the same event from several outlets, or syndicated copies of
one wire story, become one story that is "also reported by" the others), orders the stories by
weight and summarizes each with the ``Summarizer`` (cached per article). A ``Briefing`` renders
itself as Markdown, self-contained HTML and JSON; ``write`` puts the files into the briefings
folder and every built briefing is kept as JSON under ``state_dir`` so that the chat can answer
"tell me more about the second story" (``story_article_ids``).

Scheduling: ``run_schedule(job, at="07:00", timezone="Europe/Moscow")`` runs ``job`` every day
with APScheduler; a failed run is logged and the next tick runs as usual. The cron alternative:
``0 7 * * * cd /path && chatbot briefing --date today`` (or ``--since-last``: no gaps, no overlap).
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from chatbot.answering.citations import parse_citations
from chatbot.common.dates import DateLike, day_range, to_datetime
from chatbot.errors import ChatbotError
from chatbot.index.embeddings import Embedder
from chatbot.index.store import ArticleStore
from chatbot.news.summaries import (
    Summarizer,
    Summary,
    SummaryError,
    atomic_write,
    citation_from_dict,
    citation_to_dict,
    sentence_from_dict,
    sentence_to_dict,
)
from chatbot.vocabulary import AnswerSentence, Citation, StoredArticle

log = logging.getLogger(__name__)

FORMATS = ("md", "html", "json")
JSON_VERSION = 1


class BriefingError(ChatbotError):
    """A briefing cannot be built, found or scheduled; the message says what to do."""


# --- types --------------------------------------------------------------------------------------


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
        return f"{_human(self.since)} to {_human(self.until)}"

    # --- renderings --------------------------------------------------------------------------

    def to_markdown(self) -> str:
        lines = [f"# News briefing — {self.period}", ""]
        lines.append(
            f"_Generated {_human(self.generated_at)} · {len(self.stories)} "
            f"{'story' if len(self.stories) == 1 else 'stories'}"
            f"{f' ({self.news_count})' if self.news_count else ''} · {_md(self.backend)}_"
        )
        lines.append("")
        if self.notice:
            lines += [f"> {_md(self.notice)}", ""]
        for i, story in enumerate(self.stories, 1):
            lead = story.articles[0] if story.articles else None
            url = _safe_url(lead.url) if lead else None
            head = f"[{_md(story.headline)}]({_md_url(url)})" if url else _md(story.headline)
            lines += [f"## {i}. {head}", ""]
            outlets = f"**{_md(story.outlets[0])}**" if story.outlets else "unknown outlet"
            if story.also_reported_by:
                outlets += " · also reported by " + ", ".join(
                    _md(o) for o in story.also_reported_by
                )
            lines += [outlets, ""]
            if story.status:
                lines += [f"_{_md(_continuity(story))}_", ""]
            if story.notice:
                lines += [f"> {_md(story.notice)}", ""]
            lines += [_md_summary(story), ""]
            for c in story.citations:
                lines.append(f"- [{c.n}] {_md_citation(c)}")
            if story.citations:
                lines.append("")
            if len(story.articles) > 1:
                lines.append("Articles:")
                for a in story.articles:
                    lines.append(f"- {_md_article(a)}")
                lines.append("")
        if not self.stories and not self.notice:
            lines += ["No stories.", ""]
        return "\n".join(lines).rstrip() + "\n"

    def to_html(self) -> str:
        """One self-contained page: inline CSS, no scripts or external assets. Every piece of
        article-derived text is escaped, links are http(s) only, and the body is passed through
        an HTML sanitizer as a second line of defence."""
        return _html_page(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": JSON_VERSION,
            "key": self.key,
            "date": self.date.isoformat() if self.date else None,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "generated_at": self.generated_at.isoformat(),
            "backend": self.backend,
            "notice": self.notice,
            "skipped": [list(x) for x in self.skipped],
            "stories": [
                {
                    "number": i,
                    "headline": s.headline,
                    "summary": s.summary,
                    "outlets": list(s.outlets),
                    "also_reported_by": list(s.also_reported_by),
                    "notice": s.notice,
                    "story_id": s.story_id,
                    "status": s.status,
                    "continues": (
                        {
                            "briefing": s.continues.briefing,
                            "number": s.continues.number,
                            "headline": s.continues.headline,
                        }
                        if s.continues
                        else None
                    ),
                    "sentences": [sentence_to_dict(x) for x in s.sentences],
                    "citations": [citation_to_dict(c) for c in s.citations],
                    "articles": [_article_to_dict(a) for a in s.articles],
                }
                for i, s in enumerate(self.stories, 1)
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Briefing:
        return cls(
            date=date.fromisoformat(d["date"]) if d.get("date") else None,
            since=datetime.fromisoformat(d["since"]),
            until=datetime.fromisoformat(d["until"]),
            generated_at=datetime.fromisoformat(d["generated_at"]),
            backend=d["backend"],
            notice=d.get("notice", ""),
            skipped=tuple((a, b) for a, b in d.get("skipped", ())),
            stories=tuple(
                Story(
                    headline=s["headline"],
                    summary=s["summary"],
                    citations=tuple(citation_from_dict(c) for c in s["citations"]),
                    articles=tuple(_article_from_dict(a) for a in s["articles"]),
                    outlets=tuple(s["outlets"]),
                    sentences=tuple(sentence_from_dict(x) for x in s.get("sentences", ())),
                    notice=s.get("notice", ""),
                    story_id=s.get("story_id", ""),
                    status=s.get("status", ""),
                    continues=StoryLink(**s["continues"]) if s.get("continues") else None,
                )
                for s in d["stories"]
            ),
        )

    @classmethod
    def from_json(cls, text: str) -> Briefing:
        return cls.from_dict(json.loads(text))


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


def group_stories(
    article_vectors: np.ndarray,
    title_vectors: np.ndarray,
    *,
    threshold: float = 0.6,
    title_weight: float = 0.4,
) -> list[list[int]]:
    """Average-linkage agglomerative clustering on a blend of article and title similarity.

    The article vector (mean of its chunk vectors) says "same subject"; the title says "same
    event" and separates two stories about one subject. Average linkage (not single) keeps one
    chain of loosely related articles from swallowing a day. Clusters are returned in input
    order of their first member; deterministic (ties merge the earliest pair)."""
    n = len(article_vectors)
    if n == 0:
        return []
    sims = (1 - title_weight) * (article_vectors @ article_vectors.T) + title_weight * (
        title_vectors @ title_vectors.T
    )
    sims = sims.astype(np.float64)
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
        threshold: float = 0.6,
        title_weight: float = 0.4,
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
        self.threshold = threshold
        self.title_weight = title_weight
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
        for a in sorted(listed, key=lambda a: (a.published_at or start, a.id)):
            full = self.store.get_article(a.id)
            if full is None or not full.text.strip():
                skipped.append((a.id, f"“{a.title}” has no text"))
            else:
                articles.append(a)
        backend = self.summarizer.backend_label()
        generated_at = self._clock()
        if not articles:
            where = f"on {day.isoformat()}" if day else f"from {_human(start)} to {_human(end)}"
            notice = f"No articles were published {where}."
            if skipped:
                notice = f"No articles with text were published {where}."
            briefing = Briefing(
                day, start, end, (), generated_at, backend, _notes(notice, skipped), tuple(skipped)
            )
            return self._keep(briefing) if keep else briefing

        groups = self.group(articles)
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
                    f"The range is empty: {_human(start)} is not before {_human(end)}."
                )
            return None, start, end
        if day is None or (isinstance(day, str) and day.strip().lower() == "today"):
            day = now
        elif isinstance(day, str) and day.strip().lower() == "yesterday":
            day = now - timedelta(days=1)
        start, end = day_range(day)
        return start.date(), start, end

    def group(self, articles: Sequence[StoredArticle]) -> list[list[StoredArticle]]:
        """Every story among ``articles`` (uncapped, unordered), the headline's article first."""
        if not articles:
            return []
        vectors = self.store.article_vectors([a.id for a in articles])
        matrix = np.stack([vectors[a.id] for a in articles])
        titles = self.embedder.embed([a.title or "(untitled)" for a in articles])
        groups = group_stories(
            matrix, titles, threshold=self.threshold, title_weight=self.title_weight
        )
        result = []
        for members in groups:
            # The headline is the most central title: closest on average to the rest.
            if len(members) > 1:
                sub = matrix[members] @ matrix[members].T + titles[members] @ titles[members].T
                centre = members[int(np.argmax(sub.sum(axis=1)))]
            else:
                centre = members[0]
            rest = [articles[i] for i in members if i != centre]
            result.append([articles[centre], *rest])
        return result

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
        renderers = {"md": briefing.to_markdown, "html": briefing.to_html, "json": briefing.to_json}
        wanted = list(dict.fromkeys(formats))
        if unknown := [f for f in wanted if f not in renderers]:
            raise BriefingError(f"Unknown briefing format {unknown[0]!r}; use md, html or json.")
        paths = []
        for fmt in wanted:
            path = self.out_dir / f"briefing-{briefing.key}.{fmt}"
            atomic_write(path, renderers[fmt]())
            paths.append(path)
        return paths

    def _keep(self, briefing: Briefing) -> Briefing:
        atomic_write(self._state_path(briefing.key), briefing.to_json())
        return briefing

    def _state_path(self, key: str) -> Path:
        return self.state_dir / f"briefing-{key}.json"

    def _stored(self) -> list[Briefing]:
        found = []
        for path in sorted(self.state_dir.glob("briefing-*.json")):
            try:
                found.append(Briefing.from_json(path.read_text(encoding="utf-8")))
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
        return Briefing.from_json(path.read_text(encoding="utf-8"))

    def latest_briefing(self) -> Briefing | None:
        """The most recently generated briefing (the one the user last saw)."""
        return max(self._stored(), key=lambda b: b.generated_at, default=None)


def key_of(day: date | None, since: datetime, until: datetime) -> str:
    """A briefing's key (see ``Briefing.key``) before the briefing exists."""
    return day.isoformat() if day is not None else f"{_stamp(since)}_{_stamp(until)}"


def _new_id(story: Story) -> str:
    return f"story-{story.article_ids[0]}" if story.article_ids else "story-empty"


def _continuity(story: Story) -> str:
    if story.status == "continuing" and story.continues is not None:
        link = story.continues
        return f"Continuing: story {link.number} of {link.briefing} (“{link.headline}”)"
    return "New story" if story.status == "new" else ""


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


@dataclass
class ScheduleStats:
    """What a schedule did so far (owned by one ``run_schedule`` call)."""

    runs: int = 0
    failures: int = 0
    last_error: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def briefing_job(
    make_builder: Callable[[], BriefingBuilder], formats: Iterable[str] = FORMATS
) -> Callable[[], list[Path]]:
    """A scheduled run: everything since the last briefing, written in ``formats``."""
    wanted = tuple(formats)

    def job() -> list[Path]:
        builder = make_builder()
        briefing = builder.build(since_last=True)
        paths = builder.write(briefing, wanted)
        log.info("briefing %s: %d stories -> %s", briefing.key, len(briefing.stories), paths)
        return paths

    return job


def run_schedule(
    job: Callable[[], object],
    *,
    at: str = "07:00",
    timezone: str = "Europe/Moscow",
    stop_event: threading.Event | None = None,
    trigger: Any = None,
    poll_seconds: float = 0.5,
) -> ScheduleStats:
    """Run ``job`` every day at ``at`` (HH:MM in ``timezone``) until ``stop_event`` is set or
    the process is interrupted. A run that raises is logged and counted; the next tick runs as
    usual. ``trigger`` replaces the daily CronTrigger (tests use a one-second IntervalTrigger)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger

    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise BriefingError(
            f"Unknown time zone {timezone!r}; use a name like Europe/Moscow or UTC."
        ) from exc
    if trigger is None:
        match = re.fullmatch(r"\s*([01]?\d|2[0-3]):([0-5]\d)\s*", at)
        if not match:
            raise BriefingError(f"Cannot read {at!r} as a time of day; use HH:MM, e.g. 07:00.")
        trigger = CronTrigger(hour=int(match[1]), minute=int(match[2]), timezone=zone)
    stats = ScheduleStats()

    def guarded() -> None:
        try:
            job()
        except Exception as exc:  # a failed run must never stop the schedule
            log.exception("scheduled briefing failed; the next run is at the next tick")
            with stats._lock:
                stats.failures += 1
                stats.last_error = f"{type(exc).__name__}: {exc}"
        finally:
            with stats._lock:
                stats.runs += 1

    scheduler = BackgroundScheduler(timezone=zone)
    # One run at a time; runs missed while the machine slept collapse into one.
    scheduler.add_job(
        guarded, trigger, id="briefing", max_instances=1, coalesce=True, misfire_grace_time=3600
    )
    stop = stop_event or threading.Event()
    scheduler.start()
    job_ = scheduler.get_job("briefing")
    log.info("briefing scheduled; next run at %s", job_.next_run_time if job_ else "?")
    try:
        while not stop.wait(poll_seconds):
            pass
    except KeyboardInterrupt:
        log.info("schedule stopped")
    finally:
        scheduler.shutdown(wait=True)
    return stats


# --- rendering helpers --------------------------------------------------------------------------


def _stamp(value: datetime) -> str:
    value = value.astimezone(UTC)
    if value.hour == value.minute == value.second == 0:
        return value.date().isoformat()
    return value.strftime("%Y-%m-%dT%H%M")


def _human(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _safe_url(url: str | None) -> str | None:
    """Only absolute http(s) links are linked: never javascript:, data: or relative ones."""
    if not url:
        return None
    url = url.strip()
    if re.match(r"https?://[^\s/?#]+", url, re.I) and not re.search(r"[\s<>\"'`]", url):
        return url
    return None


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~])")
_MD_LINE_START = re.compile(r"^(\d+)([.)])(?=\s)|^([-+=])(?=\s|$)")


def _md(text: str) -> str:
    """Article text is untrusted: one line; characters that could make links, emphasis, raw
    HTML, headings or lists are escaped (so "[x](javascript:...)" or "<script>" stay text)."""
    text = _MD_SPECIAL.sub(r"\\\1", re.sub(r"\s+", " ", text or "").strip())
    return _MD_LINE_START.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"\\{m[3]}", text)


def _md_url(url: str) -> str:
    return url.replace("(", "%28").replace(")", "%29").replace(" ", "%20")


def _date(value: datetime | None) -> str:
    return value.date().isoformat() if value else "undated"


def _sentence_parts(story: Story) -> list[tuple[str, tuple[int, ...], bool]]:
    """(text without markers, citation numbers, supported) per summary sentence."""
    if story.sentences:
        return [(s.text, s.citations, s.supported) for s in story.sentences]
    return [(s.text, s.markers, True) for s in parse_citations(story.summary)]


def _md_summary(story: Story) -> str:
    out = []
    for text, refs, supported in _sentence_parts(story):
        piece = _md(text) + "".join(f" \\[{n}\\]" for n in refs)
        if not supported:
            piece += " _(not supported by its source)_"
        out.append(piece)
    return " ".join(out) or "_No summary._"


def _md_citation(c: Citation) -> str:
    url = _safe_url(c.url)
    title = f"[{_md(c.title)}]({_md_url(url)})" if url else _md(c.title)
    quote = _md(c.quote)
    if len(quote) > 300:
        quote = quote[:297].rstrip("\\") + "…"
    return f"{title} — {_md(c.source or 'unknown outlet')}, {_date(c.published_at)}: “{quote}”"


def _md_article(a: StoredArticle) -> str:
    url = _safe_url(a.url)
    title = f"[{_md(a.title)}]({_md_url(url)})" if url else _md(a.title)
    return f"{title} — {_md(a.source or 'unknown outlet')}, {_date(a.published_at)}"


_CSS = """
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f6f6f4;
color:#1d1d1b}
main{max-width:46rem;margin:0 auto;padding:1.5rem 1rem 3rem}
h1{font-size:1.6rem;margin:0 0 .25rem}
.meta{color:#666;font-size:.9rem;margin:0 0 1rem}
.notice{background:#fff6d8;border-left:4px solid #e0b400;padding:.5rem .75rem}
ol.stories{list-style:none;padding:0;margin:0}
.story{background:#fff;border-radius:8px;padding:1rem 1.25rem;margin:1rem 0;
box-shadow:0 1px 3px rgba(0,0,0,.08)}
.story h2{font-size:1.2rem;margin:0 0 .25rem}
.story h2 .num{color:#888;margin-right:.35rem}
a{color:#0b57a4}
.outlets{color:#555;font-size:.9rem;margin:0 0 .5rem}
.unsupported{background:#fde8e8;text-decoration:underline dotted #b00}
.cite{font-size:.8rem;text-decoration:none;vertical-align:super}
ol.sources{font-size:.85rem;color:#444;padding-left:1.5rem}
ol.sources blockquote{margin:.2rem 0 .5rem;color:#666;font-style:italic}
.articles{font-size:.85rem}
.continuity{font-size:.85rem;font-style:italic;color:#555;margin:0 0 .5rem}
.continuity.new{color:#0a6b2d}
"""

_ALLOWED_TAGS = frozenset({
    "main", "header", "section", "article", "h1", "h2", "p", "ol", "ul", "li", "a", "span",
    "blockquote", "small", "strong", "em", "time", "div",
})  # fmt: skip


def _h(text: str | None) -> str:
    return html.escape(re.sub(r"\s+", " ", text or "").strip(), quote=True)


def _html_link(url: str | None, text: str) -> str:
    safe = _safe_url(url)
    return f'<a href="{html.escape(safe, quote=True)}">{_h(text)}</a>' if safe else _h(text)


def _html_story(i: int, story: Story) -> str:
    lead = story.articles[0] if story.articles else None
    parts = [f'<li class="story" id="story-{i}"><article>']
    parts.append(
        f'<h2><span class="num">{i}.</span>'
        f"{_html_link(lead.url if lead else None, story.headline)}</h2>"
    )
    outlets = f"<strong>{_h(story.outlets[0])}</strong>" if story.outlets else "unknown outlet"
    if story.also_reported_by:
        outlets += " · also reported by " + ", ".join(_h(o) for o in story.also_reported_by)
    parts.append(f'<p class="outlets">{outlets}</p>')
    if story.status:
        parts.append(f'<p class="continuity {_h(story.status)}">{_h(_continuity(story))}</p>')
    if story.notice:
        parts.append(f'<p class="notice">{_h(story.notice)}</p>')
    sentences = []
    for text, refs, supported in _sentence_parts(story):
        cites = "".join(f'<a class="cite" href="#s{i}-{n}">[{n}]</a>' for n in refs)
        body = _h(text)
        if not supported:
            body = f'<span class="unsupported" title="not supported by its source">{body}</span>'
        sentences.append(f"{body}{cites}")
    parts.append(f'<p class="summary">{" ".join(sentences) or "<em>No summary.</em>"}</p>')
    if story.citations:
        parts.append('<ol class="sources">')
        for c in story.citations:
            parts.append(
                f'<li id="s{i}-{c.n}" value="{c.n}">{_html_link(c.url, c.title)} — '
                f"{_h(c.source or 'unknown outlet')}, {_h(_date(c.published_at))}"
                f"<blockquote>{_h(c.quote)}</blockquote></li>"
            )
        parts.append("</ol>")
    if len(story.articles) > 1:
        items = "".join(
            f"<li>{_html_link(a.url, a.title)} — {_h(a.source or 'unknown outlet')}, "
            f"{_h(_date(a.published_at))}</li>"
            for a in story.articles
        )
        parts.append(f'<div class="articles">Articles:<ul>{items}</ul></div>')
    parts.append("</article></li>")
    return "".join(parts)


def _html_page(b: Briefing) -> str:
    import nh3

    count = len(b.stories)
    body = [
        "<main><header>",
        f"<h1>News briefing — {_h(b.period)}</h1>",
        f'<p class="meta">Generated {_h(_human(b.generated_at))} · {count} '
        f"{'story' if count == 1 else 'stories'}"
        f"{f' ({_h(b.news_count)})' if b.news_count else ''} · {_h(b.backend)}</p>",
        "</header>",
    ]
    if b.notice:
        body.append(f'<p class="notice">{_h(b.notice)}</p>')
    body.append('<ol class="stories">')
    body.extend(_html_story(i, s) for i, s in enumerate(b.stories, 1))
    body.append("</ol></main>")
    clean = nh3.clean(
        "".join(body),
        tags=_ALLOWED_TAGS,
        attributes={"*": {"class", "id", "title"}, "a": {"href"}, "li": {"value"}},
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer",
    )
    # The policy forbids every script and external resource, even if something slipped through.
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>News briefing — {_h(b.period)}</title>"
        f"<style>{_CSS}</style></head>\n<body>{clean}</body></html>\n"
    )


def _article_to_dict(a: StoredArticle) -> dict[str, Any]:
    return {
        "id": a.id,
        "title": a.title,
        "source": a.source,
        "published_at": a.published_at.isoformat() if a.published_at else None,
        "url": a.url,
        "authors": list(a.authors),
        "language": a.language,
        "chunks": a.chunks,
        "content_hash": a.content_hash,
    }


def _article_from_dict(d: dict[str, Any]) -> StoredArticle:
    published = d.get("published_at")
    return StoredArticle(
        id=d["id"],
        title=d["title"],
        source=d["source"],
        published_at=datetime.fromisoformat(published) if published else None,
        url=d.get("url"),
        authors=tuple(d.get("authors", ())),
        language=d.get("language"),
        chunks=int(d.get("chunks", 0)),
        content_hash=d.get("content_hash", ""),
    )
