"""The service with outside parts: with a generative backend, what an LLM streamed is never left
standing alone when the checked answer differs (a scripted OpenAI-compatible server plays the
LLM, so that its words are known); a real llama.cpp answer streams through the API; health says
503 when the Chroma server is gone."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from chatbot.bot import Chatbot
from chatbot.models.embeddings import Embedder
from chatbot.surfaces import service
from tests.llm_fixtures import FakeLLMServer, FakeReply, stream_events
from tests.store_fixtures import settings_in

QUESTION = "Where did the Russian and US diplomats hold talks?"
PIECES = ["Diplomats from Russia and the US ", "held talks in Istanbul [1]. ", "Cheese moons [1]."]


@pytest.fixture
def generative(
    tmp_path: Path, embedder: Embedder, seed_file: Path, fake_llm_server: FakeLLMServer
) -> Iterator[tuple[str, Chatbot]]:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    settings = settings_in(
        tmp_path,
        llm_backend="openai-compatible",
        llm_base_url=fake_llm_server.url,
        llm_model="fake-model",
        llm_context_window=4096,
        llm_retries=0,
        unsupported_policy="remove",
        api_keys="k",
    )
    bot = Chatbot(settings, embedder=embedder)
    bot.ingest([seed_file])
    fake_llm_server.script(FakeReply(events=stream_events(PIECES)))
    running = service.Service(service.create_app(bot, ui=False), "127.0.0.1", 0).start()
    try:
        yield running.url, bot
    finally:
        running.stop()
        bot.close()


def test_streamed_llm_text_is_followed_by_the_checked_answer(
    generative: tuple[str, Chatbot],
) -> None:
    url, _ = generative
    client = openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0)
    messages = [{"role": "user", "content": QUESTION}]
    chunks = list(client.chat.completions.create(model="news-desk", messages=messages, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("".join(PIECES))  # the pieces as the LLM wrote them, live
    checked = text.split("\n\nChecked answer: ", 1)[1]
    assert "Cheese" not in checked and "Istanbul" in checked, text
    final = next(c for c in chunks if c.choices and c.choices[0].finish_reason == "stop")
    extra = final.model_extra or {}
    assert extra["citations"] and all(s["supported"] for s in extra["sentences"])

    whole = client.chat.completions.create(model="news-desk", messages=messages)
    content = whole.choices[0].message.content or ""
    assert content == checked and "Cheese" not in content


def test_health_says_503_when_the_chroma_server_is_gone(tmp_path: Path, embedder: Embedder) -> None:
    from harness.servers import chroma_server

    with chroma_server(tmp_path / "chroma", timeout=120) as url:
        bot = Chatbot(settings_in(tmp_path, chroma_url=url, api_keys="k"), embedder=embedder)
        running = service.Service(service.create_app(bot, ui=False), "127.0.0.1", 0).start()
        assert httpx.get(running.url + "/api/health", timeout=30).json()["status"] == "ok"
    try:
        r = httpx.get(running.url + "/api/health", timeout=60)
        assert r.status_code == 503 and r.json()["status"] == "error", r.text
    finally:
        running.stop()


def test_a_real_llm_answer_streams_through_the_api(
    tmp_path: Path, embedder: Embedder, seed_file: Path, llama_server: str
) -> None:
    """llama.cpp's server with SmolLM2 behind the desk: the words are the model's, so this
    checks the path (pieces arrive, the stream ends with citations and usage), not wording."""
    settings = settings_in(
        tmp_path,
        llm_backend="openai-compatible",
        llm_base_url=llama_server,
        llm_max_tokens=32,
        llm_context_window=1024,
        api_keys="k",
    )
    bot = Chatbot(settings, embedder=embedder)
    bot.ingest([seed_file])
    running = service.Service(service.create_app(bot, ui=False), "127.0.0.1", 0).start()
    try:
        client = openai.OpenAI(base_url=running.url + "/v1", api_key="k", max_retries=0)
        stream = client.chat.completions.create(
            model="news-desk",
            messages=[{"role": "user", "content": QUESTION}],
            stream=True,
            timeout=300,
        )
        chunks = list(stream)
    finally:
        running.stop()
        bot.close()
    pieces = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(pieces) > 2 and "".join(pieces).strip()
    final = chunks[-1]
    assert final.choices[0].finish_reason == "stop"
    extra = final.model_extra or {}
    assert isinstance(extra["citations"], list) and extra["sources"]
    assert not extra["refused"] and "openai-compatible" in bot.llm.describe()
    assert final.usage is not None and final.usage.completion_tokens > 0
