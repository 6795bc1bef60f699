"""Extractive answering: the source sentences that best answer a question, no LLM involved."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from chatbot.embeddings import Embedder
from chatbot.keyword_index import keyword_tokens
from chatbot.models import Passage
from chatbot.text import sentence_spans

# Sentences the embedder re-scores after the cheap shortlist. On realtimeqa-dev (112 questions)
# answers contained the gold answer as often with 8 as with 24 (0.45 both), in half the time
# (p50 ~150 vs 334 ms): the transformer pass is most of an extractive answer's time.
_SHORTLIST = 8
_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_MONTH_DAY = re.compile(rf"\b({_MONTHS})\s+(\d{{1,2}})\b", re.I)
_NUMBER = re.compile(
    r"\b\d[\d,.]*\b|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|"
    r"dozen|hundred|thousand|million|billion)\b",
    re.I,
)
_DATEISH = re.compile(
    rf"\b(?:{_MONTHS}|monday|tuesday|wednesday|thursday|friday|saturday|"
    r"sunday|today|yesterday|\d{4})\b",
    re.I,
)
_YEAR = re.compile(r"\b(19\d\d|20\d\d)\b")
_TODAY = re.compile(r"\b(?:today|tonight|this morning|this afternoon)\b", re.I)
_PLACE = re.compile(r"\b(?:in|at|near|from)\s+(?:the\s+)?([A-Z][\w'-]+)")
_NAME = re.compile(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+\b")


@dataclass(frozen=True)
class Pick:
    n: int  # 1-based number of the passage in the given list
    text: str
    score: float
    passage: Passage


def _answer_type(question: str) -> str:
    q = question.lower()
    if re.search(r"\bhow (many|much)\b|\bwhat (number|percentage|share)\b", q):
        return "number"
    if re.search(r"\bwhen\b|\bwhat (date|day|year|time)\b", q):
        return "date"
    if re.search(r"\bwhere\b|\bwhich (city|country|place)\b", q):
        return "place"
    if re.search(r"\bwho\b|\bwhom\b", q):
        return "name"
    return ""


def _type_bonus(kind: str, sentence: str, question: str) -> float:
    """Does the sentence contain the kind of thing the question asks for (beyond its words)?"""
    if kind == "number":
        return 0.1 if _NUMBER.search(sentence) else 0.0
    if kind == "date":
        return 0.1 if _DATEISH.search(sentence) else 0.0
    if kind == "place":
        places = {m.lower() for m in _PLACE.findall(sentence)} - set(question.lower().split())
        return 0.1 if places else 0.0
    if kind == "name":
        names = {m for m in _NAME.findall(sentence) if m.lower() not in question.lower()}
        return 0.1 if names else 0.0
    return 0.0


def _date_fit(question: str, sentence: str, passage: Passage) -> float:
    """When the question names a day: a sentence about another day or year is about another
    event; "today" in an article published that day is about the day asked."""
    asked = {(m.lower(), int(d)) for m, d in _MONTH_DAY.findall(question)}
    if not asked:
        return 0.0
    said = {(m.lower(), int(d)) for m, d in _MONTH_DAY.findall(sentence)}
    if said and not said & asked:
        return -0.15
    published = passage.published_at
    if published is not None:
        years = {int(y) for y in _YEAR.findall(sentence)}
        if years and published.year not in years:
            return -0.1
        day = (published.strftime("%B").lower(), published.day)
        if day in asked and _TODAY.search(sentence):
            return 0.1
    return 0.0


def best_sentences(
    query: str,
    passages: Sequence[Passage],
    embedder: Embedder,
    count: int,
    margin: float | None = None,
    avoid: Sequence[str] = (),
) -> list[Pick]:
    """Up to ``count`` distinct sentences, best first; with ``margin``, only those scoring
    within it of the best; sentences found in ``avoid`` (earlier answers) only when nothing else
    is left. Lexical overlap shortlists cheaply; the embedder, answer-type cues and date
    conflicts decide."""
    q_tokens = set(keyword_tokens(query))
    kind = _answer_type(query)
    candidates: list[tuple[float, float, int, str, Passage]] = []
    for n, p in enumerate(passages, 1):
        for rank, (s, e) in enumerate(sentence_spans(p.text)):
            text = p.text[s:e]
            if len(text) < 25 or len(text) > 600 or any(text in old for old in avoid):
                continue
            overlap = len(q_tokens & set(keyword_tokens(text))) / (len(q_tokens) or 1)
            # Earlier passages and sentences are likelier answers; never enough to decide alone.
            prior = 0.05 / n + 0.02 / (rank + 1)
            cues = _type_bonus(kind, text, query) + _date_fit(query, text, p)
            candidates.append((overlap + prior, cues, n, text, p))
    # The cheap cues shortlist too: a paraphrase shares few words with the question.
    candidates.sort(key=lambda c: c[0] + c[1], reverse=True)
    shortlist = candidates[:_SHORTLIST]
    if not shortlist:
        return best_sentences(query, passages, embedder, count, margin) if avoid else []
    vectors = embedder.embed([query] + [c[3] for c in shortlist])
    sims = vectors[1:] @ vectors[0]
    scored = sorted(
        (
            (0.7 * float(sim) + 0.3 * lexical + cues, n, text, p)
            for sim, (lexical, cues, n, text, p) in zip(sims, shortlist, strict=True)
        ),
        key=lambda t: t[0],
        reverse=True,
    )
    picks: list[Pick] = []
    seen: set[str] = set()
    for score, n, text, p in scored:
        key = re.sub(r"\W+", " ", text.lower()).strip()
        if key in seen:
            continue
        if margin is not None and picks and score < picks[0].score - margin:
            break
        seen.add(key)
        picks.append(Pick(n, text, score, p))
        if len(picks) == count:
            break
    return picks
