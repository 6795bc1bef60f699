"""`chatbot serve` in a real headless Chromium: the web UI mounted next to the API answers a
question with citations, and the /docs page renders its operations from bundled files, with
nothing fetched from outside the server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatbot.bot import Chatbot
from chatbot.models.embeddings import Embedder
from chatbot.surfaces import service
from tests.store_fixtures import settings_in
from tests.test_ui_browser import CHROMIUM, CHROMIUM_ARGS, MS, QUESTION, ask

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, seed_file: Path
) -> Iterator[str]:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    bot = Chatbot(settings_in(tmp_path_factory.mktemp("served"), api_keys="k"), embedder=embedder)
    assert bot.ingest([seed_file]).ok
    running = service.serve(bot, "127.0.0.1", 0, block=False)
    try:
        yield running.url
    finally:
        running.stop()
        bot.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, served: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(served) else outside.append(r.url))
    yield page
    assert not outside, f"the page fetched from outside the server: {outside}"
    context.close()


def test_the_mounted_ui_answers_with_citations(page: Any, served: str) -> None:
    page.goto(served + "/")
    page.wait_for_selector("#cb-status .cb-status", timeout=MS)
    ask(page, QUESTION)
    link = page.locator("#cb-chat .cb-sentence", has_text="Istanbul").locator("a.cb-cite").first
    link.wait_for(timeout=MS)


def test_docs_render_offline(page: Any, served: str) -> None:
    page.goto(served + "/docs")
    paths = page.locator(".opblock-summary-path")
    paths.first.wait_for(timeout=MS)
    shown = paths.all_inner_texts()
    assert "/v1/chat/completions" in shown and "/api/articles/{article_id}" in shown, shown
    assert page.locator("button.authorize").count() == 1  # the bearer key can be entered
