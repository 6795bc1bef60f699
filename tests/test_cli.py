"""The CLI as a user meets it: a real process, the real store and the packaged models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "chatbot.surfaces.cli"]


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "CHATBOT_LLM_BACKEND": "extractive",
        "HF_HUB_OFFLINE": "1",
        "CHATBOT_CONFIG": str(cwd / "none.toml"),
        **env,
    }
    return subprocess.run(
        CLI + args, cwd=cwd, env=environment, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory, seed_file: Path) -> Path:
    """A folder with a store holding the example article, ingested through the CLI."""
    work = tmp_path_factory.mktemp("cli")
    result = run(["ingest", "--quiet", str(seed_file)], work)
    assert result.returncode == 0, result.stderr
    assert "1 added" in result.stdout
    assert (work / "vectorstore").is_dir()
    return work


def test_ingest_again_adds_nothing_and_reports_counts(workdir: Path, seed_file: Path) -> None:
    result = run(["ingest", str(seed_file)], workdir)
    assert result.returncode == 0
    assert "0 added, 0 updated, 1 unchanged" in result.stdout
    assert "Store: 1 articles" in result.stdout
    assert "Ingesting" in result.stderr  # the progress bar


def test_failed_items_are_listed_and_set_the_exit_code(workdir: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("Title line\n\nA second article with enough words to be an article body.")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    result = run(["ingest", str(good), str(empty), str(tmp_path / "nope.html")], workdir)
    assert result.returncode == 1
    assert "1 added" in result.stdout and "2 failed" in result.stdout
    assert "empty.txt: file is empty" in result.stderr
    assert "nope.html" in result.stderr
    listed = run(["articles"], workdir)
    assert "Title line" in listed.stdout


def test_articles_filters_and_delete(workdir: Path, tmp_path: Path) -> None:
    listed = run(["articles", "--source", "ANI", "--since", "2025-02-27"], workdir)
    assert listed.returncode == 0
    line = next(x for x in listed.stdout.splitlines() if "2025-02-27" in x)
    article_id = line.split()[0]
    assert run(["articles", "--since", "2025-03-01"], workdir).stdout.strip() == ""
    bad = run(["articles", "--since", "someday"], workdir)
    assert bad.returncode != 0 and "YYYY-MM-DD" in bad.stderr

    copy = tmp_path / "store"
    subprocess.run(["cp", "-r", str(workdir / "vectorstore"), str(copy)], check=True)
    deleted = run(["--store-path", str(copy), "delete", article_id], workdir)
    assert deleted.returncode == 0 and f"deleted {article_id}" in deleted.stdout
    again = run(["--store-path", str(copy), "delete", article_id], workdir)
    assert again.returncode != 0 and "No such article" in again.stderr


def test_ask_prints_the_cited_answer_and_sources(workdir: Path) -> None:
    result = run(["ask", "Where did the Russian and US diplomats meet on February 27?"], workdir)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Istanbul" in out and "[1]" in out
    assert "— ANI, 2025-02-27" in out
    assert "“…" in out  # the quoted passage
    # The group's --backend holds for the command (a command flag left out must not reset it).
    grouped = run(
        ["--backend", "extractive", "ask", "Where did the diplomats meet?"],
        workdir,
        CHATBOT_LLM_BACKEND="openai-compatible",  # unusable here: no base URL
    )
    assert grouped.returncode == 0, grouped.stderr
    assert "Istanbul" in grouped.stdout
    assert "DEBUG" not in grouped.stdout + grouped.stderr  # libraries' debug logs stay quiet
    # As of a later day "today" is that day, which has no article: nothing to answer from.
    later = run(["ask", "What did Putin say today?", "--as-of", "2025-03-05"], workdir)
    assert later.returncode == 0, later.stderr
    assert "do not cover" in later.stdout and "[1]" not in later.stdout


def test_wrong_settings_are_explained(workdir: Path) -> None:
    result = run(["articles"], workdir, CHATBOT_CHUNK_SIZE="huge")
    assert result.returncode != 0
    assert "Invalid settings" in result.stderr and "chunk_size" in result.stderr
    server = run(["--chroma-url", "http://127.0.0.1:9", "articles"], workdir)
    assert server.returncode != 0 and "chroma run" in server.stderr
    assert "Traceback" not in server.stderr


def test_summarize_and_briefing_commands(workdir: Path, tmp_path: Path) -> None:
    listed = run(["articles"], workdir)
    article_id = next(x for x in listed.stdout.splitlines() if "2025-02-27" in x).split()[0]
    summary = run(["summarize", article_id], workdir)
    assert summary.returncode == 0, summary.stderr
    assert "[1]" in summary.stdout
    out = tmp_path / "briefs"
    brief = run(["briefing", "--date", "2025-02-27", "--out", str(out)], workdir)
    assert brief.returncode == 0, brief.stderr
    files = sorted(p.name for p in out.iterdir())
    assert files == [
        "briefing-2025-02-27.html",
        "briefing-2025-02-27.json",
        "briefing-2025-02-27.md",
    ]
    assert "Putin" in (out / "briefing-2025-02-27.md").read_text()
    missing = run(["summarize"], workdir)
    assert missing.returncode != 0 and "ARTICLE_ID" in missing.stderr
