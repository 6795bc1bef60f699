"""Answering strategies: how an answer is written from retrieved passages, chosen once.

- :class:`ExtractiveStrategy` quotes the evidence sentences (no LLM).
- :class:`GenerativeStrategy` lets an LLM write from the evidence, then checks every sentence:
  an unsupported sentence is repaired (replaced by the source's own words) and an answer with
  no supported sentence falls back to the extractive one, with a notice saying so. A generative
  answer is never worse than the extractive one.

The generative context is per backend: ``evidence`` (the selected sentences, numbered: short
enough for a small local model to read in about a second, and what it can copy correctly) or
``passages`` (whole retrieved passages fitted to the context window, for strong models).
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from chatbot.answering.citations import (
    CheckedAnswer,
    Policy,
    SupportChecker,
    check_answer,
    render_sentence,
)
from chatbot.answering.evidence import (
    LIKELY_ALTERNATIVE,
    TYPED_KINDS,
    Evidence,
    analyse,
    kind_spans,
    select_evidence,
    word_key,
)
from chatbot.answering.prompting import fit_passages, neutralise, render, render_source
from chatbot.answering.retrieval import Retrieval
from chatbot.answering.writing import PromptBudget, as_sentence, mark_quoted, repair
from chatbot.common.dates import date_label
from chatbot.common.markers import strip_markers
from chatbot.llm.base import LLMBackend, LLMError, Message
from chatbot.models.answer_ranker import AnswerRanker
from chatbot.models.embeddings import Embedder
from chatbot.vocabulary import (
    Answer,
    AnswerEvent,
    Citation,
    Passage,
    ShortAnswer,
    StreamEvent,
    TokenEvent,
)

log = logging.getLogger(__name__)

Context = Literal["evidence", "passages"]
# The best sentence, and up to two more at least half as likely that add something new: the
# third held out 6 more answers of 112 (realtimeqa-dev, by weeks) at 2.55 sentences per answer.
EXTRACTIVE_SENTENCES = 3
EXTRACTIVE_MARGIN = LIKELY_ALTERNATIVE  # a further sentence at least half as likely
EVIDENCE_SENTENCES = 3  # what the small model reads: ~150 tokens of evidence
EVIDENCE_MAX_TOKENS = 160  # two or three short sentences
# A finished sentence in a stream: its citation markers (and end punctuation) then a space.
_SENTENCE_DONE = re.compile(r"(?:\[\d{1,2}\])+\s*[.!?]?(?=\s)|[.!?][\"”')]?(?=\s+[A-Z\"“])")


def evidence_passage(e: Evidence) -> Passage:
    """The evidence sentence as a passage of its own (same article, exact span), so that the
    checker judges a claim against the very sentence it cites."""
    p = e.passage
    return replace(
        p,
        text=e.text,
        char_start=p.char_start + e.start,
        char_end=p.char_start + e.end,
    )


# The short answer is shown when its confidence (see short_answer) is at least this
# (`evals.short_answer` chose it on the held-out weeks; dev confirms).
SHORT_ANSWER_CONFIDENCE = 0.3
_EDGE = " \t\n,;:.!?\"'“”‘’()[]"


def short_answer(
    question: str,
    picks: Sequence[Evidence],
    threshold: float = SHORT_ANSWER_CONFIDENCE,
) -> ShortAnswer | None:
    """The words that answer, from the first pick (the sentence the ranker is surest of), when
    the ranker is sure enough of the sentence and the words say something the question does
    not; whole words, trimmed of punctuation.

    For a question of a kind the answer rules know (how long, how many, when, where, who) the
    words must state that kind: the span head's best span when it holds such a phrase ("the
    Istanbul residence of the US consul general"), else the phrase the head scores highest
    among those the sentence holds; its confidence is the ranker's likelihood of the sentence
    times that phrase's share of the head's score among them. For other questions ("which
    ...?") the head's best span, at the likelihood times its own confidence."""
    if not picks:
        return None
    e = picks[0]
    guess = e.answer
    if guess is None:
        return None
    asked = analyse(question)
    text = e.text
    if asked.kind in TYPED_KINDS:
        phrases = kind_spans(asked, text)
        if not phrases:
            return None
        inside = [(s, t) for s, t in phrases if guess.start <= s and t <= guess.end]
        if inside:
            start, end, share = guess.start, guess.end, 1.0
        else:
            scores = [guess.score(s, t) for s, t in phrases]
            best = max(range(len(phrases)), key=scores.__getitem__)
            start, end = phrases[best]
            share = scores[best] / sum(scores) if sum(scores) > 0 else 1 / len(phrases)
        confidence = e.likelihood * share
    else:
        start, end, confidence = guess.start, guess.end, e.likelihood * guess.confidence
    if confidence < threshold:
        return None
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum():
        end += 1
    while start < end and text[start] in _EDGE:
        start += 1
    while end > start and text[end - 1] in _EDGE:
        end -= 1
    words = text[start:end]
    if not words or set(word_key(words).split()) <= set(word_key(question).split()):
        return None
    return ShortAnswer(words, e.n, text, start, end, confidence)


def lead_with(short: ShortAnswer | None, text: str) -> str:
    """The answer's text, opening with the short answer and its citation when there is one."""
    if short is None:
        return text
    return f"**{short.text}** [{short.n}]\n\n{text}"


def render_evidence(evidence: Sequence[Evidence]) -> str:
    return "\n".join(
        render(
            "evidence_line",
            n=i,
            outlet=neutralise(e.passage.source or "unknown"),
            date=date_label(e.passage.published_at),
            text=neutralise(strip_markers(e.text)),
        ).strip()
        for i, e in enumerate(evidence, 1)
    )


def renumber_markers(text: str, mapping: dict[int, int]) -> str:
    return re.sub(r"\[(\d+)\]", lambda m: f"[{mapping.get(int(m.group(1)), m.group(1))}]", text)


def to_sources(
    checked: CheckedAnswer, evidence: Sequence[Evidence], passages: Sequence[Passage]
) -> CheckedAnswer:
    """A check made against evidence sentences (numbered 1..k), renumbered to the retrieved
    passages they come from (so that [n] is the n-th of ``passages``)."""
    index = {id(p): n for n, p in enumerate(passages, 1)}
    mapping = {i: index.get(id(e.passage), e.n) for i, e in enumerate(evidence, 1)}
    sentences = tuple(
        replace(s, citations=tuple(dict.fromkeys(mapping[n] for n in s.citations)))
        for s in checked.sentences
    )
    # Two evidence sentences of one passage become two citations of the same [n], each with its
    # own quote (the Sources panel shows every quoted sentence of a source).
    moved: dict[tuple[int, int], Citation] = {}
    for c in checked.citations:
        moved.setdefault((mapping[c.n], c.char_start), replace(c, n=mapping[c.n]))
    text = renumber_markers(checked.text, mapping)
    text = re.sub(r"(\[\d+\])(?:\1)+", r"\1", text)  # two evidence sentences of one passage
    return replace(
        checked,
        text=text,
        sentences=sentences,
        citations=tuple(moved[key] for key in sorted(moved)),
    )


@dataclass(frozen=True)
class Question:
    """A question as the strategies answer it: ``text`` as the user typed it, ``standalone``
    what retrieval used (a follow-up with what it refers to), ``focus`` what the answer should
    address, ``seen`` earlier answers of the conversation (not to be repeated)."""

    text: str
    standalone: str = ""
    focus: str = ""
    seen: tuple[str, ...] = ()

    @classmethod
    def alone(cls, text: str) -> Question:
        """A question without a conversation around it."""
        return cls(text, text, text)


def build_answer(
    question: Question,
    checked: CheckedAnswer,
    sources: Sequence[Passage],
    backend: str,
    *,
    notice: str = "",
    repaired: int = 0,
    short: ShortAnswer | None = None,
) -> Answer:
    """The one place an answer is made: every field set here, none patched afterwards."""
    return Answer(
        question=question.text,
        text=lead_with(short, checked.text),
        citations=tuple(checked.citations),
        sources=tuple(sources),
        sentences=tuple(checked.sentences),
        backend=backend,
        notice=notice,
        interpreted_as=question.standalone,
        repaired=repaired,
        short_answer=short,
    )


class AnsweringStrategy(ABC):
    """Writes the answer to a question from the passages retrieval found."""

    name: str
    reason: str
    # The LLM that writes text (summaries use it too); None when answers quote the sources.
    writer: LLMBackend | None
    # What the writer reads: "evidence" (selected sentences) or "passages"; None: no writer.
    context: Context | None = None

    @abstractmethod
    def answer(self, question: Question, found: Retrieval) -> Iterator[StreamEvent]:
        """TokenEvents, then the checked Answer (an AnswerEvent, always last)."""

    def rewrite(self, question: str, history: Sequence[str]) -> str | None:
        """A standalone version of a follow-up question, or None (the rule alone is used)."""
        return None

    @abstractmethod
    def describe(self) -> str:
        """One line for the status: which strategy answers, with what."""

    @property
    def streams_tokens(self) -> bool:
        """Whether text arrives piece by piece (worth showing live) rather than at once."""
        return self.writer is not None


class ExtractiveStrategy(AnsweringStrategy):
    """The evidence sentences that best answer the question, quoted and cited."""

    name = "extractive"
    writer = None

    def __init__(
        self,
        embedder: Embedder,
        checker: SupportChecker,
        *,
        policy: Policy = "flag",
        sentences: int = EXTRACTIVE_SENTENCES,
        reason: str = "",
        ranker: AnswerRanker | None = None,
        short_answers: bool = False,
    ) -> None:
        self.embedder = embedder
        self.ranker = ranker  # orders the evidence; None: the fitted features alone
        # Whether an answer opens with the words that answer, when the ranker is sure of them.
        self.short_answers = short_answers
        self.checker = checker
        self.policy = policy
        self.sentences = sentences
        self.reason = reason or "extractive: no LLM writes; answers quote the sources"

    def describe(self) -> str:
        return "extractive (no LLM: answers quote the sources)"

    def picks(
        self,
        focus: str,
        passages: Sequence[Passage],
        seen: Sequence[str] = (),
        reference: datetime | None = None,
    ) -> list[Evidence]:
        """The sentences an extractive answer quotes (also what a repair may quote)."""
        return select_evidence(
            focus,
            passages,
            self.embedder,
            self.sentences,
            margin=EXTRACTIVE_MARGIN,
            avoid=seen,
            reference=reference,
            ranker=self.ranker,
        )

    def answer(
        self, question: Question, found: Retrieval, *, notice: str = ""
    ) -> Iterator[StreamEvent]:
        """The quoted sentences; ``notice`` says why they stand in for a model's answer."""
        picks = self.picks(question.focus, found.passages, question.seen, found.filters.as_of)
        short = short_answer(question.focus, picks) if self.short_answers else None
        parts = [render_sentence(as_sentence(strip_markers(p.text)), (p.n,)) for p in picks]
        if short is not None:
            yield TokenEvent(lead_with(short, ""))
        for part in parts:
            yield TokenEvent(part + " ")
        checked = check_answer(" ".join(parts), found.passages, self.checker, policy=self.policy)
        # The words must still be in a supported quote of their source (a policy may drop it).
        if short is not None and not any(
            s.supported and short.n in s.citations and short.text in s.text
            for s in checked.sentences
        ):
            short = None
        yield AnswerEvent(
            build_answer(
                question, checked, found.passages, self.describe(), notice=notice, short=short
            )
        )


@dataclass(frozen=True)
class _Draft:
    """What a generation produced after checking, before it becomes an Answer: the return
    value of a writing generator (which yields only the text as it is shown)."""

    checked: CheckedAnswer
    sources: tuple[Passage, ...]
    repaired: int
    declined: bool = False  # the model said the sources do not answer


_NOTHING = CheckedAnswer("", (), ())


class GenerativeStrategy(AnsweringStrategy):
    """An LLM writes from the evidence (or whole passages); every sentence is checked, repaired
    when unsupported; no supported sentence at all means the extractive answer, with a notice."""

    name = "generative"
    writer: LLMBackend

    def __init__(
        self,
        llm: LLMBackend,
        fallback: ExtractiveStrategy,
        *,
        context: Context = "evidence",
        max_tokens: int = 384,
        temperature: float = 0.1,
        evidence_sentences: int = EVIDENCE_SENTENCES,
        reason: str = "",
    ) -> None:
        self.writer = llm
        self.fallback = fallback
        self.checker = fallback.checker
        self.policy = fallback.policy
        self.context = context
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.evidence_sentences = evidence_sentences
        self.budget = PromptBudget(llm, max_tokens)
        self.reason = reason or f"generative: {llm.describe()} writes from the {context}"

    def describe(self) -> str:
        return f"{self.writer.describe()}, writing from the {self.context}, checked"

    # --- the answer ------------------------------------------------------------------------------

    def answer(self, question: Question, found: Retrieval) -> Iterator[StreamEvent]:
        write = self._from_evidence if self.context == "evidence" else self._from_passages
        try:
            draft = yield from write(question, found)
        except LLMError as exc:
            log.warning("generation failed: %s", exc)
            notice = f"The language model failed ({exc}); showing sentences from the sources."
            yield from self.fallback.answer(question, found, notice=notice)
            return
        if draft is not None and draft.declined:
            notice = (
                "The language model found no answer in the sources; showing the sentences "
                "that best match the question."
            )
            yield from self.fallback.answer(question, found, notice=notice)
            return
        if draft is None or not draft.checked.supported_count:
            notice = (
                "The language model's answer was not supported by the sources; showing "
                "sentences from the sources instead."
            )
            yield from self.fallback.answer(question, found, notice=notice)
            return
        # Repairs are marked on their sentences ("quoted from the source"), not in a banner:
        # the banner is for what a reader must know (a fallback, a failure, nothing found).
        yield AnswerEvent(
            build_answer(
                question, draft.checked, draft.sources, self.describe(), repaired=draft.repaired
            )
        )

    @staticmethod
    def _recited(
        checked: CheckedAnswer, cited: Sequence[Passage], checker: SupportChecker
    ) -> CheckedAnswer:
        """Right words, wrong number: an unsupported sentence that another evidence sentence
        clearly supports cites that one instead (all of them were chosen for the question)."""
        if all(s.supported for s in checked.sentences):
            return checked
        parts = []
        for s in checked.sentences:
            if not s.supported:
                again = check_answer(s.text, cited, checker)  # uncited: best source, if clear
                if again.supported_count:
                    parts.append(again.text)
                    continue
            parts.append(render_sentence(s.text, s.citations))
        return check_answer(" ".join(parts), cited, checker)

    def _from_evidence(
        self, question: Question, found: Retrieval
    ) -> Generator[StreamEvent, None, _Draft | None]:
        """The model reads only the selected sentences and must cite one per sentence; each
        sentence is checked (and repaired) before it is shown."""
        focus = question.focus
        evidence = select_evidence(
            focus,
            found.passages,
            self.fallback.embedder,
            self.evidence_sentences,
            avoid=question.seen,
            reference=found.filters.as_of,
            ranker=self.fallback.ranker,
        )
        if not evidence:
            return None
        cited = [evidence_passage(e) for e in evidence]
        checker = self.checker.remembering()  # each sentence is scored once, however checked
        messages = [
            Message("system", render("evidence_system")),
            Message(
                "user",
                render("evidence_answer", evidence=render_evidence(evidence), question=focus),
            ),
        ]
        stream = self.writer.stream_cited(
            messages,
            len(evidence),
            max_tokens=min(self.max_tokens, EVIDENCE_MAX_TOKENS),
            temperature=self.temperature,
        )
        # What a repair may quote: the sentences the extractive answer would show. A sentence
        # that cited weaker evidence and got it wrong is not replaced by that evidence.
        picks = [
            (i, strip_markers(e.text))
            for i, e in enumerate(evidence, 1)
            if i <= EXTRACTIVE_SENTENCES and e.score >= evidence[0].score - EXTRACTIVE_MARGIN
        ]
        shown: list[str] = []
        repaired = 0
        quoted: list[str] = []  # the sources' words shown for (or beside) the model's
        declined = False
        mapping = {i: e.n for i, e in enumerate(evidence, 1)}
        for sentence in _sentences(stream):
            if _is_no_answer(sentence):
                declined = True
                continue
            checked = self._recited(
                check_answer(_tidy_ending(sentence), cited, checker), cited, checker
            )
            texts, fixed = repair(checked, [p for p in picks if not _shown(p[1], shown)])
            repaired += len(fixed)
            quoted += fixed
            for text in texts:
                if _shown(text, shown):
                    continue
                shown.append(text)
                yield TokenEvent(renumber_markers(text, mapping) + " ")
        if not shown:
            return _Draft(_NOTHING, found.passages, repaired, declined=declined)
        # Never less than the extractive answer: a sentence it would quote that nothing shown
        # cites is added, in the sources' own words (a small model often drops the fact asked
        # for, e.g. the duration, while what it wrote is true).
        used = {n for text in shown for n in _markers_of(text)}
        for i, text in picks:
            quote = render_sentence(as_sentence(text), (i,))
            if i not in used and not _shown(quote, shown):
                shown.append(quote)
                quoted.append(quote)
                yield TokenEvent(renumber_markers(quote, mapping) + " ")
        final = check_answer(" ".join(shown), cited, checker, policy=self.policy)
        final = mark_quoted(final, quoted)
        return _Draft(to_sources(final, evidence, found.passages), found.passages, repaired)

    def _from_passages(
        self, question: Question, found: Retrieval
    ) -> Generator[StreamEvent, None, _Draft | None]:
        """Whole passages, fitted to the context window (least relevant dropped whole); the
        text streams as written, then every sentence is checked and repaired."""
        focus = question.focus
        system = render("system")
        left = self.budget.left(system, render("answer", sources="", question=focus))
        passages = fit_passages(found.passages, left, self.writer.count_tokens) or list(
            found.passages[:1]
        )
        sources = "\n".join(render_source(n, p) for n, p in enumerate(passages, 1))
        messages = [
            Message("system", system),
            Message("user", render("answer", sources=sources, question=focus)),
        ]
        pieces: list[str] = []
        for piece in self.writer.stream(
            messages, max_tokens=self.max_tokens, temperature=self.temperature
        ):
            pieces.append(piece)
            yield TokenEvent(piece)
        text = "".join(pieces).strip()
        if _is_no_answer(text):
            return _Draft(_NOTHING, tuple(passages), 0, declined=True)
        checker = self.checker.remembering()
        checked = check_answer(text, passages, checker)
        picks = [
            (p.n, strip_markers(p.text))
            for p in self.fallback.picks(focus, passages, question.seen)
        ]
        shown, repaired = repair(checked, picks)
        final = check_answer(" ".join(shown), passages, checker, policy=self.policy)
        return _Draft(mark_quoted(final, repaired), tuple(passages), len(repaired))

    # --- conversation ----------------------------------------------------------------------------

    def rewrite(self, question: str, history: Sequence[str]) -> str | None:
        """The LLM's standalone rewrite of a follow-up. Only for models that read whole
        passages: a small model's rewrite costs a second and adds noise, not names."""
        if self.context != "passages":
            return None
        lines = list(history)
        budget = max(256, self.writer.context_window // 4)
        while len(lines) > 1 and self.writer.count_tokens("\n".join(lines)) > budget:
            lines.pop(0)  # trim the oldest turns to the budget
        prompt = render("condense", history="\n".join(lines), question=question)
        try:
            rewrite = (
                self.writer.complete([Message("user", prompt)], max_tokens=64, temperature=0.0)
                .strip()
                .splitlines()
            )
        except LLMError as exc:
            log.warning("condense failed, using the rule: %s", exc)
            return None
        text = rewrite[0].strip() if rewrite else ""
        return text if 0 < len(text) < 300 else None


def _tidy_ending(sentence: str) -> str:
    """'Istanbul. [1].' -> 'Istanbul [1].': one end mark, after the citation."""
    return re.sub(r"\s*([.!?])\s*((?:\[\d{1,2}\]\s*)+)[.!?]?\s*$", r" \2\1", sentence).strip()


def _markers_of(text: str) -> set[int]:
    return {int(n) for n in re.findall(r"\[(\d{1,2})\]", text)}


def _shown(text: str, shown: Sequence[str]) -> bool:
    return any(word_key(text) == word_key(old) for old in shown)


def _is_no_answer(text: str) -> bool:
    return bool(re.match(r"\W*the (?:articles|sources|evidence) do(?:es)? not say", text, re.I))


def _sentences(stream: Iterator[str]) -> Iterator[str]:
    """Complete sentences (with their markers) as soon as the stream finishes each one."""
    buffer = ""
    for piece in stream:
        buffer += piece
        while match := _SENTENCE_DONE.search(buffer):
            yield buffer[: match.end()].strip()
            buffer = buffer[match.end() :]
    if buffer.strip():
        yield buffer.strip()


def create_strategy(
    llm: LLMBackend,
    embedder: Embedder,
    checker: SupportChecker,
    *,
    context: str = "auto",
    policy: Policy = "flag",
    max_tokens: int = 384,
    temperature: float = 0.1,
    reason: str = "",
    ranker: AnswerRanker | None = None,
    short_answers: bool = False,
) -> AnsweringStrategy:
    """The strategy for this backend: extractive when it writes no text, else generative with
    the context the backend reads best (``auto``: evidence sentences for the in-process local
    model, whole passages for a server or OpenAI)."""
    extractive = ExtractiveStrategy(
        embedder,
        checker,
        policy=policy,
        reason=reason,
        ranker=ranker,
        short_answers=short_answers,
    )
    if not llm.generative:
        return extractive
    chosen: Context = (
        ("evidence" if llm.name == "local" else "passages")
        if context == "auto"
        else ("evidence" if context == "evidence" else "passages")
    )
    how = (
        "set by answer_context"
        if context != "auto"
        else (
            "auto: a small in-process model reads the selected sentences"
            if chosen == "evidence"
            else "auto: a server or OpenAI model reads whole passages"
        )
    )
    return GenerativeStrategy(
        llm,
        extractive,
        context=chosen,
        max_tokens=max_tokens,
        temperature=temperature,
        reason=f"{reason}; writes from the {chosen} ({how})" if reason else how,
    )
