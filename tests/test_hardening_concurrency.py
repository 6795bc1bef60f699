"""Eight chat sessions at once, through the web UI's handler, while an ingest runs in the same
process (the fast version of ``python -m evals.stress concurrency``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from chatbot.bot import Chatbot
from chatbot.models.embeddings import Embedder
from chatbot.surfaces.web import handlers as ui
from tests.concurrency import run_concurrency


def ui_ask(bot: Chatbot, state: Any, question: str) -> tuple[str, str | None, Any]:
    *_, (messages, state, panel) = ui.chat_turn(bot, state, question)
    content = messages[-1]["content"]
    if "cb-error" in content:
        return content, f"error shown: {content[:200]}", state
    missing = [
        a for a in re.findall(r'href="#(cb-src-[\w-]+)"', content) if f'id="{a}"' not in panel
    ]
    return content, f"citation links without a source card: {missing}" if missing else None, state


def test_eight_ui_sessions_while_an_ingest_runs(embedder: Embedder, tmp_path: Path) -> None:
    lines: list[str] = []
    result = run_concurrency(
        8, 40, 2, embedder=embedder, work=tmp_path, ask=ui_ask, log=lines.append
    )
    assert result.ok, result.problems
    assert (result.final_articles, result.sessions) == (40, 8)
    assert len(result.baseline_latencies) == 16 and len(result.load_latencies) >= 16
    assert result.answers_during_ingest >= 1  # the sessions really ran alongside the ingest
