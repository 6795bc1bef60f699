"""Who may call the API and how much: bearer API keys, a per-key rate limit and a request size
limit. Keys are compared in constant time and never logged or echoed."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatbot.surfaces.service.errors import ApiError, error_body


class ApiKeys:
    """The accepted keys (none: the API is open, which ``create_app`` allows on loopback only)."""

    def __init__(self, keys: Sequence[str]) -> None:
        # Digests of equal length, so the comparison time does not depend on the key's length.
        self._digests = [hashlib.sha256(k.encode()).digest() for k in keys if k]

    @property
    def required(self) -> bool:
        return bool(self._digests)

    def identify(self, token: str) -> str | None:
        """A name for the key (``key-N``, for rate limiting and logs) or None when unknown.
        Every key is compared, so the time taken does not say which one matched."""
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        for i, known in enumerate(self._digests, 1):
            if hmac.compare_digest(digest, known) and found is None:
                found = f"key-{i}"
        return found


class RateLimiter:
    """A token bucket per caller: ``per_minute`` requests, refilled evenly; 0 turns it off."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, last time)
        self._lock = threading.Lock()

    def acquire(self, caller: str) -> float:
        """0 when the request may go ahead, else the seconds until it may."""
        if self.per_minute <= 0:
            return 0.0
        rate = self.per_minute / 60.0
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(caller, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[caller] = (tokens - 1.0, now)
                return 0.0
            self._buckets[caller] = (tokens, now)
            return (1.0 - tokens) / rate


_bearer = HTTPBearer(auto_error=False, description="An API key from CHATBOT_API_KEYS.")


class Access:
    """The FastAPI dependency of every protected route: a valid key, then the rate limit.
    Returns the caller's name (``key-N``, or the client address when no keys are set)."""

    def __init__(self, keys: ApiKeys, limiter: RateLimiter) -> None:
        self.keys = keys
        self.limiter = limiter

    async def __call__(
        self,
        request: Request,
        # Declared, not called, so that the OpenAPI docs offer the bearer key ("Authorize").
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> str:
        if self.keys.required:
            caller = self.keys.identify(credentials.credentials) if credentials else None
            if caller is None:
                given = "an unknown API key" if credentials else "no API key"
                raise ApiError(
                    401,
                    f"The request has {given}. Send one of the keys in CHATBOT_API_KEYS as "
                    "'Authorization: Bearer KEY'.",
                    code="invalid_api_key",
                    headers={"WWW-Authenticate": "Bearer"},
                )
        else:
            caller = f"client-{request.client.host if request.client else 'unknown'}"
        wait = self.limiter.acquire(caller)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise ApiError(
                429,
                f"Rate limit of {self.limiter.per_minute} requests per minute reached for this "
                f"key; retry in {seconds} s (CHATBOT_API_RATE_LIMIT sets the limit).",
                code="rate_limit_exceeded",
                headers={"Retry-After": str(seconds)},
            )
        return caller


class BodyLimit:
    """ASGI middleware: refuse request bodies over a limit with 413 before the app reads them.

    ``limit_for(path)`` gives the limit for a path, or None for paths it does not guard (the
    mounted web UI enforces its own upload limit)."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int | None]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit_for(scope.get("path", "")) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _drain(receive, int(declared))
            await _too_large(send, limit)
            return
        # No or a small Content-Length: read the body (stopping past the limit) and replay it.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            more = message.get("more_body", False)
            size += len(body)
            if size > limit:
                if more:
                    await _drain(receive, _DRAIN_MAX)
                await _too_large(send, limit)
                return
            chunks.append(body)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


# A refused body is read (and dropped) up to this size before answering: a client still sending
# when the server closes would get a connection reset instead of the 413 and its message.
_DRAIN_MAX = 64_000_000


async def _drain(receive: Receive, declared: int) -> None:
    if declared > _DRAIN_MAX:
        return
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps(
        error_body(
            413,
            f"The request body is over the limit of {limit:,} bytes; send less "
            "(CHATBOT_API_MAX_REQUEST_BYTES sets the limit; file uploads: "
            "CHATBOT_UPLOAD_MAX_BYTES).",
            code="request_too_large",
        )
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
