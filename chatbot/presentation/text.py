"""Plain text for a terminal: answers and summaries with their cited sources."""

from __future__ import annotations

from chatbot.presentation.labels import (
    QUOTED_MARK,
    by_source,
    citation_header,
    date_label,
    outlet_label,
)
from chatbot.vocabulary import Answer, AnswerSentence, Summary


def _mark(s: AnswerSentence) -> str:
    if not s.supported:
        return " [unsupported]"
    return f" ({QUOTED_MARK})" if s.quoted else ""


def answer_to_text(answer: Answer) -> str:
    lines: list[str] = []
    if answer.notice:
        lines.append(f"Note: {answer.notice}")
    if any(_mark(s) for s in answer.sentences):
        lines.append(" ".join(s.text + _mark(s) for s in answer.sentences))
    else:
        lines.append(answer.text)
    for group in by_source(answer.citations):
        lines.append(citation_header(group[0], group[0].n))
        for c in group:
            mark = "" if c.supported else " (does not support the sentence citing it)"
            lines.append(f"    “…{c.quote}…”{mark}")
    also = answer.uncited_sources()
    if also:
        lines.append("Also read:")
        for p in also:
            lines.append(
                f"    “{p.title}” — {outlet_label(p.source)}, {date_label(p.published_at)}"
            )
    return "\n".join(lines)


def summary_to_text(summary: Summary) -> str:
    """The summary, unsupported sentences marked, then the cited passages."""
    lines = [f"Note: {summary.notice}"] if summary.notice else []
    if summary.sentences:
        lines.append(
            "\n".join(
                s.text + "".join(f" [{n}]" for n in s.citations) + _mark(s)
                for s in summary.sentences
            )
        )
    elif summary.text:
        lines.append(summary.text)
    for group in by_source(summary.citations):
        lines.append(citation_header(group[0], group[0].n))
        lines.extend(f"    “{c.quote}”" for c in group)
    return "\n".join(lines)
