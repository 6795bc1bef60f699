"""Retrieval-augmented answers: condense, retrieve, prompt, generate, check, stream."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from chatbot.answering.retrieval import Retrieval, Retriever
from chatbot.answering.strategies import AnsweringStrategy, Question
from chatbot.vocabulary import (
    Answer,
    AnswerEvent,
    Filters,
    StreamEvent,
    TokenEvent,
    Turn,
    final_answer,
)

_FOLLOW_UP = re.compile(
    r"^\s*(and|but|so|also|what about|how about|then|why|who|when|where)\b|"
    r"\b(it|its|they|them|their|he|him|his|she|her|that|those|these|this|there|then)\b",
    re.I,
)
__all__ = ["AnswerEvent", "ChatEngine", "ChatSession", "StreamEvent", "TokenEvent", "Turn"]


class ChatEngine:
    """Stateless: everything about a conversation lives in the ChatSession that calls it."""

    def __init__(
        self,
        retriever: Retriever,
        strategy: AnsweringStrategy,
        *,
        top_k: int = 5,
        min_relevance: float = 0.25,
    ) -> None:
        self.retriever = retriever
        self.strategy = strategy
        self.top_k = top_k
        self.min_relevance = min_relevance

    # --- the turn ----------------------------------------------------------------------------

    def stream(
        self, question: str, filters: Filters | None = None, history: Sequence[Turn] = ()
    ) -> Iterator[StreamEvent]:
        question = question.strip()
        if not question:
            yield AnswerEvent(Answer(question, "Please ask a question.", (), (), refused=True))
            return
        standalone = self.condense(question, history)
        found = self.retriever.retrieve(standalone, self.top_k, filters)
        if not found.passages or found.best_similarity < self.min_relevance:
            yield AnswerEvent(self._refusal(question, standalone, found))
            return
        follow_up = standalone != question
        asked = Question(
            question,
            standalone,
            _focus(question, standalone) if follow_up else question,
            # Only a follow-up ("and then?") wants something not said yet; a question of its
            # own wants its answer, even if an earlier answer already quoted it.
            tuple(t.answer for t in history) if follow_up else (),
        )
        yield from self.strategy.answer(asked, found)

    def condense(self, question: str, history: Sequence[Turn]) -> str:
        """A standalone question for retrieval: the rule always; the strategy's rewrite (an
        LLM's, where it has one worth the time) added to it."""
        if not history or not _FOLLOW_UP.search(question):
            return question
        rule = f"{history[-1].standalone} {question}"
        lines = [f"User: {t.question}\nAssistant: {t.answer}" for t in history]
        rewrite = self.strategy.rewrite(question, lines)
        return f"{rule} {rewrite}" if rewrite else rule

    # --- the outcomes ------------------------------------------------------------------------

    def _refusal(self, question: str, standalone: str, found: Retrieval) -> Answer:
        closest = list(dict.fromkeys(f"“{p.title}” ({p.source})" for p in found.passages))[:3]
        text = "The stored articles do not cover this question."
        if found.scope.phrase and found.filters.since:
            text = (
                f"The stored articles do not cover this question for “{found.scope.phrase}” "
                f"({found.filters.since.date().isoformat()}"
                + (f" to {found.filters.until.date().isoformat()}" if found.filters.until else "")
                + ")."
            )
        if closest:
            text += " The closest articles are: " + "; ".join(closest) + "."
        return Answer(
            question,
            text,
            (),
            found.passages,
            backend=self.strategy.describe(),
            refused=True,
            interpreted_as=standalone,
        )


_ENTITY = re.compile(r"\b[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*")


def _focus(question: str, standalone: str) -> str:
    """The follow-up itself plus the names it refers back to: what the answer should address."""
    names = [m for m in _ENTITY.findall(standalone) if m.lower() not in question.lower()]
    names = [
        n
        for n in names
        if n.split()[0].lower()
        not in {"what", "and", "who", "where", "when", "how", "why", "which"}
    ]
    return " ".join([question, *dict.fromkeys(names)])


@dataclass
class ChatSession:
    """One conversation: its own history, trimmed to ``max_turns``. Thread-safe per session."""

    engine: ChatEngine
    max_turns: int = 6
    filters: Filters | None = None
    history: list[Turn] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def stream(self, question: str, filters: Filters | None = None) -> Iterator[StreamEvent]:
        with self._lock:
            for event in self.engine.stream(question, filters or self.filters, self.history):
                if isinstance(event, AnswerEvent):
                    final = event.answer
                    self.history.append(Turn(question, final.interpreted_as, final.text))
                    del self.history[: max(0, len(self.history) - self.max_turns)]
                yield event

    def ask(self, question: str, filters: Filters | None = None) -> Answer:
        return final_answer(self.stream(question, filters))

    def reset(self) -> None:
        with self._lock:
            self.history.clear()
