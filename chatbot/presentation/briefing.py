"""Briefings as Markdown and as one self-contained HTML page; story timelines as Markdown.

Article text is untrusted: Markdown escapes it, HTML escapes it and then sanitises the page.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

import nh3

from chatbot.common.dates import utc_label
from chatbot.common.markers import parse_citations
from chatbot.presentation.labels import (
    QUOTED_DETAIL,
    QUOTED_MARK,
    by_source,
    date_label,
    moment_label,
    outlet_label,
    page_label,
    safe_url,
)
from chatbot.vocabulary import AnswerSentence, Briefing, Citation, StoredArticle, Story, Timeline


def briefing_markdown(b: Briefing) -> str:
    lines = [f"# News briefing — {b.period}", ""]
    lines.append(
        f"_Generated {utc_label(b.generated_at)} · {len(b.stories)} "
        f"{'story' if len(b.stories) == 1 else 'stories'}"
        f"{f' ({b.news_count})' if b.news_count else ''} · {_md(b.backend)}_"
    )
    lines.append("")
    if b.notice:
        lines += [f"> {_md(b.notice)}", ""]
    for i, story in enumerate(b.stories, 1):
        lead = story.articles[0] if story.articles else None
        url = safe_url(lead.url) if lead else None
        head = f"[{_md(story.headline)}]({_md_url(url)})" if url else _md(story.headline)
        lines += [f"## {i}. {head}", ""]
        outlets = f"**{_md(story.outlets[0])}**" if story.outlets else outlet_label(None)
        if story.also_reported_by:
            outlets += " · also reported by " + ", ".join(_md(o) for o in story.also_reported_by)
        lines += [outlets, ""]
        if story.status:
            lines += [f"_{_md(_continuity(story))}_", ""]
        if story.notice:
            lines += [f"> {_md(story.notice)}", ""]
        lines += [_md_summary(story), ""]
        for group in by_source(story.citations):
            lines.append(f"- [{group[0].n}] {_md_citation(group)}")
        if story.citations:
            lines.append("")
        if len(story.articles) > 1:
            lines.append("Articles:")
            for a in story.articles:
                lines.append(f"- {_md_article(a)}")
            lines.append("")
    if not b.stories and not b.notice:
        lines += ["No stories.", ""]
    return "\n".join(lines).rstrip() + "\n"


def briefing_html(b: Briefing) -> str:
    """One self-contained page: inline CSS, no scripts or external assets. Every piece of
    article-derived text is escaped, links are http(s) only, and the body is passed through
    an HTML sanitizer as a second line of defence."""
    return _html_page(b)


def _continuity(story: Story) -> str:
    if story.status == "continuing" and story.continues is not None:
        link = story.continues
        return f"Continuing: story {link.number} of {link.briefing} (“{link.headline}”)"
    return "New story" if story.status == "new" else ""


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~])")


_MD_LINE_START = re.compile(r"^(\d+)([.)])(?=\s)|^([-+=])(?=\s|$)")


def _md(text: str) -> str:
    """Article text is untrusted: one line; characters that could make links, emphasis, raw
    HTML, headings or lists are escaped (so "[x](javascript:...)" or "<script>" stay text)."""
    text = _MD_SPECIAL.sub(r"\\\1", re.sub(r"\s+", " ", text or "").strip())
    return _MD_LINE_START.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"\\{m[3]}", text)


def _md_url(url: str) -> str:
    return url.replace("(", "%28").replace(")", "%29").replace(" ", "%20")


def _sentence_parts(story: Story) -> list[tuple[str, tuple[int, ...], bool, bool]]:
    """(text without markers, citation numbers, supported, quoted) per summary sentence."""
    if story.sentences:
        return [(s.text, s.citations, s.supported, s.quoted) for s in story.sentences]
    return [(s.text, s.markers, True, False) for s in parse_citations(story.summary)]


def _md_summary(story: Story) -> str:
    return _md_parts(_sentence_parts(story))


def _md_sentences(sentences: Sequence[AnswerSentence]) -> str:
    return _md_parts([(s.text, s.citations, s.supported, s.quoted) for s in sentences])


def _md_parts(parts: Sequence[tuple[str, tuple[int, ...], bool, bool]]) -> str:
    out = []
    for text, refs, supported, quoted in parts:
        piece = _md(text) + "".join(f" \\[{n}\\]" for n in refs)
        if not supported:
            piece += " _(not supported by its source)_"
        elif quoted:
            piece += f" _({QUOTED_MARK})_"
        out.append(piece)
    return " ".join(out) or "_No summary._"


def _md_citation(group: Sequence[Citation]) -> str:
    """One source and every quote taken from it."""
    c = group[0]
    url = safe_url(c.url)
    title = f"[{_md(c.title)}]({_md_url(url)})" if url else _md(c.title)
    quotes = []
    for q in group:
        quote = _md(q.quote)
        if len(quote) > 300:
            quote = quote[:297].rstrip("\\") + "…"
        quotes.append(f"“{quote}”")
    page = f", {page_label(c.page)}" if c.page is not None else ""  # a PDF's page
    head = f"{title} — {_md(outlet_label(c.source))}, {moment_label(c.published_at)}{page}: "
    return head + " … ".join(quotes)


def _md_article(a: StoredArticle) -> str:
    url = safe_url(a.url)
    title = f"[{_md(a.title)}]({_md_url(url)})" if url else _md(a.title)
    return f"{title} — {_md(outlet_label(a.source))}, {date_label(a.published_at)}"


_CSS = """
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f6f6f4;
color:#1d1d1b}
main{max-width:46rem;margin:0 auto;padding:1.5rem 1rem 3rem}
h1{font-size:1.6rem;margin:0 0 .25rem}
.meta{color:#666;font-size:.9rem;margin:0 0 1rem}
.notice{background:#fff6d8;border-left:4px solid #e0b400;padding:.5rem .75rem}
ol.stories{list-style:none;padding:0;margin:0}
.story{background:#fff;border-radius:8px;padding:1rem 1.25rem;margin:1rem 0;
box-shadow:0 1px 3px rgba(0,0,0,.08)}
.story h2{font-size:1.2rem;margin:0 0 .25rem}
.story h2 .num{color:#888;margin-right:.35rem}
a{color:#0b57a4}
.outlets{color:#555;font-size:.9rem;margin:0 0 .5rem}
.quoted{font-size:.75rem;color:#888;font-style:italic}
.unsupported{background:#fde8e8;text-decoration:underline dotted #b00}
.cite{font-size:.8rem;text-decoration:none;vertical-align:super}
ol.sources{font-size:.85rem;color:#444;padding-left:1.5rem}
ol.sources blockquote{margin:.2rem 0 .5rem;color:#666;font-style:italic}
.articles{font-size:.85rem}
.continuity{font-size:.85rem;font-style:italic;color:#555;margin:0 0 .5rem}
.continuity.new{color:#0a6b2d}
"""


_ALLOWED_TAGS = frozenset({
    "main", "header", "section", "article", "h1", "h2", "p", "ol", "ul", "li", "a", "span",
    "blockquote", "small", "strong", "em", "time", "div",
})  # fmt: skip


def _h(text: str | None) -> str:
    return html.escape(re.sub(r"\s+", " ", text or "").strip(), quote=True)


def _html_link(url: str | None, text: str) -> str:
    safe = safe_url(url)
    return f'<a href="{html.escape(safe, quote=True)}">{_h(text)}</a>' if safe else _h(text)


def _html_story(i: int, story: Story) -> str:
    lead = story.articles[0] if story.articles else None
    parts = [f'<li class="story" id="story-{i}"><article>']
    parts.append(
        f'<h2><span class="num">{i}.</span>'
        f"{_html_link(lead.url if lead else None, story.headline)}</h2>"
    )
    outlets = f"<strong>{_h(story.outlets[0])}</strong>" if story.outlets else outlet_label(None)
    if story.also_reported_by:
        outlets += " · also reported by " + ", ".join(_h(o) for o in story.also_reported_by)
    parts.append(f'<p class="outlets">{outlets}</p>')
    if story.status:
        parts.append(f'<p class="continuity {_h(story.status)}">{_h(_continuity(story))}</p>')
    if story.notice:
        parts.append(f'<p class="notice">{_h(story.notice)}</p>')
    sentences = []
    for text, refs, supported, quoted in _sentence_parts(story):
        cites = "".join(f'<a class="cite" href="#s{i}-{n}">[{n}]</a>' for n in refs)
        body = _h(text)
        if not supported:
            body = f'<span class="unsupported" title="not supported by its source">{body}</span>'
        elif quoted:
            cites += f' <span class="quoted" title="{_h(QUOTED_DETAIL)}">{_h(QUOTED_MARK)}</span>'
        sentences.append(f"{body}{cites}")
    parts.append(f'<p class="summary">{" ".join(sentences) or "<em>No summary.</em>"}</p>')
    if story.citations:
        parts.append('<ol class="sources">')
        for group in by_source(story.citations):
            c = group[0]
            quotes = "".join(f"<blockquote>{_h(q.quote)}</blockquote>" for q in group)
            page = f", {_h(page_label(c.page))}" if c.page is not None else ""
            parts.append(
                f'<li id="s{i}-{c.n}" value="{c.n}">{_html_link(c.url, c.title)} — '
                f"{_h(outlet_label(c.source))}, {_h(moment_label(c.published_at))}{page}"
                f"{quotes}</li>"
            )
        parts.append("</ol>")
    if len(story.articles) > 1:
        items = "".join(
            f"<li>{_html_link(a.url, a.title)} — {_h(outlet_label(a.source))}, "
            f"{_h(date_label(a.published_at))}</li>"
            for a in story.articles
        )
        parts.append(f'<div class="articles">Articles:<ul>{items}</ul></div>')
    parts.append("</article></li>")
    return "".join(parts)


def _html_page(b: Briefing) -> str:

    count = len(b.stories)
    body = [
        "<main><header>",
        f"<h1>News briefing — {_h(b.period)}</h1>",
        f'<p class="meta">Generated {_h(utc_label(b.generated_at))} · {count} '
        f"{'story' if count == 1 else 'stories'}"
        f"{f' ({_h(b.news_count)})' if b.news_count else ''} · {_h(b.backend)}</p>",
        "</header>",
    ]
    if b.notice:
        body.append(f'<p class="notice">{_h(b.notice)}</p>')
    body.append('<ol class="stories">')
    body.extend(_html_story(i, s) for i, s in enumerate(b.stories, 1))
    body.append("</ol></main>")
    clean = nh3.clean(
        "".join(body),
        tags=_ALLOWED_TAGS,
        attributes={"*": {"class", "id", "title"}, "a": {"href"}, "li": {"value"}},
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer",
    )
    # The policy forbids every script and external resource, even if something slipped through.
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>News briefing — {_h(b.period)}</title>"
        f"<style>{_CSS}</style></head>\n<body>{clean}</body></html>\n"
    )


# --- story timelines ----------------------------------------------------------------------------


def timeline_markdown(t: Timeline) -> str:
    """A story's developments, oldest first; each day's citations are numbered on their own."""
    lines = [f"# {_md(t.headline)}", ""]
    days = len(t.developments)
    span = (
        f" · {t.developments[0].day.isoformat()} to {t.developments[-1].day.isoformat()}"
        if days > 1
        else ""
    )
    lines += [f"_Story {_md(t.story_id)} · {days} development{'s' if days != 1 else ''}{span}_", ""]
    if t.notice:
        lines += [f"> {_md(t.notice)}", ""]
    for d in t.developments:
        count = len(d.articles)
        lines += [f"## {d.day.isoformat()} · {count} article{'s' if count != 1 else ''}", ""]
        lines += [_md_sentences(d.summary.sentences), ""]
        for group in by_source(d.summary.citations):
            lines.append(f"- [{group[0].n}] {_md_citation(group)}")
        if d.summary.citations:
            lines.append("")
    if not t.developments:
        lines += ["No developments.", ""]
    return "\n".join(lines).rstrip() + "\n"
