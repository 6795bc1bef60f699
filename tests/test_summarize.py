"""Cited article and multi-article summaries on the real store and embedder.

The extractive backend is the real one; a scripted LLMBackend stands in for a model only where a
real one cannot be made to do something on demand (tiny context windows, failures). One test
runs the real packaged SmolLM2.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from chatbot.answering.centrality import central_sentences
from chatbot.answering.strategies import create_strategy
from chatbot.answering.summaries import Summarizer, SummaryError
from chatbot.bot import Chatbot
from chatbot.config import Settings
from chatbot.index.store import version_of
from chatbot.llm.base import LLMBackend
from chatbot.models.embeddings import Embedder
from chatbot.presentation.text import summary_to_text
from chatbot.vocabulary import Article, Chunk
from tests.fakes import CountingEmbedder, ScriptedLLM
from tests.store_fixtures import settings_in

DAY = datetime(2025, 2, 27, 9, tzinfo=UTC)
TALKS = (
    "Russian and US diplomats held more than six hours of talks in Istanbul on Thursday about "
    "the work of their embassies. The meeting took place at the residence of the US consul "
    "general, Russian state news agency TASS said. Russian Foreign Minister Sergei Lavrov said "
    "the negotiators were high-level diplomats and experts. The talks follow a meeting of the two "
    "countries' delegations in Riyadh on February 18."
)
ECB = (
    "The European Central Bank kept its main interest rate at 2.5 percent on Thursday. "
    "President Christine Lagarde said inflation was falling towards the 2 percent target. "
    "Markets expect a cut in April."
)


def _article(title: str, text: str, source: str, url: str) -> Article:
    return Article.create(title=title, text=text, source=source, published_at=DAY, url=url)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, seed_file: Path):
    root = tmp_path_factory.mktemp("summaries")
    bot = Chatbot(
        settings_in(root),
        embedder=embedder,
    )
    talks = _article("Diplomats meet in Istanbul", TALKS, "Reuters", "https://r.example/talks")
    wire = _article("Diplomats meet in Istanbul", TALKS, "The Star", "https://star.example/t")
    ecb = _article("Central bank holds rates", ECB, "AP", "https://ap.example/ecb")
    report = bot.ingest([seed_file, talks, wire, ecb])
    assert report.ok and len(report.added) == 4, report
    seed_id = next(a.id for a in bot.store.list_articles() if a.source == "ANI")
    return bot, {"seed": seed_id, "talks": talks.id, "wire": wire.id, "ecb": ecb.id}, root


def _summarizer(bot: Chatbot, cache: Path, llm: LLMBackend | None = None, **kw) -> Summarizer:
    return Summarizer(
        bot.store,
        kw.pop("embedder", bot.embedder),
        create_strategy(llm or bot.llm, bot.embedder, bot.checker),
        bot.checker,
        cache_dir=cache,
        max_tokens=kw.pop("max_tokens", 96),
        **kw,
    )


def test_extractive_summary_cites_exact_sentences_of_the_article(corpus, tmp_path) -> None:
    bot, ids, _ = corpus
    summary = _summarizer(bot, tmp_path / "c1").summarize_article(ids["seed"])
    assert summary.backend == "extractive" and not summary.notice
    assert summary.article_ids == (ids["seed"],)
    assert 1 <= len(summary.sentences) <= 3
    assert all(s.citations and s.supported for s in summary.sentences)
    article = bot.article(ids["seed"])
    assert summary.citations
    for c in summary.citations:
        assert c.article_id == ids["seed"] and c.source == "ANI"
        assert article.text[c.char_start : c.char_end] == c.quote
    shown = summary_to_text(summary)
    assert "[1]" in shown and "ANI, 2025-02-27" in shown and "[unsupported]" not in shown


def test_second_summary_comes_from_the_cache(corpus, tmp_path, embedder) -> None:
    bot, ids, _ = corpus
    counting = CountingEmbedder(embedder)
    first = _summarizer(bot, tmp_path / "cache", embedder=counting).summarize_article(ids["ecb"])
    assert counting.calls
    assert len(list((tmp_path / "cache").glob(f"{ids['ecb']}-*.json"))) == 1
    counting.calls.clear()
    fresh = _summarizer(bot, tmp_path / "cache", embedder=counting)  # e.g. the next briefing
    assert fresh.summarize_article(ids["ecb"]) == first
    assert counting.calls == [], "a cached article was summarized again"


def test_changed_article_is_summarized_again(tmp_path, embedder) -> None:
    bot = Chatbot(Settings(store_path=tmp_path / "vs", llm_backend="extractive"), embedder=embedder)
    url = "https://ap.example/ecb-live"
    bot.ingest([_article("Central bank holds rates", ECB, "AP", url)])
    article_id = bot.store.list_articles()[0].id
    summarizer = _summarizer(bot, tmp_path / "cache")
    before = summarizer.summarize_article(article_id)
    updated = ECB.replace("2.5 percent", "2.75 percent")
    assert bot.ingest([_article("Central bank holds rates", updated, "AP", url)]).updated
    after = summarizer.summarize_article(article_id)
    assert "2.75 percent" in after.text and "2.75 percent" not in before.text
    assert len(list((tmp_path / "cache").glob("*.json"))) == 2


def test_multi_article_summary_reads_every_article_and_merges_wire_copies(corpus, tmp_path) -> None:
    bot, ids, _ = corpus
    wanted = [ids["talks"], ids["wire"], ids["ecb"], ids["talks"]]  # a repeat is read once
    summary = _summarizer(bot, tmp_path / "cache").summarize_articles(wanted)
    assert summary.article_ids == (ids["talks"], ids["wire"], ids["ecb"])
    # Map: every article was summarized (and cached) on its own.
    for key in ("talks", "wire", "ecb"):
        assert list((tmp_path / "cache").glob(f"{ids[key]}-*.json")), key
    assert all(s.supported for s in summary.sentences)
    # The wire copy's identical sentence is told once, citing both outlets.
    istanbul = [s for s in summary.sentences if "Istanbul" in s.text]
    assert len(istanbul) == 1
    cited = {c.source for c in summary.citations if c.n in istanbul[0].citations}
    assert cited == {"Reuters", "The Star"}
    # Sources are numbered 1..k in order (a source may be quoted more than once).
    numbers = [c.n for c in summary.citations]
    assert numbers == sorted(numbers) and set(numbers) == set(range(1, max(numbers) + 1))


def test_unknown_and_textless_articles(corpus, tmp_path) -> None:
    bot, ids, _ = corpus
    summarizer = _summarizer(bot, tmp_path / "cache")
    with pytest.raises(SummaryError, match="nope"):
        summarizer.summarize_article("nope")
    blank = Article.create(title="Empty page", text="  \n ", source="X", url="https://x.example")
    vector = np.ones((1, bot.embedder.dimension), dtype=np.float32)
    bot.store.write_article(blank, [Chunk(blank.id, 0, "  \n ", 0, 4)], vector)
    try:
        alone = summarizer.summarize_article(blank.id)
        assert alone.empty and "no text" in alone.notice
        both = summarizer.summarize_articles([blank.id, ids["ecb"]])
        assert both.skipped == ((blank.id, "the article has no text"),)
        assert "2.5 percent" in both.text and "no text" in both.notice
    finally:
        bot.store.delete_article(blank.id)


def test_llm_map_reduce_stays_within_the_context_window(corpus, tmp_path) -> None:
    bot, ids, _ = corpus
    llm = ScriptedLLM(context_window=700)
    summarizer = _summarizer(bot, tmp_path / "cache", llm, max_tokens=64)
    summary = summarizer.summarize_articles([ids["seed"], ids["ecb"]])
    assert summary.backend == llm.describe() and not summary.notice
    for messages, max_tokens in llm.calls:
        used = sum(llm.count_tokens(m.content) for m in messages) + 32
        assert used + (max_tokens or 0) <= llm.context_window
    prompts = "\n".join(m[-1].content for m, _ in llm.calls)
    stored = bot.store.list_articles(ids=[ids["seed"]])[0]
    version = version_of(stored.content_hash)
    passages = bot.store.get_chunks([f"{stored.id}:{version}:{n}" for n in range(stored.chunks)])
    assert len(passages) >= 3, "the seed article should need several map calls at 700 tokens"
    for p in passages:  # every passage of the long article was read by the model
        assert p.text[:80] in prompts
    assert any("Notes from" in m[-1].content for m, _ in llm.calls), "no reduce step"
    assert summary.citations and all(s.citations for s in summary.sentences)


def test_llm_failure_falls_back_to_extractive_and_is_not_cached(corpus, tmp_path) -> None:
    bot, ids, _ = corpus
    broken = ScriptedLLM(fail=lambda prompt: True)
    summary = _summarizer(bot, tmp_path / "cache", broken).summarize_article(ids["ecb"])
    assert summary.backend == "extractive"
    assert "extractive fallback" in summary.notice and "scripted failure" in summary.notice
    assert "2.5 percent" in summary.text
    working = ScriptedLLM()
    again = _summarizer(bot, tmp_path / "cache", working).summarize_article(ids["ecb"])
    assert working.calls, "the failed LLM summary must not be served from the cache"
    assert again.backend == working.describe() and not again.notice


@pytest.mark.slow
def test_local_smollm2_writes_a_checked_summary(corpus, tmp_path, local_llm) -> None:
    bot, ids, _ = corpus
    summary = _summarizer(bot, tmp_path / "cache", local_llm, max_tokens=48).summarize_article(
        ids["ecb"]
    )
    assert summary.backend.startswith("local") or summary.notice  # a model error falls back
    assert summary.text.strip()
    assert summary.sentences and all(isinstance(s.supported, bool) for s in summary.sentences)
    n_sources = max((c.n for c in summary.citations), default=0)
    assert all(1 <= c.n <= n_sources for c in summary.citations)


def test_central_sentences_are_deterministic_and_respect_eligibility() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(6, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    picked = central_sentences(vectors, 3)
    assert picked == central_sentences(vectors, 3) and len(set(picked)) == 3
    assert central_sentences(vectors, 3, [i != picked[0] for i in range(6)])[0] != picked[0]
