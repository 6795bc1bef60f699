"""Sentence segmentation with character spans, shared by chunking, citations and summaries."""

from __future__ import annotations

import re

# A sentence ends at . ! ? (plus closing quotes/brackets) followed by space and a likely sentence
# start, or at a line break. Common abbreviations do not end sentences.
_END = re.compile(r"""[.!?…]+["'”’)\]]*(?=\s+["'“‘(\[]?[A-Z0-9])|\n+""")
_ABBREV = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Gen|Gov|Sen|Rep|Lt|Col|Capt|Sgt|Inc|Ltd|Co|Corp|vs|No|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|U\.S|U\.K|U\.N|E\.U|a\.m|p\.m)|\b[A-Z])\.$"
)
_WORD = re.compile(r"[A-Za-z0-9]+(?:'[a-z]+)?")


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans [s, e) of the sentences in text[start:end], whitespace trimmed, never empty."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    cursor = start
    for match in _END.finditer(text, start, end):
        stop = match.end() if text[match.start()] != "\n" else match.start()
        if text[match.start()] != "\n" and _ABBREV.search(text, max(cursor, stop - 8), stop):
            continue
        spans.append((cursor, stop))
        cursor = match.end()
    spans.append((cursor, end))
    return [trimmed for s, e in spans if (trimmed := _trim(text, s, e))]


def _trim(text: str, s: int, e: int) -> tuple[int, int] | None:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return (s, e) if e > s else None


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]
