"""Answering strategies: generative answers are checked, repaired or replaced by the extractive
answer (with a notice), so a generative backend is never worse than none. Real store and
embedder; the LLM is scripted so that each failure mode happens on demand."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from chatbot.answering.citations import render_sentence
from chatbot.answering.strategies import ExtractiveStrategy, GenerativeStrategy
from chatbot.answering.writing import as_sentence
from chatbot.bot import Chatbot
from chatbot.llm.base import LLMError
from chatbot.models.embeddings import Embedder
from chatbot.presentation.briefing import briefing_html, briefing_markdown
from chatbot.presentation.html import answer_html
from chatbot.presentation.labels import QUOTED_MARK
from chatbot.presentation.text import answer_to_text, summary_to_text
from tests.fakes import ScriptedLLM
from tests.store_fixtures import settings_in

Reply = Callable[[str], str]


def _evidence_number(prompt: str, word: str) -> int:
    """The number of the evidence line that contains ``word``."""
    for line in prompt.splitlines():
        match = re.match(r"\[(\d+)\] .*" + re.escape(word), line)
        if match:
            return int(match.group(1))
    raise AssertionError(f"no evidence line with {word!r} in:\n{prompt}")


def _bot(tmp_path: Path, embedder: Embedder, seed_file: Path, reply: Reply, **fields) -> Chatbot:
    writer = ScriptedLLM(reply, name="scripted-writer", model="script")
    bot = Chatbot(settings_in(tmp_path, **fields), embedder=embedder, llm=writer)
    assert bot.ingest([seed_file]).ok
    return bot


QUESTION = "How long did the talks in Istanbul last?"


def test_strategy_is_chosen_once_and_reported(tmp_path, embedder, seed_file) -> None:
    bot = _bot(tmp_path, embedder, seed_file, lambda p: "x", answer_context="evidence")
    assert isinstance(bot.strategy, GenerativeStrategy) and bot.strategy.context == "evidence"
    assert bot.engine.strategy is bot.strategy
    status = bot.status()
    assert "writing from the evidence" in status["answering"]
    assert "scripted-writer" in status["answering_reason"]
    bot.close()
    extractive = Chatbot(settings_in(tmp_path / "x"), embedder=embedder)
    assert isinstance(extractive.strategy, ExtractiveStrategy)
    assert "extractive" in extractive.status()["answering"]
    extractive.close()


def test_a_supported_sentence_is_shown_as_written(tmp_path, embedder, seed_file) -> None:
    def reply(prompt: str) -> str:
        n = _evidence_number(prompt, "six hours")
        return f"Delegations from both countries concluded more than six hours of talks [{n}]."

    bot = _bot(tmp_path, embedder, seed_file, reply, answer_context="evidence")
    answer = bot.ask(QUESTION)
    writer = bot.llm
    assert isinstance(writer, ScriptedLLM) and writer.cited_calls == [3]
    # Evidence first: the model read a few numbered sentences, not whole passages.
    assert "<source" not in writer.prompts[0] and len(writer.prompts[0]) < 1500
    written = "Delegations from both countries concluded more than six hours of talks ["
    assert answer.text.startswith(written)
    assert not answer.notice
    assert all(s.supported for s in answer.sentences)
    cited = next(c for c in answer.citations if "six hours" in c.quote)
    article = bot.article(cited.article_id)
    assert article is not None and article.text[cited.char_start : cited.char_end] == cited.quote
    # [n] numbers the retrieved passages that Answer.sources lists.
    assert answer.sources[cited.n - 1].article_id == cited.article_id
    bot.close()


def test_an_unsupported_sentence_is_repaired_with_the_evidence_it_cited(
    tmp_path, embedder, seed_file
) -> None:
    def reply(prompt: str) -> str:
        n = _evidence_number(prompt, "six hours")
        return f"The talks lasted three days in Moscow [{n}]."

    bot = _bot(tmp_path, embedder, seed_file, reply, answer_context="evidence")
    answer = bot.ask(QUESTION)
    assert "Moscow" not in answer.text and "three days" not in answer.text
    assert "more than six hours of talks" in answer.text
    assert all(s.supported and s.citations for s in answer.sentences)
    # The repair is marked on its sentence, quietly; the banner is for failures and fallbacks.
    assert not answer.notice
    # Its one sentence was wrong: all shown is the sources' words (the repair, and the
    # sentences the extractive answer would add), each marked.
    assert answer.repaired == 1 and all(s.quoted for s in answer.sentences)
    page = answer_html(answer, "t1")
    assert "cb-notice" not in page and page.count(QUOTED_MARK) == len(answer.sentences)
    assert answer_to_text(answer).count(f"({QUOTED_MARK})") == len(answer.sentences)
    bot.close()


def test_an_invented_answer_never_reaches_the_reader(tmp_path, embedder, seed_file) -> None:
    # Cites the weakest evidence (never shown by the extractive answer) with an invented fact.
    def reply(prompt: str) -> str:
        last = max(int(n) for n in re.findall(r"^\[(\d+)\]", prompt, re.M))
        return f"Pluto annexed the Moon in 1850 [{last}]."

    bot = _bot(tmp_path, embedder, seed_file, reply, answer_context="evidence")
    answer = bot.ask(QUESTION)
    assert "Pluto" not in answer.text and "1850" not in answer.text
    assert "six hours" in answer.text
    # Replaced with the sources' words (each such sentence marked), or the extractive answer
    # with a notice: either way the reader is told.
    assert answer.notice or all(s.quoted for s in answer.sentences)
    assert answer.citations and all(c.supported for c in answer.citations)
    bot.close()


def test_a_model_that_finds_no_answer_gets_the_extractive_one_with_a_notice(
    tmp_path, embedder, seed_file
) -> None:
    bot = _bot(
        tmp_path,
        embedder,
        seed_file,
        lambda p: "The articles do not say.",
        answer_context="evidence",
    )
    answer = bot.ask(QUESTION)
    assert "six hours" in answer.text and answer.citations
    assert answer.notice.startswith("The language model found no answer in the sources")
    bot.close()


def test_only_unsupported_text_falls_back_to_the_extractive_answer(
    tmp_path, embedder, seed_file
) -> None:
    # A server model over whole passages that writes nothing the sources hold, and cites none.
    bot = _bot(
        tmp_path,
        embedder,
        seed_file,
        lambda p: "Zebras won the lottery.",
        answer_context="passages",
        unsupported_policy="remove",
    )
    answer = bot.ask(QUESTION)
    assert "Zebras" not in answer.text and "six hours" in answer.text
    # The sources' words instead, each marked, or the extractive answer with a notice.
    assert answer.notice or all(s.quoted for s in answer.sentences)
    assert all(s.supported for s in answer.sentences)
    bot.close()


def test_a_failing_model_gives_the_extractive_answer_and_says_why(
    tmp_path, embedder, seed_file
) -> None:
    def reply(prompt: str) -> str:
        raise LLMError("the server went away")

    bot = _bot(tmp_path, embedder, seed_file, reply)
    answer = bot.ask(QUESTION)
    assert "six hours" in answer.text and answer.citations
    assert answer.notice.startswith("The language model failed (the server went away)")
    bot.close()


def test_whole_passages_for_strong_models_repaired_the_same_way(
    tmp_path, embedder, seed_file
) -> None:
    bot = _bot(
        tmp_path,
        embedder,
        seed_file,
        lambda p: "The talks were held in Istanbul [1]. They lasted nine weeks [1].",
        answer_context="passages",
    )
    writer = bot.llm
    assert isinstance(writer, ScriptedLLM)
    answer = bot.ask(QUESTION)
    assert "<source" in writer.prompts[0] and not writer.cited_calls
    assert "nine weeks" not in answer.text
    assert "Istanbul" in answer.text
    assert all(s.supported for s in answer.sentences)
    assert not answer.notice
    assert [s.quoted for s in answer.sentences] == [False, True]  # Istanbul kept, weeks quoted
    bot.close()


def test_summaries_keep_a_supported_cited_sentence_whatever_the_model_writes(
    tmp_path, embedder, seed_file
) -> None:
    bot = _bot(
        tmp_path,
        embedder,
        seed_file,
        lambda p: "Aliens landed in Paris [1]. The sky is green [2].",
        answer_context="evidence",
    )
    article_id = bot.articles()[0].id
    summary = bot.summarize(article_id)
    assert "Aliens" not in summary.text and "green" not in summary.text
    assert any(s.supported and s.citations for s in summary.sentences)
    assert any(s.quoted for s in summary.sentences) and not summary.notice
    assert QUOTED_MARK in summary_to_text(summary)
    brief = bot.briefing("2025-02-27")
    assert brief.stories
    for story in brief.stories:
        assert any(supported for _, _, supported in story_sentences(story))
        assert not story.notice and any(s.quoted for s in story.sentences)
    assert QUOTED_MARK in briefing_html(brief) and QUOTED_MARK in briefing_markdown(brief)
    bot.close()


def story_sentences(story) -> list[tuple[str, tuple[int, ...], bool]]:
    return [(s.text, s.citations, s.supported and bool(s.citations)) for s in story.sentences]


@pytest.mark.parametrize("context", ["evidence", "passages"])
def test_follow_up_rewrite_only_for_models_that_read_passages(
    tmp_path, embedder, seed_file, context
) -> None:
    bot = _bot(
        tmp_path, embedder, seed_file, lambda p: "Istanbul talks [1].", answer_context=context
    )
    assert (bot.strategy.rewrite("and then?", ["User: a\nAssistant: b"]) is None) == (
        context == "evidence"
    )
    bot.close()


def test_a_quoted_heading_without_a_full_stop_stays_a_sentence_of_its_own(embedder) -> None:
    from chatbot.answering.citations import SupportChecker, check_answer

    heading = "Last military parade in the capital was in 1991"
    other = "Thousands of people watched the parade on Saturday."
    parts = [render_sentence(as_sentence(heading), (1,)), render_sentence(other, (2,))]
    passages = [_passage(heading + "\n\nIt rained."), _passage("Crowds came. " + other)]
    checked = check_answer(" ".join(parts), passages, SupportChecker(embedder))
    assert [s.citations for s in checked.sentences] == [(1,), (2,)]
    assert all(s.supported for s in checked.sentences)


def _passage(text: str):
    from chatbot.vocabulary import Passage

    return Passage("a:0", "a", 0, text, 0, len(text), "T", "X", None, None)


def test_a_summary_the_model_leaves_short_is_filled_from_the_central_sentences(
    tmp_path, embedder, seed_file
) -> None:
    def one_sentence(prompt: str) -> str:
        first = re.search(r"^\[1\] \([^)]*\) (.+)$", prompt, re.M)
        return f"{first.group(1).rstrip('.')} [1]." if first else "Nothing."

    bot = _bot(tmp_path, embedder, seed_file, one_sentence, answer_context="evidence")
    summary = bot.summarize(bot.articles()[0].id)
    sentences = [s for s in summary.sentences if s.text.strip()]
    # The model wrote one sentence; the summary still has the length asked for, every sentence
    # quoting the article and cited, none twice.
    assert len(sentences) == bot.summarizer.sentences == 3
    assert all(s.supported and s.citations for s in sentences)
    assert len({s.text for s in sentences}) == len(sentences)
    assert not summary.notice  # nothing the model wrote was replaced
    bot.close()
