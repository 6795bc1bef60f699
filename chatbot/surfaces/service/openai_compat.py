"""The OpenAI-compatible chat API: ``GET /v1/models`` and ``POST /v1/chat/completions``.

The last user message is the question; earlier user/assistant pairs are the conversation (so
follow-ups work); system messages are ignored (the desk's own prompt and checks apply). Every
response, or the final stream chunk, carries ``citations`` and ``sources`` numbered like the
``[n]`` markers in the text. Filters come as extra body fields (``since``, ``until``,
``sources``, ``authors``, ``article_ids``, ``as_of``); with the ``openai`` client pass them in
``extra_body``.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from chatbot.bot import ChatSession, make_filters
from chatbot.common.dates import to_datetime
from chatbot.common.tokens import count_cl100k
from chatbot.errors import USER_ERRORS
from chatbot.presentation.text import answer_to_text
from chatbot.surfaces.service.errors import ApiError, error_body
from chatbot.surfaces.service.shapes import answer_extras
from chatbot.vocabulary import Answer, AnswerEvent, Filters, TokenEvent, Turn

if TYPE_CHECKING:
    from chatbot.bot import Chatbot
    from chatbot.surfaces.service.access import Access

log = logging.getLogger(__name__)
_WORDS = re.compile(r"\[\d+\]|\w+")

# One model per answering mode; today the desk has one, answering with the configured backend.
MODEL_ID = "news-desk"


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text or "" for p in self.content if p.type == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class ChatRequest(BaseModel):
    """OpenAI's request body; sampling fields it sends (temperature, top_p, ...) are accepted
    and ignored: the desk's settings decide them."""

    model_config = ConfigDict(extra="ignore")
    model: str = Field(description=f"'{MODEL_ID}' (see GET /v1/models).")
    messages: list[ChatMessage] = Field(description="The conversation; the last is the question.")
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(1, ge=1, le=1, description="Only one answer per request.")
    since: str | None = Field(None, description="Only articles published on or after (date).")
    until: str | None = Field(None, description="Only articles published before (date).")
    sources: list[str] | str | None = Field(None, description="Only these outlets.")
    authors: list[str] | str | None = Field(None, description="Only these authors.")
    article_ids: list[str] | str | None = Field(None, description="Only these articles.")
    as_of: str | None = Field(None, description="Read the news as of this date.")
    append_sources: bool = Field(
        False,
        description="Also write the notice, unsupported-sentence marks and the numbered source "
        "list into the message text (for chat front ends that show only the text).",
    )


def _filters(req: ChatRequest) -> Filters:
    dates = {}
    for name in ("since", "until", "as_of"):
        value = getattr(req, name)
        if value is not None:
            try:
                dates[name] = to_datetime(value)
            except ValueError as exc:
                raise ApiError(400, f"{name}: {exc}", param=name) from exc
    return make_filters(
        dates.get("since"),
        dates.get("until"),
        req.sources,
        req.authors,
        req.article_ids,
        dates.get("as_of"),
    )


def _conversation(req: ChatRequest) -> tuple[str, list[Turn]]:
    """(the question, earlier turns as (question, answer) pairs)."""
    if not req.messages:
        raise ApiError(400, "messages is empty; send at least one user message.", param="messages")
    last = req.messages[-1]
    question = last.text().strip()
    if last.role != "user" or not question:
        raise ApiError(
            400,
            "The last message must be a user message with the question as text.",
            param="messages",
        )
    turns: list[Turn] = []
    pending: str | None = None
    for m in req.messages[:-1]:
        if m.role == "user":
            pending = m.text().strip() or None
        elif m.role == "assistant" and pending:
            turns.append(Turn(pending, pending, m.text().strip()))
            pending = None
    return question, turns


def _usage(req: ChatRequest, answer_text: str) -> dict[str, int]:
    # Counted with cl100k over the messages sent and the answer returned.
    prompt = sum(count_cl100k(m.text()) for m in req.messages)
    completion = count_cl100k(answer_text)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _text(answer: Answer, append_sources: bool) -> str:
    return answer_to_text(answer) if append_sources else answer.text


class _Completion:
    """One request's id, clock and model, shared by its response or its stream chunks."""

    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model

    def head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    def chunk(self, delta: dict[str, Any], finish: str | None = None, **more: Any) -> str:
        body = {
            **self.head("chat.completion.chunk"),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **more,
        }
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def chat_router(bot: Chatbot, access: Access) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["OpenAI-compatible chat"])
    started = int(time.time())

    def model_card() -> dict[str, Any]:
        return {
            "id": MODEL_ID,
            "object": "model",
            "created": started,
            "owned_by": "chatbot",
            "description": f"Cited answers from the stored news ({bot.llm_description}).",
        }

    @router.get("/models", dependencies=[Depends(access)])
    def list_models() -> dict[str, Any]:
        """The answering modes, as OpenAI models."""
        return {"object": "list", "data": [model_card()]}

    @router.get("/models/{model}", dependencies=[Depends(access)])
    def get_model(model: str) -> dict[str, Any]:
        if model != MODEL_ID:
            raise ApiError(404, f"Unknown model {model!r}; use {MODEL_ID!r}.", param="model")
        return model_card()

    def session_for(req: ChatRequest) -> tuple[str, ChatSession, Filters]:
        if req.model != MODEL_ID:
            raise ApiError(
                404,
                f"Unknown model {req.model!r}; use {MODEL_ID!r} (GET /v1/models lists them).",
                param="model",
                code="model_not_found",
            )
        question, turns = _conversation(req)
        filters = _filters(req)
        session = bot.chat_session()
        keep = bot.settings.history_turns
        session.history.extend(turns[max(0, len(turns) - keep) :])
        return question, session, filters

    @router.post("/chat/completions", dependencies=[Depends(access)], response_model=None)
    def chat_completions(req: ChatRequest) -> dict[str, Any] | StreamingResponse:
        """A cited answer to the last user message; ``stream: true`` for server-sent events."""
        question, session, filters = session_for(req)
        completion = _Completion(req.model)
        if req.stream:
            events = _stream(session.stream(question, filters), req, completion)
            return StreamingResponse(
                events,
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        answer = session.ask(question, filters)
        text = _text(answer, req.append_sources)
        return {
            **completion.head("chat.completion"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(req, text),
            **answer_extras(answer),
        }

    return router


def _words(text: str) -> list[str]:
    """Words and [n] markers in order, without spacing and punctuation."""
    return _WORDS.findall(text.lower())


def _stream(events: Iterator[Any], req: ChatRequest, completion: _Completion) -> Iterator[str]:
    """Server-sent events: the role, text pieces as they come, then a final chunk with the
    citations, sources and usage. When the checked answer differs from what was streamed (an
    LLM's sentences flagged or removed), the final chunk's delta says so and gives the checked
    text, so that no unchecked text stands alone."""
    yield completion.chunk({"role": "assistant", "content": ""})
    streamed = ""
    try:
        for event in events:
            if isinstance(event, TokenEvent) and event.text:
                streamed += event.text
                yield completion.chunk({"content": event.text})
            elif isinstance(event, AnswerEvent):
                answer = event.answer
                text = _text(answer, req.append_sources)
                if not streamed.strip():
                    rest = text
                elif text.startswith(streamed.rstrip()):
                    rest = text[len(streamed.rstrip()) :]
                elif _words(text) == _words(streamed):
                    rest = ""  # the same words and markers, only spaced or punctuated otherwise
                else:
                    rest = "\n\nChecked answer: " + text
                usage = _usage(req, streamed + rest)
                extras = {**answer_extras(answer), "usage": usage}
                yield completion.chunk({"content": rest} if rest else {}, "stop", **extras)
                if req.stream_options and req.stream_options.include_usage:
                    body = {**completion.head("chat.completion.chunk"), "choices": []}
                    yield f"data: {json.dumps({**body, 'usage': usage})}\n\n"
    except Exception as exc:  # headers are sent: the error goes in the stream, as OpenAI does
        message = str(exc) if isinstance(exc, USER_ERRORS) else type(exc).__name__
        if not isinstance(exc, USER_ERRORS):
            log.exception("streamed answer failed")
        yield f"data: {json.dumps(error_body(500, f'The answer failed: {message}'))}\n\n"
    yield "data: [DONE]\n\n"
