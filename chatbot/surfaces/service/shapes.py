"""The JSON the API sends: our types (Answer, Citation, Passage, Article, IngestReport) as plain
dicts, named as the API documents them (``outlet``, ``date``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chatbot.vocabulary import Answer, Article, Citation, IngestReport, Passage, StoredArticle


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _day(value: datetime | None) -> str | None:
    return value.date().isoformat() if value else None


def citation_json(c: Citation) -> dict[str, Any]:
    return {
        "n": c.n,
        "article_id": c.article_id,
        "title": c.title,
        "outlet": c.source,
        "date": _day(c.published_at),
        "published_at": _iso(c.published_at),
        "url": c.url,
        "quote": c.quote,
        "char_start": c.char_start,
        "char_end": c.char_end,
        "supported": c.supported,
        "score": round(c.score, 4),
        "page": c.page,  # the page (from 1) of a PDF; null for other articles
    }


def source_json(n: int, p: Passage) -> dict[str, Any]:
    return {
        "n": n,
        "article_id": p.article_id,
        "title": p.title,
        "outlet": p.source,
        "date": _day(p.published_at),
        "published_at": _iso(p.published_at),
        "url": p.url,
        "text": p.text,
        "char_start": p.char_start,
        "char_end": p.char_end,
        "also_in": list(p.also_in),
        "page": p.page,
    }


def short_answer_json(answer: Answer) -> dict[str, Any] | None:
    """The words that answer (null when the ranker is not sure): their citation and where they
    stand in its quote."""
    s = answer.short_answer
    if s is None:
        return None
    return {
        "text": s.text,
        "n": s.n,
        "quote": s.quote,
        "start": s.start,
        "end": s.end,
        "confidence": round(s.confidence, 4),
    }


def _with_answer_span(c: Citation, answer: Answer) -> dict[str, Any]:
    """A citation, with ``answer`` ([start, end) of the short answer in its quote) on the one
    the short answer comes from, else null."""
    out = citation_json(c)
    s = answer.short_answer
    at = c.quote.find(s.text) if s is not None and c.n == s.n else -1
    out["answer"] = [at, at + len(s.text)] if s is not None and at >= 0 else None
    return out


def answer_extras(answer: Answer) -> dict[str, Any]:
    """What an answer adds to an OpenAI chat completion: its citations and sources (numbered
    as the ``[n]`` markers in the text), the checked sentences, the short answer and any
    notice."""
    return {
        "short_answer": short_answer_json(answer),
        "citations": [_with_answer_span(c, answer) for c in answer.citations],
        "sources": [source_json(n, p) for n, p in enumerate(answer.sources, 1)],
        "sentences": [
            {
                "text": s.text,
                "citations": list(s.citations),
                "supported": s.supported,
                "quoted": s.quoted,
            }
            for s in answer.sentences
        ],
        "refused": answer.refused,
        "notice": answer.notice,
        "interpreted_as": answer.interpreted_as,
        "repaired": answer.repaired,
    }


def _article_fields(a: Article | StoredArticle) -> dict[str, Any]:
    return {
        "id": a.id,
        "title": a.title,
        "outlet": a.source,
        "date": _day(a.published_at),
        "published_at": _iso(a.published_at),
        "url": a.url,
        "authors": list(a.authors),
        "language": a.language,
    }


def stored_article_json(a: StoredArticle) -> dict[str, Any]:
    return {**_article_fields(a), "chunks": a.chunks}


def article_json(a: Article) -> dict[str, Any]:
    return {**_article_fields(a), "text": a.text}


def report_json(report: IngestReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "summary": report.summary(),
        "added": report.added,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "skipped": [{"item": item, "reason": reason} for item, reason in report.skipped],
        "failed": [{"item": item, "reason": reason} for item, reason in report.failed],
        "chunks": report.chunks,
    }
