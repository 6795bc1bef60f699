"""OpenAI and OpenAI-compatible servers (Ollama, vLLM, llama.cpp server, LM Studio).

Both backends use the official ``openai`` client (checked in openai 3.57: ``_base_client.py``).
Its own retry loop already backs off exponentially from 0.5 s (max 8 s, with jitter) and honours
``Retry-After``/``retry-after-ms`` up to 120 s for timeouts, connection errors, 408, 409, 429 and
5xx, and never retries 400/401/403/404. We only set how often and how long, and turn whatever
finally fails into an :class:`LLMError` that says what to do next.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import openai
from openai import OpenAI

from chatbot.common.tokens import count_cl100k, encoding_for_model
from chatbot.config import Settings
from chatbot.llm.base import LLMBackend, LLMError, Message

logger = logging.getLogger(__name__)

OPENAI_URL = "https://api.openai.com/v1"
OPENAI_DEFAULT_MODEL = "gpt-4o-mini"
OPENAI_CONTEXT_WINDOW = 128_000
COMPATIBLE_CONTEXT_WINDOW = 8192
# Sent when the server needs no key: the client refuses an empty one.
NO_KEY = "not-needed"

_BACKEND_HINT = "choose another backend with CHATBOT_LLM_BACKEND"
_KEY_HINT = "check your API key (CHATBOT_LLM_API_KEY / OPENAI_API_KEY)"


def _server_message(exc: openai.APIError) -> str:
    """The server's own words from an error response, whatever shape its JSON has."""
    body: Any = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            for key in ("message", "detail", "msg"):
                if inner.get(key):
                    return str(inner[key])
            return json.dumps(inner)[:500]
        if inner:
            return str(inner)[:500]
    if isinstance(body, str) and body.strip():
        return body.strip()[:500]
    return exc.message


def _is_timeout(exc: BaseException) -> bool:
    if isinstance(exc, openai.APITimeoutError):
        return True
    # A raw transport timeout (httpx/httpx2 TimeoutException, socket timeout) mid-stream.
    return any(c.__name__ in ("TimeoutException", "TimeoutError") for c in type(exc).__mro__)


class _OpenAIChat(LLMBackend):
    """Shared code: request building, streaming and error wording."""

    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        api_key: str,
        model: str | None,
        context_window: int,
        settings: Settings,
        url_hint: str,
    ) -> None:
        self.name = name
        self.context_window = context_window
        self.base_url = base_url.rstrip("/")
        self._model = model
        self._model_lock = threading.Lock()
        self._url_hint = url_hint
        self._timeout = settings.llm_timeout
        self._retries = settings.llm_retries
        self._temperature = settings.llm_temperature
        self._max_tokens = settings.llm_max_tokens
        # Building the client opens no connection; the first request does.
        self._client = OpenAI(
            base_url=self.base_url,
            api_key=api_key,
            timeout=settings.llm_timeout,
            max_retries=settings.llm_retries,
            default_headers=dict(settings.llm_extra_headers) or None,
        )

    # --- model ---------------------------------------------------------------------------
    @property
    def model(self) -> str:  # type: ignore[override]
        if self._model is None:
            with self._model_lock:  # one /models request even when threads race
                if self._model is None:
                    self._model = self._default_model()
        return self._model

    def _default_model(self) -> str:
        raise NotImplementedError

    # --- generation ----------------------------------------------------------------------
    def _token_limit_kwargs(self, max_tokens: int) -> dict[str, int]:
        return {"max_tokens": max_tokens}

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        model = self.model
        request: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "temperature": self._temperature if temperature is None else temperature,
            "stream": True,
            **self._token_limit_kwargs(self._max_tokens if max_tokens is None else max_tokens),
        }
        if stop:
            request["stop"] = list(stop)
        try:
            response = self._client.chat.completions.create(**request)
        except Exception as exc:
            raise self._error(exc) from exc

        finish_reason: str | None = None
        try:
            # ``with`` closes the HTTP response also when the caller stops iterating early.
            with response:
                for chunk in response:
                    # Some servers send chunks without choices (usage, content filter notes).
                    for choice in chunk.choices[:1]:
                        if choice.delta is not None and choice.delta.content:
                            yield choice.delta.content
                        if choice.finish_reason:
                            finish_reason = choice.finish_reason
        except LLMError:
            raise
        except Exception as exc:
            raise self._error(exc, mid_stream=True) from exc
        if finish_reason is None:
            # A stream that ends without a finish reason was cut off (proxy, crash, restart).
            raise LLMError(
                f"The LLM server at {self.base_url} ended the answer before it was complete "
                "(the stream stopped without a finish reason). Try again."
            )
        if finish_reason == "length":
            logger.debug("%s: answer stopped at max_tokens (finish_reason=length)", self.name)
        elif finish_reason != "stop":
            logger.debug("%s: answer ended with finish_reason=%s", self.name, finish_reason)

    # --- errors --------------------------------------------------------------------------
    def _error(self, exc: Exception, *, mid_stream: bool = False) -> LLMError:
        url = self.base_url
        attempts = self._retries + 1
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        if isinstance(exc, LLMError):
            return exc
        # APITimeoutError is a subclass of APIConnectionError: check it first.
        if _is_timeout(exc):
            if mid_stream:
                return LLMError(
                    f"The LLM server at {url} stopped sending the answer for more than "
                    f"{self._timeout:g} s. Try again, or raise CHATBOT_LLM_TIMEOUT."
                )
            return LLMError(
                f"The LLM server at {url} did not answer within {self._timeout:g} s ({tries}). "
                "Try again, raise CHATBOT_LLM_TIMEOUT, or use a faster model."
            )
        transport_failed = isinstance(exc, openai.APIConnectionError) or not isinstance(
            exc, (openai.APIError, ValueError)
        )
        if mid_stream and transport_failed:
            # The transport failed after the answer had started (openai wraps it as a
            # connection error; older clients let the raw httpx error through).
            cause: BaseException = exc.__cause__ or exc
            return LLMError(
                f"The connection to the LLM server at {url} broke off mid-answer "
                f"({type(cause).__name__}: {cause}). Try again."
            )
        if isinstance(exc, openai.APIConnectionError):
            reason = exc.__cause__
            detail = f" ({reason})" if reason is not None and str(reason) else ""
            return LLMError(f"Cannot reach the LLM server at {url}{detail}. {self._url_hint}")
        if isinstance(exc, openai.AuthenticationError):
            return LLMError(
                f"The LLM server at {url} rejected the request (401 Unauthorized): "
                f"{_KEY_HINT}. Server said: {_server_message(exc)}"
            )
        if isinstance(exc, openai.PermissionDeniedError):
            return LLMError(
                f"The LLM server at {url} refused access (403): {_server_message(exc)}. "
                f"If this is unexpected, {_KEY_HINT}."
            )
        if isinstance(exc, openai.NotFoundError):
            return LLMError(
                f"The LLM server at {url} answered 404 for model {self._model!r}: "
                f"{_server_message(exc)}. Check CHATBOT_LLM_MODEL and CHATBOT_LLM_BASE_URL."
            )
        if isinstance(exc, openai.RateLimitError):
            return LLMError(
                f"The LLM server at {url} is rate-limiting requests (429, after up to {tries}): "
                f"{_server_message(exc)}. Wait a moment and try again."
            )
        if isinstance(exc, openai.InternalServerError):
            return LLMError(
                f"The LLM server at {url} failed ({exc.status_code}, after up to {tries}): "
                f"{_server_message(exc)}"
            )
        if isinstance(exc, openai.APIStatusError):
            return LLMError(
                f"The LLM server at {url} refused the request ({exc.status_code}): "
                f"{_server_message(exc)}"
            )
        if isinstance(exc, openai.APIError):  # e.g. an error event inside the stream
            return LLMError(f"The LLM server at {url} reported an error: {_server_message(exc)}")
        if isinstance(exc, ValueError):  # json.JSONDecodeError and friends
            return LLMError(
                f"The LLM server at {url} sent a response that is not valid JSON ({exc}). "
                "Is CHATBOT_LLM_BASE_URL the OpenAI-compatible API root (usually ending in /v1)?"
            )
        return LLMError(
            f"Unexpected error from the LLM server at {url}: {type(exc).__name__}: {exc}"
        )

    def describe(self) -> str:
        model = self._model or "model not yet known"
        return f"{self.name} ({model} at {self.base_url})"


class OpenAIBackend(_OpenAIChat):
    """OpenAI's API (or anything that speaks it, when llm_base_url is set)."""

    def __init__(self, settings: Settings) -> None:
        api_key = (
            settings.llm_api_key.get_secret_value() if settings.llm_api_key is not None else None
        ) or settings.resolved_openai_key
        if not api_key:
            raise LLMError(
                "The openai backend needs an API key: set OPENAI_API_KEY (or CHATBOT_LLM_API_KEY),"
                f" or {_BACKEND_HINT} (e.g. local or extractive, which need none)."
            )
        base_url = settings.llm_base_url or OPENAI_URL
        hint = (
            "Start it, or change CHATBOT_LLM_BASE_URL (or choose another backend with "
            "CHATBOT_LLM_BACKEND)."
            if settings.llm_base_url
            else f"Check the network connection, or {_BACKEND_HINT}."
        )
        super().__init__(
            name="openai",
            # Always explicit: otherwise the client would read OPENAI_BASE_URL on its own.
            base_url=base_url,
            api_key=api_key,
            model=settings.llm_model or OPENAI_DEFAULT_MODEL,
            context_window=settings.llm_context_window or OPENAI_CONTEXT_WINDOW,
            settings=settings,
            url_hint=hint,
        )
        self._official_api = settings.llm_base_url is None

    def _token_limit_kwargs(self, max_tokens: int) -> dict[str, int]:
        # OpenAI's reasoning models accept only max_completion_tokens; servers that imitate the
        # API (llama.cpp, older vLLM/Ollama) know only max_tokens.
        if self._official_api:
            return {"max_completion_tokens": max_tokens}
        return {"max_tokens": max_tokens}

    def _default_model(self) -> str:  # pragma: no cover - the model is always set
        return OPENAI_DEFAULT_MODEL

    def count_tokens(self, text: str) -> int:
        # The model's own encoding when it is cached offline (o200k is not bundled), else cl100k.
        return len(encoding_for_model(self.model).encode(text, disallowed_special=()))


class OpenAICompatibleBackend(_OpenAIChat):
    """Any server with an OpenAI-style /v1/chat/completions endpoint."""

    def __init__(self, settings: Settings) -> None:
        if not settings.llm_base_url:
            raise LLMError(
                "The openai-compatible backend needs the server's URL: set CHATBOT_LLM_BASE_URL "
                f"(e.g. http://127.0.0.1:11434/v1 for Ollama), or {_BACKEND_HINT}."
            )
        # Only llm_api_key, never OPENAI_API_KEY: an OpenAI key must not leak to other servers.
        api_key = (
            settings.llm_api_key.get_secret_value() if settings.llm_api_key is not None else None
        )
        super().__init__(
            name="openai-compatible",
            base_url=settings.llm_base_url,
            api_key=api_key or NO_KEY,
            model=settings.llm_model,
            context_window=settings.llm_context_window or COMPATIBLE_CONTEXT_WINDOW,
            settings=settings,
            url_hint="Start it, or change CHATBOT_LLM_BASE_URL (or choose another backend with "
            "CHATBOT_LLM_BACKEND).",
        )

    def _default_model(self) -> str:
        """The first model the server lists (Ollama and vLLM need a real name)."""
        try:
            models = list(self._client.models.list())
        except openai.NotFoundError as exc:
            raise LLMError(
                f"The LLM server at {self.base_url} has no model list (/models answered 404): "
                "set CHATBOT_LLM_MODEL to the model name."
            ) from exc
        except Exception as exc:
            raise self._error(exc) from exc
        if not models:
            raise LLMError(
                f"The LLM server at {self.base_url} lists no models: load one on the server, "
                "or set CHATBOT_LLM_MODEL."
            )
        return str(models[0].id)

    def count_tokens(self, text: str) -> int:
        # The server's tokenizer is unknown to us: cl100k is a close-enough approximation.
        return count_cl100k(text)
