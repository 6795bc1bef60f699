"""Crash safety, the fast version of ``python -m evals.stress crash``: real worker processes
(the API over the real embedded Chroma and the packaged embedder) are SIGKILLed mid-update and
mid-delete; the store they leave must open, hold only whole articles, and a re-run must end
with exactly the expected counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot.models.embeddings import Embedder
from harness.stress import run_crash

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


def test_the_check_catches_half_articles_and_counts_orphans(
    embedder: Embedder, tmp_path: Path
) -> None:
    """The crash check must be able to fail: a committed article missing a chunk, and one whose
    text is not a version anybody wrote, are reported; an uncommitted orphan is counted but
    stays invisible to readers."""
    from chatbot.bot import Chatbot
    from chatbot.vocabulary import Article
    from harness.stress import check_store, source_articles, stress_settings

    rows = source_articles(3, 1500)
    bot = Chatbot(stress_settings(tmp_path / "vs", tmp_path), embedder=embedder)
    articles = [Article.create(**{**r, "published_at": None}) for r in rows]
    assert len(bot.ingest(articles).added) == 3
    store = bot.store
    counts = {a.content_hash: a.chunks for a in bot.articles()}
    texts = {a.id: {a.text} for a in articles}
    probe = embedder.embed_query(rows[0]["title"])
    assert check_store(store, texts, counts, probe).problems == []

    a, b, _ = articles
    inventory = store.chunk_inventory()
    [version] = inventory[a.id]
    assert len(inventory[a.id][version]) >= 2
    store._chunks.delete(ids=[f"{a.id}:{version}:1"])  # a committed article loses a chunk
    # An uncommitted version of b (a crash before its commit record).
    chunks = bot.ingestor._chunker.chunk(
        Article.create(title=b.title, text="Other. " * 50, url=b.url)
    )
    store._chunks.upsert(
        ids=[f"{b.id}:deadbeef0000:0"], embeddings=[probe], documents=[chunks[0].text],
        metadatas=[{"article_id": b.id, "version": "deadbeef0000", "n": 0, "title": b.title,
                    "source": "", "published_ts": -1.0, "url": b.url or "", "authors": "",
                    "char_start": 0, "char_end": 10}],
    )  # fmt: skip
    texts[articles[2].id] = {"some other text"}
    check = check_store(store, texts, counts, probe)
    assert any(p.startswith(a.id) and "chunks" in p for p in check.problems), check.problems
    assert any("not one of its whole versions" in p for p in check.problems), check.problems
    assert check.chunks_raw == check.chunks_committed + 1  # the orphan, counted
    assert check.orphans_invisible  # ...and never shown to a reader
    bot.store.close()


def test_sigkill_while_the_next_group_embeds_leaves_whole_articles(
    embedder: Embedder, tmp_path: Path
) -> None:
    """The overlapped ingest: with groups of 8 chunks, a group is written while the next one
    embeds on the worker thread. Kills aimed at those writes, into a fresh store and over
    older versions, leave only whole articles, and the re-run completes the store."""
    lines: list[str] = []
    result = run_crash(
        2, 40, ops=("ingest", "update"), aim="writes", embedder=embedder, work=tmp_path,
        log=lines.append, group_chunks=8,
    )  # fmt: skip
    assert result.expected_chunks >= 3 * 8  # several groups, so writes overlap embedding
    assert [t.op for t in result.trials] == ["ingest", "update"]
    for trial in result.trials:
        assert trial.ok, (trial.problems, lines)
        assert not trial.kill["finished_first"], trial.kill
        assert trial.kill["wait_for"] == "writing" and trial.kill["after"] >= 1
        assert trial.rerun == {"articles": 40, "chunks": result.expected_chunks}
