"""Retrieval-augmented answers: condense, retrieve, prompt, generate, check, stream."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

from chatbot.citations import CheckedAnswer, SupportChecker, check_answer, strip_markers
from chatbot.embeddings import Embedder
from chatbot.extractive import best_sentences
from chatbot.llm.base import LLMBackend, LLMError, Message
from chatbot.models import Answer
from chatbot.prompting import fit_passages, render, render_source
from chatbot.retrieval import Filters, Retrieval, Retriever

log = logging.getLogger(__name__)

_FOLLOW_UP = re.compile(
    r"^\s*(and|but|so|also|what about|how about|then|why|who|when|where)\b|"
    r"\b(it|its|they|them|their|he|him|his|she|her|that|those|these|this|there|then)\b",
    re.I,
)
_EXTRACTIVE_SENTENCES = 2


@dataclass(frozen=True)
class TokenEvent:
    text: str


@dataclass(frozen=True)
class AnswerEvent:
    answer: Answer


StreamEvent = TokenEvent | AnswerEvent


@dataclass(frozen=True)
class Turn:
    question: str
    standalone: str
    answer: str


class ChatEngine:
    """Stateless: everything about a conversation lives in the ChatSession that calls it."""

    def __init__(
        self,
        retriever: Retriever,
        llm: LLMBackend,
        checker: SupportChecker,
        embedder: Embedder,
        *,
        top_k: int = 5,
        min_relevance: float = 0.25,
        unsupported_policy: str = "flag",
        max_tokens: int = 384,
        temperature: float = 0.1,
    ) -> None:
        self.retriever = retriever
        self.llm = llm
        self.checker = checker
        self.embedder = embedder
        self.top_k = top_k
        self.min_relevance = min_relevance
        self.policy = unsupported_policy
        self.max_tokens = max_tokens
        self.temperature = temperature

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
            events: Iterator[StreamEvent] = iter([AnswerEvent(self._refusal(question, found))])
        elif not self.llm.generative:
            focus = _focus(question, standalone) if standalone != question else question
            seen = tuple(t.answer for t in history)
            events = self._extractive(question, focus, found, seen)
        else:
            events = self._generate(question, standalone, found)
        for event in events:
            if isinstance(event, AnswerEvent):
                event = AnswerEvent(replace(event.answer, interpreted_as=standalone))
            yield event

    def condense(self, question: str, history: Sequence[Turn]) -> str:
        """A standalone question for retrieval: the rule always; the LLM's rewrite added to it."""
        if not history or not _FOLLOW_UP.search(question):
            return question
        previous = history[-1].standalone
        rule = f"{previous} {question}"
        if not self.llm.generative:
            return rule
        lines = [f"User: {t.question}\nAssistant: {t.answer}" for t in history]
        budget = max(256, self.llm.context_window // 4)
        while len(lines) > 1 and self.llm.count_tokens("\n".join(lines)) > budget:
            lines.pop(0)  # trim the oldest turns to the budget
        prompt = render("condense", history="\n".join(lines), question=question)
        try:
            rewrite = (
                self.llm.complete([Message("user", prompt)], max_tokens=64, temperature=0.0)
                .strip()
                .splitlines()
            )
        except LLMError as exc:
            log.warning("condense failed, using the rule: %s", exc)
            return rule
        text = rewrite[0].strip() if rewrite else ""
        return f"{rule} {text}" if 0 < len(text) < 300 else rule

    # --- the three outcomes ------------------------------------------------------------------

    def _refusal(self, question: str, found: Retrieval) -> Answer:
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
        return Answer(question, text, (), found.passages, backend=self.llm.describe(), refused=True)

    def _extractive(
        self, question: str, query: str, found: Retrieval, seen: Sequence[str] = ()
    ) -> Iterator[StreamEvent]:
        picks = best_sentences(
            query,
            found.passages,
            self.embedder,
            _EXTRACTIVE_SENTENCES,
            margin=0.1,
            avoid=seen,
        )
        parts = [f"{strip_markers(pick.text)} [{pick.n}]" for pick in picks]
        checked = check_answer(" ".join(parts), found.passages, self.checker, policy=self.policy)
        for part in parts:
            yield TokenEvent(part + " ")
        yield AnswerEvent(self._answer(question, checked, found, notice=""))

    def _generate(self, question: str, standalone: str, found: Retrieval) -> Iterator[StreamEvent]:
        system = render("system")
        budget = (
            self.llm.context_window
            - self.max_tokens
            - self.llm.count_tokens(system)
            - self.llm.count_tokens(render("answer", sources="", question=standalone))
            - 32  # chat-template overhead
        )
        passages = fit_passages(found.passages, budget, self.llm.count_tokens)
        if not passages:
            passages = list(found.passages[:1])
        sources = "\n".join(render_source(n, p) for n, p in enumerate(passages, 1))
        messages = [
            Message("system", system),
            Message("user", render("answer", sources=sources, question=standalone)),
        ]
        pieces: list[str] = []
        try:
            for piece in self.llm.stream(
                messages, max_tokens=self.max_tokens, temperature=self.temperature
            ):
                pieces.append(piece)
                yield TokenEvent(piece)
        except LLMError as exc:
            # The reader still gets an answer: sentences from the sources, with the reason why.
            log.warning("generation failed: %s", exc)
            fallback = Retrieval(tuple(passages), found.best_similarity, found.scope, found.filters)
            for event in self._extractive(question, standalone, fallback):
                if isinstance(event, AnswerEvent):
                    notice = (
                        f"The language model failed ({exc}); showing sentences from the sources."
                    )
                    yield AnswerEvent(replace(event.answer, notice=notice))
                else:
                    yield event
            return
        text = "".join(pieces).strip()
        if not text:
            text = "The articles do not say."
        scoped = Retrieval(tuple(passages), found.best_similarity, found.scope, found.filters)
        checked = check_answer(text, passages, self.checker, policy=self.policy)
        yield AnswerEvent(self._answer(question, checked, scoped, notice=""))

    def _answer(
        self, question: str, checked: CheckedAnswer, found: Retrieval, notice: str
    ) -> Answer:
        return Answer(
            question=question,
            text=checked.text,
            citations=tuple(checked.citations),
            sources=tuple(found.passages),
            sentences=tuple(checked.sentences),
            backend=self.llm.describe(),
            notice=notice,
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
        answer: Answer | None = None
        for event in self.stream(question, filters):
            if isinstance(event, AnswerEvent):
                answer = event.answer
        assert answer is not None
        return answer

    def reset(self) -> None:
        with self._lock:
            self.history.clear()
