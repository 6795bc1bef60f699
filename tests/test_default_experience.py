"""What a newcomer meets: default settings (the `auto` backend quotes the sources, chosen by
the fitted evidence features),
the example article, and its questions asked from Python, the CLI and the web UI's chat
handler. Every answer must state the fact asked for, with supported citations."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatbot.answering.strategies import ExtractiveStrategy
from chatbot.bot import Chatbot
from chatbot.config import Settings
from chatbot.models.embeddings import Embedder
from chatbot.surfaces.web import handlers as ui

QUESTIONS = {
    "Where did the Russian and US diplomats meet?": "Istanbul",
    "Where were the talks on the work of the embassies held?": "Istanbul",
    "How long did the talks in Istanbul last?": "six hours",
}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, seed_file: Path) -> Iterator[Path]:
    """A working folder holding the example article; the environment says nothing, so every
    setting is its default."""
    folder = tmp_path_factory.mktemp("newcomer")
    saved = {
        k: os.environ.pop(k) for k in list(os.environ) if k.startswith(("CHATBOT_", "OPENAI_"))
    }
    os.environ["CHATBOT_CONFIG"] = str(folder / "no-config.toml")
    try:
        yield folder
    finally:
        os.environ.pop("CHATBOT_CONFIG", None)
        os.environ.update(saved)


def _defaults(home: Path) -> Settings:
    return Settings(
        store_path=home / "vectorstore",
        data_dir=home / "chatbot-data",
        briefings_dir=home / "briefings",
    )


@pytest.fixture(scope="module")
def bot(home: Path, embedder: Embedder, seed_file: Path) -> Iterator[Chatbot]:
    settings = _defaults(home)
    assert settings.llm_backend == "auto"
    bot = Chatbot(settings, embedder=embedder)
    assert bot.ingest([seed_file]).ok
    yield bot
    bot.close()


def test_the_default_quotes_the_sources(bot: Chatbot) -> None:
    assert bot.llm.name == "extractive"
    assert isinstance(bot.strategy, ExtractiveStrategy) and bot.strategy.ranker is None
    assert "answers quote the sources" in bot.status()["answering"]
    assert "as well as the packaged SmolLM2 model" in bot.status()["answering_reason"]


@pytest.mark.parametrize(("question", "fact"), QUESTIONS.items())
def test_python_answers_are_right_and_cited(bot: Chatbot, question: str, fact: str) -> None:
    answer = bot.ask(question)
    assert fact in answer.text, answer
    assert answer.citations and all(c.supported for c in answer.citations), answer
    assert answer.sentences and all(s.supported and s.citations for s in answer.sentences)
    for c in answer.citations:
        article = bot.article(c.article_id)
        assert article is not None and article.text[c.char_start : c.char_end] == c.quote


def test_the_briefing_of_the_day_has_cited_stories(bot: Chatbot) -> None:
    brief = bot.briefing("2025-02-27")
    assert brief.stories
    for story in brief.stories:
        assert any(s.supported and s.citations for s in story.sentences), story
        assert story.citations


def test_the_web_ui_chat_answers_with_a_cited_fact(bot: Chatbot) -> None:
    steps = list(ui.chat_turn(bot, None, "How long did the talks in Istanbul last?"))
    messages, _, panel = steps[-1]
    assert "six hours" in messages[-1]["content"]
    assert 'href="#cb-src-' in messages[-1]["content"]
    assert "cb-quote" in panel and "ANI" in panel


def test_the_cli_answers_with_a_cited_fact(bot: Chatbot, home: Path) -> None:
    bot.close()  # the embedded store belongs to one process at a time
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "chatbot.surfaces.cli",
            "ask",
            "Where did the Russian and US diplomats meet?",
        ],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Istanbul" in result.stdout and "[1]" in result.stdout, result.stdout
    assert "unsupported" not in result.stdout
