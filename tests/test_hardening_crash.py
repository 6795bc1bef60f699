"""Crash safety, the fast version of ``python -m evals.stress crash``: real worker processes
(the API over the real embedded Chroma and the packaged embedder) are SIGKILLed mid-update and
mid-delete; the store they leave must open, hold only whole articles, and a re-run must end
with exactly the expected counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot.embeddings import Embedder
from evals.stress import run_crash

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_sigkill_during_update_and_delete_leaves_whole_articles(
    embedder: Embedder, tmp_path: Path
) -> None:
    lines: list[str] = []
    result = run_crash(
        1, 40, ops=("update", "delete"), aim="writes", embedder=embedder, work=tmp_path,
        log=lines.append,
    )  # fmt: skip
    assert [t.op for t in result.trials] == ["update", "delete"]
    assert result.expected_articles == 40 and result.expected_chunks >= 40
    for trial in result.trials:
        assert trial.ok, (trial.problems, lines)
        assert not trial.kill["finished_first"], trial.kill  # the kill landed mid-way
        assert trial.after_kill["chunks_committed"] <= trial.after_kill["chunks_raw"]
    update, delete = result.trials
    assert update.rerun == {"articles": 40, "chunks": result.expected_chunks}
    assert delete.rerun["articles"] == 40 - result.delete_targets
