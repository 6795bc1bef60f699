"""Every error the API returns is JSON in OpenAI's shape, so the ``openai`` client and any REST
client read the same body: ``{"error": {"message", "type", "param", "code"}}``. The message says
what to fix; the server keeps serving."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from chatbot.common.dates import DateParseError
from chatbot.errors import USER_ERRORS

log = logging.getLogger(__name__)

# HTTP status -> OpenAI's error type (what its client maps to exception classes).
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
}


class ApiError(Exception):
    """An error answer: HTTP status, a message that says what to do, and optional details."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}


def error_body(
    status: int, message: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(
    status: int,
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(status, message, param, code), status, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    # ("body", "messages", 0, "content") -> "messages[0].content"
    out = ""
    for part in loc[1:] if loc and loc[0] in ("body", "query", "path") else loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    problems = []
    first: str | None = None
    for e in exc.errors():
        if e.get("type") == "json_invalid":
            ctx = e.get("ctx") or {}
            return (
                f"The body is not valid JSON ({ctx.get('error', 'malformed')}); send a JSON "
                "object with Content-Type: application/json.",
                None,
            )
        loc = tuple(e.get("loc", ()))
        if loc == ("body",) and e.get("type") in ("model_attributes_type", "dict_type"):
            return (
                "The body must be a JSON object, sent with Content-Type: application/json.",
                None,
            )
        name = _field(loc)
        first = first or name
        problems.append(f"{name}: {e.get('msg', 'invalid')}")
    return "Invalid request: " + "; ".join(problems[:5]), first


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(
            exc.status, exc.message, param=exc.param, code=exc.code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = validation_message(exc)
        return error_response(400, message, param=param)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"No such endpoint: {request.method} {request.url.path}; see /docs."
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}; see /docs."
        return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(DateParseError)
    async def _date(request: Request, exc: DateParseError) -> JSONResponse:
        return error_response(400, str(exc))

    for kind in USER_ERRORS:

        @app.exception_handler(kind)
        async def _user(request: Request, exc: Exception) -> JSONResponse:
            # Our own errors say what went wrong and what to do; they are not the caller's fault.
            log.info("%s %s refused: %s", request.method, request.url.path, exc)
            return error_response(503, str(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return error_response(
            500, f"Internal error ({type(exc).__name__}); the server log has the details."
        )
