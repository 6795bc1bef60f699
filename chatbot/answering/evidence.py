"""Evidence selection: the source sentences that answer what a question asks.

One selection serves every answering strategy: the extractive answer quotes the best sentences,
and a generative answer gets them (numbered) as its whole context. A sentence's score is linear
in features that transfer from one week of news to the next:

- relevance: embedding similarity to the question (and its gap to the best sentence's), the
  share of the question's words and word pairs it contains, and its passage's similarity;
- the answer cue: whether it holds the kind of thing asked for (a number for "how many", a
  duration for "how long", a place for "where", a name for "who" or "which company"...) that the
  question does not already contain. A sentence that only repeats the question's words states
  no answer;
- agreement: whether other reports found for the question repeat its names and words;
- date fit: a sentence about another day than the one asked is about another event; a report
  far from the day asked is less likely about it;
- form: its passage's rank, its place in the passage, its length, whether it is a question.

The weights are fitted (``WEIGHTS``), except one set from what its feature means
(``FIXED_WEIGHTS``). The cheap features pick a shortlist; the answer ranker (a cross-encoder
trained on public news quizzes, :mod:`.answer_ranker`, opt-in: ``CHATBOT_RANKER_MODEL``)
orders it; without it (or when its weights cannot be read) the fitted score with the
embedding features does.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Collection, Container, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from chatbot.common.furniture import quotable_spans
from chatbot.index.keyword_index import keyword_tokens
from chatbot.models.embeddings import Embedder
from chatbot.vocabulary import Passage

if TYPE_CHECKING:
    from chatbot.models.answer_ranker import AnswerRanker
    from chatbot.models.cross_encoder import SpanGuess

# Sentences the embedder re-scores after the cheap shortlist (the transformer pass is most of an
# extractive answer's time). Eight keep a third sentence's candidates: 6 held out one answer
# fewer, 10 none more at +25 ms.
SHORTLIST = 8
# With the answer ranker: sentences it reads after the cheap shortlist. `evals.ranker_use`: 6
# and 10 held out fewer answers than 8, 12 and 16 fewer still, at ~25 ms more per sentence.
RANKED_SHORTLIST = 8
# The score of a shortlisted sentence with the ranker: its logit at temperature 2 (and the fixed
# weights). It was trained as a softmax over groups of 8 sentences, sharper than the log-odds
# the margin and the repeat penalty are written in; halved, a second sentence passes the
# margin where the ranker is unsure. `evals.ranker_use`, answers holding the gold on the
# held-out weeks / dev: T 1 0.626 / 0.545, T 2 0.650 / 0.580, T 4 0.675 / 0.562 (0.3 more
# sentences); the fitted features 0.593 / 0.607 (fitted on dev); the features' score added to
# the ranker's 0.602 / 0.616 at T 2.
RANKED_WEIGHTS: dict[str, float] = {"ranker": 0.5}
# A linear score over the features below, fitted as a softmax over each question's sentences
# (which one states the answer) by `python -m evals.answer_quality --fit` on realtimeqa-dev,
# its L2 strength chosen by cross-validation across weeks. Scores are log-odds between
# sentences of one question: a margin of ln 2 keeps a second sentence at least half as likely.
WEIGHTS: dict[str, float] = {
    "age": -0.0627,
    "bigrams": 0.8185,
    "cosine": 0.9745,
    "cosine_gap": 0.9897,
    "cue": 0.5675,
    "cue_exact": 0.7749,
    "date": 1.0817,
    "length": 0.1315,
    "names": 0.4789,
    "names_elsewhere": 0.3876,
    "no_news": 1.5441,
    "overlap": 0.875,
    "passage_cosine": 0.5399,
    "passage_rank": 0.3392,
    "question": -0.2034,
    "sentence_rank": 0.3968,
    "words_elsewhere": 0.3099,
}
LIKELY_ALTERNATIVE = math.log(2)
# Set from what the feature means, not fitted: few dev questions name a day, but a sentence about
# another day than the one asked is about another event (ten times less likely to answer it),
# and "today" in a report of that day is about it.
FIXED_WEIGHTS: dict[str, float] = {"day_asked": math.log(10)}
# A further sentence whose new words an earlier pick already said is worth half as much (in the
# same log-odds as the margin): it tells the reader little new. Chosen by cross-validation across
# weeks against no penalty and 1 (as many answers held out, 0.14 fewer sentences per answer).
REPEAT_PENALTY = math.log(2)
# Two sentences say the same thing when most of their words are shared (Jaccard of word sets).
# Word sets rather than MiniLM vectors, so that the ranked path need not embed its shortlist
# (about 150 ms on 2 cores); on the dev shortlists 0.8 agrees best with cosine >= 0.9, the
# earlier test (32 pairs both, 10 cosine only, 6 words only, of 7,560).
NEAR_DUPLICATE = 0.8
_SIMILARITY_FEATURES = ("cosine", "cosine_gap")
_EXACT_KINDS = ("duration", "number", "date")
_AGE_UNKNOWN_DAYS = 30.0
W_PRESENT = 0.05  # date_fit: undated questions ask about the news, not the background

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


_QUALIFIER = re.compile(
    r"(?:more than|less than|fewer than|nearly|about|almost|over|at least|up to|roughly|some)\s+$",
    re.I,
)
_AMOUNT = re.compile(
    rf"[$€£]?\d[\d,.]*(?:%| ?percent| (?:million|billion|trillion|thousand))?|"
    rf"\b(?:{_NUMBER_WORDS})\b(?: (?:million|billion|thousand|percent))?",
    re.I,
)
# The kinds whose answer rules can find: a short answer of these kinds must be one of them.
TYPED_KINDS = frozenset({"duration", "number", "date", "place", "person"})


def kind_spans(asked: Asked, sentence: str) -> list[tuple[int, int]]:
    """Character spans of ``sentence`` that state an answer of the kind asked and say
    something the question does not (the answer cue's rules, as spans): durations with their
    qualifier ("more than six hours"), amounts, dates, places after a preposition, names."""
    kind = asked.kind
    found: list[tuple[int, int]] = []
    if kind == "duration":
        found = [m.span() for m in _DURATION.finditer(sentence)]
    elif kind == "number":
        found = [m.span() for m in _AMOUNT.finditer(sentence) if not _YEAR.fullmatch(m.group())]
    elif kind == "date":
        found = [m.span() for m in _MONTH_DAY.finditer(sentence)]
        found += [
            m.span()
            for m in _DATEISH.finditer(sentence)
            if not any(s <= m.start() < e for s, e in found)
        ]
    elif kind == "place":
        found = [m.span(1) for m in _PLACE.finditer(sentence)]
    elif kind == "person":
        found = [
            m.span()
            for m in _CAPITALISED.finditer(sentence)
            if " " in m.group() and m.group().split()[0] not in _LEADS
        ]
    out = []
    for s, e in found:
        qualifier = _QUALIFIER.search(sentence, 0, s)
        if qualifier and qualifier.end() == s and kind in ("duration", "number"):
            s = qualifier.start()
        if _new(sentence[s:e], asked):
            out.append((s, e))
    return out


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
    span in that passage's text, and its score (less what it repeats of earlier picks). With
    the answer ranker: ``likelihood``, its share of the ranker's softmax over the shortlist
    (how sure the ranker is that this sentence answers), and ``answer``, the words of ``text``
    its span head marks as the answer."""

    n: int
    text: str
    start: int
    end: int
    score: float
    passage: Passage
    likelihood: float = 0.0
    answer: SpanGuess | None = None


@dataclass(frozen=True)
class Candidate:
    """A sentence that could be quoted, with its features (the cheap ones: cosine and
    cosine_gap need the embedder and are added for the shortlist)."""

    n: int
    start: int
    end: int
    text: str
    features: dict[str, float]
    passage: Passage


def _share_elsewhere(
    items: Collection[str], reports: Sequence[Container[str]], best: bool
) -> float:
    """The share of the found reports that mention ``items`` (the best item's, or the mean):
    the answer to a question about the news is what several reports of it repeat."""
    if not items or not reports:
        return 0.0
    shares = [sum(item in r for r in reports) / len(reports) for item in items]
    return max(shares) if best else sum(shares) / len(shares)


def candidates(
    asked: Asked, passages: Sequence[Passage], reference: datetime | None = None
) -> list[Candidate]:
    """Every sentence of the passages that could be quoted, with its cheap features."""
    exact = asked.kind in _EXACT_KINDS
    day_named = bool(asked.days or asked.weekdays)
    question_pairs = _pairs(keyword_tokens(asked.text))
    # Per article, not per passage: two paragraphs of one report are not two reports.
    reports: dict[str, list[str]] = {}
    for p in passages:
        reports.setdefault(p.article_id, [p.title]).append(p.text)
    texts = [" ".join(parts) for parts in reports.values()]
    token_sets = [set(keyword_tokens(t)) for t in texts]
    if reference is None:
        reference = max((p.published_at for p in passages if p.published_at), default=None)
    found: list[Candidate] = []
    for n, p in enumerate(passages, 1):
        age = _AGE_UNKNOWN_DAYS
        if reference is not None and p.published_at is not None:
            age = abs((reference - p.published_at).total_seconds()) / 86400
        for rank, (s, e) in enumerate(quotable_spans(p.text)):
            text = p.text[s:e]
            if len(text) < 25 or len(text) > 600:
                continue
            token_list = keyword_tokens(text)
            tokens = set(token_list)
            novel = tokens - asked.terms
            names = [name for name in _names(text) if _new(name, asked)]
            cue = answer_cue(asked, text)
            fit = date_fit(asked, text, p)
            features = {
                "overlap": len(asked.terms & tokens) / (len(asked.terms) or 1),
                "bigrams": len(question_pairs & _pairs(token_list)) / (len(question_pairs) or 1),
                "cue": cue,
                "cue_exact": cue if exact else 0.0,
                # Present or past news for a question that names no day; the day asked for one
                # that does.
                "date": 0.0 if day_named else fit,
                "day_asked": float((fit > 0) - (fit < 0)) if day_named else 0.0,
                "no_news": 1.0 if len(novel) / (len(tokens) or 1) < 0.3 else 0.0,
                "passage_rank": 1.0 / n,
                "sentence_rank": 1.0 / (rank + 1),
                "question": 1.0 if text.rstrip().endswith("?") else 0.0,
                "length": math.log(len(text)),
                "names": min(len(names), 5) / 5,
                "names_elsewhere": _share_elsewhere(names, texts, best=True),
                "words_elsewhere": _share_elsewhere(novel, token_sets, best=False),
                "age": math.log1p(age),
                "passage_cosine": p.score,
            }
            found.append(Candidate(n, s, e, text, features, p))
    return found


def _pairs(tokens: Sequence[str]) -> set[tuple[str, str]]:
    return set(itertools.pairwise(tokens))


def score(features: dict[str, float], weights: dict[str, float]) -> float:
    return sum(
        weights.get(name, FIXED_WEIGHTS.get(name, 0.0)) * value for name, value in features.items()
    )


def with_cosines(pool: Sequence[Candidate], cosines: Sequence[float]) -> list[Candidate]:
    """The shortlist with its similarity features added."""
    best = max(cosines, default=0.0)
    return [
        replace(c, features={**c.features, "cosine": cos, "cosine_gap": cos - best})
        for c, cos in zip(pool, cosines, strict=True)
    ]


def _repeated(words: set[str], novel: Sequence[set[str]], chosen: Sequence[int]) -> float:
    """The largest share of ``words`` that one chosen sentence already added."""
    if not chosen:
        return 0.0
    if not words:
        return 1.0
    return max(len(words & novel[j]) / len(words) for j in chosen)


def select_evidence(
    question: str,
    passages: Sequence[Passage],
    embedder: Embedder,
    count: int,
    *,
    margin: float | None = None,
    avoid: Sequence[str] = (),
    shortlist: int | None = None,
    reference: datetime | None = None,
    weights: dict[str, float] | None = None,
    repeat_penalty: float = REPEAT_PENALTY,
    ranker: AnswerRanker | None = None,
    ranked_weights: dict[str, float] | None = None,
) -> list[Evidence]:
    """Up to ``count`` distinct sentences that best answer ``question``, best first. With
    ``margin`` (in log-odds), only those scoring within it of the best; sentences found in
    ``avoid`` (earlier answers of the conversation) only when nothing else is left. After the
    first, a sentence's score loses ``repeat_penalty`` times the share of its new words that an
    earlier pick already said. ``reference`` is the day the question is asked as of (default:
    the newest passage). With ``ranker``, the shortlist (``shortlist``, default
    ``RANKED_SHORTLIST``) is scored with ``ranked_weights`` over the features and its score;
    when its weights cannot be read, as without it (``SHORTLIST``, fitted ``weights``)."""
    weights = WEIGHTS if weights is None else weights
    if ranker is not None and not ranker.ready():
        ranker = None  # its weights are unusable (logged once, naming the file)
    if shortlist is None:
        shortlist = SHORTLIST if ranker is None else RANKED_SHORTLIST
    asked = analyse(question)
    pool = candidates(asked, passages, reference)
    said = [word_key(old) for old in avoid]
    fresh = [c for c in pool if not any(word_key(c.text) in old for old in said)]
    pool = fresh or pool
    # The cheap features shortlist (the transformer pass is most of an extractive answer's
    # time): a paraphrase shares few words with the question, but the answer cue, the other
    # reports and the date still find it.
    pool.sort(key=lambda c: score(c.features, weights), reverse=True)
    pool = pool[:shortlist]
    if not pool:
        return []
    reading = ranker.reading(question, [(c.text, c.passage) for c in pool]) if ranker else None
    logits, spans = reading if reading is not None else (None, [None] * len(pool))
    likelihoods = [0.0] * len(pool)
    if logits:
        top = max(logits)
        exps = [math.exp(x - top) for x in logits]
        likelihoods = [x / sum(exps) for x in exps]
    final = (
        weights
        if logits is None
        else (RANKED_WEIGHTS if ranked_weights is None else ranked_weights)
    )
    scored = pool
    if any(final.get(name) for name in _SIMILARITY_FEATURES):
        vectors = embedder.embed([question] + [c.text for c in pool])
        scored = with_cosines(pool, [float(x) for x in vectors[1:] @ vectors[0]])
    if logits is None:
        values = [score(c.features, final) for c in scored]
    else:
        values = [
            score({**c.features, "ranker": r}, final) for c, r in zip(scored, logits, strict=True)
        ]
    keys = [word_key(c.text) for c in pool]
    words = [set(k.split()) for k in keys]
    novel = [set(keyword_tokens(c.text)) - asked.terms for c in pool]
    picks: list[Evidence] = []
    chosen: list[int] = []
    seen: set[str] = set()
    left = sorted(range(len(pool)), key=lambda i: values[i], reverse=True)
    while left and len(picks) < count:
        # After the first, a sentence is worth what it adds: one that repeats the words an
        # earlier pick already added tells the reader little new.
        adjusted = {
            i: values[i] - repeat_penalty * _repeated(novel[i], novel, chosen) for i in left
        }
        i = max(left, key=adjusted.__getitem__)  # the first of equals: the better unadjusted
        left.remove(i)
        c, key = pool[i], keys[i]
        # The same sentence again, or another outlet's copy of it, tells the reader nothing new.
        if key in seen or any(
            len(words[i] & words[j]) >= NEAR_DUPLICATE * len(words[i] | words[j]) for j in chosen
        ):
            continue
        if margin is not None and picks and adjusted[i] < picks[0].score - margin:
            break
        seen.add(key)
        chosen.append(i)
        picks.append(
            Evidence(c.n, c.text, c.start, c.end, adjusted[i], c.passage, likelihoods[i], spans[i])
        )
    return picks
