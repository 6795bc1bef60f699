"""Watched questions: answered again after each refresh, with an alert when the answer changes.

A watch keeps its last answer and the passages its answers stood on (the newest
``MAX_EVIDENCE``, so a fact told once is not news again after the answer wandered off and came
back). When it is answered again, a supported, cited sentence of the new answer is news (a new
or changed fact, judged by meaning, not by string difference) only when:
- it cites an article stored since the last answer: an answer that moved among articles it
  could already read is no news;
- it is related to the question (cosine of question and sentence): at least ``min_relevance``
  and about as related as the last answer's best sentence, less ``RELEVANCE_SLACK``. Before the
  question's story arrives, or when it goes quiet, a new article's sentence that merely shares
  a word with it (a protest "on Monday" for a volcano that erupted on Monday) becomes the quoted
  answer, and that is a worse answer, not news;
- the support checker finds it unsupported by the kept passages.
Only then is an ``Alert`` made; an answer that says the same again, in other words or from other
articles, makes none. The new answer becomes the next baseline either way.

Watches live in the store (``store.watches``), like feed subscriptions, so they survive restarts
and are shared through a Chroma server. The news desk delivers the alerts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from chatbot.answering.citations import SupportChecker
from chatbot.codecs import watch_from_json, watch_to_json
from chatbot.common.ids import feed_key
from chatbot.errors import ChatbotError, FeedError, WatchError
from chatbot.index.records import JsonRecords
from chatbot.models.embeddings import Embedder
from chatbot.news.feeds import parse_every
from chatbot.vocabulary import Alert, Answer, AnswerSentence, Watch

log = logging.getLogger(__name__)

MAX_QUESTION = 500
# How much less related to the question than the last answer a new sentence may be and still
# alert: a changed fact is told in a sentence about as close to the question as the old one.
RELEVANCE_SLACK = 0.1
# Passages of earlier answers kept to judge what is news (checker calls per new sentence).
MAX_EVIDENCE = 40


def watch_id(question: str) -> str:
    """The same question (case and spacing aside) is one watch."""
    return "w" + feed_key(" ".join(question.lower().split()))[:11]


class Watches:
    """Add, list and remove watched questions; ``check`` answers them again."""

    def __init__(
        self,
        records: JsonRecords,
        answer: Callable[[str], Answer],
        checker: SupportChecker,
        *,
        store_token: Callable[[], str | None] = lambda: None,
        stored_at: Callable[[Sequence[str]], dict[str, datetime | None]] = lambda ids: {},
        embedder: Embedder | None = None,
        min_relevance: float = 0.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.records = records
        self.answer = answer
        self.checker = checker
        self.store_token = store_token
        self.stored_at = stored_at
        self.embedder = embedder
        self.min_relevance = min_relevance
        self._clock = clock or (lambda: datetime.now(UTC))

    def add(self, question: str, every: str | int | None = None) -> Watch:
        """Watch ``question`` (answered now: the baseline later answers are compared with)."""
        question = " ".join((question or "").split())
        if not question:
            raise WatchError("The question is empty; say what to watch.")
        if len(question) > MAX_QUESTION:
            raise WatchError(f"The question is longer than {MAX_QUESTION} characters; shorten it.")
        try:
            seconds = parse_every(every) if every not in (None, "") else None
        except FeedError as exc:
            raise WatchError(str(exc)) from exc
        key = watch_id(question)
        known = self.get(key)
        if known is not None:  # the same question again: the same watch, a new interval if given
            watch = _with(known, every=known.every if seconds is None else seconds)
        else:
            watch = self._answered(Watch(key, question, seconds, self._clock()))[0]
        self._put(watch)
        return watch

    def all(self) -> list[Watch]:
        """Every watch, oldest first; unreadable records are logged and left out."""
        found = []
        for key, state in self.records.states().items():
            try:
                found.append(watch_from_json(state))
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("ignoring unreadable watch %s: %s", key, exc)
        return sorted(found, key=lambda w: (w.added_at, w.id))

    def get(self, key: str) -> Watch | None:
        return next((w for w in self.all() if w.id == key), None)

    def remove(self, key: str) -> bool:
        return self.records.delete(key.strip())

    def check(self, *, due_only: bool = True) -> list[Alert]:
        """Answer every due watch again (all with ``due_only=False``); the alerts of those
        whose answer changed. A watch whose answer cannot be made keeps its last one and
        records why."""
        alerts = []
        now = self._clock()
        token = self.store_token()
        for watch in self.all():
            if due_only and not watch.due(now):
                continue
            if due_only and token is not None and watch.store_token == token:
                continue  # nothing was written since its last answer: it cannot have changed
            try:
                updated, alert = self._answered(watch)
            except ChatbotError as exc:
                log.warning(
                    "watch %s (%r) could not be answered: %s", watch.id, watch.question, exc
                )
                self._put(_with(watch, last_checked=now, last_error=str(exc)))
                continue
            self._put(updated)
            if alert is not None:
                alerts.append(alert)
        return alerts

    # --- comparing answers ---------------------------------------------------------------------

    def _answered(self, watch: Watch) -> tuple[Watch, Alert | None]:
        now = self._clock()
        token = self.store_token()
        answer = self.answer(watch.question)
        claims = [s for s in answer.sentences if s.supported and s.citations and s.text.strip()]
        checked = _with(watch, last_checked=now, store_token=token, last_error="")
        if answer.refused or not claims:
            return checked, None  # nothing to say now: the last answer stays the baseline
        first = watch.last_checked is None
        fresh = self._from_new_articles(claims, answer, watch)
        news = self._news(self._as_related(fresh, watch), watch.evidence)
        updated = _with(
            checked,
            answer=answer.text,
            sentences=answer.sentences,
            citations=answer.citations,
            evidence=tuple(dict.fromkeys([*evidence_of(answer), *watch.evidence]))[:MAX_EVIDENCE],
        )
        if first or not news:
            return updated, None
        used = {n for s in news for n in s.citations}
        alert = Alert(
            watch_id=watch.id,
            question=watch.question,
            at=now,
            sentences=tuple(news),
            citations=tuple(c for c in answer.citations if c.n in used),
            previous=watch.answer,
        )
        return _with(updated, alerts=watch.alerts + 1, last_alert_at=now), alert

    def _from_new_articles(
        self, claims: Sequence[AnswerSentence], answer: Answer, watch: Watch
    ) -> list[AnswerSentence]:
        """The claims that cite an article stored since the watch was last answered: an
        answer that changed among articles it could already read is no news."""
        if watch.last_checked is None:
            return list(claims)
        article_of = {c.n: c.article_id for c in answer.citations}
        arrived = self.stored_at(sorted(set(article_of.values())))
        fresh = {
            article
            for article, when in arrived.items()
            if when is not None and when > watch.last_checked
        }
        return [c for c in claims if any(article_of.get(n) in fresh for n in c.citations)]

    def _as_related(self, claims: Sequence[AnswerSentence], watch: Watch) -> list[AnswerSentence]:
        """The claims related to the question: at least ``min_relevance`` (the bar below which
        an answer says the articles do not cover it) and about as related as the last answer's
        best sentence."""
        if self.embedder is None or not claims:
            return list(claims)
        before = [s.text for s in watch.sentences if s.supported and s.text.strip()]
        question = self.embedder.embed_query(watch.question)
        scores = self.embedder.embed([*(c.text for c in claims), *before]) @ question
        bar = self.min_relevance
        if before:
            bar = max(bar, float(scores[len(claims) :].max()) - RELEVANCE_SLACK)
        return [c for c, score in zip(claims, scores, strict=False) if float(score) >= bar]

    def _news(
        self, claims: Sequence[AnswerSentence], evidence: Sequence[str]
    ) -> list[AnswerSentence]:
        """The claims that no passage of the earlier answers' evidence supports."""
        if not evidence:
            return list(claims)
        pairs = [(c.text, passage) for c in claims for passage in evidence]
        scores = self.checker.score_many(pairs)
        width = len(evidence)
        return [
            claim
            for i, claim in enumerate(claims)
            if not any(self.checker.supported(s.score) for s in scores[i * width : (i + 1) * width])
        ]

    def _put(self, watch: Watch) -> None:
        self.records.put(watch.id, watch.question, watch_to_json(watch))


def evidence_of(answer: Answer) -> tuple[str, ...]:
    """The passages of the articles an answer cites (all it read when it cites none)."""
    cited = {c.article_id for c in answer.citations}
    passages = [p.text for p in answer.sources if p.article_id in cited] or [
        p.text for p in answer.sources
    ]
    return tuple(dict.fromkeys(passages))


def _with(watch: Watch, **changes: Any) -> Watch:
    return replace(watch, **changes)
