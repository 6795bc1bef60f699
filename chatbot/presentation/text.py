"""Plain-text rendering of answers, shared by the CLI (the UI renders its own HTML)."""

from __future__ import annotations

from chatbot.vocabulary import Answer


def answer_to_text(answer: Answer) -> str:
    lines: list[str] = []
    if answer.notice:
        lines.append(f"Note: {answer.notice}")
    if answer.sentences and any(not s.supported for s in answer.sentences):
        lines.append(
            " ".join(s.text if s.supported else f"{s.text} [unsupported]" for s in answer.sentences)
        )
    else:
        lines.append(answer.text)
    for c in answer.citations:
        date = c.published_at.date().isoformat() if c.published_at else "undated"
        head = f"[{c.n}] “{c.title}” — {c.source or 'unknown outlet'}, {date}"
        if c.url:
            head += f" — {c.url}"
        lines.append(head)
        mark = "" if c.supported else " (does not support the sentence citing it)"
        lines.append(f"    “…{c.quote}…”{mark}")
    also = answer.uncited_sources()
    if also:
        lines.append("Also read:")
        for p in also:
            date = p.published_at.date().isoformat() if p.published_at else "undated"
            lines.append(f"    “{p.title}” — {p.source or 'unknown outlet'}, {date}")
    return "\n".join(lines)
