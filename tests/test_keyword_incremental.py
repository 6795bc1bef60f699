"""The keyword index follows writes without rebuilding (issue 16): add, update, delete, a crash
between the Chroma write and the index update, a rebuild from Chroma giving the same index, and
two processes (one writing, one reading) sharing a store and its index. Real Chroma, the real
embedder, real processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chatbot.bot import Chatbot
from chatbot.config import Settings
from chatbot.index.keyword_index import KeywordIndex, keyword_tokens
from chatbot.index.keyword_segments import SegmentFile
from chatbot.models.embeddings import Embedder
from chatbot.vocabulary import Article
from tests.store_fixtures import settings_in

ROOT = Path(__file__).resolve().parents[1]
QUERIES = ["storm flooded towns", "central bank rate", "zebra giraffe", "orchestra concert"]


def _article(title: str, text: str, day: str = "2025-03-01", source: str = "Wire") -> Article:
    return Article.create(
        title=title,
        text=text,
        source=source,
        published_at=datetime.fromisoformat(day).replace(tzinfo=UTC),
        url=f"https://news.example/{title.lower().replace(' ', '-')}",
    )


STORM = _article(
    "Storm floods towns",
    "A winter storm flooded three coastal towns on Monday. Emergency services evacuated 400 "
    "residents. The storm is expected to move north by Wednesday, forecasters said.",
    "2025-02-24",
    "Reuters",
)
BANK = _article(
    "Central bank holds rate",
    "The central bank kept its main rate at 4 percent, citing stubborn inflation. Two members "
    "voted for a cut. The bank said it would watch wages closely.",
    "2025-02-26",
)
ZOO = _article(
    "Zoo welcomes a zebra",
    "The city zoo welcomed a zebra foal this week. Keepers said the foal and its mother are "
    "doing well, and visitors can see them from Saturday.",
    "2025-02-27",
)
ZOO_CHANGED = _article(
    "Zoo welcomes a zebra",  # same title and URL: the same article, its text changed
    "The city zoo welcomed a giraffe calf this week, not a foal as first reported. Keepers "
    "said the calf is healthy.",
    "2025-02-27",
)
CONCERT = _article(
    "Orchestra returns",
    "The national orchestra gave its first concert in the restored hall on Friday, to a "
    "standing ovation.",
    "2025-02-28",
    "BBC",
)


def _hits(index: KeywordIndex, query: str, k: int = 20) -> list[tuple[str, float]]:
    return [(p.chunk_id, p.score) for p in index.search(query, k)]


def _articles(index: KeywordIndex, query: str) -> set[str]:
    return {p.article_id for p in index.search(query, 20)}


def _until(condition: Callable[[], bool], seconds: float, what: str) -> float:
    """Seconds until ``condition`` holds (polled), failing after ``seconds``."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"not within {seconds} s: {what}"
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
def live(bot: Chatbot) -> Chatbot:
    """A bot whose (empty) index is built: from here on only incremental changes."""
    bot.keyword_index.refresh()
    assert bot.keyword_index.builds == 1
    return bot


def test_an_ingest_is_searchable_when_it_returns_without_a_rebuild(live: Chatbot) -> None:
    index = live.keyword_index
    assert live.ingest([STORM, BANK]).added == [STORM.id, BANK.id]
    assert _articles(index, "storm flooded towns") == {STORM.id}
    assert _articles(index, "central bank rate") == {BANK.id}
    assert index.newest() == BANK.published_at and index.oldest() == STORM.published_at
    reuters = index.chunk_ids_where(sources=["Reuters"])
    assert reuters and all(c.startswith(STORM.id) for c in reuters)
    assert index.builds == 1


def test_a_changed_article_replaces_its_chunks(live: Chatbot) -> None:
    index = live.keyword_index
    live.ingest([STORM, ZOO])
    assert _articles(index, "zebra foal") == {ZOO.id}
    report = live.ingest([ZOO_CHANGED])
    assert report.updated == [ZOO.id]
    assert _articles(index, "foal reported") == {ZOO.id}  # "reported" is only in the new text
    assert _articles(index, "zebra") == {ZOO.id}  # the title still says zebra
    assert not index.search("mother visitors saturday", 5)  # only in the old text
    chunks = index.chunk_ids_where(article_ids=[ZOO.id])
    version = chunks[0].split(":")[1]
    assert {c.split(":")[1] for c in chunks} == {version} != {ZOO.content_hash[:12]}
    assert index.builds == 1


def test_a_deleted_article_leaves_keyword_search(live: Chatbot) -> None:
    index = live.keyword_index
    live.ingest([STORM, BANK])
    assert live.delete(STORM.id)
    assert not index.search("storm flooded towns evacuated", 10)
    assert index.chunk_ids_where(article_ids=[STORM.id]) == []
    assert index.oldest() == BANK.published_at
    assert index.builds == 1


def test_the_incremental_index_equals_a_rebuild_from_chroma_and_bm25s(
    live: Chatbot, tmp_path: Path
) -> None:
    index = live.keyword_index
    live.ingest([STORM, BANK, ZOO])
    live.ingest([ZOO_CHANGED, CONCERT])
    live.delete(BANK.id)
    incremental = {q: _hits(index, q) for q in QUERIES}
    assert any(incremental.values())

    fresh = KeywordIndex(live.store, cache_dir=tmp_path / "fresh")  # built from Chroma
    assert {q: _hits(fresh, q) for q in QUERIES} == incremental
    assert fresh.builds == 1
    fresh.close()
    index.rebuild()  # from scratch, in place
    assert {q: _hits(index, q) for q in QUERIES} == incremental
    assert index.builds == 2

    # The same scores as bm25s (what the index was before) built over the live chunks.
    bm25s = pytest.importorskip("bm25s")
    passages = list(live.store.iter_chunks())
    reference = bm25s.BM25()
    reference.index(
        [keyword_tokens(f"{p.title} {p.text}") or ["_empty_"] for p in passages],
        show_progress=False,
    )
    for query, hits in incremental.items():
        ids, scores = reference.retrieve(
            [keyword_tokens(query)], k=len(passages), show_progress=False
        )
        expected = {
            passages[int(i)].chunk_id: float(s) for i, s in zip(ids[0], scores[0], strict=True)
        }
        assert dict(hits) == {c: s for c, s in expected.items() if s > 0}, query


def test_small_segments_merge_and_the_answers_stay_the_same(live: Chatbot, tmp_path: Path) -> None:
    index = live.keyword_index
    for i in range(16):  # one segment per ingest
        live.ingest([_article(f"Market report {i}", f"Shares rose {i} percent in trading.")])
    worker = index._worker
    if worker is not None:
        worker.join(timeout=60)
    file = index._segments()
    assert file.segment_count() <= 12
    before = _hits(index, "shares rose percent trading market")
    assert len(before) == 16
    fresh = KeywordIndex(live.store, cache_dir=tmp_path / "fresh")
    assert _hits(fresh, "shares rose percent trading market") == before
    fresh.close()


def test_questions_never_wait_for_index_maintenance(live: Chatbot) -> None:
    index = live.keyword_index
    live.ingest([STORM])
    with index._sync:  # as if a long catch-up or build held it
        index.mark_stale()
        times: list[float] = []

        def ask() -> None:
            started = time.monotonic()
            index.search("storm towns", 5)
            index.chunk_ids_where(sources=["Reuters"])
            times.append(time.monotonic() - started)

        thread = threading.Thread(target=ask)
        thread.start()
        thread.join(timeout=5)
        assert times and times[0] < 1.0


def _run(code: str, settings: Settings) -> subprocess.CompletedProcess[str]:
    header = textwrap.dedent(
        f"""
        import json, os, sys
        from datetime import datetime
        from chatbot.bot import Chatbot
        from chatbot.config import Settings
        from chatbot.vocabulary import Article
        settings = Settings.model_validate_json({settings.model_dump_json()!r})

        def row(text):
            fields = json.loads(text)
            fields["published_at"] = datetime.fromisoformat(fields["published_at"])
            return Article.create(**fields)
        """
    )
    return subprocess.run(
        [sys.executable, "-c", header + textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _dump(article: Article) -> str:
    return json.dumps(
        {
            "title": article.title,
            "text": article.text,
            "source": article.source,
            "published_at": article.published_at.isoformat() if article.published_at else None,
            "url": article.url,
        }
    )


@pytest.mark.slow
def test_a_crash_between_the_chroma_write_and_the_index_update_is_caught_up(
    tmp_path: Path, embedder: Embedder
) -> None:
    settings = settings_in(tmp_path)
    with Chatbot(settings, embedder=embedder) as bot:
        bot.ingest([STORM, BANK, ZOO])
        assert _articles(bot.keyword_index, "zebra foal") == {ZOO.id}
    # A writer that dies right after Chroma committed its articles (an update and a new one),
    # before it could tell the index; then one that dies right after a delete.
    crashed = _run(
        f"""
        bot = Chatbot(settings)
        bot.keyword_index.articles_changed = lambda ids: os._exit(3)
        bot.ingest([row({_dump(ZOO_CHANGED)!r}), row({_dump(CONCERT)!r})])
        """,
        settings,
    )
    assert crashed.returncode == 3, crashed.stderr[-2000:]
    deleted = _run(
        f"""
        from chatbot.index.store import ArticleStore
        store = ArticleStore.open(path=settings.store_path, embedding_model={embedder.name!r},
                                  dimension={embedder.dimension})
        assert store.delete_article({STORM.id!r})
        os._exit(3)
        """,
        settings,
    )
    assert deleted.returncode == 3, deleted.stderr[-2000:]

    with Chatbot(settings, embedder=embedder) as bot:
        index = bot.keyword_index
        # Before any catch-up the deleted article is never shown...
        assert STORM.id not in _articles(index, "storm flooded towns evacuated")
        # ...and the index catches up from Chroma, in the background, without a rebuild.
        _until(lambda: CONCERT.id in _articles(index, "orchestra concert"), 5, "the new article")
        assert _articles(index, "calf reported") == {ZOO.id}
        assert not index.search("mother visitors saturday", 5)
        assert STORM.id not in _articles(index, "storm flooded towns evacuated")
        assert index.builds == 0
        fresh = KeywordIndex(bot.store, cache_dir=tmp_path / "fresh")
        assert {q: _hits(fresh, q) for q in QUERIES} == {q: _hits(index, q) for q in QUERIES}
        fresh.close()


@pytest.mark.slow
def test_a_writing_and_a_reading_process_share_the_store_and_the_index(
    chroma_server: str, embedder: Embedder, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    settings = settings_in(
        tmp_path,
        chroma_url=chroma_server,
        articles_collection=f"articles-{suffix}",
        chunks_collection=f"chunks-{suffix}",
    )
    reader = Chatbot(settings, embedder=embedder)
    try:
        reader.ingest([STORM, ZOO])
        index = reader.keyword_index
        writer = subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(
                    f"""
                    import json, sys
                    from datetime import datetime
                    from chatbot.bot import Chatbot
                    from chatbot.config import Settings
                    from chatbot.vocabulary import Article
                    settings = Settings.model_validate_json({settings.model_dump_json()!r})
                    bot = Chatbot(settings)
                    for line in sys.stdin:
                        op, _, arg = line.strip().partition(" ")
                        if op == "ingest":
                            fields = json.loads(arg)
                            fields["published_at"] = datetime.fromisoformat(fields["published_at"])
                            bot.ingest([Article.create(**fields)])
                        elif op == "delete":
                            bot.delete(arg)
                        print("done", flush=True)
                    """
                ),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdin is not None and writer.stdout is not None

        def tell(command: str) -> None:
            writer.stdin.write(command + "\n")  # type: ignore[union-attr]
            writer.stdin.flush()  # type: ignore[union-attr]
            assert writer.stdout.readline().strip() == "done"  # type: ignore[union-attr]

        tell("ingest " + _dump(CONCERT))
        seconds = _until(
            lambda: _articles(index, "orchestra concert") == {CONCERT.id}, 5, "the new article"
        )
        tell("ingest " + _dump(ZOO_CHANGED))
        _until(lambda: _articles(index, "calf reported") == {ZOO.id}, 5, "the changed article")
        assert not index.search("mother visitors saturday", 5)
        tell(f"delete {STORM.id}")
        _until(lambda: not index.search("storm flooded towns", 5), 5, "the delete")
        writer.stdin.close()
        assert writer.wait(timeout=60) == 0
        assert seconds < 5
        fresh = KeywordIndex(reader.store, cache_dir=tmp_path / "fresh")
        assert {q: _hits(fresh, q) for q in QUERIES} == {q: _hits(index, q) for q in QUERIES}
        fresh.close()
        assert index.builds == 1  # the reader's first build, then only changes
    finally:
        reader.close()


def test_a_segment_file_of_another_store_is_not_used(tmp_path: Path) -> None:
    from chatbot.index.keyword_segments import Unreadable

    SegmentFile(tmp_path / "kw.sqlite3", "one store").close()
    with pytest.raises(Unreadable):
        SegmentFile(tmp_path / "kw.sqlite3", "another store")


def test_merges_and_purges_keep_every_score(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many small changes, merged and purged as they go, score exactly like one build of the
    chunks that are left (the segment file alone, no store)."""
    import random

    from chatbot.index import keyword_segments
    from chatbot.index.keyword_segments import Doc
    from chatbot.vocabulary import Passage

    monkeypatch.setattr(keyword_segments, "_PURGE_MIN", 8)  # small segments get purged too
    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(60)]

    def docs(article: str, version: str) -> list[Doc]:
        return [
            Doc(
                Passage(
                    chunk_id=f"{article}:{version}:{n}", article_id=article, n=n, text="",
                    char_start=0, char_end=0, title="", source="s", published_at=None, url=None,
                ),
                rng.choices(vocab, k=rng.randint(1, 30)),
            )
            for n in range(rng.randint(1, 4))
        ]  # fmt: skip

    file = SegmentFile(tmp_path / "changed.sqlite3", "store")
    file.build([], (None, 0))
    held: dict[str, list[Doc]] = {}
    merges = 0
    for step in range(80):
        changes: dict[str, list[Doc] | None] = {}
        for article in rng.sample([f"a{i}" for i in range(25)], 3):
            gone = article in held and rng.random() < 0.3
            changes[article] = None if gone else docs(article, f"v{step}")
        versions = {a: d[0].passage.chunk_id.split(":")[1] for a, d in held.items()}
        file.apply(changes, {a: versions.get(a) for a in changes})
        for article, new in changes.items():
            if new is None:
                held.pop(article, None)
            else:
                held[article] = new
        while file.merge():
            merges += 1
    assert merges >= 10 and file.segment_count() < 20
    fresh = SegmentFile(tmp_path / "fresh.sqlite3", "store")
    fresh.build([[d for ds in held.values() for d in ds]], (None, 0))
    for query in (["w1"], ["w2", "w3", "w2"], vocab[10:20]):
        changed = {p.chunk_id: p.score for p in file.search(query, 500, lambda s: None)}
        built = {p.chunk_id: p.score for p in fresh.search(query, 500, lambda s: None)}
        assert changed == built and changed
    file.close()
    fresh.close()


def test_index_files_of_stores_that_are_gone_are_removed(tmp_path: Path) -> None:
    import shutil

    from chatbot.index.store import ArticleStore

    def index_of(folder: Path) -> Path:
        with ArticleStore.open(path=folder, embedding_model="kw-test", dimension=3) as store:
            index = KeywordIndex(store, cache_dir=tmp_path / "keyword-index")
            index.refresh()
            path = index.path
            index.close()
        return path

    gone, kept = index_of(tmp_path / "gone"), index_of(tmp_path / "kept")
    assert gone.exists() and kept.exists()
    shutil.rmtree(tmp_path / "gone")
    index_of(tmp_path / "third")  # opening any index prunes the folder
    assert not gone.exists() and kept.exists()
