"""Evidence selection: the source sentences that answer what a question asks.

One selection serves every answering strategy: the extractive answer quotes the best sentences,
and a generative answer gets them (numbered) as its whole context. A sentence is scored by

- relevance: embedding similarity to the question and the share of its words it contains;
- the answer cue: whether it holds the kind of thing asked for (a number for "how many", a
  duration for "how long", a place for "where", a name for "who" or "which company"...) that the
  question does not already contain. A sentence that only repeats the question's words states
  no answer, so the cue outweighs word overlap;
- date fit: a sentence about another day than the one asked is about another event.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from chatbot.common.text import sentence_spans
from chatbot.index.embeddings import Embedder
from chatbot.index.keyword_index import keyword_tokens
from chatbot.vocabulary import Passage

# Sentences the embedder re-scores after the cheap shortlist (the transformer pass is most of an
# extractive answer's time).
SHORTLIST = 10
# Weights of the score, checked by cross-validation across the weeks of realtimeqa-dev
# (python -m evals.answer_quality --tune): names and places 0.15 won on every fold; for exact
# kinds 0.15 and 0.35 were within one question of each other over all 112, and 0.35 follows
# from what the cue means (a "how long" question is not answered without a duration).
W_COSINE = 0.7
W_OVERLAP = 0.3
W_CUE = 0.15  # names and places: capitalised words are a noisy sign of them
W_CUE_EXACT = 0.35  # durations, numbers, dates: a sentence without one cannot answer
W_NO_NEWS = 0.1  # a sentence with (almost) nothing the question does not already say
W_PRESENT = 0.05  # undated questions ask about the news, not the background

_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_WEEKDAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_MONTH_DAY = re.compile(rf"\b({_MONTHS})\s+(\d{{1,2}})\b", re.I)
_WEEKDAY = re.compile(rf"\b({_WEEKDAYS})\b", re.I)
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|hundreds?|"
    "thousands?|millions?|billions?|trillions?|half|a third|a quarter"
)
_NUMBER = re.compile(rf"(?<![\w.])(?:\d[\d,.]*%?|{_NUMBER_WORDS})(?![\w])", re.I)
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
_UNITS = "seconds?|minutes?|hours?|days?|nights?|weeks?|months?|years?|decades?|centuries"
_DURATION = re.compile(
    rf"\b(?:\d[\d,.]*|{_NUMBER_WORDS}|several|a few|a|an)[\s-]+(?:{_UNITS})\b|"
    rf"\b(?:{_UNITS})-long\b",
    re.I,
)
_DATEISH = re.compile(
    rf"\b(?:{_MONTHS}|{_WEEKDAYS}|today|tonight|yesterday|tomorrow|this (?:week|month|year)|"
    r"last (?:week|month|year|night)|earlier (?:today|this week)|(?:1[89]|20)\d\d)\b",
    re.I,
)
_TODAY = re.compile(r"\b(?:today|tonight|this morning|this afternoon)\b", re.I)
_PLACE = re.compile(
    r"\b(?:in|at|near|from|to|into|outside|across|inside|off)\s+(?:the\s+)?"
    r"([A-Z][\w'’.-]+(?:\s+[A-Z][\w'’-]+)*)"
)
_CAPITALISED = re.compile(r"[A-Z][\w'’-]*(?:\s+(?:of\s+|the\s+|de\s+)?[A-Z][\w'’-]*)*")
_QUOTED = re.compile(r"[\"“]([^\"”]{2,60})[\"”]")
_REASON = re.compile(
    r"\b(?:because|due to|after|amid|over|citing|in response to|following|in order to|"
    r"so that|since|as a result|accus\w+|for)\b",
    re.I,
)
_WORD = re.compile(r"[\w'’-]+")
_CALENDAR = frozenset(f"{_MONTHS}|{_WEEKDAYS}|on|in|at|by|the|a|an".split("|"))
_LEADS = frozenset("The A An On In At By He She It They We This That Meanwhile But And".split())
_PAST = re.compile(
    rf"\b(?:(?:in|on|since|between|during|from) (?:{_MONTHS}|(?:1[89]|20)\d\d)|last (?:year|"
    r"month)|years? ago|months ago|previously|earlier this (?:year|month))\b",
    re.I,
)
_PRESENT = re.compile(
    r"\b(?:today|tonight|this (?:week|morning|afternoon)|on (?:monday|"
    r"tuesday|wednesday|thursday|friday|saturday|sunday))\b",
    re.I,
)

_PLACE_NOUNS = (
    "city|cities|country|countries|nation|state|states|place|town|village|region|province|"
    "island|continent|capital|county|territory|location|venue|airport|port|border|sea|river|"
    "mountain|volcano|park|stadium|site"
)
_PERSON_NOUNS = (
    "person|man|woman|people|player|president|leader|figure|actor|actress|singer|star|"
    "politician|official|minister|senator|candidate|ceo|founder|author|artist|athlete|"
    "celebrity|member|judge|coach|rapper|musician|director|journalist|presenter|host|footballer"
)


@dataclass(frozen=True)
class Asked:
    """What a question asks for: the kind of answer, and what it already says."""

    text: str
    kind: str  # number | duration | date | place | person | entity | reason | ""
    terms: frozenset[str]  # its keyword tokens (what word overlap is measured on)
    words: frozenset[str]  # its words, lower-cased: what an answer must add to
    days: frozenset[tuple[str, int]]  # "February 27" -> ("february", 27)
    weekdays: frozenset[str]


def analyse(question: str) -> Asked:
    q = question.lower()
    kind = ""
    if re.search(rf"\bhow long\b|\bhow many (?:{_UNITS})\b|\bfor how\b", q):
        kind = "duration"
    elif re.search(
        r"\bhow (?:many|much|old|far|high|big|tall|fast)\b|"
        r"\bwhat (?:number|percentage|percent|share|proportion|amount|price|age|sum|total)\b",
        q,
    ):
        kind = "number"
    elif re.search(r"\bwhen\b|\b(?:what|which) (?:date|day|year|month|time)\b|\bwhat time\b", q):
        kind = "date"
    elif re.search(rf"\bwhere\b|\b(?:which|what) (?:\w+ )?(?:{_PLACE_NOUNS})\b|\bin which\b", q):
        kind = "place"
    elif re.search(rf"\bwho(?:m|se)?\b|\b(?:which|what) (?:\w+ )?(?:{_PERSON_NOUNS})\b", q):
        kind = "person"
    elif re.search(r"\bwhy\b|\bwhat (?:reason|caused|prompted|led)\b|\bwhich reason\b", q):
        kind = "reason"
    elif re.search(r"\bwhich\b|\bwhat (?:is|was|were|are) the names?\b|\bnamed?\b", q):
        kind = "entity"
    return Asked(
        text=question,
        kind=kind,
        terms=frozenset(keyword_tokens(question)),
        words=frozenset(w.lower() for w in _WORD.findall(question)),
        days=frozenset((m.lower(), int(d)) for m, d in _MONTH_DAY.findall(question)),
        weekdays=frozenset(w.lower() for w in _WEEKDAY.findall(question)),
    )


def _new(phrase: str, asked: Asked) -> bool:
    """Does ``phrase`` add a word the question does not contain?"""
    return any(w.lower() not in asked.words for w in _WORD.findall(phrase))


def _names(sentence: str) -> list[str]:
    """Capitalised words and runs of them, except a lone sentence-initial word ("The", "He")
    and calendar words ("On February", "Monday")."""
    found = []
    for match in _CAPITALISED.finditer(sentence):
        words = [w for w in match.group().split() if w.lower() not in _CALENDAR]
        if match.start() == 0 and words and words[0] == match.group().split()[0]:
            words = words[1:] if len(words) == 1 or words[0] in _LEADS else words
        if words:
            found.append(" ".join(words))
    return found


def answer_cue(asked: Asked, sentence: str) -> float:
    """1.0 when ``sentence`` holds something of the kind asked for that the question lacks (0.5
    for weaker signs of it), else 0.0."""
    kind = asked.kind
    if kind == "duration":
        if any(_new(m.group(), asked) for m in _DURATION.finditer(sentence)):
            return 1.0
        return 0.5 if any(_new(m.group(), asked) for m in _NUMBER.finditer(sentence)) else 0.0
    if kind == "number":
        numbers = [m.group() for m in _NUMBER.finditer(sentence) if not _YEAR.fullmatch(m.group())]
        return 1.0 if any(_new(n, asked) for n in numbers) else 0.0
    if kind == "date":
        return 1.0 if any(_new(m.group(), asked) for m in _DATEISH.finditer(sentence)) else 0.0
    if kind == "place":
        if any(_new(p, asked) for p in _PLACE.findall(sentence)):
            return 1.0
        return 0.5 if any(_new(n, asked) for n in _names(sentence)) else 0.0
    if kind == "person":
        names = [n for n in _names(sentence) if _new(n, asked)]
        if any(" " in n for n in names):
            return 1.0
        return 0.5 if names else 0.0
    if kind == "entity":
        if any(_new(n, asked) for n in _names(sentence)) or any(
            _new(q, asked) for q in _QUOTED.findall(sentence)
        ):
            return 1.0
        return 0.0
    if kind == "reason":
        return 1.0 if _REASON.search(sentence) else 0.0
    return 0.0


def date_fit(asked: Asked, sentence: str, passage: Passage) -> float:
    """When the question names a day: a sentence about another day or year is about another
    event; "today" in an article published that day is about the day asked. When it names no
    day, it asks about the news itself: what happened "today" or "on Thursday" outweighs the
    background an article recalls ("In October 2023 ...", "On February 18 ...")."""
    if not asked.days and not asked.weekdays and not _YEAR.search(asked.text):
        if _PRESENT.search(sentence):
            return W_PRESENT
        return -W_PRESENT if _PAST.search(sentence) else 0.0
    if asked.weekdays:
        said = {w.lower() for w in _WEEKDAY.findall(sentence)}
        if said and not said & asked.weekdays:
            return -0.1
    if not asked.days:
        return 0.0
    said_days = {(m.lower(), int(d)) for m, d in _MONTH_DAY.findall(sentence)}
    if said_days and not said_days & asked.days:
        return -0.15
    published = passage.published_at
    if published is not None:
        years = {int(y) for y in _YEAR.findall(sentence)}
        if years and published.year not in years:
            return -0.1
        day = (published.strftime("%B").lower(), published.day)
        if day in asked.days and _TODAY.search(sentence):
            return 0.1
    return 0.0


def word_key(text: str) -> str:
    """Text compared as words: case, punctuation and citation markers aside."""
    return re.sub(r"\W+", " ", re.sub(r"\[\d+\]", " ", text).lower()).strip()


@dataclass(frozen=True)
class Evidence:
    """One selected sentence: the passage it comes from (1-based ``n`` in the given list), its
    span in that passage's text, and its score."""

    n: int
    text: str
    start: int
    end: int
    score: float
    passage: Passage


@dataclass(frozen=True)
class _Candidate:
    n: int
    start: int
    end: int
    text: str
    overlap: float
    prior: float
    cue: float  # already weighted by how reliable the cue of this kind is
    date: float
    no_news: float
    passage: Passage

    @property
    def cheap(self) -> float:
        return W_OVERLAP * self.overlap + self.prior + self.cue + self.date

    def score(self, cosine: float) -> float:
        return (
            W_COSINE * cosine
            + W_OVERLAP * self.overlap
            + self.prior
            + self.cue
            + self.date
            - W_NO_NEWS * self.no_news
        )


def candidates(asked: Asked, passages: Sequence[Passage]) -> list[_Candidate]:
    """Every sentence of the passages that could be quoted, with its cheap features."""
    weight = W_CUE_EXACT if asked.kind in ("duration", "number", "date") else W_CUE
    found: list[_Candidate] = []
    for n, p in enumerate(passages, 1):
        for rank, (s, e) in enumerate(sentence_spans(p.text)):
            text = p.text[s:e]
            if len(text) < 25 or len(text) > 600:
                continue
            tokens = set(keyword_tokens(text))
            overlap = len(asked.terms & tokens) / (len(asked.terms) or 1)
            novel = len(tokens - asked.terms) / (len(tokens) or 1)
            found.append(
                _Candidate(
                    n=n,
                    start=s,
                    end=e,
                    text=text,
                    overlap=overlap,
                    # Earlier passages and sentences are likelier answers; never enough alone.
                    prior=0.05 / n + 0.02 / (rank + 1),
                    cue=weight * answer_cue(asked, text),
                    date=date_fit(asked, text, p),
                    no_news=1.0 if novel < 0.3 else 0.0,
                    passage=p,
                )
            )
    return found


def select_evidence(
    question: str,
    passages: Sequence[Passage],
    embedder: Embedder,
    count: int,
    *,
    margin: float | None = None,
    avoid: Sequence[str] = (),
    shortlist: int = SHORTLIST,
) -> list[Evidence]:
    """Up to ``count`` distinct sentences that best answer ``question``, best first. With
    ``margin``, only those scoring within it of the best; sentences found in ``avoid`` (earlier
    answers of the conversation) only when nothing else is left."""
    asked = analyse(question)
    pool = candidates(asked, passages)
    said = [word_key(old) for old in avoid]
    fresh = [c for c in pool if not any(word_key(c.text) in old for old in said)]
    pool = fresh or pool
    # The cheap features shortlist: a paraphrase shares few words with the question, but the
    # answer cue and the date still find it.
    pool.sort(key=lambda c: c.cheap, reverse=True)
    pool = pool[:shortlist]
    if not pool:
        return []
    vectors = embedder.embed([question] + [c.text for c in pool])
    cosines = vectors[1:] @ vectors[0]
    scored = sorted(
        zip((c.score(float(cos)) for c, cos in zip(pool, cosines, strict=True)), pool, strict=True),
        key=lambda t: t[0],
        reverse=True,
    )
    picks: list[Evidence] = []
    seen: set[str] = set()
    for score, c in scored:
        key = word_key(c.text)
        if key in seen:
            continue
        if margin is not None and picks and score < picks[0].score - margin:
            break
        seen.add(key)
        picks.append(Evidence(c.n, c.text, c.start, c.end, score, c.passage))
        if len(picks) == count:
            break
    return picks
