"""The JSON forms of the vocabulary: answers, summaries, briefings and timelines as the cache, the
API and the briefing files write them; feed subscriptions and watches as the store keeps them."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

from chatbot.vocabulary import (
    Alert,
    AnswerSentence,
    Briefing,
    Citation,
    StoredArticle,
    Story,
    StoryInfo,
    StoryLink,
    Subscription,
    Summary,
    Timeline,
    Watch,
)

JSON_VERSION = 1


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def from_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def citation_to_dict(c: Citation) -> dict[str, Any]:
    return {
        "n": c.n,
        "article_id": c.article_id,
        "title": c.title,
        "source": c.source,
        "published_at": iso(c.published_at),
        "url": c.url,
        "quote": c.quote,
        "char_start": c.char_start,
        "char_end": c.char_end,
        "supported": c.supported,
        "score": c.score,
        "reason": c.reason,
        "page": c.page,
    }


def citation_from_dict(d: dict[str, Any]) -> Citation:
    return Citation(**{**d, "published_at": from_iso(d.get("published_at"))})


def sentence_to_dict(s: AnswerSentence) -> dict[str, Any]:
    return {
        "text": s.text,
        "citations": list(s.citations),
        "supported": s.supported,
        "score": s.score,
        "reason": s.reason,
        "quoted": s.quoted,
    }


def sentence_from_dict(d: dict[str, Any]) -> AnswerSentence:
    return AnswerSentence(
        d["text"],
        tuple(d["citations"]),
        d["supported"],
        d["score"],
        d.get("reason", ""),
        bool(d.get("quoted", False)),
    )


def summary_to_dict(s: Summary) -> dict[str, Any]:
    return {
        "text": s.text,
        "citations": [citation_to_dict(c) for c in s.citations],
        "sentences": [sentence_to_dict(x) for x in s.sentences],
        "article_ids": list(s.article_ids),
        "backend": s.backend,
        "notice": s.notice,
        "skipped": [list(x) for x in s.skipped],
    }


def summary_from_dict(d: dict[str, Any]) -> Summary:
    return Summary(
        text=d["text"],
        citations=tuple(citation_from_dict(c) for c in d["citations"]),
        sentences=tuple(sentence_from_dict(x) for x in d["sentences"]),
        article_ids=tuple(d["article_ids"]),
        backend=d["backend"],
        notice=d.get("notice", ""),
        skipped=tuple((a, b) for a, b in d.get("skipped", ())),
    )


def article_to_dict(a: StoredArticle) -> dict[str, Any]:
    return {
        "id": a.id,
        "title": a.title,
        "source": a.source,
        "published_at": a.published_at.isoformat() if a.published_at else None,
        "url": a.url,
        "authors": list(a.authors),
        "language": a.language,
        "chunks": a.chunks,
        "content_hash": a.content_hash,
    }


def article_from_dict(d: dict[str, Any]) -> StoredArticle:
    published = d.get("published_at")
    return StoredArticle(
        id=d["id"],
        title=d["title"],
        source=d["source"],
        published_at=datetime.fromisoformat(published) if published else None,
        url=d.get("url"),
        authors=tuple(d.get("authors", ())),
        language=d.get("language"),
        chunks=int(d.get("chunks", 0)),
        content_hash=d.get("content_hash", ""),
    )


def briefing_to_dict(briefing: Briefing) -> dict[str, Any]:
    return {
        "version": JSON_VERSION,
        "key": briefing.key,
        "date": briefing.date.isoformat() if briefing.date else None,
        "since": briefing.since.isoformat(),
        "until": briefing.until.isoformat(),
        "generated_at": briefing.generated_at.isoformat(),
        "backend": briefing.backend,
        "notice": briefing.notice,
        "skipped": [list(x) for x in briefing.skipped],
        "stories": [
            {
                "number": i,
                "headline": s.headline,
                "summary": s.summary,
                "outlets": list(s.outlets),
                "also_reported_by": list(s.also_reported_by),
                "notice": s.notice,
                "story_id": s.story_id,
                "status": s.status,
                "continues": (
                    {
                        "briefing": s.continues.briefing,
                        "number": s.continues.number,
                        "headline": s.continues.headline,
                    }
                    if s.continues
                    else None
                ),
                "sentences": [sentence_to_dict(x) for x in s.sentences],
                "citations": [citation_to_dict(c) for c in s.citations],
                "articles": [article_to_dict(a) for a in s.articles],
            }
            for i, s in enumerate(briefing.stories, 1)
        ],
    }


def timeline_to_dict(t: Timeline) -> dict[str, Any]:
    return {
        "story_id": t.story_id,
        "headline": t.headline,
        "notice": t.notice,
        "developments": [
            {
                "day": d.day.isoformat(),
                "summary": d.summary.text,
                "sentences": [sentence_to_dict(x) for x in d.summary.sentences],
                "citations": [citation_to_dict(c) for c in d.summary.citations],
                "articles": [article_to_dict(a) for a in d.articles],
                "repeated": d.repeated,
            }
            for d in t.developments
        ],
    }


def story_info_to_dict(s: StoryInfo) -> dict[str, Any]:
    return asdict(s)  # plain fields only


def briefing_to_json(briefing: Briefing) -> str:
    return json.dumps(briefing_to_dict(briefing), ensure_ascii=False, indent=2)


def briefing_from_dict(d: dict[str, Any]) -> Briefing:
    return Briefing(
        date=date.fromisoformat(d["date"]) if d.get("date") else None,
        since=datetime.fromisoformat(d["since"]),
        until=datetime.fromisoformat(d["until"]),
        generated_at=datetime.fromisoformat(d["generated_at"]),
        backend=d["backend"],
        notice=d.get("notice", ""),
        skipped=tuple((a, b) for a, b in d.get("skipped", ())),
        stories=tuple(
            Story(
                headline=s["headline"],
                summary=s["summary"],
                citations=tuple(citation_from_dict(c) for c in s["citations"]),
                articles=tuple(article_from_dict(a) for a in s["articles"]),
                outlets=tuple(s["outlets"]),
                sentences=tuple(sentence_from_dict(x) for x in s.get("sentences", ())),
                notice=s.get("notice", ""),
                story_id=s.get("story_id", ""),
                status=s.get("status", ""),
                continues=StoryLink(**s["continues"]) if s.get("continues") else None,
            )
            for s in d["stories"]
        ),
    )


def briefing_from_json(text: str) -> Briefing:
    return briefing_from_dict(json.loads(text))


def subscription_to_json(sub: Subscription) -> str:
    return json.dumps(
        {
            "url": sub.url,
            "name": sub.name,
            "every": sub.every,
            "added_at": iso(sub.added_at),
            "last_checked": iso(sub.last_checked),
            "last_success": iso(sub.last_success),
            "last_error": sub.last_error,
            "last_result": sub.last_result,
            "articles_added": sub.articles_added,
            "etag": sub.etag,
            "last_modified": sub.last_modified,
            "retry_at": iso(sub.retry_at),
            "entries": sub.entries,
        },
        ensure_ascii=False,
    )


def subscription_from_json(text: str) -> Subscription:
    d = json.loads(text)
    return Subscription(
        url=d["url"],
        name=d.get("name") or d["url"],
        every=int(d["every"]),
        added_at=from_iso(d.get("added_at")) or datetime.now(UTC),
        last_checked=from_iso(d.get("last_checked")),
        last_success=from_iso(d.get("last_success")),
        last_error=d.get("last_error", ""),
        last_result=d.get("last_result", ""),
        articles_added=int(d.get("articles_added", 0)),
        etag=d.get("etag", ""),
        last_modified=d.get("last_modified", ""),
        retry_at=from_iso(d.get("retry_at")),
        entries=dict(d.get("entries") or {}),
    )


def watch_to_dict(w: Watch) -> dict[str, Any]:
    return {
        "id": w.id,
        "question": w.question,
        "every": w.every,
        "added_at": iso(w.added_at),
        "answer": w.answer,
        "sentences": [sentence_to_dict(s) for s in w.sentences],
        "citations": [citation_to_dict(c) for c in w.citations],
        "evidence": list(w.evidence),
        "last_checked": iso(w.last_checked),
        "store_token": w.store_token,
        "alerts": w.alerts,
        "last_alert_at": iso(w.last_alert_at),
        "last_error": w.last_error,
    }


def watch_to_json(w: Watch) -> str:
    return json.dumps(watch_to_dict(w), ensure_ascii=False)


def watch_from_json(text: str) -> Watch:
    d = json.loads(text)
    added = from_iso(d["added_at"])
    if added is None:
        raise ValueError("no added_at")
    return Watch(
        id=d["id"],
        question=d["question"],
        every=d.get("every"),
        added_at=added,
        answer=d.get("answer", ""),
        sentences=tuple(sentence_from_dict(s) for s in d.get("sentences", ())),
        citations=tuple(citation_from_dict(c) for c in d.get("citations", ())),
        evidence=tuple(d.get("evidence", ())),
        last_checked=from_iso(d.get("last_checked")),
        store_token=d.get("store_token"),
        alerts=int(d.get("alerts", 0)),
        last_alert_at=from_iso(d.get("last_alert_at")),
        last_error=d.get("last_error", ""),
    )


def alert_to_dict(a: Alert) -> dict[str, Any]:
    return {
        "type": "watch_alert",
        "key": a.key,
        "watch_id": a.watch_id,
        "question": a.question,
        "at": iso(a.at),
        "text": " ".join(s.text for s in a.sentences),
        "sentences": [sentence_to_dict(s) for s in a.sentences],
        "citations": [citation_to_dict(c) for c in a.citations],
        "previous": a.previous,
    }


def alert_from_dict(d: dict[str, Any]) -> Alert:
    at = from_iso(d["at"])
    if at is None:
        raise ValueError("no time")
    return Alert(
        watch_id=d["watch_id"],
        question=d["question"],
        at=at,
        sentences=tuple(sentence_from_dict(s) for s in d["sentences"]),
        citations=tuple(citation_from_dict(c) for c in d["citations"]),
        previous=d.get("previous", ""),
    )
