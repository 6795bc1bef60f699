"""A bot's web UI open in Debian's headless Chromium (Playwright cannot download its own here)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from chatbot.bot import Chatbot
from harness.servers import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--no-first-run"]
MS = 30_000  # Playwright waits (ms): generous for a busy 2-core machine
TEXT = {"use_inner_text": True, "timeout": MS}  # inner text: only what is rendered
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@contextmanager
def open_ui(bot: Chatbot, *, height: int = 1000) -> Iterator[Any]:
    """Serve ``bot``'s web UI on a free loopback port; yield a Chromium page showing it."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from playwright.sync_api import sync_playwright

    from chatbot.surfaces.web import page as ui_page

    app = ui_page.launch(bot, "127.0.0.1", free_port(), block=False)
    try:
        with sync_playwright() as pw:
            chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = chromium.new_page(viewport={"width": 1280, "height": height})
            page.goto(app.local_url)
            page.wait_for_selector("#cb-status .cb-status", timeout=MS)
            yield page
            chromium.close()
    finally:
        app.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
