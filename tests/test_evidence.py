"""Evidence selection: what the question asks for outweighs word overlap (real embedder)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chatbot.answering.evidence import (
    FIXED_WEIGHTS,
    LIKELY_ALTERNATIVE,
    WEIGHTS,
    analyse,
    answer_cue,
    candidates,
    date_fit,
    score,
    select_evidence,
)
from chatbot.answering.strategies import EXTRACTIVE_MARGIN, EXTRACTIVE_SENTENCES
from chatbot.models.embeddings import Embedder
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
    picks = select_evidence(
        question, seed_passages, embedder, EXTRACTIVE_SENTENCES, margin=EXTRACTIVE_MARGIN
    )
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


def _report(article: str, text: str, day: str = "2025-06-12") -> Passage:
    return replace(_passage(text, day=day), chunk_id=f"{article}:0", article_id=article)


def test_what_other_reports_repeat_counts_and_one_reports_paragraphs_do_not() -> None:
    asked = analyse("Which team won the Stanley Cup?")
    found = [
        _report("a", "The Florida Panthers won the Stanley Cup. The Edmonton Oilers lost a game."),
        _report("b", "Fans cheered as the Florida Panthers lifted the trophy in Sunrise."),
        _report("c", "The Florida Panthers are champions again, beating Edmonton."),
    ]
    pool = {c.text: c.features for c in candidates(asked, found)}
    winners = pool["The Florida Panthers won the Stanley Cup."]
    losers = pool["The Edmonton Oilers lost a game."]
    assert winners["names_elsewhere"] == 1.0  # named by all three reports
    assert losers["names_elsewhere"] < winners["names_elsewhere"]
    # Three paragraphs of one report are one report: nothing is "repeated elsewhere".
    one = [replace(p, article_id="a") for p in found]
    alone = {c.text: c.features for c in candidates(asked, one)}
    assert alone["The Florida Panthers won the Stanley Cup."]["names_elsewhere"] == 1.0
    assert alone["The Edmonton Oilers lost a game."]["names_elsewhere"] == 1.0


def test_a_sentence_about_another_day_than_the_one_asked_loses(embedder: Embedder) -> None:
    asked = "Where did the diplomats meet on February 27?"
    other_day = _passage("On February 18, the diplomats met in Riyadh for talks.", 0)
    that_day = _passage("Earlier today, the diplomats held talks in Istanbul.", 1)
    features = {c.text: c.features for c in candidates(analyse(asked), [other_day, that_day])}
    assert features[other_day.text]["day_asked"] == -1.0
    assert features[that_day.text]["day_asked"] == 1.0
    # The fixed weight outweighs the other day's better word overlap.
    picks = select_evidence(asked, [other_day, that_day], embedder, 1)
    assert "Istanbul" in picks[0].text
    assert score(features[other_day.text], WEIGHTS) < score(features[that_day.text], WEIGHTS)
    assert FIXED_WEIGHTS["day_asked"] > LIKELY_ALTERNATIVE


def test_weights_cover_every_feature_and_nothing_else() -> None:
    # A feature without a weight would be computed and silently ignored (or the reverse).
    asked = analyse("How long did the talks last?")
    features = candidates(asked, [_passage("The talks lasted more than six hours on Thursday.")])
    computed = set(features[0].features) | {"cosine", "cosine_gap"}  # cosines: shortlist only
    assert computed == set(WEIGHTS) | set(FIXED_WEIGHTS)


def test_another_outlets_copy_of_a_sentence_is_not_quoted_twice(embedder: Embedder) -> None:
    question = "How long did the talks in Istanbul last?"
    found = [
        _report("a", "The talks in Istanbul lasted more than six hours, TASS said on Thursday."),
        _report(
            "b", "The talks in Istanbul lasted more than six hours, TASS reported on Thursday."
        ),
        _report("c", "The delegations discussed the work of the embassies in Istanbul for hours."),
    ]
    picks = select_evidence(question, found, embedder, 2)
    assert len(picks) == 2
    assert {p.passage.article_id for p in picks} in ({"a", "c"}, {"b", "c"})


def test_a_further_sentence_must_add_something_new(embedder: Embedder) -> None:
    question = "How long did the talks in Istanbul last?"
    found = [
        _report(
            "a", "The talks in Istanbul lasted more than six hours, the Russians said on Thursday."
        ),
        _report(
            "b",
            "After more than six hours, the Russians said on Thursday that the talks had ended.",
        ),
        _report("c", "Sergei Lavrov and Marco Rubio argued over the embassies until late evening."),
    ]
    # Every sentence equally likely, so only what a sentence repeats tells them apart.
    flat = dict.fromkeys(WEIGHTS, 0.0)
    plain = select_evidence(question, found, embedder, 2, weights=flat, repeat_penalty=0.0)
    assert [p.passage.article_id for p in plain] == ["a", "b"]
    picks = select_evidence(question, found, embedder, 2, weights=flat, margin=LIKELY_ALTERNATIVE)
    assert [p.passage.article_id for p in picks] == ["a", "c"]
    assert picks[1].score == 0.0  # nothing repeated, nothing lost
