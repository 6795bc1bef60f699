"""Citation markers: split an answer into sentences and read each one's ``[n]`` markers.

Accepts ``[1]``, ``[1, 3]``, ``[1][3]``, ``[1-3]``, ``【1】`` and ``[Source 2]``; never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chatbot.common.text import sentence_spans

_NUM = r"\d{1,3}"
# One item: an optional label ("Source", "ref", ...) then a number or a range "1-3".
_ITEM = (
    r"(?:(?:sources?|src|refs?|references?|docs?|documents?|passages?)\s*#?\s*)?"
    rf"{_NUM}(?:\s*[-–—]\s*{_NUM})?"
)
_LIST = rf"{_ITEM}(?:\s*(?:,|;|&|and)\s*{_ITEM})*"
MARKER = re.compile(
    rf"\[\s*\^?\s*(?P<a>{_LIST})\s*\]|【\s*(?P<b>{_LIST})\s*(?:†[^】\n]{{0,40}})?】",
    re.IGNORECASE,
)
_MARKER_NUMBER = re.compile(rf"({_NUM})(?:\s*[-–—]\s*({_NUM}))?")
_MAX_SOURCE = 99  # [2025] or [100] are years and other numbers, not source references
_MAX_RANGE = 20  # [1-50] is not a plausible citation range


@dataclass(frozen=True)
class CitedSentence:
    """One sentence of an answer: its text without markers, its markers, and its span in the
    answer (the span covers the markers that belong to the sentence)."""

    text: str
    markers: tuple[int, ...]
    start: int
    end: int


def _marker_numbers(body: str) -> tuple[int, ...] | None:
    """Numbers a marker names, or None when it is not a citation (0, >99, bad range)."""
    numbers: list[int] = []
    for match in _MARKER_NUMBER.finditer(body):
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        if first < 1 or last > _MAX_SOURCE or last < first or last - first > _MAX_RANGE:
            return None
        numbers.extend(range(first, last + 1))
    return tuple(numbers) or None


def _find_markers(text: str) -> list[tuple[int, int, tuple[int, ...]]]:
    found = []
    for match in MARKER.finditer(text):
        numbers = _marker_numbers(match.group("a") or match.group("b") or "")
        if numbers:
            found.append((match.start(), match.end(), numbers))
    return found


def strip_markers(text: str) -> str:
    """``text`` without citation-like markers: a quoted article sentence that contains "[7]"
    must not read as a citation once it is part of an answer."""
    return tidy_sentence(MARKER.sub(" ", text))


def tidy_sentence(text: str) -> str:
    text = re.sub(r"[ \t\u00a0]+", " ", text)
    # Removing "Istanbul [1]." leaves "Istanbul ." - glue the punctuation back.
    text = re.sub(r" +([.,;:!?…])", r"\1", text)
    return text.strip()


def parse_citations(text: str) -> list[CitedSentence]:
    """Split an answer into sentences and read each sentence's citation markers.

    A marker that follows a sentence's end punctuation ("... Istanbul. [1] Next ...") belongs to
    that sentence, not to the next one. Numbers in brackets that are not plausible source numbers
    (``[2025]``, ``[0]``) and other brackets (``[edit]``) stay in the text. Never raises.
    """
    if not isinstance(text, str) or not text.strip():
        return []
    markers = _find_markers(text)
    # Blank the markers out (same length, so offsets hold) before splitting into sentences: a
    # marker must neither stop a split ("Istanbul.[1] Next") nor start a sentence of its own.
    masked = list(text)
    for start, end, _ in markers:
        masked[start:end] = " " * (end - start)
    spans = _split_after_cited_ends(sentence_spans("".join(masked)), text, markers)
    if not spans:
        return []

    owned: list[list[tuple[int, int, tuple[int, ...]]]] = [[] for _ in spans]
    for marker in markers:
        owned[_owner(spans, marker[0])].append(marker)

    result: list[CitedSentence] = []
    for (start, end), mine in zip(spans, owned, strict=True):
        pieces, cursor = [], start
        for m_start, m_end, _ in mine:
            if start <= m_start < end:
                pieces.append(text[cursor:m_start])
                cursor = m_end
        pieces.append(text[cursor:end])
        numbers = tuple(dict.fromkeys(n for *_, nums in mine for n in nums))
        result.append(
            CitedSentence(
                text=tidy_sentence("".join(pieces)),
                markers=numbers,
                start=min([start, *(m[0] for m in mine)]),
                end=max([end, *(m[1] for m in mine)]),
            )
        )
    return result


_CITED_END = re.compile(r"([.!?]+)\s+(?=\S)")
_ENDED = re.compile(r"[.!?]+[\"'”’)\]]*\s*$")
_MORE = re.compile(r"\s+(?=\S)")


def _split_after_cited_ends(
    spans: list[tuple[int, int]], text: str, markers: list[tuple[int, int, tuple[int, ...]]]
) -> list[tuple[int, int]]:
    """``spans`` cut after every "[n]." (or '." [n]') that is followed by more text: a cited
    sentence has ended there even when the next one opens with no capital ("∎ Genova (5 oz.):
    ...") or with a quotation mark."""
    cuts = []
    for start, end, _ in markers:
        after = _CITED_END.match(text, end)
        if after:
            cuts.append((after.end(1), after.end()))
        elif _ENDED.search(text, 0, start) and (more := _MORE.match(text, end)):
            cuts.append((end, more.end()))
    if not cuts:
        return spans
    result = []
    for start, end in spans:
        for stop, resume in cuts:
            if start < stop and resume < end:
                result.append((start, stop))
                start = resume
        result.append((start, end))
    return result


def _owner(spans: list[tuple[int, int]], position: int) -> int:
    """Index of the sentence a marker at ``position`` belongs to: the sentence containing it,
    else the sentence before it (markers trail what they cite), else the first sentence."""
    owner = 0
    for i, (start, _end) in enumerate(spans):
        if start <= position:
            owner = i
        else:
            break
    return owner
