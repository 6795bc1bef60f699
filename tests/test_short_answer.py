"""The short answer: the words the answer ranker's span head marks, shown first when it is sure
and not otherwise, highlighted inside their quote in the web UI and the CLI, given by the API,
escaped against hostile article text; the numpy span head decodes as torch's does."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from chatbot.answering.evidence import Evidence
from chatbot.answering.strategies import lead_with, short_answer
from chatbot.models.cross_encoder import CrossEncoder, SpanGuess, _best_span, pair_tokenizer
from chatbot.models.embeddings import packaged_minilm_path
from chatbot.presentation.html import answer_html, esc
from chatbot.presentation.text import answer_to_text
from chatbot.surfaces.service.shapes import answer_extras
from chatbot.vocabulary import Answer, AnswerSentence, Citation, Passage, ShortAnswer

DAY = datetime(2025, 2, 27, tzinfo=UTC)
SENTENCE = "Russian and US diplomats met in Istanbul on Thursday for more than six hours."


def _passage(text: str = SENTENCE) -> Passage:
    return Passage("c1", "a1", 0, text, 0, len(text), "Talks", "example.com", DAY, None)


def _evidence(likelihood: float, span: SpanGuess | None, text: str = SENTENCE) -> Evidence:
    return Evidence(1, text, 0, len(text), 1.0, _passage(text), likelihood, span)


def _span(words: str, confidence: float, text: str = SENTENCE) -> SpanGuess:
    """The head's best span on ``words``, every token of the sentence scored (the best's
    start and end at sqrt(confidence), the rest sharing what is left)."""
    at = text.index(words)
    tokens = [(m.start(), m.end()) for m in re.finditer(r"\w+|[^\w\s]", text)]
    top = confidence**0.5
    rest = (1 - top) / max(1, len(tokens) - 1)
    first = next(i for i, (s, e) in enumerate(tokens) if e > at)
    last = max(i for i, (s, e) in enumerate(tokens) if s < at + len(words))
    scored = tuple(
        (s, e, top if i == first else rest, top if i == last else rest)
        for i, (s, e) in enumerate(tokens)
    )
    return SpanGuess(at, at + len(words), confidence, scored)


def test_shown_when_the_ranker_is_sure() -> None:
    short = short_answer("Where did the diplomats meet?", [_evidence(0.9, _span("Istanbul", 0.8))])
    assert short is not None
    assert (short.text, short.n, short.quote[short.start : short.end]) == (
        "Istanbul",
        1,
        "Istanbul",
    )
    # A "where" question: the head's span holds a place, so its share is whole.
    assert short.confidence == pytest.approx(0.9)
    assert lead_with(short, "Quote [1].").startswith("**Istanbul** [1]\n\n")


def test_a_which_question_takes_the_heads_confidence() -> None:
    short = short_answer("Which one hosted the talks?", [_evidence(0.9, _span("Istanbul", 0.8))])
    assert short is not None and short.text == "Istanbul"
    assert short.confidence == pytest.approx(0.72)


def test_the_words_state_the_kind_asked() -> None:
    # The head marks the day, but "how long" asks for a time span: the phrase of that kind the
    # sentence holds is the answer, with its qualifier.
    short = short_answer("How long did the talks last?", [_evidence(0.9, _span("Thursday", 0.8))])
    assert short is not None and short.text == "more than six hours"
    # A sentence without a phrase of the kind asked has no short answer.
    other = "The diplomats met in Istanbul to talk about their embassies."
    picks = [_evidence(0.9, _span("Istanbul", 0.8, other), other)]
    assert short_answer("How long did the talks last?", picks) is None


@pytest.mark.parametrize(
    ("likelihood", "confidence"),
    [(0.2, 0.9), (0.9, 0.05)],  # unsure of the sentence; unsure of the words
)
def test_absent_when_unsure(likelihood: float, confidence: float) -> None:
    picks = [_evidence(likelihood, _span("Istanbul", confidence))]
    assert short_answer("Which one hosted the talks?", picks) is None


def test_absent_without_a_span_or_when_it_repeats_the_question() -> None:
    assert short_answer("Where did they meet?", [_evidence(0.9, None)]) is None
    assert short_answer("Where did they meet?", []) is None
    # The words say nothing the question does not: no short answer.
    repeat = [_evidence(0.9, _span("diplomats", 0.9))]
    assert short_answer("Which diplomats met?", repeat) is None


def test_the_words_are_whole_and_trimmed() -> None:
    # A span cut inside a word ("stanbu") and one ending on punctuation become whole words.
    at = SENTENCE.index("stanbu")
    inside = SpanGuess(at, at + 6, 0.9, ((at - 1, at + 7, 0.9, 0.9),))
    got = short_answer("Which one?", [_evidence(0.9, inside)])
    assert got is not None and got.text == "Istanbul"
    tail = SENTENCE.index("more")
    got = short_answer("Which?", [_evidence(0.9, SpanGuess(tail, len(SENTENCE), 0.9))])
    assert got is not None and got.text == "more than six hours"


def _answer(sentence: str, short: ShortAnswer | None) -> Answer:
    citation = Citation(
        1, "a1", "Talks", "example.com", DAY, "https://example.com/a", sentence, 0,
        len(sentence), True, 0.9,
    )
    text = lead_with(short, f"{sentence} [1]")
    return Answer(
        "Where?",
        text,
        (citation,),
        (_passage(sentence),),
        (AnswerSentence(f"{sentence} [1]", (1,), True, 0.9, quoted=True),),
        short_answer=short,
    )


def _short(sentence: str, words: str) -> ShortAnswer:
    at = sentence.index(words)
    return ShortAnswer(words, 1, sentence, at, at + len(words), 0.8)


def test_highlighted_inside_the_quote() -> None:
    answer = _answer(SENTENCE, _short(SENTENCE, "Istanbul"))
    page = answer_html(answer, "t1")
    assert '<div class="cb-short"><strong>Istanbul</strong>' in page
    assert 'met in <mark class="cb-answer">Istanbul</mark> on Thursday' in page
    text = answer_to_text(answer)
    assert text.startswith("**Istanbul** [1]")
    assert "met in **Istanbul** on Thursday" in text
    extras = answer_extras(answer)
    assert extras["short_answer"]["text"] == "Istanbul" and extras["short_answer"]["n"] == 1
    at = SENTENCE.index("Istanbul")
    assert extras["citations"][0]["answer"] == [at, at + len("Istanbul")]


def test_no_short_answer_changes_nothing() -> None:
    answer = _answer(SENTENCE, None)
    page = answer_html(answer, "t1")
    assert "cb-short" not in page and "cb-answer" not in page
    assert answer_to_text(answer).startswith(SENTENCE)
    extras = answer_extras(answer)
    assert extras["short_answer"] is None and extras["citations"][0]["answer"] is None


def test_hostile_article_text_is_escaped() -> None:
    hostile = 'Officials met at <img src=x onerror="alert(1)"> & left at dawn.'
    answer = _answer(hostile, _short(hostile, '<img src=x onerror="alert(1)">'))
    assert answer.short_answer is not None
    page = answer_html(answer, "t1")
    assert "<img" not in page
    assert f'<mark class="cb-answer">{esc(answer.short_answer.text)}</mark> &#38; left' in page
    # Words that also stand in a citation link's markup are marked only in the text.
    digits = "The vote was 1 to 0 in the end."
    page = answer_html(_answer(digits, _short(digits, "1")), "t1")
    assert '<mark class="cb-answer">1</mark> to 0' in page
    assert 'data-n="1"' in page  # the link's markup untouched


def _tiny_with_span(folder: Path) -> Path:
    """A small random BERT classifier with a span head (built by the test)."""
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(1)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=1,
        initializer_range=0.3,
    )
    config.ranker_max_length = 64
    BertForSequenceClassification(config).save_pretrained(folder, safe_serialization=True)
    tensors = load_file(str(folder / "model.safetensors"))
    tensors["span.weight"] = torch.randn(2, 32) * 2
    tensors["span.bias"] = torch.zeros(2)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    shutil.copyfile(packaged_minilm_path() / "tokenizer.json", folder / "tokenizer.json")
    return folder


def test_numpy_span_head_matches_torch(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file
    from transformers import BertForSequenceClassification

    folder = _tiny_with_span(tmp_path / "tiny")
    question = "Where did they meet?"
    texts = ["Talks (2025-02-27): " + SENTENCE, "Other (2025-02-26): Nothing happened."]
    encoder = CrossEncoder(folder, batch_size=2)
    assert encoder.has_span_head()
    logits, spans = encoder.read(question, texts)
    model = BertForSequenceClassification.from_pretrained(folder, torch_dtype=torch.float32)
    model.eval()
    head = load_file(str(folder / "model.safetensors"))
    tokenizer = pair_tokenizer(folder, 64)
    for i, text in enumerate(texts):
        e = tokenizer.encode(question, text)
        with torch.inference_mode():
            out = model.bert(
                input_ids=torch.tensor([e.ids]),
                token_type_ids=torch.tensor([e.type_ids]),
                attention_mask=torch.ones((1, len(e.ids)), dtype=torch.long),
            )
            want_logit = model.classifier(out.pooler_output)[0, 0].item()
            span_logits = out.last_hidden_state[0] @ head["span.weight"].T + head["span.bias"]
        assert logits[i] == pytest.approx(want_logit, abs=1e-4)
        want = _best_span(span_logits.numpy(), e)
        got = spans[i]
        assert (got is None) == (want is None)
        if got is not None and want is not None:
            assert (got.start, got.end) == (want.start, want.end)
            assert got.confidence == pytest.approx(want.confidence, abs=1e-4)
            assert 0 < got.confidence <= 1 and text[got.start : got.end].strip()


def test_best_span_is_given_that_the_text_answers() -> None:
    tokenizer = pair_tokenizer(packaged_minilm_path(), 64)
    e = tokenizer.encode("Where?", "In Istanbul.")
    logits = np.zeros((len(e.ids), 2), dtype=np.float32)
    istanbul = next(i for i, t in enumerate(e.tokens) if t == "istanbul")
    logits[istanbul] = 4.0
    logits[0] = 10.0  # [CLS]: "no answer here", which the ranker's score decides instead
    got = _best_span(logits, e)
    assert got is not None and "In Istanbul."[got.start : got.end] == "Istanbul"
    assert got.none > 0.9 and got.confidence > 0.5
    assert got.score(got.start, got.end) == pytest.approx(got.confidence)
    # Shifted past a prefix (the ranker's "title (date): "), the span keeps its words.
    shifted = got.shifted(3)
    assert shifted is not None and "Istanbul."[shifted.start : shifted.end] == "Istanbul"


def test_short_answers_are_opt_in() -> None:
    from chatbot.answering.strategies import create_strategy
    from chatbot.config import Settings
    from chatbot.llm.no_llm import NoLLM

    assert Settings().short_answers is False
    strategy = create_strategy(NoLLM(), None, None, short_answers=True)  # type: ignore[arg-type]
    assert getattr(strategy, "short_answers", None) is True
