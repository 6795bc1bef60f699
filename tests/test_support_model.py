"""The trained support checker: windows, the numpy engine against torch, falling back to the
features when the weights are missing or corrupt, and the training command (smoke run,
determinism)."""

from __future__ import annotations

import gzip
import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from chatbot.answering.support import SupportChecker
from chatbot.common.text import sentence_spans
from chatbot.models.cross_encoder import PACKAGED_SUPPORT, CrossEncoder
from chatbot.models.embeddings import Embedder
from chatbot.models.support_model import WINDOW, SupportModel, windows
from tests.test_answer_ranker import _tiny_model, _torch_scores

SOURCE = (
    "Delegations from Russia and the United States met in Istanbul on Thursday. "
    "The talks lasted more than six hours. They were about the work of the embassies. "
    "A second round is planned for March. Officials called the meeting constructive. "
    "The foreign ministry said details would follow."
)


def test_windows_are_consecutive_sentences_sharing_most_words_first() -> None:
    spans = sentence_spans(SOURCE)
    found = windows(SOURCE, spans, "A second round of talks is planned for March.", most=2)
    assert len(found) == 2
    for start, end in found:
        inside = [s for s in spans if start <= s[0] and s[1] <= end]
        assert len(inside) == WINDOW
    assert "second round" in SOURCE[found[0][0] : found[0][1]]
    # A short source is one window.
    assert windows("One sentence. Two.", sentence_spans("One sentence. Two."), "x") == [(0, 18)]
    assert windows("", [], "x") == []


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = _tiny_model(tmp_path_factory.mktemp("tiny-support"))
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["support_threshold"] = 0.3
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def test_the_checker_reads_the_best_window(tiny: Path, embedder: Embedder) -> None:
    model = SupportModel(tiny)
    checker = SupportChecker(embedder, method="trained", model=model)
    claim = "The talks went on for over six hours."
    result = checker.score(claim, SOURCE)
    spans = sentence_spans(SOURCE)
    texts = [SOURCE[s:e] for s, e in windows(SOURCE, spans, claim)]
    best = float(np.max(CrossEncoder(tiny).score(claim, texts)))
    threshold_logit = np.log(0.3 / 0.7)  # the tuned threshold in config.json (0.3) scores 0.5
    assert result.score == pytest.approx(1 / (1 + np.exp(-(best - threshold_logit))), abs=1e-5)
    # A quote word for word needs no model.
    assert checker.score("The talks lasted more than six hours.", SOURCE).score == 1.0


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_unusable_weights_fall_back_to_the_features_naming_the_file(
    tiny: Path,
    tmp_path: Path,
    embedder: Embedder,
    caplog: pytest.LogCaptureFixture,
    damage: str,
) -> None:
    folder = tmp_path / damage
    shutil.copytree(tiny, folder)
    if damage == "missing":
        (folder / "model.safetensors").unlink()
    else:
        (folder / "model.safetensors").write_bytes(b"not safetensors at all")
    trained = SupportChecker(embedder, method="trained", model=SupportModel(folder))
    features = SupportChecker(embedder, method="hybrid")
    claims = ["The talks lasted more than nine hours.", "Officials praised the meeting."]
    with caplog.at_level(logging.ERROR):
        got = [trained.score(c, SOURCE) for c in claims]
    assert [g.score for g in got] == [features.score(c, SOURCE).score for c in claims]
    assert got[0].reason == features.score(claims[0], SOURCE).reason
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and str(folder / "model.safetensors") in errors[0]


@pytest.mark.skipif(not (PACKAGED_SUPPORT / "model.safetensors").exists(), reason="not trained")
def test_the_packaged_checker_scores_like_torch() -> None:
    claim = "The talks lasted more than six hours."
    texts = [SOURCE[s:e] for s, e in windows(SOURCE, sentence_spans(SOURCE), claim, most=3)]
    got = CrossEncoder(PACKAGED_SUPPORT).score(claim, texts)
    want = _torch_scores(PACKAGED_SUPPORT, [(claim, t) for t in texts], 128)
    np.testing.assert_allclose(got, want, atol=1e-3)


def _traindata(folder: Path) -> Path:
    """A tiny stand-in for ../shared/traindata: entailment pairs and news articles."""
    (folder / "nli").mkdir(parents=True)
    (folder / "realtimeqa-train").mkdir()
    rows = []
    for i in range(30):
        rows.append(
            {
                "premise": f"The council voted {i} to 2 on Monday to build the tram line.",
                "hypothesis": "The council backed the tram line." if i % 2 else "It was Friday.",
                "label": i % 2,
                "source": "docnli-binary-mnli-dev" if i % 3 else "esnli-dev",
            }
        )
    for i in range(8):
        rows.append(
            {
                "premise": SOURCE + f" Document {i}.",
                "hypothesis": "The talks lasted six hours." if i % 2 else "Talks lasted a day.",
                "label": i % 2,
                "source": "summedits-news" if i < 4 else "summedits-podcast",
            }
        )
    with gzip.open(folder / "nli" / "pairs.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    articles = []
    for i in range(12):
        text = " ".join(
            f"Mayor Anna Berg of Springfield said on Tuesday that {n + 12 * i} new buses will "
            f"not run before March because the depot in Shelbyville is late."
            for n in range(14)
        )
        day = "2024-05-01" if i < 8 else "2025-03-01"
        articles.append({"id": f"a{i}", "text": text, "published_at": day, "title": "Buses"})
    with gzip.open(folder / "realtimeqa-train" / "articles.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(a) + "\n" for a in articles)
    return folder


def test_a_smoke_training_run(tmp_path: Path, tiny: Path) -> None:
    from training import support_checker

    data = _traindata(tmp_path / "data")
    args = ["--data", str(data), "--max-pairs", "48", "--seed", "3", "--base", str(tiny)]
    args += ["--sentences-per-article", "3"]
    started = time.perf_counter()
    info = support_checker.main([*args, "--out", str(tmp_path / "a"), "--max-length", "64"])
    assert time.perf_counter() - started < 60
    assert info["train_pairs"] == 48 and info["validation_pairs"] > 0
    kinds = info["train_kinds"]
    assert kinds.get("news-sentence") and kinds.get("docnli") and kinds.get("summedits-podcast")
    for name in ("config.json", "model.safetensors", "tokenizer.json", "MODEL_CARD.md"):
        assert (tmp_path / "a" / name).is_file()
    config = json.loads((tmp_path / "a" / "config.json").read_text(encoding="utf-8"))
    assert 0.0 <= config["support_threshold"] <= 1.0
    assert "seed 3" in (tmp_path / "a" / "MODEL_CARD.md").read_text(encoding="utf-8")
    # What it wrote, the checker reads.
    model = SupportModel(tmp_path / "a")
    assert model.ready() and model.error is None
    logits = model.score("The buses run.", ["Mayor Anna Berg said the buses will not run."])
    assert logits is not None and np.isfinite(logits).all()
    # Again with the same seed: the same weights, byte for byte.
    support_checker.main([*args, "--out", str(tmp_path / "b"), "--max-length", "64"])
    a = (tmp_path / "a" / "model.safetensors").read_bytes()
    assert a == (tmp_path / "b" / "model.safetensors").read_bytes()


def test_news_pairs_corrupt_the_fact_not_the_window() -> None:
    import random

    from training.support_checker import news_pairs

    text = " ".join(
        f"Mayor Anna Berg of Springfield said on Tuesday that {n + 20} new buses will not run "
        "before March because the depot in Shelbyville is late."
        for n in range(14)
    )
    other = {"text": "The harbour opened a new ferry route to the islands last summer. " * 12}
    pairs = list(news_pairs({"text": text}, other, random.Random(0), per_article=10))
    supported = [(c, w) for c, w, y, _ in pairs if y]
    assert supported and all(c.rstrip(".") in w or len(c) < len(w) for c, w in supported)
    for claim, window, label, kind in pairs:
        if not label and kind != "news-elsewhere":
            assert claim not in window, (kind, claim)
