"""Evidence selection: what the question asks for outweighs word overlap (real embedder)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from chatbot.answering.evidence import (
    LIKELY_ALTERNATIVE,
    analyse,
    answer_cue,
    date_fit,
    select_evidence,
)
from chatbot.index.embeddings import Embedder
from chatbot.vocabulary import Passage


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How long did the talks in Istanbul last?", "duration"),
        ("For how many days was the airport closed?", "duration"),
        ("Ukraine's assault on Russian airbases involved how many drones?", "number"),
        ("How much did the company pay?", "number"),
        ("When did Putin and Trump speak over the phone?", "date"),
        ("In which year was the treaty signed?", "date"),
        ("Where did the Russian and US diplomats meet?", "place"),
        ("Which country has surpassed Australia to become the sweariest nation?", "place"),
        ("Which Italian volcano erupted on Monday?", "place"),
        ("Who will be South Korea's next president?", "person"),
        ("A presenter referred to which figure as a hater?", "person"),
        ("Why did the governor file a lawsuit?", "reason"),
        ("Which online platform has gone up for sale?", "entity"),
        ("Tell me about the talks.", ""),
    ],
)
def test_question_kinds(question: str, kind: str) -> None:
    assert analyse(question).kind == kind


def test_cue_needs_something_the_question_does_not_already_say() -> None:
    asked = analyse("How long did the talks in Istanbul last?")
    assert answer_cue(asked, "Delegations concluded more than six hours of talks.") == 1.0
    # Repeating the question's words is no answer.
    assert answer_cue(asked, "Diplomats held talks in Istanbul in Ankara.") == 0.0

    where = analyse("Where did the diplomats meet?")
    assert answer_cue(where, "The diplomats met in Istanbul on Thursday.") == 1.0
    assert (
        answer_cue(analyse("Where did the diplomats meet in Istanbul?"), "They met in Istanbul.")
        < 1
    )

    who = analyse("Who represented the US in Riyadh?")
    named = "The US was represented by Secretary of State Marco Rubio and Mike Waltz."
    assert answer_cue(who, named) > answer_cue(
        who, "On February 18, the delegations met in Riyadh."
    )

    many = analyse("How many diplomats were expelled?")
    assert answer_cue(many, "The United States declared 14 Russian diplomats personae non gratae.")
    assert not answer_cue(many, "In 2022 the United States expelled Russian diplomats.")  # a year


def _passage(text: str, n: int = 0, day: str = "2025-02-27") -> Passage:
    return Passage(
        chunk_id=f"a:{n}",
        article_id="a",
        n=n,
        text=text,
        char_start=0,
        char_end=len(text),
        title="Talks",
        source="ANI",
        published_at=datetime.fromisoformat(day).replace(tzinfo=UTC),
        url=None,
    )


def test_dates_relative_to_the_question_and_the_article() -> None:
    p = _passage("x")
    undated = analyse("Where did the diplomats meet?")
    # No day asked: the news of the day outweighs the background the article recalls.
    assert date_fit(undated, "Earlier today, diplomats met in Istanbul.", p) > 0
    assert date_fit(undated, "On February 18, delegations met in Riyadh.", p) < 0
    dated = analyse("Where did the diplomats meet on February 18?")
    assert date_fit(dated, "On February 18, delegations met in Riyadh.", p) == 0
    assert date_fit(dated, "On February 27, diplomats met in Istanbul.", p) < 0
    monday = analyse("Which volcano erupted on Monday?")
    assert date_fit(monday, "Etna erupted on Tuesday, officials said.", p) < 0


@pytest.fixture(scope="module")
def seed_passages(seed_file: Path) -> list[Passage]:
    text = seed_file.read_text(encoding="utf-8")
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    return [_passage(p, n) for n, p in enumerate(paragraphs)]


@pytest.mark.parametrize(
    ("question", "fact"),
    [
        ("How long did the talks in Istanbul last?", "six hours"),
        ("Where did the Russian and US diplomats meet?", "Istanbul"),
        ("Where were the talks on the work of the embassies held?", "Istanbul"),
        ("Who represented the US in Riyadh?", "Marco Rubio"),
        ("When did Putin and Trump speak over the phone?", "February 12"),
        ("How many Russian diplomats did the United States declare personae non gratae?", "14"),
    ],
)
def test_the_quoted_sentences_state_the_fact_asked_for(
    question: str, fact: str, seed_passages: list[Passage], embedder: Embedder
) -> None:
    # What the extractive answer quotes (and what a generative answer may repair with).
    picks = select_evidence(question, seed_passages, embedder, 2, margin=LIKELY_ALTERNATIVE)
    assert any(fact in p.text for p in picks), [p.text for p in picks]
    # The spans point at the sentences inside their passages.
    best = picks[-1]
    assert best.passage.text[best.start : best.end] == best.text


def test_earlier_answers_are_avoided_unless_nothing_else_is_left(
    seed_passages: list[Passage], embedder: Embedder
) -> None:
    question = "How long did the talks in Istanbul last?"
    first = select_evidence(question, seed_passages, embedder, 1)[0]
    again = select_evidence(question, seed_passages, embedder, 1, avoid=[first.text])[0]
    assert again.text != first.text
    only = select_evidence(question, seed_passages[6:7], embedder, 5)
    assert select_evidence(question, seed_passages[6:7], embedder, 5, avoid=[o.text for o in only])
