"""The support checker: how well an evidence text supports a claim.

:class:`SupportChecker` scores support in [0, 1], points at the evidence sentence(s) that support
a claim best and says why ("contradicts the source: 41 vs 14"). ``threshold`` (default 0.5)
separates supported from unsupported.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from chatbot.answering import support_features
from chatbot.answering.prompting import neutralise, render
from chatbot.common.furniture import quotable_spans
from chatbot.common.markers import MARKER, tidy_sentence
from chatbot.common.text import sentence_spans
from chatbot.llm.base import LLMBackend, LLMError, Message
from chatbot.models.embeddings import Embedder
from chatbot.models.support_model import SupportModel, windows

log = logging.getLogger(__name__)

Method = Literal["embedding", "lexical", "hybrid", "llm", "trained"]

_STOP = frozenset(
    """a about above after again against all almost along already also although always am among
    an and another any are around as at away be became because become been before being below
    between both but by can could did do does doing done down during each either else even ever
    every few for from further get gets got had has have having he her here hers herself him
    himself his how however i if in including into is it its itself just least less like made make
    makes many may me might more most much must my myself near neither no nor not now of off often
    on once only onto or other others our ours ourselves out over own per rather said same say
    saying says she should since so some such than that the their theirs them themselves then there
    these they this those though through thus to told too toward towards under until up upon us
    very via was we well were what whatever when where whether which while who whom whose why will
    with within without would yet you your yours yourself according added asked stated""".split()
    # Penn Treebank bracket tokens, common in summarisation data: "-LRB- CNN -RRB-".
    + "lrb rrb lsb rsb lcb rcb".split()
)
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
} | {
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "sixty": "60",
    "seventy": "70",
    "eighty": "80",
    "ninety": "90",
    "hundred": "100",
    "hundreds": "100",
    "thousand": "1000",
    "thousands": "1000",
    "dozen": "12",
    "dozens": "12",
}
# Numbers (1,000 / 5.9 / 150th / 70bn) or runs of letters (any script), apostrophes inside words.
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*(?:[^\W\d_]{1,2}(?![^\W\d_]))?|[^\W\d_]+(?:['’][^\W\d_]+)*")
_BULLET = re.compile(r"^\s*(?:[-*•>]+|\d{1,2}[.)]|#+)\s+")


def word_stem(word: str) -> str:
    """A light suffix stripper: enough to match said/says, guards/guard, robbed/robbery."""
    if len(word) <= 4:
        return word
    if word.endswith("ies") and len(word) > 5:
        return word[:-3] + "y"
    if word.endswith("ss"):
        return word
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def _number(token: str) -> str:
    """'1,000' -> '1000', '5.50' -> '5.5', '150th' -> '150', '70bn' -> '70'."""
    token = re.sub(r"[^\d.,]+$", "", token).replace(",", "")
    if "." in token:
        token = token.rstrip("0").rstrip(".")
    return token.lstrip("0") or "0"


@dataclass
class _Lexicon:
    """What a text offers as lexical evidence: stems (indexed by prefix) and numbers."""

    stems: set[str] = field(default_factory=set)
    by_prefix: dict[str, set[str]] = field(default_factory=dict)
    numbers: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, text: str) -> _Lexicon:
        lex = cls()
        for token in _TOKEN.findall(text.lower()):
            token = re.sub(r"['’]s$", "", token)
            if token[0].isdigit():
                lex.numbers.add(_number(token))
            else:
                if token in _NUMBER_WORDS:
                    lex.numbers.add(_NUMBER_WORDS[token])
                stem = word_stem(token)
                lex.stems.add(stem)
                lex.by_prefix.setdefault(stem[:4], set()).add(stem)
        return lex

    def has(self, stem: str) -> bool:
        """Exact stem, or a shared prefix of at least 4 letters and 3/4 of the shorter word
        (robbed/robbery, decided/decision, Russian/Russia)."""
        if stem in self.stems:
            return True
        if len(stem) < 4:
            return False
        for other in self.by_prefix.get(stem[:4], ()):
            shared = 4
            for a, b in zip(stem[4:], other[4:], strict=False):
                if a != b:
                    break
                shared += 1
            if shared >= 0.75 * min(len(stem), len(other)):
                return True
        return False


@dataclass(frozen=True)
class Claim:
    content: tuple[str, ...]  # stems of content words (names included)
    numbers: tuple[str, ...]
    names: tuple[str, ...]  # stems of capitalised words that are not sentence-initial
    # The first word is capitalised anyway: "Chinese diplomats" or "Diplomats"? Half a name.
    lead: str | None = None

    @classmethod
    def of(cls, text: str) -> Claim:
        content: dict[str, None] = {}
        numbers: dict[str, None] = {}
        names: dict[str, None] = {}
        lead = None
        for i, match in enumerate(_TOKEN.finditer(text)):
            raw = re.sub(r"['’]s$", "", match.group())
            token = raw.lower()
            if token[0].isdigit():
                numbers[_number(token)] = None
                continue
            if token in _NUMBER_WORDS:
                numbers[_NUMBER_WORDS[token]] = None
                continue
            acronym = len(raw) >= 2 and raw.isupper()  # US, UK, FSB: names, even "US"
            if (token in _STOP and not acronym) or len(token) < 2:
                continue
            stem = word_stem(token)
            content[stem] = None
            # A capital inside the sentence marks a name (person, place, organisation, month):
            # the kind of word a wrong answer invents. The first word is capitalised anyway.
            if acronym or (i > 0 and raw[0].isupper()):
                names[stem] = None
            elif i == 0 and raw[0].isupper():
                lead = stem
        return cls(tuple(content), tuple(numbers), tuple(names), lead)

    @property
    def empty(self) -> bool:
        return not self.content and not self.numbers


@dataclass(frozen=True)
class _Lexical:
    recall: float
    missing_words: int
    missing_numbers: int
    missing_names: float


def _lexical(claim: Claim, lex: _Lexicon) -> _Lexical:
    missing = [w for w in claim.content if not lex.has(w)]
    return _Lexical(
        recall=1.0 - len(missing) / len(claim.content) if claim.content else 1.0,
        missing_words=len(missing),
        missing_numbers=sum(n not in lex.numbers for n in claim.numbers),
        missing_names=sum(not lex.has(n) for n in claim.names)
        + (0.5 if claim.lead and not lex.has(claim.lead) else 0.0),
    )


def _quote_key(text: str) -> str:
    """Text compared as a quote: same words and numbers; case, spacing, punctuation and
    citation markers aside."""
    return re.sub(r"\W+", " ", MARKER.sub(" ", text).lower()).strip()


_MIN_QUOTE_WORDS = 4  # "Yes it did." appearing in the evidence proves nothing


_MAX_QUOTED_UNITS = 4  # a long sentence is split into pieces of evidence: quote them together


def _quoted_span(claim: str, ev: _Evidence) -> tuple[int, int] | None:
    """The span of the evidence sentence (or a few adjacent ones: two sentences, or the pieces
    a long sentence was split into) that ``claim`` quotes in full, if it does."""
    key = _quote_key(claim)
    if len(key.split()) < _MIN_QUOTE_WORDS or key not in ev.quote_key:
        return None
    keys = ev.sentence_keys
    for i in range(len(ev.spans)):
        joined = ""
        for j in range(i, min(i + _MAX_QUOTED_UNITS, len(keys))):
            joined = f"{joined} {keys[j]}".strip()
            if joined == key:
                return ev.spans[i][0], ev.spans[j][1]
            if len(joined) >= len(key):
                break
    return None


def clean_claim(text: str) -> str:
    """The claim as prose: no list bullets, Markdown emphasis or citation markers."""
    text = MARKER.sub(" ", text)
    text = _BULLET.sub("", text)
    text = re.sub(r"[*_`]{1,3}", "", text)
    return tidy_sentence(text)


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


# Calibration (log-odds). The lexical part reads: a claim whose content words, numbers and names
# all occur in the evidence scores ~0.82; one paraphrased word costs a little; a second novel word,
# a number or a name the evidence lacks pushes it below 0.5 (those are the classic hallucinations).
_LEX_BIAS = 1.5
_LEX_RECALL = 4.0  # per unit of content-word recall lost
_LEX_MISSING = 0.5  # per content word absent from the evidence (on top of recall)
_LEX_NUMBER = 2.5  # per number absent from the evidence
_LEX_NAME = 1.5  # per capitalised name absent from the evidence
# The embedding part: cosine of all-MiniLM-L6-v2 between the claim and the best evidence
# sentence(s). Paraphrases sit at ~0.7-0.95, same-topic-other-fact at ~0.4-0.7, off-topic below.
_EMB_MID, _EMB_SCALE = 0.65, 0.06  # embedding-only: 0.65 -> 0.5
_WINDOW_MARGIN = 0.03  # a 2-sentence window must beat the best single sentence by this much
_JUDGE_YES, _JUDGE_NO = 0.9, 0.1  # the judge's verdict as a score: confident, not certain


_CONTRADICTION_RECALL = 0.6  # a sentence this close to the claim can contradict it
_MAX_EMBEDDED_SENTENCES = 200  # per evidence text; beyond it, the best lexical matches only
_LONG_SENTENCE = 400  # characters: a "sentence" this long is unsplit lower-case text or a list
_LOOSE_END = re.compile(r"[.!?。！？]+[\"'”’)\]]*\s+|[。！？]+")


def _evidence_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans of evidence. Over-long "sentences" (lower-cased text, where a capital
    cannot mark the next sentence; lists; text without spaces) are split again at any end
    punctuation, then into pieces of about :data:`_LONG_SENTENCE` characters. Page furniture is
    left out: a citation never quotes a timestamp, a byline or a share prompt."""
    spans: list[tuple[int, int]] = []
    for start, end in quotable_spans(text):
        if end - start <= _LONG_SENTENCE:
            spans.append((start, end))
            continue
        cursor = start
        cuts = [m.end() for m in _LOOSE_END.finditer(text, start, end)]
        for cut in [*cuts, end]:
            while cut - cursor > 2 * _LONG_SENTENCE:  # no punctuation: cut at a space
                space = text.rfind(" ", cursor + _LONG_SENTENCE // 2, cursor + _LONG_SENTENCE)
                stop = space if space > cursor else cursor + _LONG_SENTENCE
                spans.extend(sentence_spans(text, cursor, stop))
                cursor = stop
            if cut > cursor:
                spans.extend(sentence_spans(text, cursor, cut))
                cursor = cut
    return spans


class Support(tuple):
    """``(score, span)`` as :meth:`SupportChecker.score` has always returned it, plus
    ``reason``: why, in words ("supported", "not found in the source: Geneva", "contradicts the
    source: 87 vs 92")."""

    reason: str

    def __new__(cls, score: float, span: tuple[int, int], reason: str = "") -> Support:
        self = super().__new__(cls, (score, span))
        self.reason = reason
        return self

    @property
    def score(self) -> float:
        return self[0]

    @property
    def span(self) -> tuple[int, int]:
        return self[1]


@dataclass(frozen=True)
class _Measured:
    features: support_features.Features
    span: tuple[int, int]
    lexical: _Lexical
    missing: tuple[str, ...]  # claim words (as written, lower-cased) the evidence lacks
    substitutions: tuple[support_features.Substitution, ...]
    negation_flip: bool
    spliced: tuple[int, ...] = ()  # the evidence sentences (0-based) a stitched claim joins


def _is_content(token: str) -> bool:
    return token[0].isdigit() or (token not in _STOP and len(token) >= 2)


def _present(token: str, lex: _Lexicon) -> bool:
    """Whether an :func:`support_features.align_tokens` token occurs in the evidence."""
    if token[0].isdigit():
        return _number(token) in lex.numbers
    token = re.sub(r"'s$", "", token)
    if token in _NUMBER_WORDS and _NUMBER_WORDS[token] in lex.numbers:
        return True
    return lex.has(word_stem(token))


def _is_number(token: str) -> bool:
    return token[0].isdigit() or token in _NUMBER_WORDS


_ACRONYM = re.compile(r"\b[A-Z]{2,}\b")
_INNER_CAPITAL = re.compile(r"(?<=[^.!?\s]\s)[A-Z][\w'’-]*")


def _contradicts(sub: support_features.Substitution, claim: str, unit: str) -> bool:
    """Whether a substitution swaps a number for a number or a name for a name. A name is a
    capitalised word that does not start a sentence; in lower-cased text none can be told."""
    if any(map(_is_number, sub.ours)) and any(map(_is_number, sub.theirs)):
        return True
    names_in_claim = {m.group().lower() for m in _INNER_CAPITAL.finditer(claim)}
    names_in_unit = {m.group().lower() for m in _INNER_CAPITAL.finditer(unit)}
    return bool(names_in_claim.intersection(sub.ours) and names_in_unit.intersection(sub.theirs))


@dataclass
class _Evidence:
    text: str
    spans: list[tuple[int, int]]
    lex: _Lexicon
    unit_lex: list[_Lexicon]
    vectors: np.ndarray | None = None  # one row per sentence

    @functools.cached_property
    def quote_key(self) -> str:
        return _quote_key(self.text)

    @functools.cached_property
    def sentence_tokens(self) -> list[list[str]]:
        return [support_features.align_tokens(self.text[s:e]) for s, e in self.spans]

    @functools.cached_property
    def sentence_keys(self) -> list[str]:
        return [_quote_key(self.text[s:e]) for s, e in self.spans]

    @functools.cached_property
    def touching(self) -> list[bool]:
        """Whether only white space lies between each sentence and the next."""
        return [not self.text[a[1] : b[0]].strip() for a, b in itertools.pairwise(self.spans)]


class SupportChecker:
    """Scores how well an evidence text supports a claim.

    ``method``: ``"hybrid"`` (the default: a logistic model, see
    :mod:`.support_features`, over the embedding cosine with the best-matching evidence
    sentence(s), the numbers, rare words and other words of the claim that the evidence lacks,
    numbers or names swapped for others, a flipped negation, and a claim stitched from sentences
    that lie apart), ``"embedding"`` (the cosine alone), ``"lexical"`` (content-word recall with
    penalties for missing numbers and names, and for swapped ones; no model needed), or ``"llm"``
    (the ``judge`` LLM answers yes or no; the hybrid score stands in when its reply is
    unreadable or it fails). Scores are probabilities in [0, 1]; ``threshold`` (0.5, the point
    of balanced errors) means "supported". Every result also says why, in words
    (:class:`Support`).
    """

    def __init__(
        self,
        embedder: Embedder,
        *,
        method: Method = "hybrid",
        threshold: float = 0.5,
        judge: LLMBackend | None = None,
        model: SupportModel | None = None,
    ) -> None:
        if method not in ("embedding", "lexical", "hybrid", "llm", "trained"):
            raise ValueError(f"unknown support method {method!r}")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be within [0, 1] (got {threshold})")
        if method == "llm" and (judge is None or not judge.generative):
            raise ValueError(
                "support method 'llm' needs a generative LLM backend as judge; use "
                "CHATBOT_SUPPORT_METHOD=hybrid with the extractive backend"
            )
        self.embedder = embedder
        self.method: Method = method
        self.threshold = threshold
        self.judge = judge
        # The trained cross-encoder ("trained"); its features stand in when it cannot load.
        self.model = model or (SupportModel() if method == "trained" else None)

    def supported(self, score: float) -> bool:
        return score >= self.threshold

    def remembering(self) -> SupportChecker:
        """This checker with a memory for one answer: a generated answer is checked sentence
        by sentence as it streams, then as a whole, and no (claim, source) pair is scored twice."""
        return RememberingChecker(self)

    def score(self, claim: str, evidence: str) -> Support:
        """Support score in [0, 1] and the span in ``evidence`` of the best-supporting
        sentence(s), as a :class:`Support` (a ``(score, span)`` tuple with a ``reason``)."""
        return self.score_many([(claim, evidence)])[0]

    def score_many(self, pairs: Sequence[tuple[str, str]]) -> list[Support]:
        """:meth:`score` for many (claim, evidence) pairs with a single embedding call: every
        distinct claim and evidence sentence is embedded once."""
        claims = {c: clean_claim(c) for c, _ in pairs}
        evidence = {e: self._analyse(e) for _, e in pairs}
        # A claim that quotes its evidence word for word is supported by definition; no model
        # needs to look at it (extractive answers are all quotes).
        quoted = {(c, e): _quoted_span(claims[c], evidence[e]) for c, e in pairs}
        open_pairs = [(c, e) for c, e in pairs if quoted[c, e] is None]
        claim_vectors: dict[str, np.ndarray] = {}
        if self.method != "lexical" and open_pairs:
            claim_vectors = self._embed(
                list(dict.fromkeys(claims[c] for c, _ in open_pairs)),
                list({id(evidence[e]): evidence[e] for _, e in open_pairs}.values()),
            )
        results: list[Support] = []
        verdicts: dict[tuple[str, str], float | None] = {}
        for claim, text in pairs:
            span = quoted[claim, text]
            if span is not None:
                results.append(Support(1.0, span, "supported: quoted word for word"))
                continue
            clean = claims[claim]
            result = self._score_one(clean, evidence[text], claim_vectors.get(clean))
            if self.method == "llm" and clean:
                if (clean, text) not in verdicts:
                    verdicts[clean, text] = self._ask_judge(clean, text)
                verdict = verdicts[clean, text]
                if verdict is not None:
                    reason = "supported" if self.supported(verdict) else "the judge says no"
                    result = Support(verdict, result.span, f"{reason} (LLM judge)")
            results.append(result)
        if self.method == "trained":
            self._read_with_model(pairs, claims, evidence, quoted, results)
        return results

    def _read_with_model(
        self,
        pairs: Sequence[tuple[str, str]],
        claims: dict[str, str],
        evidence: dict[str, _Evidence],
        quoted: dict[tuple[str, str], tuple[int, int] | None],
        results: list[Support],
    ) -> None:
        """Replace the feature scores of the pairs not quoted word for word with the trained
        model's: the best of the source's windows, one batch per claim. The features keep the
        span they found and a reason that names a contradiction or a missing name."""
        assert self.model is not None
        wanted: dict[str, list[tuple[int, str]]] = {}  # claim -> (pair index, window text)
        for i, (claim, text) in enumerate(pairs):
            if quoted[claim, text] is None and claims[claim] and evidence[text].spans:
                for start, end in windows(text, evidence[text].spans, claims[claim]):
                    wanted.setdefault(claims[claim], []).append((i, text[start:end]))
        best: dict[int, float] = {}
        for clean, items in wanted.items():
            logits = self.model.score(clean, [window for _, window in items])
            if logits is None:
                return  # the model is off: the features decide (logged once)
            for (i, _), logit in zip(items, logits, strict=True):
                best[i] = max(best.get(i, -math.inf), float(logit))
        for i, logit in best.items():
            features = results[i]
            score = self.model.probability(logit, features.score)
            if self.supported(score):
                reason = "supported"
            elif features.reason.startswith(("contradicts", "not found in the source: ")):
                reason = features.reason
            else:
                reason = "not supported: no passage of the source says this"
            results[i] = Support(score, features.span, reason)

    def _ask_judge(self, claim: str, evidence: str) -> float | None:
        """The judge's yes/no as a score; None (use the hybrid score) if it gives neither."""
        assert self.judge is not None
        budget = max(256, self.judge.context_window - 160)
        text = neutralise(evidence)
        while self.judge.count_tokens(text) > budget and len(text) > 200:
            text = text[: int(len(text) * 0.8)]
        messages = [
            Message("system", render("support_judge_system")),
            Message("user", render("support_judge", evidence=text, claim=neutralise(claim))),
        ]
        try:
            reply = self.judge.complete(messages, max_tokens=3, temperature=0.0)
        except LLMError as exc:
            log.warning("support judge failed, using the hybrid score: %s", exc)
            return None
        word = re.match(r"\W*(yes|no)\b", reply, re.I)
        if word is None:
            return None
        return _JUDGE_YES if word.group(1).lower() == "yes" else _JUDGE_NO

    # -- internals -----------------------------------------------------------------------------

    @staticmethod
    def _analyse(text: str) -> _Evidence:
        spans = _evidence_spans(text)
        return _Evidence(
            text=text,
            spans=spans,
            lex=_Lexicon.of(text),
            unit_lex=[_Lexicon.of(text[s:e]) for s, e in spans],
        )

    def _embed(self, claims: list[str], evidence: list[_Evidence]) -> dict[str, np.ndarray]:
        claims = [c for c in claims if c]
        # Very long evidence: embed only the sentences that share most words with the claims
        # (the others keep a zero vector, cosine 0), so that the cost stays bounded.
        wanted = {c: Claim.of(c) for c in claims}
        chosen: dict[int, list[int]] = {}
        for ev in evidence:
            picked: Sequence[int] = range(len(ev.spans))
            if len(ev.spans) > _MAX_EMBEDDED_SENTENCES:
                overlap = [
                    max((self._unit_recall(w, ev, i, i) for w in wanted.values()), default=0.0)
                    for i in range(len(ev.spans))
                ]
                top = sorted(picked, key=lambda i: -overlap[i])[:_MAX_EMBEDDED_SENTENCES]
                picked = sorted(top)
            chosen[id(ev)] = list(picked)
        sentences = {ev.text[slice(*ev.spans[i])]: None for ev in evidence for i in chosen[id(ev)]}
        texts = list(dict.fromkeys(claims + list(sentences)))
        if not texts:
            return {}
        vectors = dict(zip(texts, self.embedder.embed(texts), strict=True))
        for ev in evidence:
            if ev.spans:
                rows = np.zeros((len(ev.spans), self.embedder.dimension), dtype=np.float32)
                for i in chosen[id(ev)]:
                    rows[i] = vectors[ev.text[slice(*ev.spans[i])]]
                ev.vectors = rows
        return {c: vectors[c] for c in claims}

    def _score_one(
        self, claim_text: str, ev: _Evidence, claim_vector: np.ndarray | None
    ) -> Support:
        claim = Claim.of(claim_text)
        if not ev.spans:
            return Support(0.0, (0, 0), "no source text to check against")
        if not claim_text or (claim.empty and self.method == "lexical"):
            return Support(0.0, (0, 0), "nothing to check")
        m = self._measure(claim, claim_text, ev, claim_vector)
        lexical = m.lexical
        if self.method == "embedding":
            z = (m.features.cosine - _EMB_MID) / _EMB_SCALE
        elif self.method == "lexical":
            z = (
                _LEX_BIAS
                - _LEX_RECALL * (1.0 - lexical.recall)
                - _LEX_MISSING * lexical.missing_words
                - _LEX_NUMBER * lexical.missing_numbers
                - _LEX_NAME * lexical.missing_names
            )
            z += support_features.W_CONTRADICTION * m.features.contradiction
            z += support_features.W_NEGATION * m.features.negation_flipped
        elif claim.empty:  # nothing lexical to check: the embedding alone decides
            z = (m.features.cosine - _EMB_MID) / _EMB_SCALE
        else:
            z = support_features.logit(m.features)
        score = support_features.probability(z)
        return Support(score, m.span, self._reason(score, m))

    def _measure(
        self, claim: Claim, claim_text: str, ev: _Evidence, claim_vector: np.ndarray | None
    ) -> _Measured:
        """Find the evidence sentence (or pair of adjacent sentences) that best matches the claim
        and measure the claim against it and against the whole evidence."""
        # Per-unit evidence: single sentences, and windows of two adjacent sentences (a claim
        # often merges two). Window vectors are the normalised sum of their sentences' vectors,
        # which saves embedding every window again.
        # Only sentences that touch make a window: never two across page furniture left out
        # between them, which the window's quote would show.
        joined = [i for i in range(len(ev.spans) - 1) if ev.touching[i]]
        units = [(i, i) for i in range(len(ev.spans))]
        units += [(i, i + 1) for i in joined]
        cosines = np.zeros(len(units), dtype=np.float32)
        if claim_vector is not None and ev.vectors is not None:
            sent = ev.vectors
            win = sent[joined] + sent[[i + 1 for i in joined]]
            win = win / np.linalg.norm(win, axis=1, keepdims=True).clip(min=1e-12)
            cosines = np.concatenate([sent @ claim_vector, win @ claim_vector])
        recalls = np.array(
            [self._unit_recall(claim, ev, first, last) for first, last in units], dtype=np.float32
        )

        if self.method == "embedding":
            unit_scores = cosines
        elif self.method == "lexical":
            unit_scores = recalls
        else:
            unit_scores = cosines + 0.5 * recalls
        n_single = len(ev.spans)
        best = int(np.argmax(unit_scores[:n_single]))
        if len(units) > n_single:
            best_window = n_single + int(np.argmax(unit_scores[n_single:]))
            if unit_scores[best_window] > unit_scores[best] + _WINDOW_MARGIN:
                best = best_window
        first, last = units[best]
        span = (ev.spans[first][0], ev.spans[last][1])

        lexical = _lexical(claim, ev.lex)
        # Contradictions are read against the best-matching sentence(s) only, and only when
        # that is a close match: "talks in Geneva" against "talks in Istanbul".
        unit_text = ev.text[span[0] : span[1]]
        subs: list[support_features.Substitution] = []
        negation_flip = False
        if recalls[best] >= _CONTRADICTION_RECALL:
            # A swapped number or name counts when the claim's own is not in or next to the
            # matching sentence(s): in a long text "25%" occurs somewhere else anyway.
            nearby = ev.unit_lex[max(0, first - 1) : last + 2]
            # "US" is a name, "us" a stop word.
            acronyms = {w.lower() for w in _ACRONYM.findall(f"{claim_text} {unit_text}")}
            subs = support_features.substitutions(
                support_features.align_tokens(claim_text),
                support_features.align_tokens(unit_text),
                lambda t: any(_present(t, lex) for lex in nearby),
                lambda t: _is_content(t) or t in acronyms,
            )
            subs = [s for s in subs if _contradicts(s, claim_text, unit_text)]
            negation_flip = support_features.negation_flipped(
                support_features.align_tokens(claim_text),
                support_features.align_tokens(unit_text),
            )
        missing = tuple(
            dict.fromkeys(
                t
                for t in support_features.align_tokens(claim_text)
                if _is_content(t) and not _present(t, ev.lex)
            )
        )
        parts = support_features.spliced(
            support_features.align_tokens(claim_text), ev.sentence_tokens, _is_content
        )
        # Capitalised words are names (or start the sentence): as telling as rare words.
        capitalised = {w.lower() for w in re.findall(r"\b[A-Z][\w'’-]*", claim_text)}
        rare = sum(support_features.is_rare(t) or t in capitalised for t in missing)
        features = support_features.Features(
            cosine=float(cosines.max()),
            missing_numbers=lexical.missing_numbers,
            missing_rare=rare,
            missing_common=len(missing) - rare,
            contradiction=bool(subs),
            negation_flipped=negation_flip,
            spliced=bool(parts),
            contained=bool(claim.content or claim.numbers) and recalls[best] >= 1.0,
        )
        return _Measured(features, span, lexical, missing, tuple(subs), negation_flip, parts)

    def _reason(self, score: float, m: _Measured) -> str:
        """Why, in words: "supported", "contradicts the source: 87 vs 92", "not found in the
        source: Geneva"."""
        if m.substitutions:
            sub = m.substitutions[0]
            ours, theirs = sub.ours, sub.theirs
            numbers = [t for t in ours if _is_number(t)], [t for t in theirs if _is_number(t)]
            if all(numbers):  # a swapped figure: show just the figures
                ours, theirs = tuple(numbers[0]), tuple(numbers[1])
            return f"contradicts the source: {' '.join(ours)} vs {' '.join(theirs)}"
        if m.negation_flip:
            return "contradicts the source: one of them is negated"
        if self.supported(score):
            return "supported"
        if m.spliced:
            joined = " and ".join(str(n + 1) for n in m.spliced)
            return f"not stated in the source: joins what its sentences {joined} say separately"
        if m.missing:
            return "not found in the source: " + ", ".join(m.missing[:4])
        return "not found in the source (the closest passage says something else)"

    @staticmethod
    def _unit_recall(claim: Claim, ev: _Evidence, first: int, last: int) -> float:
        words = claim.content + claim.numbers
        if not words:
            return 0.0
        lexicons = ev.unit_lex[first : last + 1]
        hits = sum(any(lex.has(w) for lex in lexicons) for w in claim.content)
        hits += sum(any(n in lex.numbers for lex in lexicons) for n in claim.numbers)
        return hits / len(words)


class RememberingChecker(SupportChecker):
    """A :class:`SupportChecker` that scores each distinct (claim, evidence) pair once."""

    def __init__(self, checker: SupportChecker) -> None:
        super().__init__(
            checker.embedder,
            method=checker.method,
            threshold=checker.threshold,
            judge=checker.judge,
            model=checker.model,  # the loaded model, not a second copy per answer
        )
        self._known: dict[tuple[str, str], Support] = {}

    def score_many(self, pairs: Sequence[tuple[str, str]]) -> list[Support]:
        new = [pair for pair in dict.fromkeys(pairs) if pair not in self._known]
        if new:
            self._known.update(zip(new, super().score_many(new), strict=True))
        return [self._known[pair] for pair in pairs]

    def remembering(self) -> SupportChecker:
        return self
