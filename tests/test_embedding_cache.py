"""The default embedder's cache of small calls (answers re-embed the same sentences)."""

from __future__ import annotations

import numpy as np
import pytest

from chatbot.models.embeddings import SentenceTransformerEmbedder, packaged_minilm_path

pytestmark = pytest.mark.slow


def test_repeated_sentences_are_embedded_once_with_identical_vectors() -> None:
    embedder = SentenceTransformerEmbedder("all-MiniLM-L6-v2", packaged_minilm_path())
    first = embedder.embed(["The bank raised rates.", "The team won.", "The bank raised rates."])
    assert first.shape == (3, embedder.dimension) and first.dtype == np.float32
    assert np.array_equal(first[0], first[2])

    model = embedder._load()
    calls: list[list[str]] = []
    original = model.encode

    def counting(texts, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(list(texts))
        return original(texts, *args, **kwargs)

    model.encode = counting
    again = embedder.embed(["The team won.", "A storm hit the coast.", "The bank raised rates."])
    assert calls == [["A storm hit the coast."]]  # only the new sentence reached the model
    assert np.array_equal(again[0], first[1]) and np.array_equal(again[2], first[0])
    fresh = SentenceTransformerEmbedder("all-MiniLM-L6-v2", packaged_minilm_path())
    assert np.allclose(again, fresh.embed(["The team won.", "A storm hit the coast.",
                                           "The bank raised rates."]), atol=1e-5)  # fmt: skip
