"""The HTTP service of ``chatbot serve``: the web UI, an OpenAI-compatible chat API and REST
for articles, ingest and briefings on one host and port; a thin shell over ``chatbot.bot``.

``create_app`` builds the FastAPI app (other features add routers and background services
through its parameters); ``Service`` runs it with uvicorn.
"""

from __future__ import annotations

from chatbot.surfaces.service.app import Service, check_exposure, create_app, serve, startup_message

__all__ = ["Service", "check_exposure", "create_app", "serve", "startup_message"]
