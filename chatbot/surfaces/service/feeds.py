"""REST for feed subscriptions and the news desk: ``/api/feeds``, ``/api/refresh``,
``/api/desk`` and the briefings' Atom feed ``/api/briefings.atom`` (plugged into ``create_app``
as an extra router, so the same API keys and rate limit apply)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from chatbot.errors import ChatbotError, FeedError
from chatbot.presentation.atom import briefings_atom
from chatbot.presentation.labels import format_every
from chatbot.surfaces.service.errors import ApiError
from chatbot.vocabulary import FeedReport, RefreshReport, Subscription

if TYPE_CHECKING:
    from chatbot.bot import Chatbot, NewsDesk


class FeedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(description="The RSS/Atom feed (http/https).")
    name: str | None = Field(None, description="A name for the feed (default: its URL).")
    every: str | None = Field(None, description="Polling interval: 30m, 1h, 6h, 1d.")
    refresh: bool = Field(True, description="Poll the feed at once.")


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    urls: list[str] = Field(default_factory=list, description="Only these feeds (due or not).")
    due_only: bool = Field(
        default=False,
        description="Only the feeds whose interval has passed, as the news desk's timer polls "
        "(default: every feed now; an unchanged one costs one HTTP 304).",
    )
    # Every feed is the default now; kept so that older clients' {"all": true} still works.
    all: bool | None = Field(default=None, description="Deprecated: every feed is the default.")


def _when(value: Any) -> str | None:
    return value.isoformat() if value else None


def feed_json(sub: Subscription) -> dict[str, Any]:
    return {
        "url": sub.url,
        "name": sub.name,
        "every": format_every(sub.every),
        "added_at": _when(sub.added_at),
        "last_checked": _when(sub.last_checked),
        "last_success": _when(sub.last_success),
        "last_result": sub.last_result,
        "last_error": sub.last_error,
        "articles_added": sub.articles_added,
        "next_due": _when(sub.next_due),
        "entries": len(sub.entries),
    }


def feed_report_json(feed: FeedReport) -> dict[str, Any]:
    return {
        "url": feed.url,
        "name": feed.name,
        "status": feed.status,
        "summary": feed.summary(),
        "added": feed.added,
        "updated": feed.updated,
        "unchanged": feed.unchanged,
        "removed": feed.removed,
        "failed": [{"item": i, "reason": r} for i, r in feed.failed],
        "feed_summary_only": [{"item": i, "reason": r} for i, r in feed.teasers],
        "notes": [{"item": i, "note": n} for i, n in feed.notes],
        "error": feed.error,
        "requests": feed.requests,
        "seconds": round(feed.seconds, 3),
    }


def refresh_json(report: RefreshReport) -> dict[str, Any]:
    return {
        "summary": report.summary(),
        "ok": report.ok,
        "feeds": [feed_report_json(f) for f in report.feeds],
    }


def feeds_router(bot: Chatbot, desk: NewsDesk | None = None) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["feeds"])

    @router.get("/feeds")
    def list_feeds() -> dict[str, Any]:
        """Subscribed feeds and their status."""
        return {"feeds": [feed_json(s) for s in bot.feeds()]}

    @router.post("/feeds")
    async def add_feed(body: FeedRequest) -> dict[str, Any]:
        """Subscribe to a feed (kept with the store); polls it at once unless refresh=false."""
        try:
            sub = bot.add_feed(body.url, name=body.name, every=body.every)
        except FeedError as exc:
            raise ApiError(400, str(exc), param="url" if "URL" in str(exc) else "every") from exc
        result: dict[str, Any] = {"feed": feed_json(sub)}
        if body.refresh:
            report = await run_in_threadpool(bot.refresh, [sub.url])
            result["refresh"] = refresh_json(report)
            result["feed"] = feed_json(bot.feed(sub.url) or sub)
        return result

    @router.delete("/feeds")
    def remove_feed(
        url: Annotated[str, Query(description="The subscribed feed's URL.")],
    ) -> dict[str, Any]:
        """Unsubscribe; the feed's stored articles stay."""
        if not bot.remove_feed(url):
            raise ApiError(404, f"Not subscribed to {url}; GET /api/feeds lists the feeds.")
        return {"deleted": url}

    @router.post("/refresh")
    async def refresh(body: RefreshRequest | None = None) -> dict[str, Any]:
        """Poll every feed now (or the given ones; only the due ones with due_only) and store
        new and changed articles."""
        body = body or RefreshRequest()
        if body.due_only and body.all:
            raise ApiError(400, "due_only and all contradict each other; give one.", param="all")
        try:
            report = await run_in_threadpool(bot.refresh, body.urls or None, due_only=body.due_only)
        except FeedError as exc:
            raise ApiError(404, str(exc), param="urls") from exc
        return refresh_json(report)

    @router.get("/desk", tags=["briefings"])
    def desk_status() -> dict[str, Any]:
        """The news desk's schedule, last runs and deliveries waiting for a retry."""
        if desk is None:
            raise ApiError(404, "The news desk is not running in this server (--no-desk).")
        return desk.status()

    @router.get("/briefings.atom", tags=["briefings"], response_model=None)
    def atom(request: Request) -> Response:
        """The stored briefings as an Atom feed, for feed readers."""
        stored = []
        for key in bot.list_briefings():
            try:
                stored.append(bot.load_briefing(key))
            except (ChatbotError, ValueError, KeyError):
                continue  # an unreadable stored briefing is left out, not a broken feed
        base = str(request.base_url).rstrip("/")
        text = briefings_atom(
            stored,
            self_url=f"{base}/api/briefings.atom",
            href=lambda b: f"{base}/api/briefings/{b.key}?format=html",
        )
        return Response(text, media_type="application/atom+xml")

    return router
