"""Plain text for a terminal: answers and summaries with their cited sources."""

from __future__ import annotations

from chatbot.common.dates import utc_label
from chatbot.presentation.labels import (
    QUOTED_MARK,
    by_source,
    citation_header,
    date_label,
    format_every,
    outlet_label,
    page_label,
)
from chatbot.vocabulary import Answer, AnswerSentence, StoryInfo, Summary, Timeline, Watch


def _mark(s: AnswerSentence) -> str:
    if not s.supported:
        return " [unsupported]"
    return f" ({QUOTED_MARK})" if s.quoted else ""


def answer_to_text(answer: Answer) -> str:
    lines: list[str] = []
    if answer.notice:
        lines.append(f"Note: {answer.notice}")
    if any(_mark(s) for s in answer.sentences):
        if answer.short_answer is not None:  # answer.text opens with it; the sentences do not
            lines.append(f"**{answer.short_answer.text}** [{answer.short_answer.n}]")
        lines.append(" ".join(s.text + _mark(s) for s in answer.sentences))
    else:
        lines.append(answer.text)
    short, marked = answer.short_answer, False
    for group in by_source(answer.citations):
        lines.append(citation_header(group[0], group[0].n))
        for c in group:
            mark = "" if c.supported else " (does not support the sentence citing it)"
            quote = c.quote
            if short is not None and not marked and c.n == short.n and short.text in quote:
                # The words that answer, marked inside their quote as the answer opens with them.
                at = quote.index(short.text)
                quote = f"{quote[:at]}**{short.text}**{quote[at + len(short.text) :]}"
                marked = True
            lines.append(f"    “…{quote}…”{mark}")
    also = answer.uncited_sources()
    if also:
        lines.append("Also read:")
        for p in also:
            page = f", {page_label(p.page)}" if p.page is not None else ""
            lines.append(
                f"    “{p.title}” — {outlet_label(p.source)}, {date_label(p.published_at)}{page}"
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


def timeline_to_text(timeline: Timeline) -> str:
    """The story's developments, oldest first, each with its own cited passages."""
    days = len(timeline.developments)
    lines = [
        timeline.headline,
        f"Story {timeline.story_id} · {days} development" + "s" * (days != 1),
    ]
    if timeline.notice:
        lines.append(f"Note: {timeline.notice}")
    for d in timeline.developments:
        lines += [
            "",
            f"== {d.day.isoformat()} ({len(d.articles)} article{'s' * (len(d.articles) != 1)})",
        ]
        lines.append(summary_to_text(d.summary))
    return "\n".join(lines)


def stories_to_text(stories: list[StoryInfo]) -> str:
    if not stories:
        return (
            "No stories yet: build a briefing first (`chatbot briefing`), or find one by what "
            'it is about (`chatbot story --query "..."`).'
        )
    return "\n".join(
        f"{s.story_id}  {s.headline}  (last in {s.last_seen}; {s.briefings} briefing"
        f"{'s' * (s.briefings != 1)})"
        for s in stories
    )


def watch_to_text(w: Watch) -> str:
    every = f"at most every {format_every(w.every)}" if w.every else "after every refresh"
    checked = utc_label(w.last_checked) if w.last_checked else "never"
    lines = [f"{w.id}  {w.question}", f"  {every} · last answered {checked} · {w.alerts} alerts"]
    if w.sentences:
        lines.append(
            "  " + " ".join(s.text + "".join(f" [{n}]" for n in s.citations) for s in w.sentences)
        )
    else:
        lines.append("  (no answer in the stored articles yet)")
    if w.last_error:
        lines.append(f"  last error: {w.last_error}")
    return "\n".join(lines)
