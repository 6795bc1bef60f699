"""HTML for the web UI: answers with [n] citation links, the sources panel, the status line.

Everything that comes from an article or from the LLM is untrusted: it is HTML-escaped here, and
characters that Markdown or LaTeX would interpret are turned into numeric entities as well, so a
hostile article can neither inject markup nor fake a link through Markdown syntax. Only the tags
built in this module reach the page. No I/O happens here except through the ``lookup`` callable.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

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
from chatbot.vocabulary import (
    Answer,
    AnswerSentence,
    Article,
    Citation,
    ShortAnswer,
    StoredArticle,
)

ArticleLookup = Callable[[str], Article | None]

_CITE_RE = re.compile(r"\[(\d{1,3})\]")
_END_RE = re.compile(r"[.!?…]+$")
# Markdown/LaTeX syntax characters; as entities they display the same but are never syntax.
# One pass over HTML-special and Markdown/LaTeX syntax characters (two passes would re-escape
# the entities of the first); as entities they display the same but are never markup or syntax.
_ENTITIES = str.maketrans(
    {c: f"&#{ord(c)};" for c in "&<>\"'\\`*_{}[]()#+-!|~$^=:"}  # ':' stops "javascript:" links
)
_CONTEXT_CHARS = 320  # characters of surrounding article text shown on each side of a quote


def esc(text: object) -> str:
    """Escape untrusted text for HTML *and* neutralise Markdown/LaTeX syntax in it."""
    return str(text).translate(_ENTITIES)


def cite_anchor(turn: str, n: int) -> str:
    return f"cb-src-{turn}-{n}"


def _cite_link(turn: str, n: int) -> str:
    # Brackets as entities so that Markdown never reads "[n]" as link syntax.
    return (
        f'<a class="cb-cite" href="#{cite_anchor(turn, n)}" data-turn="{turn}" data-n="{n}">'
        f"&#91;{n}&#93;</a>"
    )


def _linkify(text: str, turn: str, known: set[int]) -> str:
    """Escape ``text`` and turn its ``[n]`` markers (for citations that exist) into links."""
    out: list[str] = []
    pos = 0
    for m in _CITE_RE.finditer(text):
        out.append(esc(text[pos : m.start()]))
        n = int(m.group(1))
        out.append(_cite_link(turn, n) if n in known else esc(m.group(0)))
        pos = m.end()
    out.append(esc(text[pos:]))
    return "".join(out)


def _sentence_body(s: AnswerSentence, turn: str, known: set[int]) -> str:
    """A checked sentence with its citation links: inline where its text carries ``[n]``
    markers, else from ``s.citations`` placed before the final punctuation ("Istanbul [1].")."""
    if _CITE_RE.search(s.text):
        return _linkify(s.text, turn, known)
    links = "".join(_cite_link(turn, n) if n in known else esc(f"[{n}]") for n in s.citations)
    if not links:
        return esc(s.text)
    end = _END_RE.search(s.text)
    if end and end.start() > 0:
        return f"{esc(s.text[: end.start()].rstrip())} {links}{esc(end.group())}"
    return f"{esc(s.text)} {links}"


def streaming_html(text: str) -> str:
    """The answer while it is being generated: plain escaped text."""
    return esc(text)


def answer_html(answer: Answer, turn: str) -> str:
    """The finished answer: escaped text, [n] links to the sources panel, unsupported sentences
    marked (a class for styling plus a visible word, so the mark survives without CSS)."""
    known = {c.n for c in answer.citations}
    parts: list[str] = []
    if answer.notice:
        parts.append(f'<div class="cb-notice">⚠ {esc(answer.notice)}</div>')
    short = answer.short_answer
    if short is not None and answer.sentences:
        link = _cite_link(turn, short.n) if short.n in known else esc(f"[{short.n}]")
        parts.append(f'<div class="cb-short"><strong>{esc(short.text)}</strong> {link}</div>')
    marked = False
    if answer.sentences:
        for s in answer.sentences:
            body = _sentence_body(s, turn, known)
            if short is not None and not marked and short.n in s.citations:
                body, marked = highlight_answer(body, short)
            if s.supported and s.quoted:
                # Quiet: the sentence is right, only its words are the source's, not the model's.
                parts.append(
                    f'<span class="cb-sentence cb-quoted" title="{esc(QUOTED_DETAIL)}">{body} '
                    f'<span class="cb-quoted-mark">{esc(QUOTED_MARK)}</span></span>'
                )
            elif s.supported:
                parts.append(f'<span class="cb-sentence">{body}</span>')
            else:
                parts.append(
                    '<span class="cb-sentence cb-unsupported" '
                    'title="Its cited sources do not support this sentence">'
                    f'{body} <span class="cb-flag">⚠ unsupported</span></span>'
                )
            parts.append(" ")
    else:
        parts.append(f'<span class="cb-sentence">{_linkify(answer.text, turn, known)}</span>')
    if answer.refused:
        parts.insert(0, '<span class="cb-refused" title="No answer from the stored articles">')
        parts.append("</span>")
    return "".join(parts).strip()


def highlight_answer(body_html: str, short: ShortAnswer) -> tuple[str, bool]:
    """The sentence's HTML with the short answer's words marked (their first occurrence), and
    whether they were found. Only escaped text is wrapped: the words are escaped the same way
    the sentence was, so article text cannot inject markup."""
    words = esc(short.text)
    if not words:
        return body_html, False
    # Between tags only: the words must not match inside a citation link's markup.
    pieces = re.split(r"(<[^>]*>)", body_html)
    for i, piece in enumerate(pieces):
        if piece.startswith("<"):
            continue
        at = piece.find(words)
        if at >= 0:
            pieces[i] = (
                f'{piece[:at]}<mark class="cb-answer">{words}</mark>{piece[at + len(words) :]}'
            )
            return "".join(pieces), True
    return body_html, False


def _locate(article: Article | None, c: Citation) -> tuple[int, int] | None:
    """The quote's span in the article text, checking that the span really is the quote."""
    if article is None:
        return None
    text = article.text
    quote = c.quote.strip()
    if 0 <= c.char_start < c.char_end <= len(text):
        span = text[c.char_start : c.char_end]
        if not quote or quote in span or span.strip() == quote:
            return c.char_start, c.char_end
    if quote:
        at = text.find(quote)
        if at >= 0:
            return at, at + len(quote)
    return None


def passage_in_context(
    text: str, spans: Iterable[tuple[int, int]], width: int = _CONTEXT_CHARS
) -> list[str]:
    """The spans highlighted in windows of their surrounding text, cut at word edges; spans
    close enough to share a window are shown in one."""
    clusters: list[list[tuple[int, int]]] = []
    for s, e in sorted(set(spans)):
        if clusters and s - clusters[-1][-1][1] <= 2 * width:
            clusters[-1].append((s, max(e, clusters[-1][-1][1])))
        else:
            clusters.append([(s, e)])
    blocks: list[str] = []
    for cluster in clusters:
        lo = max(0, cluster[0][0] - width)
        hi = min(len(text), cluster[-1][1] + width)
        if lo > 0:
            space = text.find(" ", lo, cluster[0][0])
            lo = space + 1 if space >= 0 else lo
        if hi < len(text):
            space = text.rfind(" ", cluster[-1][1], hi)
            hi = space if space >= 0 else hi
        out = ["… " if lo > 0 else ""]
        pos = lo
        for s, e in cluster:
            s = max(s, pos)  # overlapping quotes: highlight the union once
            out.append(esc(text[pos:s]))
            if e > s:
                out.append(f'<mark class="cb-quote">{esc(text[s:e])}</mark>')
            pos = max(pos, e)
        out.append(esc(text[pos:hi]) + (" …" if hi < len(text) else ""))
        blocks.append("".join(out))
    return blocks


def _source_card(cites: list[Citation], turn: str, lookup: ArticleLookup) -> str:
    """One numbered source: every passage the answer quoted from it, in context."""
    c = cites[0]
    article = lookup(c.article_id)
    spans: list[tuple[int, int]] = []
    orphans: list[str] = []  # quotes no longer found (article deleted or changed since)
    for cite in cites:
        span = _locate(article, cite)
        if span:
            spans.append(span)
        elif cite.quote and cite.quote not in orphans:
            orphans.append(cite.quote)
    blocks = passage_in_context(article.text, spans) if article and spans else []
    blocks += [f'<mark class="cb-quote">{esc(q)}</mark>' for q in orphans]
    body = "".join(f'<div class="cb-context">{b}</div>' for b in blocks)
    url = safe_url(c.url)
    link = (
        f'<a class="cb-original" href="{html.escape(url, quote=True)}" target="_blank" '
        f'rel="noopener noreferrer nofollow">original article ↗</a>'
        if url
        else '<span class="cb-original">no link</span>'
    )
    # A PDF's page: a source is one passage, and a passage keeps within one page.
    pages = sorted({x.page for x in cites if x.page is not None})
    shown = page_label(pages[0]) if len(pages) == 1 else "pp. " + ", ".join(map(str, pages))
    page = f' · <span class="cb-page">{esc(shown)}</span>' if pages else ""
    support = (
        ""
        if all(x.supported for x in cites)
        else '<div class="cb-flag">⚠ this passage does not support the sentence citing it</div>'
    )
    return (
        f'<div class="cb-source" id="{cite_anchor(turn, c.n)}" data-n="{c.n}">'
        f'<div class="cb-source-head"><span class="cb-n">&#91;{c.n}&#93;</span> '
        f'<span class="cb-title">{esc(c.title or "Untitled")}</span></div>'
        f'<div class="cb-meta"><span class="cb-outlet">{esc(outlet_label(c.source))}</span>'
        f' · <span class="cb-date">{moment_label(c.published_at)}</span>{page} · {link}</div>'
        f"{body}{support}</div>"
    )


def sources_html(answer: Answer, turn: str, lookup: ArticleLookup) -> str:
    """One turn's sources: title, outlet, date, link, and the quoted passage in its context."""
    # An answer may quote several passages of one source: one card per source, all its quotes.
    cards = [_source_card(group, turn, lookup) for group in by_source(answer.citations)]
    if not cards:
        cards.append('<div class="cb-empty">This answer cites no sources.</div>')
    also = answer.uncited_sources()
    if also:
        items = "".join(
            f'<div class="cb-also-item"><span class="cb-title">{esc(p.title or "Untitled")}'
            f'</span> · <span class="cb-outlet">{esc(outlet_label(p.source))}</span> · '
            f'<span class="cb-date">{date_label(p.published_at)}</span>'
            + (f' · <span class="cb-page">{page_label(p.page)}</span>' if p.page else "")
            + "</div>"
            for p in also
        )
        cards.append(f'<div class="cb-also">Also read for this answer:{items}</div>')
    question = esc(answer.question) if answer.question else ""
    return (
        f'<section class="cb-turn" data-turn="{turn}">'
        f'<div class="cb-turn-q">Sources for: <q>{question}</q></div>{"".join(cards)}</section>'
    )


def sources_panel(sections: Iterable[str]) -> str:
    """All turns' source sections, newest first; CSS shows the newest, a citation click shows
    its own turn (see ``surfaces.web.page.CLIENT_JS``)."""
    body = "".join(reversed(list(sections)))
    if not body:
        return (
            '<div class="cb-sources cb-sources-empty">Sources of an answer appear here. '
            "Click a citation such as [1] to see the quoted passage.</div>"
        )
    return f'<div class="cb-sources">{body}</div>'


def status_line(status: Mapping[str, Any]) -> str:
    """'Answers: … · Embeddings: … · N articles', why that strategy on hover (escaped: backend
    descriptions echo settings)."""
    articles = status.get("articles", 0)
    noun = "article" if articles == 1 else "articles"
    chunks = status.get("chunks", 0)
    answering = status.get("answering", status.get("llm_backend", "?"))
    why = status.get("answering_reason", "")
    return (
        f'<div class="cb-status" title="{esc(why)}">Answers: <b>{esc(answering)}</b> · '
        f"Embeddings: <b>{esc(status.get('embedding_model', '?'))}</b> · "
        f"<b>{esc(articles)}</b> {noun} ({esc(chunks)} chunk{'' if chunks == 1 else 's'})</div>"
    )


def article_rows(articles: Iterable[StoredArticle], query: str = "") -> list[list[Any]]:
    """Rows for the library table: title, outlet, date, chunks, id; filtered by ``query``."""
    words = query.lower().split()
    rows: list[list[Any]] = []
    for a in articles:
        hay = f"{a.title} {a.source} {a.id} {date_label(a.published_at)}".lower()
        if all(w in hay for w in words):
            rows.append([a.title, a.source, date_label(a.published_at), a.chunks, a.id])
    return rows


def example_questions(articles: Iterable[StoredArticle], limit: int = 3) -> list[str]:
    """Questions built from the newest stored articles' titles."""
    out: list[str] = []
    for a in articles:
        title = a.title.strip().rstrip(".?!:;")
        if len(title) > 60:  # long (often first-sentence) titles: a short, readable prompt
            title = title[:60].rsplit(" ", 1)[0].rstrip(",;:") + "…"
        if title:
            out.append(f"What do the articles say about “{title}”?")
        if len(out) == limit:
            break
    return out


def article_choices(articles: Iterable[StoredArticle]) -> list[tuple[str, str]]:
    """(label, id) pairs for a picker; Gradio shows labels as text, so they are not escaped."""
    return [
        (f"{a.title} — {outlet_label(a.source)}, {date_label(a.published_at)}", a.id)
        for a in articles
    ]
