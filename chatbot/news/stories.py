"""Story timelines: a story followed across days, each day told by what it added.

A story is found from a seed (the articles of a briefing's story, the article a source came
from, or the best match for a query) and followed day by day in both directions: on each day the
day's articles are grouped as briefings group them, and the group closest to the story's
neighbouring day joins it when it is as close as briefings require of a continuing story
(``BriefingBuilder.continuity_threshold``). A gap of more than ``max_gap_days`` without the
story ends the walk.

Each day's group is summarized with citations (the summaries briefings use, cached per
article); a sentence counts as a development only when it is supported by its own sources and
the support checker finds it unsupported by the story's earlier coverage (the passages of the
earlier days' articles closest to it). Days that add nothing are left out and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import date

import numpy as np

from chatbot.answering.citations import SupportChecker
from chatbot.answering.retrieval import Retriever
from chatbot.answering.summaries import Summarizer, SummaryError
from chatbot.errors import StoryError
from chatbot.index.store import ArticleStore
from chatbot.models.embeddings import Embedder
from chatbot.news.briefing import BriefingBuilder
from chatbot.vocabulary import (
    AnswerSentence,
    Development,
    Filters,
    Passage,
    StoredArticle,
    StoryInfo,
    Summary,
    Timeline,
)

log = logging.getLogger(__name__)

ARTICLE_ID_PREFIX = "story-"
# Earlier passages each sentence is checked against: the closest by meaning. More finds a
# paraphrase farther away, at one checker call each.
EVIDENCE_PER_SENTENCE = 3


class StoryTimelines:
    def __init__(
        self,
        store: ArticleStore,
        embedder: Embedder,
        summarizer: Summarizer,
        checker: SupportChecker,
        briefings: BriefingBuilder,
        retriever: Retriever,
        *,
        min_relevance: float = 0.0,
        max_gap_days: int = 7,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.summarizer = summarizer
        self.checker = checker
        self.briefings = briefings
        self.retriever = retriever
        self.min_relevance = min_relevance
        self.max_gap_days = max_gap_days

    # --- finding a story -----------------------------------------------------------------------

    def stories(self) -> list[StoryInfo]:
        """The stories of the stored briefings, the most recently seen first."""
        found: dict[str, StoryInfo] = {}
        for key in self.briefings.list_briefings():  # oldest first: the newest wins
            briefing = self.briefings.load_briefing(key)
            for story in briefing.stories:
                if not story.story_id:
                    continue
                seen = found.get(story.story_id)
                found[story.story_id] = StoryInfo(
                    story_id=story.story_id,
                    headline=story.headline,
                    last_seen=briefing.key,
                    briefings=(seen.briefings if seen else 0) + 1,
                    articles=(seen.articles if seen else 0) + len(story.articles),
                )
        return list(reversed(found.values()))

    def timeline(
        self,
        story_id: str | None = None,
        *,
        query: str | None = None,
        article_id: str | None = None,
        filters: Filters | None = None,
    ) -> Timeline:
        """The timeline of a briefing's story (``story_id``), of the story an article belongs to
        (``article_id``), or of the story that best matches ``query``."""
        if sum(x is not None for x in (story_id, query, article_id)) != 1:
            raise StoryError("Give one of: a story id, a query, or an article id.")
        if story_id is not None:
            seeds, known_id = self._seeds_of(story_id.strip()), story_id.strip()
        elif article_id is not None:
            if not self.store.list_articles(ids=[article_id]):
                raise StoryError(f"No stored article has the id {article_id!r}.")
            seeds, known_id = [article_id], None
        else:
            seeds, known_id = [self._best_match(query or "", filters)], None
        days = self._thread(seeds)
        return self._timeline(days, known_id)

    def _seeds_of(self, story_id: str) -> list[str]:
        for key in reversed(self.briefings.list_briefings()):
            for story in self.briefings.load_briefing(key).stories:
                if story.story_id == story_id:
                    return list(story.article_ids)
        # Ids of stories no briefing has yet name their first article.
        if story_id.startswith(ARTICLE_ID_PREFIX):
            article = story_id[len(ARTICLE_ID_PREFIX) :]
            if self.store.list_articles(ids=[article]):
                return [article]
        known = ", ".join(s.story_id for s in self.stories()[:5]) or "none yet"
        raise StoryError(
            f"No story {story_id!r}. Stories of recent briefings: {known}; or find one by "
            "what it is about (`chatbot story --query ...`)."
        )

    def _best_match(self, query: str, filters: Filters | None) -> str:
        if not query.strip():
            raise StoryError("The query is empty; say what the story is about.")
        found = self.retriever.retrieve(query, 8, filters)
        if not found.passages or found.best_similarity < self.min_relevance:
            raise StoryError(
                f"No stored article matches {query!r}: try other words, or add articles about "
                "it first."
            )
        return found.passages[0].article_id

    # --- following it across days --------------------------------------------------------------

    def _thread(self, seeds: Sequence[str]) -> list[tuple[date, list[StoredArticle]]]:
        by_day: dict[date, list[StoredArticle]] = {}
        for a in self.store.list_articles():
            if a.published_at is not None:
                by_day.setdefault(a.published_at.date(), []).append(a)
        wanted = set(seeds)
        seed_days = sorted({d for d, arts in by_day.items() if any(a.id in wanted for a in arts)})
        if not seed_days:
            raise StoryError(
                "The story's articles have no publication date, so they cannot be placed on a "
                "timeline."
            )
        thread: dict[date, list[StoredArticle]] = {}
        for day in seed_days:
            thread[day] = self._group_holding(by_day[day], wanted)
        order = sorted(by_day)
        later = [d for d in order if d > seed_days[-1]]
        earlier = [d for d in reversed(order) if d < seed_days[0]]
        for walk, start in ((later, seed_days[-1]), (earlier, seed_days[0])):
            anchor, anchor_day = self._centroid(thread[start]), start
            for day in walk:
                if abs((day - anchor_day).days) > self.max_gap_days or anchor is None:
                    break
                group = self._closest_group(by_day[day], anchor)
                if group is not None:
                    thread[day] = group
                    anchor, anchor_day = self._centroid(group), day
        return sorted(thread.items())

    def _group_holding(
        self, articles: list[StoredArticle], wanted: set[str]
    ) -> list[StoredArticle]:
        """The day's articles grouped as briefings group them: the groups holding a seed."""
        groups = self.briefings.group(articles)
        held = [a for g in groups if any(a.id in wanted for a in g) for a in g]
        return held or [a for a in articles if a.id in wanted]

    def _closest_group(
        self, articles: list[StoredArticle], anchor: np.ndarray
    ) -> list[StoredArticle] | None:
        vectors = self.store.article_vectors([a.id for a in articles])
        threshold = self.briefings.continuity_threshold
        # Grouping needs the titles embedded: only on days where some article is near at all.
        if not any(float(v @ anchor) >= threshold - 0.1 for v in vectors.values()):
            return None
        best, best_score = None, threshold
        for group in self.briefings.group(articles):
            centre = self._centroid(group, vectors)
            score = float(centre @ anchor) if centre is not None else -1.0
            if score >= best_score:
                best, best_score = group, score
        return best

    def _centroid(
        self, group: Sequence[StoredArticle], vectors: dict[str, np.ndarray] | None = None
    ) -> np.ndarray | None:
        vectors = (
            vectors if vectors is not None else self.store.article_vectors([a.id for a in group])
        )
        rows = [vectors[a.id] for a in group if a.id in vectors]
        if not rows:
            return None
        mean = np.mean(np.stack(rows), axis=0)
        norm = float(np.linalg.norm(mean))
        return mean / norm if norm > 0 else None

    # --- telling what each day added -----------------------------------------------------------

    def _timeline(
        self, days: list[tuple[date, list[StoredArticle]]], known_id: str | None
    ) -> Timeline:
        developments: list[Development] = []
        earlier: list[Passage] = []
        earlier_vectors = np.zeros((0, self.embedder.dimension), dtype=np.float32)
        quiet: list[str] = []
        failed: list[str] = []
        unsupported = 0
        for day, articles in days:
            try:
                summary = self._summary([a.id for a in articles])
            except SummaryError as exc:
                failed.append(f"{day.isoformat()}: {exc}")
                continue
            passages, vectors = self._passages(articles)
            candidates = [s for s in summary.sentences if s.supported and s.text.strip()]
            own = self._said_in(candidates, passages, vectors)
            unsupported += own.count(False)
            candidates = [s for s, ok in zip(candidates, own, strict=True) if ok]
            before = self._said_in(candidates, earlier, earlier_vectors)
            kept = [s for s, said in zip(candidates, before, strict=True) if not said]
            if kept:
                developments.append(
                    Development(
                        day=day,
                        summary=_only(summary, kept),
                        articles=tuple(articles),
                        repeated=before.count(True),
                    )
                )
            else:
                quiet.append(day.isoformat())
            earlier += passages
            earlier_vectors = np.vstack([earlier_vectors, vectors])
        all_articles = [a for _, arts in days for a in arts]
        story_id = known_id or self._story_id_of(all_articles)
        headline = (days[-1][1][0].title if days else "") or "(untitled)"
        notes = []
        if quiet:
            notes.append(
                f"{len(quiet)} day{'s' if len(quiet) != 1 else ''} added nothing that earlier "
                f"coverage did not already say ({', '.join(quiet)})."
            )
        if unsupported:
            notes.append(
                f"{unsupported} summary sentence{'s' if unsupported != 1 else ''} left out: "
                "not supported by their own day's articles."
            )
        if failed:
            notes.append("Left out: " + "; ".join(failed) + ".")
        return Timeline(story_id, headline, tuple(developments), " ".join(notes))

    def _summary(self, ids: list[str]) -> Summary:
        if len(ids) == 1:
            return self.summarizer.summarize_article(ids[0])
        return self.summarizer.summarize_articles(ids)

    def _passages(self, articles: Sequence[StoredArticle]) -> tuple[list[Passage], np.ndarray]:
        """The articles' stored passages and their vectors (one row each)."""
        passages = self.store.article_chunks(self.store.versions([a.id for a in articles]))
        vectors = self.store.chunk_vectors([p.chunk_id for p in passages]) if passages else {}
        passages = [p for p in passages if p.chunk_id in vectors]
        if not passages:
            return [], np.zeros((0, self.embedder.dimension), dtype=np.float32)
        return passages, np.stack([vectors[p.chunk_id] for p in passages]).astype(np.float32)

    def _said_in(
        self, sentences: Sequence[AnswerSentence], passages: list[Passage], vectors: np.ndarray
    ) -> list[bool]:
        """Per sentence: does one of the passages closest to it support it?"""
        if not sentences or not passages:
            return [False] * len(sentences)
        claims = self.embedder.embed([s.text for s in sentences])
        nearest = np.argsort(-(claims @ vectors.T), axis=1)[:, :EVIDENCE_PER_SENTENCE]
        width = nearest.shape[1]
        pairs = [
            (s.text, passages[int(j)].text)
            for s, row in zip(sentences, nearest, strict=True)
            for j in row
        ]
        scores = self.checker.score_many(pairs)
        return [
            any(self.checker.supported(x.score) for x in scores[i * width : (i + 1) * width])
            for i in range(len(sentences))
        ]

    def _story_id_of(self, articles: Sequence[StoredArticle]) -> str:
        ids = {a.id for a in articles}
        for key in reversed(self.briefings.list_briefings()):
            for story in self.briefings.load_briefing(key).stories:
                if story.story_id and ids & set(story.article_ids):
                    return story.story_id
        return f"{ARTICLE_ID_PREFIX}{articles[0].id}" if articles else "story-empty"


def _only(summary: Summary, kept: list[AnswerSentence]) -> Summary:
    """The summary cut to ``kept`` sentences, with only the citations they use."""
    sentences = tuple(kept)
    used = {n for s in sentences for n in s.citations}
    return replace(
        summary,
        text=" ".join(s.text for s in sentences),
        sentences=sentences,
        citations=tuple(c for c in summary.citations if c.n in used),
    )
