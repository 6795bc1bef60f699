"""REST for following the news: story timelines (``/api/stories``) and watched questions
(``/api/watches``), behind the same API keys and rate limit as the rest of ``/api``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from chatbot.codecs import story_info_to_dict, timeline_to_dict, watch_to_dict
from chatbot.common.dates import DateParseError, to_datetime
from chatbot.errors import ChatbotError, StoryError, WatchError
from chatbot.surfaces.service.errors import ApiError

if TYPE_CHECKING:
    from chatbot.bot import Chatbot
    from chatbot.surfaces.service.access import Access


class WatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(description="The question to answer again after each refresh.")
    every: str | None = Field(
        None, description="At most this often (30m, 1h, 1d; default: after every refresh)."
    )


def _since(value: str | None) -> Any:
    if value is None or not value.strip():
        return None
    try:
        return to_datetime(value).date()
    except DateParseError as exc:
        raise ApiError(400, f"since: {exc}", param="since") from exc


def stories_router(bot: Chatbot, access: Access) -> APIRouter:
    router = APIRouter(prefix="/api", dependencies=[Depends(access)])

    @router.get("/stories", tags=["stories"])
    def list_stories(query: str | None = None, since: str | None = None) -> dict[str, Any]:
        """The stories of the stored briefings, most recently seen first; with ``query``, the
        timeline of the story that best matches it."""
        if query is not None:
            try:
                timeline = bot.story(query=query, since=_since(since))
            except StoryError as exc:
                raise ApiError(404, str(exc), param="query") from exc
            return {"stories": [timeline_to_dict(timeline)]}
        return {"stories": [story_info_to_dict(s) for s in bot.stories()]}

    @router.get("/stories/{story_id}", tags=["stories"])
    def get_story(story_id: str, since: str | None = None) -> dict[str, Any]:
        """A story's timeline: its dated developments, oldest first, each a cited summary of
        what that day's articles added (``since``: only what is new since that day)."""
        try:
            return timeline_to_dict(bot.story(story_id, since=_since(since)))
        except StoryError as exc:
            raise ApiError(404, str(exc), param="story_id") from exc

    @router.get("/watches", tags=["watches"])
    def list_watches() -> dict[str, Any]:
        """Watched questions with their last answers."""
        return {"watches": [watch_to_dict(w) for w in bot.watches()]}

    @router.post("/watches", tags=["watches"], status_code=201)
    def add_watch(body: WatchRequest) -> dict[str, Any]:
        """Watch a question: it is answered now, and again after each refresh; an alert goes
        out when the new answer states something the last one's sources did not."""
        try:
            return watch_to_dict(bot.watch(body.question, every=body.every))
        except WatchError as exc:
            raise ApiError(400, str(exc), param="question") from exc

    @router.delete("/watches/{watch_id}", tags=["watches"])
    def remove_watch(watch_id: str) -> Response:
        try:
            removed = bot.unwatch(watch_id)
        except ChatbotError as exc:
            raise ApiError(400, str(exc), param="watch_id") from exc
        if not removed:
            raise ApiError(404, f"No watch {watch_id!r}; GET /api/watches lists them.")
        return Response(status_code=204)

    return router
