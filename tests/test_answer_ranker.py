"""The answer ranker: the numpy cross-encoder scores like torch, loads once, names a missing or
corrupt file and lets evidence selection fall back; the training command runs end to end."""

from __future__ import annotations

import gzip
import json
import logging
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from chatbot.answering.evidence import RANKED_WEIGHTS, select_evidence
from chatbot.config import Settings
from chatbot.models.answer_ranker import AnswerRanker, create_ranker
from chatbot.models.cross_encoder import (
    PACKAGED_RANKER,
    CrossEncoder,
    CrossEncoderError,
    pair_tokenizer,
    ranker_text,
)
from chatbot.models.embeddings import Embedder, packaged_minilm_path
from chatbot.vocabulary import Passage

PAIRS = [
    (
        "How long did the talks last?",
        ranker_text("The talks lasted six hours.", "Talks", "2025-02-27"),
    ),
    ("Who won the election?", ranker_text("Lee Jae-myung won the vote on Tuesday.", "Vote")),
    ("Where?", "A much longer sentence " * 12),  # truncated to the pair limit
    ("Which volcano erupted?", "Etna erupted on Monday, sending ash over Sicily."),
]


def _tiny_model(folder: Path, seed: int = 0) -> Path:
    """A small random BERT classifier with the packaged MiniLM tokenizer (built by the test)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=1,
        initializer_range=0.3,  # wide enough that sentences score apart
    )
    config.ranker_max_length = 64
    model = BertForSequenceClassification(config)
    model.save_pretrained(folder, safe_serialization=True)
    shutil.copyfile(packaged_minilm_path() / "tokenizer.json", folder / "tokenizer.json")
    return folder


def _torch_scores(folder: Path, pairs: list[tuple[str, str]], max_length: int) -> np.ndarray:
    import torch
    from transformers import BertForSequenceClassification

    model = BertForSequenceClassification.from_pretrained(folder, torch_dtype=torch.float32)
    model.eval()
    tokenizer = pair_tokenizer(folder, max_length)
    out = []
    with torch.inference_mode():
        for q, t in pairs:  # one at a time: no padding on the torch side
            e = tokenizer.encode(q, t)
            logits = model(
                input_ids=torch.tensor([e.ids]),
                token_type_ids=torch.tensor([e.type_ids]),
                attention_mask=torch.ones((1, len(e.ids)), dtype=torch.long),
            ).logits
            out.append(float(logits[0, 0]))
    return np.array(out)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_model(tmp_path_factory.mktemp("tiny-ranker"))


def test_numpy_scores_match_torch(tiny: Path) -> None:
    # Batched (padded) numpy against unpadded torch: padding must not change a score.
    got = CrossEncoder(tiny, batch_size=3).score(PAIRS[0][0], [t for _, t in PAIRS])
    want = _torch_scores(tiny, [(PAIRS[0][0], t) for _, t in PAIRS], 64)
    assert np.ptp(want) > 0.1  # the pairs score apart: the comparison means something
    np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.skipif(not (PACKAGED_RANKER / "model.safetensors").exists(), reason="not trained")
def test_the_packaged_ranker_scores_like_torch() -> None:
    encoder = CrossEncoder(PACKAGED_RANKER)
    pairs = [(PAIRS[1][0], t) for _, t in PAIRS]
    got = encoder.score(pairs[0][0], [t for _, t in pairs])
    want = _torch_scores(PACKAGED_RANKER, pairs, 96)
    np.testing.assert_allclose(got, want, atol=1e-4)
    # It prefers the sentence that answers.
    scores = encoder.score("Who won the election?", [PAIRS[0][1], PAIRS[1][1]])
    assert scores[1] > scores[0]


def test_weights_load_once_and_lazily(tiny: Path) -> None:
    encoder = CrossEncoder(tiny)
    assert encoder._model is None  # constructing it reads nothing
    encoder.score("q", ["a sentence"])
    model = encoder._model
    encoder.score("q", ["another sentence"])
    assert encoder._model is model


def test_a_missing_or_corrupt_file_is_named(tiny: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    shutil.copytree(tiny, missing)
    (missing / "model.safetensors").unlink()
    with pytest.raises(CrossEncoderError, match=r"missing.*model\.safetensors"):
        CrossEncoder(missing).score("q", ["s"])
    corrupt = tmp_path / "corrupt"
    shutil.copytree(tiny, corrupt)
    (corrupt / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CrossEncoderError, match=r"corrupt/model\.safetensors"):
        CrossEncoder(corrupt).score("q", ["s"])
    broken = tmp_path / "broken"
    shutil.copytree(tiny, broken)
    (broken / "config.json").write_text("{", encoding="utf-8")
    with pytest.raises(CrossEncoderError, match="broken"):
        CrossEncoder(broken).load()


def _passages() -> list[Passage]:
    texts = [
        "The talks in Istanbul lasted six hours, officials said on Thursday. "
        "Both delegations described them as constructive and businesslike.",
        "Marco Rubio represented the United States in Riyadh last week. "
        "The meeting was the first of its kind since the war began in 2022.",
    ]
    day = datetime(2025, 2, 27, tzinfo=UTC)
    return [
        Passage(f"c{n}", f"a{n}", 0, t, 0, len(t), f"Report {n}", "example.com", day, None)
        for n, t in enumerate(texts)
    ]


def test_selection_falls_back_to_the_fitted_features(
    tiny: Path, tmp_path: Path, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    question = "How long did the talks in Istanbul last?"
    plain = select_evidence(question, _passages(), embedder, 2)
    broken = tmp_path / "broken"
    shutil.copytree(tiny, broken)
    (broken / "model.safetensors").write_bytes(b"garbage")
    ranker = AnswerRanker(broken)
    with caplog.at_level(logging.ERROR):
        picks = select_evidence(question, _passages(), embedder, 2, ranker=ranker)
        again = select_evidence(question, _passages(), embedder, 2, ranker=ranker)
    assert picks == plain == again
    assert ranker.error and "broken/model.safetensors" in ranker.error
    # Logged once, naming the file.
    errors = [r for r in caplog.records if "answer ranker off" in r.getMessage()]
    assert len(errors) == 1 and "model.safetensors" in errors[0].getMessage()


def test_selection_orders_by_the_ranker(tiny: Path, embedder: Embedder) -> None:
    ranker = AnswerRanker(tiny)
    question = "How long did the talks in Istanbul last?"
    picks = select_evidence(question, _passages(), embedder, 4, ranker=ranker)
    sentences = [(p.text, p.passage) for p in picks]
    scores = ranker.scores(question, sentences)
    assert scores is not None and picks
    # Best first by the ranker's logit at its temperature (less the repeat penalty after it).
    assert picks[0].score == pytest.approx(RANKED_WEIGHTS["ranker"] * max(scores), abs=1e-5)


def test_the_setting_picks_the_ranker(tiny: Path) -> None:
    assert create_ranker(Settings(ranker_model="none")) is None
    assert create_ranker(Settings()) is None  # opt-in: it misses the kind of answer asked for
    packaged = create_ranker(Settings(ranker_model="packaged"))
    assert packaged is not None and packaged.path == PACKAGED_RANKER
    own = create_ranker(Settings(ranker_model=str(tiny)))
    assert own is not None and own.path == tiny and own.ready()


def test_a_hub_name_that_cannot_be_fetched_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    # Offline, as this machine is: the hub cache is all there is.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    ranker = create_ranker(Settings(ranker_model="nobody-here/no-such-ranker"))
    assert ranker is not None and ranker.encoder.hub_id == "nobody-here/no-such-ranker"
    assert not ranker.ready()
    assert ranker.error is not None
    assert "'nobody-here/no-such-ranker' could not be fetched" in ranker.error
    assert "local folder" in ranker.error


def _quiz(folder: Path) -> Path:
    """A small quiz in the training data's format: 3 weeks of 4 questions."""
    folder.mkdir()
    facts = [
        ("Which city hosted the summit?", ["Istanbul", "Riyadh", "Paris", "Oslo"]),
        ("Which company bought the studio?", ["Netflix", "Amazon", "Apple", "Sony"]),
        ("Which country won the final?", ["Spain", "England", "France", "Brazil"]),
        (
            "Who was elected mayor?",
            ["Zohran Mamdani", "Eric Adams", "Andrew Cuomo", "Curtis Sliwa"],
        ),
    ]
    questions, articles = [], []
    for w, week in enumerate(["20250502", "20250509", "20250516"]):
        for i, (question, choices) in enumerate(facts):
            gold = (i + w) % 4
            aid = f"{week}-{i}"
            text = " ".join(
                [
                    f"The news this week was about {choices[gold]}, as reported on Monday.",
                    f"Critics had expected {choices[(gold + 1) % 4]} instead of the winner.",
                    "Officials said more details would follow in the coming days.",
                    "The announcement drew wide attention from readers around the world.",
                    "Analysts were divided over what the decision would mean for next year.",
                ]
            )
            articles.append(
                {"id": aid, "title": f"Story {i}", "published_at": "2025-05-01", "text": text}
            )
            questions.append(
                {
                    "id": f"{week}_{i}",
                    "week": week,
                    "date": "2025-05-01",
                    "question": question,
                    "choices": choices,
                    "answer_index": [gold],
                    "answer": [choices[gold]],
                    "retrieved_article_ids": [aid],
                }
            )
    (folder / "questions.jsonl").write_text(
        "".join(json.dumps(q) + "\n" for q in questions), encoding="utf-8"
    )
    with gzip.open(folder / "articles.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(a) + "\n" for a in articles)
    return folder


def test_a_smoke_training_run(tmp_path: Path) -> None:
    from training import answer_ranker

    data = _quiz(tmp_path / "data")
    args = ["--data", str(data), "--max-pairs", "48", "--val-weeks", "1", "--seed", "3"]
    started = time.perf_counter()
    info = answer_ranker.main([*args, "--out", str(tmp_path / "a")])
    assert time.perf_counter() - started < 60
    assert info["pairs"] == 48 and info["validation_questions"] == 4
    for name in ("config.json", "model.safetensors", "tokenizer.json", "MODEL_CARD.md"):
        assert (tmp_path / "a" / name).is_file()
    card = (tmp_path / "a" / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "seed: 3" in card and "git commit" in card
    # What it wrote, the numpy engine reads.
    scores = CrossEncoder(tmp_path / "a").score("Which city hosted the summit?", ["Istanbul."])
    assert np.isfinite(scores).all()


def test_training_is_deterministic_for_a_seed(tiny: Path, tmp_path: Path) -> None:
    from training import answer_ranker

    data = _quiz(tmp_path / "data")
    args = ["--data", str(data), "--max-pairs", "32", "--val-weeks", "1", "--base", str(tiny)]
    answer_ranker.main([*args, "--out", str(tmp_path / "a")])
    answer_ranker.main([*args, "--out", str(tmp_path / "b")])
    a = (tmp_path / "a" / "model.safetensors").read_bytes()
    assert a == (tmp_path / "b" / "model.safetensors").read_bytes()


def test_a_run_stopped_midway_resumes_to_the_same_weights(tiny: Path, tmp_path: Path) -> None:
    from training import answer_ranker

    data = _quiz(tmp_path / "data")
    args = ["--data", str(data), "--max-pairs", "48", "--val-weeks", "1", "--base", str(tiny)]
    answer_ranker.main([*args, "--out", str(tmp_path / "whole")])
    # A run cut off after 2 of its 3 steps (a session ends), then the same command again.
    cut = [*args, "--out", str(tmp_path / "cut"), "--checkpoint-every", "1"]
    assert answer_ranker.main([*cut, "--stop-after", "2"])["stopped"]
    assert (tmp_path / "cut" / "checkpoint.pt").is_file()
    info = answer_ranker.main(cut)
    assert info["pairs"] == 48
    whole = (tmp_path / "whole" / "model.safetensors").read_bytes()
    assert (tmp_path / "cut" / "model.safetensors").read_bytes() == whole
    assert not (tmp_path / "cut" / "checkpoint.pt").exists()  # a finished run leaves none


def test_precision_follows_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from training import common

    assert common.resolve_precision("fp32", "cpu") == "fp32"
    assert common.resolve_precision("bf16", "cpu") == "bf16"
    assert common.resolve_precision("auto", "cuda") == "bf16"
    monkeypatch.setattr(common, "cpu_has_bf16", lambda: False)
    assert common.resolve_precision("auto", "cpu") == "fp32"
    monkeypatch.setattr(common, "cpu_has_bf16", lambda: True)
    assert common.resolve_precision("auto", "cpu") == "bf16"


def test_span_targets_on_negatives_are_optional(tiny: Path) -> None:
    from training.answer_ranker import encode_with_spans, pair_tokenizer

    tokenizer = pair_tokenizer(tiny, 64)
    texts = [("Where did they meet?", "They met in Istanbul."), ("Where?", "Nothing here.")]
    for to_cls, negative in ((True, 0), (False, -100)):
        _, _, _, starts, ends, allowed = encode_with_spans(
            tokenizer, texts, [(12, 20)], 2, "cpu", negatives_to_cls=to_cls
        )
        assert int(starts[0]) > 0 and int(ends[0]) >= int(starts[0])  # "Istanbul" in the positive
        assert allowed[0, int(starts[0])]
        assert (int(starts[1]), int(ends[1])) == (negative, negative)
