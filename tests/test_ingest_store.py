"""Ingest into the real Chroma store (embedded and `chroma run` server) with the real embedder."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from chatbot.bot import Chatbot
from chatbot.config import Settings
from chatbot.index.store import ArticleStore, StoreError
from chatbot.models.embeddings import Embedder
from chatbot.vocabulary import Article


@pytest.fixture(params=["embedded", "server"])
def any_bot(request: pytest.FixtureRequest, tmp_path: Path, embedder: Embedder) -> Chatbot:
    extra = {}
    if request.param == "server":
        suffix = uuid.uuid4().hex[:8]  # one server for the session: fresh collections per test
        extra = {
            "chroma_url": request.getfixturevalue("chroma_server"),
            "articles_collection": f"articles-{suffix}",
            "chunks_collection": f"chunks-{suffix}",
        }
    s = Settings(store_path=tmp_path / "vs", llm_backend="extractive", **extra)
    return Chatbot(s, embedder=embedder)


def _articles(n: int, prefix: str = "Story") -> list[Article]:
    return [
        Article.create(
            title=f"{prefix} {i}",
            text=f"{prefix} {i} happened in city number {i}. " * 40,
            source="Wire" if i % 2 else "Daily",
            url=f"https://news.example/{prefix.lower()}/{i}",
            published_at=None,
        )
        for i in range(n)
    ]


def test_seed_article_is_ingested_once_and_listed(any_bot: Chatbot, seed_file: Path) -> None:
    report = any_bot.ingest([seed_file])
    assert len(report.added) == 1 and report.ok
    chunks = any_bot.store.count_chunks()
    assert chunks >= 2

    again = any_bot.ingest([seed_file])
    assert (again.added, again.updated, len(again.unchanged)) == ([], [], 1)
    assert any_bot.store.count_chunks() == chunks  # nothing duplicated

    listed = any_bot.articles(source="ANI", since="2025-02-27")
    assert [a.id for a in listed] == report.added
    assert listed[0].published_at.isoformat().startswith("2025-02-27")
    assert listed[0].chunks == chunks
    assert any_bot.articles(since="2025-02-28") == []
    assert any_bot.articles(source="Reuters") == []


def test_changed_article_replaces_its_chunks_and_delete_removes_them(any_bot: Chatbot) -> None:
    original = _articles(1)[0]
    any_bot.ingest([original])
    before = any_bot.store.count_chunks()
    changed = replace(original, text="A much shorter text now. Only two sentences.")
    report = any_bot.ingest([changed])
    assert report.updated == [original.id]
    assert any_bot.store.count_chunks() == 1 < before
    hit = any_bot.store.query_chunks(any_bot.embedder.embed_query("shorter text"), k=5)
    assert [h.text for h in hit] == [changed.text]
    assert any_bot.article(original.id).text == changed.text

    assert any_bot.delete(original.id) is True
    assert (any_bot.store.count_articles(), any_bot.store.count_chunks()) == (0, 0)
    assert any_bot.delete(original.id) is False


def test_duplicates_in_one_batch_are_skipped_and_the_rest_stored(any_bot: Chatbot) -> None:
    a, b = _articles(2)
    report = any_bot.ingest(
        [a, b, a, {"title": b.title, "text": b.text, "url": b.url + "?utm_source=x"}]
    )
    assert sorted(report.added) == sorted([a.id, b.id])
    assert len(report.skipped) == 2
    assert all("duplicate" in reason for _, reason in report.skipped)
    assert any_bot.store.count_articles() == 2


def test_bad_items_fail_with_reasons_and_good_ones_are_stored(
    any_bot: Chatbot, tmp_path: Path, seed_file: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "empty.txt").write_text("")
    (folder / "binary.txt").write_bytes(bytes(range(256)) * 10)
    (folder / "bad.jsonl").write_text(
        json.dumps({"title": "Good line", "text": "A fine article text. " * 20}) + "\n{broken\n"
    )
    (folder / "good.md").write_text("# Heading\n\nSome body text about the news. " * 5)
    report = any_bot.ingest([folder, seed_file, tmp_path / "missing.txt"])
    failed = dict(report.failed)
    assert len(report.added) == 3  # jsonl good line, good.md, seed
    assert any("empty.txt" in k for k in failed)
    assert any("binary.txt" in k for k in failed)
    assert any("bad.jsonl" in k for k in failed)
    assert any("missing.txt" in k for k in failed)
    assert all(reason for reason in failed.values())
    assert any_bot.store.count_articles() == 3


def test_huge_file_is_refused(tmp_path: Path, embedder: Embedder) -> None:
    bot = Chatbot(Settings(store_path=tmp_path / "vs", max_file_bytes=1000), embedder=embedder)
    big = tmp_path / "big.txt"
    big.write_text("Big news. " * 500)
    report = bot.ingest([big])
    assert report.failed and "big.txt" in report.failed[0][0]
    assert bot.store.count_articles() == 0


def test_store_built_with_another_embedding_model_is_refused(tmp_path: Path) -> None:
    ArticleStore.open(path=tmp_path / "vs", embedding_model="model-a", dimension=384)
    with pytest.raises(StoreError, match="model-a"):
        ArticleStore.open(path=tmp_path / "vs", embedding_model="model-b", dimension=768)


def test_unreachable_chroma_server_gives_a_clear_error(tmp_path: Path) -> None:
    from harness.servers import free_port

    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(StoreError, match="CHATBOT_CHROMA_URL"):
        ArticleStore.open(url=url, embedding_model="m", dimension=3)


def test_interrupted_write_leaves_no_half_article(any_bot: Chatbot) -> None:
    """A crash after the chunks but before the commit record: readers never see the new
    chunks, repair removes them, and a re-run finishes the job."""
    store = any_bot.store
    article = _articles(1)[0]
    any_bot.ingest([article])
    committed = store.count_chunks()
    changed = replace(article, text="Replacement text that never got committed. " * 30)
    chunks = any_bot.ingestor._chunker.chunk(changed)
    vectors = any_bot.embedder.embed([c.text for c in chunks])

    class Crash(Exception):
        pass

    real_upsert = store._articles.upsert

    def crash(*args, **kwargs):  # the process dies before writing the commit record
        raise Crash

    store._articles.upsert = crash
    with pytest.raises(Crash):
        store.write_article(changed, chunks, vectors)
    store._articles.upsert = real_upsert

    hits = store.query_chunks(any_bot.embedder.embed_query("Replacement text"), k=50)
    assert hits and all("Replacement" not in h.text for h in hits)
    assert store.get_article(article.id).text == article.text
    assert store.repair() == len(chunks)
    assert store.count_chunks() == committed
    assert any_bot.ingest([changed]).updated == [article.id]
    assert store.get_article(article.id).text == changed.text


def test_a_second_writer_is_refused_not_interleaved(tmp_path: Path, embedder: Embedder) -> None:
    bot = Chatbot(Settings(store_path=tmp_path / "vs"), embedder=embedder)
    with bot.store.writing(), pytest.raises(StoreError, match="Another process"):
        Chatbot(Settings(store_path=tmp_path / "vs"), embedder=embedder).ingest(_articles(1))
