from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from chatbot.common.tokens import count_cl100k as count_tokens
from chatbot.index.chunking import Chunker
from chatbot.vocabulary import Article


def _article(text: str) -> Article:
    return Article.create(title="t", text=text)


def test_chunks_respect_size_keep_spans_and_end_on_sentences(seed_file) -> None:
    text = seed_file.read_text()
    chunks = Chunker(size=100, overlap=20).chunk(_article(text))
    assert len(chunks) > 3
    for c in chunks:
        assert text[c.char_start : c.char_end] == c.text
        assert count_tokens(c.text) <= 100 + 2  # joining sentences can merge a token or two
        assert c.text.rstrip()[-1] in ".!?\")'”’"
    # consecutive chunks advance and leave no gap; they overlap by whole sentences when the
    # previous chunk's last sentences fit in the overlap budget
    for a, b in pairwise(chunks):
        assert a.char_start < b.char_start
        assert not text[a.char_end : b.char_start].strip()
    assert any(b.char_start < a.char_end for a, b in pairwise(chunks))
    # together they cover the whole text
    assert chunks[0].char_start <= 1 and chunks[-1].char_end >= len(text.rstrip())


def test_an_overlong_sentence_is_split_on_token_boundaries() -> None:
    text = "word " * 2000
    chunks = Chunker(size=128, overlap=16).chunk(_article(text))
    assert len(chunks) >= 15
    assert all(count_tokens(c.text) <= 130 for c in chunks)
    assert "".join(c.text for c in chunks).replace(" ", "") == text.replace(" ", "")


def test_default_size_gives_few_chunks_for_a_short_article(seed_file) -> None:
    chunks = Chunker().chunk(_article(seed_file.read_text()))
    assert 2 <= len(chunks) <= 6


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=3000))
def test_chunking_never_fails_and_spans_are_exact(text: str) -> None:
    for c in Chunker(size=64, overlap=8).chunk(_article(text)):
        assert text[c.char_start : c.char_end] == c.text
        assert c.text.strip()
