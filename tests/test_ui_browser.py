"""The web UI in a real headless Chromium (Debian's, driven by Playwright) against a live server.

The tests run in file order on one server: upload, ask, two sessions, briefing, delete. The
extractive backend keeps answers fast and deterministic. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from chatbot.bot import Chatbot
from chatbot.models.embeddings import Embedder
from harness.servers import free_port
from tests.store_fixtures import settings_in

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = sorted((ROOT / "chatbot" / "examples").glob("*.txt"))[0]
ARTIFACTS = ROOT / "test-artifacts"
# The extractive backend answers "Where did the Russian and US diplomats meet?" from the
# embassy-expulsion sentences, not the Istanbul one; this wording reaches the Istanbul passage.
QUESTION = "Where were the Russia-US talks held?"
# Planted in the store: if any of it ran, window.PWNED would be set.
HOSTILE = {
    "title": 'Storm <img src=x onerror="window.PWNED=1"> warning',
    "text": "Heavy rain flooded three coastal towns on Monday. "
    '<script>window.PWNED=2</script> <img src=x onerror="window.PWNED=3"> '
    "[link](javascript:window.PWNED=4) ${window.PWNED=6} "
    "Forecasters expect more rain by Wednesday.",
    "source": 'Wire<svg onload="window.PWNED=5">',
    "published_at": "2025-02-24",
}
MS = 30_000  # Playwright waits (ms): generous for a busy 2-core machine
TEXT = {"use_inner_text": True, "timeout": MS}  # inner text: only what is rendered


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[str]:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from chatbot.surfaces.web import page as ui_page

    tmp = tmp_path_factory.mktemp("ui")
    settings = settings_in(tmp)
    bot = Chatbot(settings, embedder=embedder)
    assert bot.ingest([HOSTILE]).ok
    app = ui_page.launch(bot, "127.0.0.1", free_port(), block=False)
    try:
        yield app.local_url.rstrip("/")
    finally:
        app.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page(browser: Any, server: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(server) else outside.append(r.url))
    page.goto(server)
    page.wait_for_selector("#cb-status .cb-status", timeout=MS)
    yield page
    assert not outside, f"the page fetched from outside the app: {outside}"
    assert page.evaluate("window.PWNED") is None, "hostile article text ran as script"
    context.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def tab(page: Any, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def ask(page: Any, question: str) -> None:
    page.fill("#cb-question textarea", question)
    page.press("#cb-question textarea", "Enter")


def test_upload_the_example_article(page: Any) -> None:
    tab(page, "Library")
    page.set_input_files("#cb-upload input[type=file]", str(EXAMPLE))
    page.wait_for_selector(f"#cb-upload :text('{EXAMPLE.name[:20]}')", timeout=MS)
    page.click("#cb-add")
    expect(page.locator("#cb-ingest-rows")).to_contain_text("added", **TEXT)
    expect(page.locator("#cb-articles")).to_contain_text("Putin", **TEXT)
    expect(page.locator("#cb-status")).to_contain_text("2 articles", **TEXT)
    shot(page, "library")


def test_ask_streams_a_cited_answer_and_citation_opens_the_passage(page: Any) -> None:
    tab(page, "Chat")
    page.locator("#cb-examples button", has_text="Russian President").first.click()
    expect(page.locator("#cb-question textarea")).to_have_value(
        re.compile("What do the articles say about “Russian President"), timeout=MS
    )
    ask(page, QUESTION)
    link = page.locator("#cb-chat .cb-sentence", has_text="Istanbul").locator("a.cb-cite").first
    link.wait_for(timeout=MS)
    link.click()
    focused = page.locator("#cb-sources-panel .cb-source.cb-focus")
    focused.wait_for(timeout=MS)
    # Every sentence the answer quotes from this source is marked; the clicked one among them.
    assert any("Istanbul" in m for m in focused.locator("mark.cb-quote").all_inner_texts())
    assert "ANI" in focused.inner_text() and "2025-02-27" in focused.inner_text()
    shot(page, "chat")


def test_two_browser_sessions_keep_separate_histories(browser: Any, server: str) -> None:
    contexts = [browser.new_context() for _ in range(2)]
    try:
        pages = [c.new_page() for c in contexts]
        for p in pages:
            p.goto(server)
            p.wait_for_selector("#cb-status .cb-status", timeout=MS)
        questions = [QUESTION, "What did Putin say about Western elites?"]
        for p, q in zip(pages, questions, strict=True):  # both in flight at once
            ask(p, q)
        for p, mine, other in zip(pages, questions, reversed(questions), strict=True):
            chat = p.locator("#cb-chat")
            chat.locator("a.cb-cite").first.wait_for(timeout=MS)
            text = chat.inner_text()
            assert mine in text and other not in text
        cites = pages[0].locator("#cb-chat a.cb-cite").count()
        ask(pages[0], "How long did the talks last?")
        expect(pages[0].locator("#cb-chat")).to_contain_text("How long", **TEXT)
        pages[0].wait_for_function(  # the follow-up's answer is in, with its own citations
            f"() => document.querySelectorAll('#cb-chat a.cb-cite').length > {cites}",
            timeout=MS,
        )
        assert "How long" not in pages[1].locator("#cb-chat").inner_text()
        pages[0].click("#cb-new")
        pages[0].wait_for_function(
            "() => !document.querySelector('#cb-chat').innerText.includes('How long')",
            timeout=MS,
        )
        assert questions[1] in pages[1].locator("#cb-chat").inner_text()
    finally:
        for c in contexts:
            c.close()


def test_generate_a_briefing(page: Any) -> None:
    tab(page, "Briefing")
    page.fill("#cb-brief-date input, #cb-brief-date textarea", "2025-02-27")
    page.press("#cb-brief-date input", "Enter")  # a typed day: the picker's list closes
    page.click("#cb-brief-go")
    expect(page.locator("#cb-brief-view")).to_contain_text("Putin", **TEXT)
    files = page.locator("#cb-brief-files")
    expect(files).to_contain_text("briefing-2025-02-27", **TEXT)
    for ext in ("md", "html", "json"):  # the name is shown as "briefing-2025-02-27 .md"
        expect(files).to_contain_text(f".{ext}", **TEXT)
    shot(page, "briefing")


def test_delete_the_article(page: Any) -> None:
    tab(page, "Library")
    page.click("#cb-delete-pick input")
    page.get_by_role("option", name="Putin", exact=False).first.click()
    page.click("#cb-delete")
    expect(page.locator("#cb-delete-result")).to_contain_text("Deleted", **TEXT)
    expect(page.locator("#cb-status")).to_contain_text("1 article (", **TEXT)
    expect(page.locator("#cb-articles")).not_to_contain_text("Putin", **TEXT)
    shot(page, "library-after-delete")
    tab(page, "Briefing")
    shot(page, "briefing-tab")
