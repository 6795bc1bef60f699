"""One process per embedded store: a second process (reader or writer) gets a clear error, a
killed owner never leaves the folder locked, and a closed store lets the next process in."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatbot.bot import Chatbot
from chatbot.config import Settings
from chatbot.index.store import ArticleStore, StoreError
from chatbot.models.embeddings import Embedder

ROOT = Path(__file__).resolve().parents[1]
# A tiny fake model identity: the lock is about the folder, not the vectors.
MODEL = {"embedding_model": "lock-test", "dimension": 3}


def _open(path: Path) -> ArticleStore:
    return ArticleStore.open(path=path, **MODEL)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """Another process that opens the store, says so, and keeps it open until killed."""
    path = tmp_path / "vs"
    code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from chatbot.index.store import ArticleStore
        store = ArticleStore.open(path=Path({str(path)!r}), embedding_model="lock-test",
                                  dimension=3)
        print("open", flush=True)
        time.sleep(600)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "open"
        yield proc, path
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def test_second_process_is_refused_while_the_first_holds_the_store(
    holder: tuple[subprocess.Popen[str], Path],
) -> None:
    proc, path = holder
    with pytest.raises(StoreError) as info:
        _open(path)
    message = str(info.value)
    assert f"pid {proc.pid}" in message and "another process" in message
    assert "CHATBOT_CHROMA_URL" in message and "chroma run" in message
    # SIGKILL: no cleanup runs in the owner, yet the kernel drops the lock.
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    with _open(path) as store:
        assert store.count_articles() == 0


def test_stores_of_one_process_share_the_folder_and_closing_frees_it(tmp_path: Path) -> None:
    path = tmp_path / "vs"
    first = _open(path)
    second = _open(path)  # same process: allowed (Chroma shares its client in-process)
    assert second.count_chunks() == 0
    second.close()
    first.close()
    # After close, another process can open it: run one and let it report.
    code = (
        "from pathlib import Path; from chatbot.index.store import ArticleStore; "
        f"s = ArticleStore.open(path=Path({str(path)!r}), embedding_model='lock-test', "
        "dimension=3); print(s.count_articles())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"


def test_a_store_refused_for_its_model_does_not_keep_the_folder(tmp_path: Path) -> None:
    path = tmp_path / "vs"
    _open(path).close()
    with pytest.raises(StoreError, match="lock-test"):
        ArticleStore.open(path=path, embedding_model="other", dimension=5)
    code = (
        "from pathlib import Path; from chatbot.index.store import ArticleStore; "
        f"ArticleStore.open(path=Path({str(path)!r}), embedding_model='lock-test', dimension=3)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_a_chatbot_used_with_with_frees_the_store_for_the_next_process(
    tmp_path: Path, embedder: Embedder
) -> None:
    path = tmp_path / "vs"
    code = (
        "from pathlib import Path; from chatbot.index.store import ArticleStore; "
        f"s = ArticleStore.open(path=Path({str(path)!r}), embedding_model={embedder.name!r}, "
        f"dimension={embedder.dimension}); print(s.count_articles())"
    )

    def other_process() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
        )

    settings = Settings(store_path=path, llm_backend="extractive")
    with Chatbot(settings, embedder=embedder) as bot:
        assert bot.store.count_articles() == 0
        refused = other_process()
        assert refused.returncode != 0 and "another process" in refused.stderr
    done = other_process()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"
