"""Embedding overlapped with the rest of an ingest: the pipeline runs the computation on a
worker thread while the caller prepares and writes, keeps writes in order, stays a bounded
number of groups ahead, and stops cleanly on an error from either side; the real ingest and
reindex through it keep every article whole."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatbot.bot import Chatbot
from chatbot.index.overlap import overlapped
from chatbot.models.embeddings import Embedder
from chatbot.vocabulary import Article
from tests.store_fixtures import settings_in

WAIT = 10.0  # seconds: generous on a loaded machine, and a failure instead of a hang


def test_writes_come_in_input_order_with_their_results() -> None:
    written: list[tuple[int, int]] = []
    overlapped(range(7), lambda n: n * n, lambda n, square: written.append((n, square)))
    assert written == [(n, n * n) for n in range(7)]


def test_nothing_in_nothing_out() -> None:
    overlapped([], lambda n: pytest.fail("computed"), lambda n, r: pytest.fail("written"))


def test_the_next_group_is_prepared_and_the_last_written_while_one_computes() -> None:
    """Computing group 1 waits until the caller has asked for group 2 and written group 0:
    run one after the other, this would time out."""
    asked_for_2 = threading.Event()
    wrote_0 = threading.Event()
    threads: set[str] = set()

    def groups() -> Iterator[int]:
        for n in range(4):
            if n == 2:
                asked_for_2.set()
            yield n

    def compute(n: int) -> int:
        threads.add(threading.current_thread().name)
        if n == 1:
            assert asked_for_2.wait(WAIT) and wrote_0.wait(WAIT)
        return n

    def write(n: int, result: int) -> None:
        assert threading.current_thread() is threading.main_thread()
        if n == 0:
            wrote_0.set()

    overlapped(groups(), compute, write)
    assert threading.current_thread().name not in threads  # computed on the worker


def test_the_caller_stays_at_most_two_groups_ahead_of_the_writes() -> None:
    prepared: list[int] = []
    ahead: list[int] = []

    def groups() -> Iterator[int]:
        for n in range(20):
            prepared.append(n)
            yield n

    overlapped(groups(), lambda n: n, lambda n, r: ahead.append(len(prepared) - n))
    assert max(ahead) <= 2


def test_a_failed_computation_stops_the_run_after_the_groups_before_it() -> None:
    written: list[int] = []
    computed: list[int] = []

    def compute(n: int) -> int:
        computed.append(n)
        if n == 3:
            raise RuntimeError("model failed")
        return n

    with pytest.raises(RuntimeError, match="model failed"):
        overlapped(range(10), compute, lambda n, r: written.append(n))
    assert written == [0, 1, 2]
    assert max(computed) <= 4  # at most the one queued behind it had started


def test_a_failed_write_stops_the_worker_and_drops_the_queued_group() -> None:
    computed: list[int] = []
    release = threading.Event()

    def compute(n: int) -> int:
        computed.append(n)
        if n == 2:
            assert release.wait(WAIT)
        return n

    def write(n: int, result: int) -> None:
        if n == 1:
            release.set()
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        overlapped(range(10), compute, write)
    # Group 2 was running when the write failed (waited for, its result dropped); group 3 was
    # queued and never ran.
    assert computed == [0, 1, 2]
    assert not any(t.name.startswith("embed") for t in threading.enumerate())


def test_a_failure_preparing_a_group_still_writes_the_group_before_it() -> None:
    """As when ingest ran one step after the other: the previous group was written before
    the next one was prepared."""
    written: list[int] = []

    def groups() -> Iterator[int]:
        yield 0
        yield 1
        raise LookupError("store read failed")

    with pytest.raises(LookupError, match="store read failed"):
        overlapped(groups(), lambda n: n, lambda n, r: written.append(n))
    assert written == [0, 1]


def _articles(n: int) -> list[Article]:
    topics = ["volcano", "election", "harvest", "orchestra", "satellite", "marathon"]
    return [
        Article.create(
            title=f"The {topics[i % len(topics)]} report number {i}",
            text=" ".join(
                f"Paragraph {p} of report {i} says the {topics[i % len(topics)]} drew "
                f"{100 + 7 * p + i} people to the town square on day {p}." * 3
                for p in range(6)
            ),
            url=f"https://overlap.example/{i}",
        )
        for i in range(n)
    ]


def test_an_ingest_in_many_small_groups_stores_every_article_whole(
    tmp_path: Path, embedder: Embedder
) -> None:
    """Groups of 4 chunks: every group but the first is embedded while another is written.
    The store ends with each article's exact chunks and vectors equal to a one-off embedding,
    and events still tell each article once."""
    bot = Chatbot(settings_in(tmp_path), embedder=embedder)
    bot.ingestor.group_chunks = 4
    articles = _articles(6)
    events: list[tuple[str, str]] = []
    report = bot.ingest(articles, progress=lambda e: events.append((e.status, e.detail)))
    assert sorted(report.added) == sorted(a.id for a in articles)
    assert [d for s, d in events if s == "added"] == [a.id for a in articles]
    chunks = {a.id: len(bot.ingestor._chunker.chunk(a)) for a in articles}
    assert report.chunks == sum(chunks.values()) >= 3 * 4
    assert {a.id: a.chunks for a in bot.articles()} == chunks
    first = articles[0]
    hit = bot.store.query_chunks(embedder.embed_query(first.title), k=1)[0]
    assert hit.article_id == first.id

    # An update through the same pipeline replaces every chunk; the rest stay unchanged.
    old = articles[2]
    changed = Article.create(
        title=old.title, text=old.text.replace("people", "visitors"), url=old.url
    )
    again = bot.ingest([*articles[:2], changed, *articles[3:]])
    assert again.updated == [old.id] and len(again.unchanged) == 5
    stored = bot.store.get_article(old.id)
    assert stored is not None and stored.text == changed.text
    assert bot.store.count_chunks() == sum(chunks.values()) - chunks[old.id] + len(
        bot.ingestor._chunker.chunk(changed)
    )
    bot.store.close()


def test_reindex_in_small_groups_gives_the_same_vectors(tmp_path: Path, embedder: Embedder) -> None:
    bot = Chatbot(settings_in(tmp_path), embedder=embedder)
    bot.ingest(_articles(5))
    ids = [p.chunk_id for p in bot.store.iter_chunks()]
    before = bot.store.chunk_vectors(ids)
    bot.ingestor.group_chunks = 4
    seen: list[tuple[int, int]] = []
    assert bot.reindex(lambda done, total: seen.append((done, total))) == len(ids)
    after = bot.store.chunk_vectors(ids)
    assert seen[-1] == (len(ids), len(ids)) and len(seen) >= 3
    for chunk_id in ids:
        assert float(before[chunk_id] @ after[chunk_id]) == pytest.approx(1.0, abs=1e-5)
    bot.store.close()
