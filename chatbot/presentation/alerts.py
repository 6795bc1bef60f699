"""A watched question's alert as Markdown (mail text, CLI) and as a small HTML page (mail, Atom).

Article text is untrusted: both forms escape it, as briefings do."""

from __future__ import annotations

import html

from chatbot.common.dates import utc_label
from chatbot.common.markers import strip_markers
from chatbot.presentation.labels import by_source, moment_label, outlet_label, safe_url
from chatbot.vocabulary import Alert


def alert_subject(alert: Alert) -> str:
    return f"The answer changed: {alert.question}"


def alert_markdown(alert: Alert) -> str:
    lines = [f"# {_md(alert_subject(alert))}", "", f"_{utc_label(alert.at)}_", "", "New:", ""]
    for s in alert.sentences:
        lines.append("- " + _md(s.text) + "".join(f" \\[{n}\\]" for n in s.citations))
    lines.append("")
    for group in by_source(alert.citations):
        c = group[0]
        quotes = " … ".join(f"“{_md(q.quote)}”" for q in group)
        lines.append(
            f"- [{c.n}] {_md(c.title)} — {_md(outlet_label(c.source))}, "
            f"{moment_label(c.published_at)}: {quotes}"
        )
    lines += ["", "Before:", "", f"> {_md(strip_markers(alert.previous)) or '(no answer yet)'}"]
    return "\n".join(lines).rstrip() + "\n"


def alert_html(alert: Alert) -> str:
    items = "".join(
        f"<li>{_h(s.text)}" + "".join(f" [{n}]" for n in s.citations) + "</li>"
        for s in alert.sentences
    )
    sources = []
    for group in by_source(alert.citations):
        c = group[0]
        url = safe_url(c.url)
        title = f'<a href="{_h(url)}">{_h(c.title)}</a>' if url else _h(c.title)
        quotes = "".join(f"<blockquote>{_h(q.quote)}</blockquote>" for q in group)
        sources.append(
            f'<li value="{c.n}">{title} — {_h(outlet_label(c.source))}, '
            f"{_h(moment_label(c.published_at))}{quotes}</li>"
        )
    before = _h(strip_markers(alert.previous)) or "<em>(no answer yet)</em>"
    return (
        f"<article><h1>{_h(alert_subject(alert))}</h1><p>{_h(utc_label(alert.at))}</p>"
        f"<h2>New</h2><ul>{items}</ul><ol>{''.join(sources)}</ol>"
        f"<h2>Before</h2><p>{before}</p></article>"
    )


def _h(text: str | None) -> str:
    return html.escape(" ".join((text or "").split()), quote=True)


def _md(text: str) -> str:
    # One line; characters that would make links, emphasis or HTML stay text.
    out = " ".join((text or "").split())
    for ch in "\\`*_{}[]<>#|~":
        out = out.replace(ch, "\\" + ch)
    return out
