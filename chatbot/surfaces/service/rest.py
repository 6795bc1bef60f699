"""REST for the library and the briefings: ``/api/articles``, ``/api/ingest``,
``/api/briefings``, ``/api/status`` and the key-free ``/api/health``."""

from __future__ import annotations

import logging
import os
import re
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from chatbot.codecs import briefing_to_dict
from chatbot.common.dates import DateParseError, to_datetime
from chatbot.presentation.briefing import briefing_html, briefing_markdown
from chatbot.presentation.labels import safe_url
from chatbot.surfaces import hosting
from chatbot.surfaces.service.errors import ApiError
from chatbot.surfaces.service.shapes import article_json, report_json, stored_article_json
from chatbot.vocabulary import IngestReport

if TYPE_CHECKING:
    from chatbot.bot import Chatbot
    from chatbot.surfaces.service.access import Access

log = logging.getLogger(__name__)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
BriefingFormat = Literal["json", "md", "html"]


class IngestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    urls: list[str] = Field(
        default_factory=list, description="Article pages and RSS/Atom feeds (http/https)."
    )


def _date_param(name: str, value: str | None) -> Any:
    if value is None or not value.strip():
        return None
    try:
        return to_datetime(value)
    except DateParseError as exc:
        raise ApiError(400, f"{name}: {exc}", param=name) from exc


def _day_key(value: str) -> str:
    """A briefing date (YYYY-MM-DD, today, yesterday) or a 400 that says what to send."""
    text = value.strip().lower()
    if text in ("today", "yesterday"):
        return text
    if _DAY.fullmatch(text):
        try:
            return to_datetime(text).date().isoformat()
        except DateParseError:
            pass
    raise ApiError(
        400,
        f"{value!r} is not a date; use YYYY-MM-DD (e.g. 2025-02-27), today or yesterday.",
        param="date",
    )


def _briefing_response(briefing: Any, fmt: str) -> Response:
    if fmt == "md":
        return PlainTextResponse(briefing_markdown(briefing), media_type="text/markdown")
    if fmt == "html":
        return HTMLResponse(briefing_html(briefing))
    return JSONResponse(briefing_to_dict(briefing))


def health_router(bot: Chatbot) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["health"])

    @router.get("/health", response_model=None)
    def health() -> dict[str, Any] | JSONResponse:
        """Liveness and the article count; no API key needed. 503 when the store cannot be
        read (e.g. the Chroma server is down)."""
        try:
            return {"status": "ok", "articles": bot.counts()[0]}
        except Exception as exc:
            log.warning("health check: the store cannot be read: %s", exc)
            return JSONResponse(
                {"status": "error", "detail": f"The store cannot be read ({type(exc).__name__})."},
                status_code=503,
            )

    return router


def rest_router(bot: Chatbot, access: Access) -> APIRouter:
    router = APIRouter(prefix="/api", dependencies=[Depends(access)])

    @router.get("/status", tags=["health"])
    def status() -> dict[str, Any]:
        """What the desk uses: store, models, counts, and the local model process's health."""
        health = bot.llm_health()
        return {**bot.status(), **({"llm_process_health": health} if health else {})}

    # --- articles ------------------------------------------------------------------------------

    @router.get("/articles", tags=["articles"])
    def list_articles(
        source: Annotated[list[str] | None, Query(description="Only these outlets.")] = None,
        since: Annotated[str | None, Query(description="Published on or after.")] = None,
        until: Annotated[str | None, Query(description="Published before.")] = None,
        q: Annotated[str | None, Query(description="Words in the title or outlet.")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        """Stored articles, newest first, without their text."""
        found = bot.articles(
            source=source or None,
            since=_date_param("since", since),
            until=_date_param("until", until),
        )
        if q and q.strip():
            words = q.lower().split()
            found = [a for a in found if all(w in f"{a.title} {a.source}".lower() for w in words)]
        page = found[offset : offset + limit]
        return {
            "total": len(found),
            "offset": offset,
            "limit": limit,
            "articles": [stored_article_json(a) for a in page],
        }

    @router.get("/articles/{article_id}", tags=["articles"])
    def get_article(article_id: str) -> dict[str, Any]:
        """One article with its full text."""
        article = bot.article(article_id)
        if article is None:
            raise _no_article(article_id)
        return article_json(article)

    @router.delete("/articles/{article_id}", tags=["articles"])
    def delete_article(article_id: str) -> dict[str, Any]:
        """Delete an article and all its chunks."""
        if not bot.delete(article_id):
            raise _no_article(article_id)
        return {"deleted": article_id}

    # --- ingest --------------------------------------------------------------------------------

    @router.post(
        "/ingest",
        tags=["articles"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": IngestRequest.model_json_schema()},
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "files": {
                                    "type": "array",
                                    "items": {"type": "string", "format": "binary"},
                                },
                                "urls": {"type": "array", "items": {"type": "string"}},
                            },
                        }
                    },
                },
            }
        },
    )
    async def ingest(request: Request) -> dict[str, Any]:
        """Add URLs (pages, RSS/Atom feeds) as JSON ``{"urls": [...]}``, or upload files
        (.txt .md .html .json .jsonl .pdf) as multipart ``files`` (plus optional ``urls`` fields).
        Returns the ingest report; items that failed are named with the reason, the rest go in.
        """
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "multipart/form-data":
            form = await request.form(max_files=100)
            uploads = [f for f in form.getlist("files") if not isinstance(f, str)]
            urls = [u.strip() for u in form.getlist("urls") if isinstance(u, str) and u.strip()]
            with tempfile.TemporaryDirectory(prefix="chatbot-upload-") as tmp:
                received: list[Path] = []
                for upload in uploads:
                    name = os.path.basename(upload.filename or "upload") or "upload"
                    path = Path(tmp) / str(len(received)) / name
                    path.parent.mkdir()
                    path.write_bytes(await upload.read())
                    received.append(path)
                return await _run_ingest(bot, received, urls)
        if kind != "application/json":
            raise ApiError(
                415,
                'Send JSON {"urls": [...]} with Content-Type: application/json, or files as '
                "multipart/form-data.",
            )
        try:
            body = IngestRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
            )
            raise ApiError(400, f'Invalid request: {problems}. Send {{"urls": [...]}}.') from exc
        return await _run_ingest(bot, [], [u.strip() for u in body.urls if u.strip()])

    # --- briefings -----------------------------------------------------------------------------

    @router.get("/briefings", tags=["briefings"])
    def list_briefings() -> dict[str, Any]:
        """Keys of the stored briefings (YYYY-MM-DD for a day), oldest first."""
        return {"briefings": bot.list_briefings()}

    @router.get("/briefings/{date}", tags=["briefings"], response_model=None)
    def get_briefing(date: str, format: BriefingFormat = "json") -> Response:
        """A stored briefing as JSON, Markdown or HTML."""
        stored = bot.list_briefings()
        key = date if date in stored else _day_key(date)
        if key in ("today", "yesterday"):
            key = _resolve_day(key)
        if key not in stored:
            raise ApiError(
                404,
                f"No stored briefing for {key}; generate it with POST /api/briefings/{key}. "
                f"Stored: {', '.join(stored[-5:]) or 'none yet'}.",
                param="date",
            )
        return _briefing_response(bot.load_briefing(key), format)

    @router.post("/briefings/{date}", tags=["briefings"], response_model=None)
    def generate_briefing(date: str, format: BriefingFormat = "json") -> Response:
        """Build the briefing of a day (YYYY-MM-DD, today, yesterday; UTC), write its files
        and return it."""
        brief = bot.briefing(_day_key(date))
        bot.write_briefing(brief)
        return _briefing_response(brief, format)

    return router


def _resolve_day(word: str) -> str:
    now = datetime.now(UTC)
    return (now - timedelta(days=1 if word == "yesterday" else 0)).date().isoformat()


def _no_article(article_id: str) -> ApiError:
    return ApiError(
        404,
        f"No article with id {article_id!r}; GET /api/articles lists the stored ids.",
        param="article_id",
    )


async def _run_ingest(bot: Chatbot, files: list[Path], urls: list[str]) -> dict[str, Any]:
    """Save uploads as the web UI does (sanitized names under data_dir/uploads, size and type
    checks), then ingest everything in a worker thread; refused items join the report."""
    failed: list[tuple[str, str]] = []
    items: list[str] = []
    for path in files:
        try:
            items.append(str(hosting.save_upload(bot.settings, path)))
        except (hosting.UploadRejected, OSError) as exc:
            failed.append((path.name, str(exc)))
    for url in urls:
        if safe_url(url) is None:  # anything else would be read as a server path
            failed.append((url, "not an http(s) URL"))
        else:
            items.append(url)
    if not items and not failed:
        raise ApiError(400, "Nothing to ingest: send urls and/or files.")
    report = await run_in_threadpool(bot.ingest, items) if items else None
    folder = str(hosting.uploads_dir(bot.settings)) + os.sep
    out = report_json(report or IngestReport())
    out["failed"] = [{"item": i, "reason": r} for i, r in failed] + [
        {"item": f["item"].replace(folder, ""), "reason": f["reason"].replace(folder, "")}
        for f in out["failed"]
    ]
    for key in ("added", "updated", "unchanged"):
        out[key] = [x.replace(folder, "") for x in out[key]]
    out["ok"] = not out["failed"]
    return out
