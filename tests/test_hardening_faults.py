"""LLM server faults as users meet them: in the web UI's chat handler and in `chatbot ask`.

A scripted OpenAI-compatible server on 127.0.0.1 dies mid-answer, answers too slowly, sends
broken JSON or is gone. Each time the reader gets a readable reason (plus the sentences the
sources hold, cited), never a traceback, and the app goes on serving other sessions.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chatbot.bot import Chatbot
from chatbot.config import Settings
from chatbot.models.embeddings import Embedder
from chatbot.surfaces.cli import main
from chatbot.surfaces.web import handlers as ui
from tests.llm_fixtures import FakeLLMServer, FakeReply, stream_events
from tests.store_fixtures import settings_in
from tests.test_chat import OTHERS

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "Who scored the winning goal in the cup final?"
GOOD = ["Erling Haaland scored ", "the winning goal in the 87th minute [1]."]
FAULTS = {
    "dies mid-answer": (
        FakeReply(events=stream_events(["Erling", " Haaland", " scored"]), cut_after=2),
        "broke off mid-answer",
    ),
    "too slow": (FakeReply(delay=3.0, events=stream_events(GOOD)), "did not answer within 1 s"),
    "malformed JSON": (FakeReply(events=["{this is not json"]), "not valid JSON"),
}


@pytest.fixture(scope="module")
def store_settings(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, seed_file: Path
) -> Settings:
    """A store with the example article and three others; closed again, so that another
    process (the CLI) may open it."""
    tmp = tmp_path_factory.mktemp("faults")
    settings = settings_in(tmp)
    bot = Chatbot(settings, embedder=embedder)
    assert len(bot.ingest([seed_file, *OTHERS]).added) == 4
    bot.store.close()
    return settings


@contextlib.contextmanager
def llm_bot(settings: Settings, embedder: Embedder, url: str) -> Iterator[Chatbot]:
    llm = {
        "llm_backend": "openai-compatible",
        "llm_base_url": url,
        "llm_model": "fake-model",
        "llm_context_window": 4096,
        "llm_timeout": 1.0,
        "llm_retries": 0,
    }
    bot = Chatbot(settings.model_copy(update=llm), embedder=embedder)
    try:
        yield bot
    finally:
        bot.store.close()


def _final(bot: Chatbot, state: Any, question: str = QUESTION) -> tuple[str, Any]:
    *_, (messages, state, _) = ui.chat_turn(bot, state, question)
    return messages[-1]["content"], state


@pytest.mark.parametrize("fault", list(FAULTS))
def test_ui_shows_the_reason_and_keeps_serving(
    fault: str, store_settings: Settings, embedder: Embedder, fake_llm_server: FakeLLMServer
) -> None:
    reply, reason = FAULTS[fault]
    with llm_bot(store_settings, embedder, fake_llm_server.url) as bot:
        fake_llm_server.script(reply, FakeReply(events=stream_events(GOOD)))
        broken, state = _final(bot, None)
        shown = html.unescape(re.sub(r"<[^>]+>", "", broken))
        assert 'class="cb-notice"' in broken, broken
        assert "The language model failed" in shown and reason in shown, shown
        assert "Traceback" not in shown and "Exception" not in shown
        assert "Haaland" in shown and 'class="cb-cite"' in broken  # cited source sentences
        # The same conversation goes on once the server is back...
        healed, state = _final(bot, state, "And in which minute?")
        assert "cb-notice" not in healed and "87th minute" in html.unescape(healed)
        assert len(state.session.history) == 2
        # ...and so does a new one.
        fake_llm_server.script(FakeReply(events=stream_events(GOOD)))
        fresh, _ = _final(bot, None)
        assert "cb-notice" not in fresh and 'class="cb-cite"' in fresh


def test_ui_with_the_server_gone(store_settings: Settings, embedder: Embedder) -> None:
    server = FakeLLMServer()
    server.start()
    server.stop()  # nothing listens on its port any more
    with llm_bot(store_settings, embedder, server.url) as bot:
        content, _ = _final(bot, None)
    shown = html.unescape(re.sub(r"<[^>]+>", "", content))
    assert "The language model failed" in shown and "127.0.0.1" in shown, shown
    assert "Traceback" not in shown


def _cli(
    settings: Settings, url: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATBOT_")}
    env.update(
        CHATBOT_CONFIG=str(Path(settings.store_path).parent / "none.toml"),
        CHATBOT_STORE_PATH=str(settings.store_path),
        CHATBOT_DATA_DIR=str(settings.data_dir),
        CHATBOT_LLM_TIMEOUT="1",
        CHATBOT_LLM_RETRIES="0",
        CHATBOT_LLM_CONTEXT_WINDOW="4096",
        HF_HUB_OFFLINE="1",
    )
    command = [sys.executable, "-m", "chatbot.surfaces.cli", *args]
    command += ["--backend", "openai-compatible", "--base-url", url, "--model", "fake-model"]
    return subprocess.run(
        command, cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=300
    )


def _readable(output: str, reason: str) -> None:
    lines = [line.removeprefix("> ") for line in output.splitlines()]  # chat's prompt
    note = next(line for line in lines if line.startswith("Note: "))
    assert note.startswith("Note: The language model failed") and reason in note, note


@pytest.mark.parametrize("fault", list(FAULTS))
def test_cli_ask_reports_the_fault(
    fault: str,
    store_settings: Settings,
    fake_llm_server: FakeLLMServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`chatbot ask` (the click command, in this process: the `chat` test below runs the real
    process) prints the reason above the cited source sentences and exits 0."""
    reply, reason = FAULTS[fault]
    fake_llm_server.script(reply)
    for name in [n for n in os.environ if n.startswith("CHATBOT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CHATBOT_CONFIG", str(Path(store_settings.store_path).parent / "x.toml"))
    monkeypatch.setenv("CHATBOT_DATA_DIR", str(store_settings.data_dir))
    monkeypatch.setenv("CHATBOT_LLM_TIMEOUT", "1")
    monkeypatch.setenv("CHATBOT_LLM_RETRIES", "0")
    monkeypatch.setenv("CHATBOT_LLM_CONTEXT_WINDOW", "4096")
    args = ["--store-path", str(store_settings.store_path), "ask", QUESTION, "--backend"]
    args += ["openai-compatible", "--base-url", fake_llm_server.url, "--model", "fake-model"]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 0, (done.output, done.exception)
    _readable(done.output, reason)
    assert "Haaland" in done.output and "[1]" in done.output  # cited source sentences
    assert "Traceback" not in done.output


@pytest.mark.slow
def test_cli_chat_reports_each_fault_and_goes_on(
    store_settings: Settings, fake_llm_server: FakeLLMServer
) -> None:
    """One real `chatbot chat` process: every fault in turn, then a good answer."""
    good = FakeReply(events=stream_events(GOOD))
    fake_llm_server.script(*(reply for reply, _ in FAULTS.values()), good)
    turns = "".join(f"{QUESTION}\n/new\n" for _ in range(len(FAULTS) + 1))
    done = _cli(store_settings, fake_llm_server.url, "chat", stdin=turns + "\n")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    answers = done.stdout.split("(new conversation)")
    assert len(answers) == len(FAULTS) + 2, done.stdout
    for answer, (_, reason) in zip(answers, FAULTS.values(), strict=False):
        _readable(answer, reason)
        assert "Haaland" in answer
    last = answers[len(FAULTS)]
    assert "Note:" not in last and "87th minute" in last, last
