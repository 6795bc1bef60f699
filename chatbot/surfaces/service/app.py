"""The FastAPI app of ``chatbot serve`` and the uvicorn server that runs it.

One host and port serve the web UI (``/``), the OpenAI-compatible chat API (``/v1``), REST
(``/api``) and the OpenAPI docs (``/docs``). ``create_app`` takes extra routers and startup /
shutdown callables, so other features (feeds, a scheduler) plug in without changing this file.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi_offline import FastAPIOffline

from chatbot.errors import ChatbotError
from chatbot.surfaces.hosting import (
    LOOPBACK_HOSTS,
    login_for,
    login_warning,
    reach,
    warm_up_in_background,
)
from chatbot.surfaces.service.access import Access, ApiKeys, BodyLimit, RateLimiter
from chatbot.surfaces.service.errors import ApiError, install_error_handlers
from chatbot.surfaces.service.openai_compat import chat_router
from chatbot.surfaces.service.rest import health_router, rest_router
from chatbot.surfaces.service.stories import stories_router

if TYPE_CHECKING:
    from chatbot.bot import Chatbot
    from chatbot.config import Settings

log = logging.getLogger(__name__)

API_PREFIXES = ("/v1/", "/api/")
INGEST_PATH = "/api/ingest"


def create_app(
    bot: Chatbot,
    settings: Settings | None = None,
    *,
    ui: bool = True,
    extra_routers: Sequence[APIRouter] = (),
    on_startup: Sequence[Callable[[], None]] = (),
    on_shutdown: Sequence[Callable[[], None]] = (),
) -> FastAPI:
    """The app: API routes (keys, rate limit and size limits applied), ``extra_routers``
    (behind the same API keys and rate limit; size limits apply under /api and /v1), and the
    web UI at ``/`` unless ``ui=False``. ``on_startup`` callables run when the server starts,
    ``on_shutdown`` ones when it stops (in reverse order), e.g. a scheduler's start and stop."""
    settings = settings or bot.settings
    keys = ApiKeys([k.get_secret_value() for k in settings.api_keys])
    access = Access(keys, RateLimiter(settings.api_rate_limit))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        warm_up_in_background(bot)
        try:
            for start in on_startup:
                start()
            yield
        finally:
            for stop in reversed(on_shutdown):
                try:
                    stop()
                except Exception:  # one failing stop must not keep the others from running
                    log.exception("shutdown step %s failed", getattr(stop, "__name__", stop))

    # FastAPIOffline serves the docs page's Swagger UI from the package, not from a CDN.
    app = FastAPIOffline(
        title="News chatbot API",
        summary="Cited answers, articles and daily briefings from your own news store.",
        version="1",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        static_url="/docs-assets",
    )
    app.state.bot = bot
    app.state.access = access
    install_error_handlers(app)
    app.include_router(health_router(bot))
    app.include_router(chat_router(bot, access))
    app.include_router(rest_router(bot, access))
    app.include_router(stories_router(bot, access))
    for router in extra_routers:  # behind the same keys and rate limit as ours
        app.include_router(router, dependencies=[Depends(access)])
    app.include_router(_unknown_router())  # before the UI's mount at /, which takes the rest

    def limit_for(path: str) -> int | None:
        if path == INGEST_PATH:  # file uploads: the UI's upload limit, plus form overhead
            return max(settings.upload_max_bytes + 64_000, settings.api_max_request_bytes)
        if path.startswith(API_PREFIXES):
            return settings.api_max_request_bytes
        return None

    app.add_middleware(BodyLimit, limit_for=limit_for)
    if ui:
        _mount_ui(app, bot, settings)
    return app


def _unknown_router() -> APIRouter:
    """A JSON 404 for unknown /api and /v1 paths (else the web UI at / would answer them)."""
    router = APIRouter(include_in_schema=False)
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

    async def unknown(request: Request) -> None:
        raise ApiError(404, f"No such endpoint: {request.method} {request.url.path}; see /docs.")

    for prefix in ("/api", "/v1"):
        router.add_api_route(prefix + "/{rest:path}", unknown, methods=methods)
    return router


def _mount_ui(app: FastAPI, bot: Chatbot, settings: Settings) -> None:
    """The web UI at ``/`` with the same options and login as ``chatbot ui``."""
    import gradio as gr

    from chatbot.surfaces.web import page as web

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home
    blocks = web.build_app(bot)
    blocks.queue(default_concurrency_limit=2)
    auth = login_for(settings)
    # launch() options that mounting also takes (not e.g. ``quiet``, which is launch-only).
    accepted = inspect.signature(gr.mount_gradio_app).parameters
    options = {k: v for k, v in web.launch_options(settings).items() if k in accepted}
    gr.mount_gradio_app(
        app,
        blocks,
        path="/",
        auth=auth,
        auth_message="Log in with ui_username / ui_password from the settings." if auth else None,
        **options,
    )


def startup_message(url: str, host: str, *, keys: bool, login: bool) -> str:
    """Where the service listens, what is there, and who can reach it."""
    line = (
        f"Serving on {url}: web UI at /, OpenAI-compatible API at /v1, REST at /api, docs at "
        f"/docs ({reach(host)}; API {'needs a key' if keys else 'open: no API keys set'}; web UI "
        f"{'login required' if login else 'no login'})"
    )
    return line + login_warning(host, login, "the web UI ")


def check_exposure(host: str, settings: Settings) -> None:
    """Refuse to serve an open API beyond this machine: the API can delete articles."""
    if host not in LOOPBACK_HOSTS and not settings.api_keys:
        raise ChatbotError(
            f"Refusing to serve the API on {host} without API keys: set CHATBOT_API_KEYS "
            "(comma-separated) or bind to 127.0.0.1."
        )


class Service:
    """uvicorn running ``app`` on host:port in a thread of this process: ``start()`` returns
    once it accepts connections; ``wait()`` blocks until Ctrl-C; ``stop()`` ends it."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        self.host = host
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,  # never write request lines (keys travel in headers, not paths)
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        port = self.server.config.port
        for server in getattr(self.server, "servers", []) or []:
            for sock in server.sockets:
                port = sock.getsockname()[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{port}"

    def _run(self) -> None:
        try:
            self.server.run()
        except SystemExit:  # uvicorn exits when it cannot bind; start() reports it
            log.debug("the server thread ended at start-up")

    def start(self, timeout: float = 60.0) -> Service:
        self._thread = threading.Thread(target=self._run, name="service", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ChatbotError(
                    f"Cannot serve on {self.host}:{self.server.config.port} (port taken or "
                    "address not available); pick another with --host/--port."
                )
            time.sleep(0.05)
        return self

    def wait(self) -> None:
        """Block until the server stops; Ctrl-C or SIGTERM stop it gracefully (shutdown steps
        run, the store is released by the caller)."""
        assert self._thread is not None, "start() first"

        def ask_to_stop(signum: int, frame: Any) -> None:
            self.server.should_exit = True

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, ask_to_stop)
        try:
            while self._thread.is_alive():
                self._thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)


def serve(
    bot: Chatbot,
    host: str | None = None,
    port: int | None = None,
    *,
    announce: Callable[[str], None] | None = None,
    block: bool = True,
    **app_options: Any,
) -> Service:
    """Serve the UI and the API (host/port default to the ui_host/ui_port settings; 127.0.0.1
    unless told otherwise). ``app_options`` go to ``create_app`` (extra_routers, on_startup,
    on_shutdown, ui). With ``block=False`` it returns the started Service; call ``stop()``."""
    settings = bot.settings
    host = host or settings.ui_host
    port = settings.ui_port if port is None else port
    check_exposure(host, settings)
    service = Service(create_app(bot, settings, **app_options), host, port).start()
    if announce is not None:
        login = login_for(settings) is not None
        keys = bool(settings.api_keys)
        announce(startup_message(service.url + "/", host, keys=keys, login=login))
    if block:
        service.wait()
    return service
