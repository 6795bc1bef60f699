"""Checked citations: every sentence of an answer against the passages it cites.

:func:`check_answer` reads the answer's ``[n]`` markers (:mod:`chatbot.common.markers`), checks
each sentence with the :class:`~chatbot.answering.support.SupportChecker`, flags or removes the
unsupported ones, cites uncited sentences that a passage clearly supports, and turns each cited
source into a :class:`Citation` with the exact quoted sentence(s) and their span in the article.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from chatbot.answering.support import Claim, SupportChecker, clean_claim, word_stem
from chatbot.common.markers import CitedSentence, parse_citations
from chatbot.vocabulary import AnswerSentence, Citation, Passage

log = logging.getLogger(__name__)

Policy = Literal["flag", "remove"]


# Sentences that make no claim about the news and so need no source (framing and refusals).
_META = re.compile(
    r"^(?:here(?:'s| is| are)\b|in summary\b|to summari[sz]e\b|based on the (?:provided )?"
    r"(?:articles?|sources?|passages?)\b|(?:the|these) (?:provided )?(?:articles?|sources?|"
    r"passages?) (?:do(?:es)? not|don't|doesn't)\b|i (?:could not|couldn't|can't|cannot|do not|"
    r"don't) find\b)",
    re.IGNORECASE,
)
_AUTO_CITE_MARGIN = 0.15  # an uncited sentence gets a citation only when support is clear


@dataclass(frozen=True)
class CheckedAnswer:
    """The answer after checking: final text with ``[n]`` markers (n = position of the passage,
    1-based), one entry per sentence kept, and one citation per source cited in ``text``."""

    text: str
    sentences: tuple[AnswerSentence, ...]
    citations: tuple[Citation, ...]
    removed: tuple[str, ...] = ()  # sentences dropped under policy="remove"

    @property
    def supported_count(self) -> int:
        """Sentences that cite a source that supports them."""
        return sum(1 for s in self.sentences if s.supported and s.citations)


_SMALL_TALK = frozenset(
    word_stem(w) for w in "yes sure certainly okay ok thanks thank hello hi glad happy help".split()
)


def _is_non_claim(text: str) -> bool:
    """Framing like "Here is what I found:", questions and refusals: exempt from support checks
    (reported as supported with score 1.0) unless the model cited a source for them."""
    clean = clean_claim(text)
    if not clean or clean.endswith((":", "?")) or _META.match(clean):
        return True
    claim = Claim.of(clean)
    # Only small talk ("Yes.", "Sure!") is exempt: any other word may be a claim ("Istanbul.",
    # or "PWNED." planted by an article), and a claim without support must show as such.
    return not claim.numbers and all(w in _SMALL_TALK for w in claim.content)


def render_sentence(text: str, markers: Sequence[int]) -> str:
    """Sentence text with its markers placed before the final punctuation: "Istanbul [1][3]."."""
    if not markers:
        return text
    tag = "".join(f"[{n}]" for n in markers)
    end = re.search(r"[.!?…]+$", text)
    if end and end.start() > 0:
        return f"{text[: end.start()].rstrip()} {tag}{end.group()}"
    return f"{text} {tag}"


@dataclass
class _Checked:
    parsed: CitedSentence
    markers: tuple[int, ...]
    exempt: bool
    supported: bool = True
    score: float = 1.0
    # Per cited source: (score, span in the passage text) of this sentence against it.
    support: dict[int, tuple[float, tuple[int, int]]] = field(default_factory=dict)


def check_answer(
    answer: str,
    passages: Sequence[Passage],
    checker: SupportChecker,
    *,
    policy: Policy = "flag",
) -> CheckedAnswer:
    """Check every sentence of ``answer`` against the passages it cites (numbered 1..N in order).

    - Markers naming a source that does not exist are dropped; the rest are written as ``[n]``.
    - A cited sentence's score is its best score over its cited passages; below the checker's
      threshold it is unsupported: flagged (``supported=False``, kept) or removed.
    - A sentence without citations that one passage supports clearly (threshold + 0.15) gets that
      citation; otherwise it stays uncited and unsupported.
    - Non-claims without citations (framing, questions, refusals, fewer than two content words)
      are exempt and reported as supported.
    - Each source cited in the final text yields one Citation whose quote is the passage
      sentence(s) that best support the best-supported sentence citing it, with the span of that
      quote in the article (``passage.char_start`` + offset in the passage).
    """
    if policy not in ("flag", "remove"):
        raise ValueError(f"unknown unsupported-sentence policy {policy!r}")
    count = len(passages)
    checked = []
    for parsed in parse_citations(answer):
        markers = tuple(sorted({n for n in parsed.markers if 1 <= n <= count}))
        checked.append(_Checked(parsed, markers, exempt=not markers and _is_non_claim(parsed.text)))

    # One batched scoring call: cited sentences against their sources, uncited ones against all.
    pairs: list[tuple[str, str]] = []
    keys: list[tuple[int, int]] = []
    for i, item in enumerate(checked):
        if item.exempt:
            continue
        for n in item.markers or range(1, count + 1):
            pairs.append((item.parsed.text, passages[n - 1].text))
            keys.append((i, n))
    for (i, n), result in zip(keys, checker.score_many(pairs), strict=True):
        checked[i].support[n] = result

    for item in checked:
        if item.exempt:
            continue
        if not item.support:  # no passages at all
            item.supported, item.score = False, 0.0
            continue
        best_n = max(item.support, key=lambda n: item.support[n][0])
        item.score = item.support[best_n][0]
        if item.markers:
            item.supported = checker.supported(item.score)
        elif item.score >= min(1.0, checker.threshold + _AUTO_CITE_MARGIN):
            item.markers, item.supported = (best_n,), True
            item.support = {best_n: item.support[best_n]}
        else:
            item.supported = False
            item.support = {}

    kept = [c for c in checked if c.supported or policy == "flag"]
    removed = tuple(c.parsed.text for c in checked if not (c.supported or policy == "flag"))
    return CheckedAnswer(
        text=_rebuild(answer, checked, kept),
        sentences=tuple(
            AnswerSentence(c.parsed.text, c.markers, c.supported, round(c.score, 4), _reason_of(c))
            for c in kept
        ),
        citations=_citations(kept, passages, checker),
        removed=removed,
    )


def _rebuild(answer: str, checked: list[_Checked], kept: list[_Checked]) -> str:
    """Kept sentences in order, each with its final markers, separated as in the original (a
    paragraph break survives the removal of the sentence next to it)."""
    keep = {id(c) for c in kept}
    out: list[str] = []
    gap: str | None = None  # the widest separator seen since the last kept sentence
    previous_end = 0
    for item in checked:
        between = answer[previous_end : item.parsed.start]
        previous_end = item.parsed.end
        if gap is None or between.count("\n") > gap.count("\n"):
            gap = between
        if id(item) not in keep:
            continue
        if out:
            out.append(gap or " ")
        out.append(render_sentence(item.parsed.text, item.markers))
        gap = None
    return "".join(out)


def _citations(
    kept: list[_Checked], passages: Sequence[Passage], checker: SupportChecker
) -> tuple[Citation, ...]:
    # One citation per quote: three sentences citing [1] for three of its sentences show all
    # three quotes beneath [1], not just the best one.
    best: dict[tuple[int, tuple[int, int]], tuple[float, tuple[int, int]]] = {}
    for item in kept:
        for n in item.markers:
            result = item.support.get(n)
            if result is not None:
                key = (n, result[1])
                if key not in best or result[0] > best[key][0]:
                    best[key] = result
    citations = []
    for key in sorted(best):
        n = key[0]
        score, (start, end) = best[key]
        passage = passages[n - 1]
        citations.append(
            Citation(
                n=n,
                article_id=passage.article_id,
                title=passage.title,
                source=passage.source,
                published_at=passage.published_at,
                url=passage.url,
                quote=passage.text[start:end],
                char_start=passage.char_start + start,
                char_end=passage.char_start + end,
                supported=checker.supported(score),
                score=round(score, 4),
                reason=getattr(best[key], "reason", ""),
                page=passage.page,
            )
        )
    return tuple(citations)


def _reason_of(item: _Checked) -> str:
    """The checker's reason for the sentence's best-scoring source; why it has none else."""
    if item.exempt:
        return ""
    if item.support:
        return getattr(max(item.support.values(), key=lambda r: r[0]), "reason", "")
    if not item.markers and item.score:
        return "uncited, and no source supports it clearly enough to cite"
    return "no source to check against"
