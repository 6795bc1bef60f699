"""Training questions of every answer kind: the kinds found by rules, a question made from one
report's sentence, its positive from another report of the same story, negatives that do not
state the answer."""

from __future__ import annotations

import random

import pytest

from chatbot.common.text import sentence_spans
from training.answer_kinds import answers_in, build_kind_groups, make_question


@pytest.mark.parametrize(
    ("sentence", "kind", "answer"),
    [
        ("The talks lasted more than six hours on Thursday.", "duration", "more than six hours"),
        ("The storm killed 37 people across the region.", "count", "37"),
        ("The company paid $18.5 million to settle the case.", "amount", "$18.5 million"),
        ("Prices rose 3.2% over the year, the agency said.", "percent", "3.2%"),
        ("The ceasefire took effect on March 3, 2025, officials said.", "date", "March 3, 2025"),
        ("Russian and US diplomats met in Istanbul for the talks.", "place", "Istanbul"),
        ("President Emmanuel Macron spoke to reporters.", "person", "Emmanuel Macron"),
        ("Shares of Spirit Airlines rose after the deal.", "company", "Spirit Airlines"),
    ],
)
def test_kinds_are_found(sentence: str, kind: str, answer: str) -> None:
    found = [f for f in answers_in(sentence) if f.kind == kind]
    assert [f.answer for f in found] == [answer]
    assert sentence[found[0].start : found[0].end] == answer


@pytest.mark.parametrize(
    "sentence",
    [
        "The White House said the talks would go on.",  # an institution, not a person
        "The vote was held in January in the capital.",  # a month, not a place
    ],
)
def test_look_alikes_are_not_taken(sentence: str) -> None:
    kinds = {f.kind: f.answer for f in answers_in(sentence)}
    assert "person" not in kinds and "place" not in kinds


def test_the_question_asks_for_the_kind_without_the_answer() -> None:
    sentence = "Russian and US diplomats met in Istanbul on Thursday to discuss the embassies."
    found = next(f for f in answers_in(sentence) if f.kind == "place")
    question = make_question(sentence, found, random.Random(0))
    assert question.split()[0] in ("Where", "In")
    assert question.endswith("?") and "Istanbul" not in question
    assert "diplomats" in question and "embassies" in question


def _article(aid: str, text: str) -> dict[str, object]:
    return {"id": aid, "title": f"Report {aid}", "published_at": "2025-02-27", "text": text}


def test_the_positive_comes_from_another_report() -> None:
    one = (
        "Russian and US diplomats met in Istanbul on Thursday to discuss their embassies. "
        "The delegations exchanged lists of concerns about staffing. "
        "Both sides called the meeting constructive and businesslike."
    )
    two = (
        "Talks between Russian and US diplomats about the embassies were held in Istanbul. "
        "The talks at the consul general's residence ran late into the evening. "
        "A further round is planned for next month in Moscow. "
        "Officials in Washington declined to comment on the staffing dispute. "
        "The embassies have worked with reduced staff since 2022. "
        "Diplomats said visas for staff had been delayed for months. "
        "The State Department said progress would take time. "
        "Russia's foreign ministry published its own account of the meeting."
    )
    articles = {"a": _article("a", one), "b": _article("b", two)}
    question = {"retrieved_article_ids": ["a", "b"]}
    groups = build_kind_groups([question], articles, set(), random.Random(3), per_story=8)
    places = [g for g in groups if g.kind == "place"]
    assert places, groups
    g = places[0]
    assert g.source_article != g.positive_article
    s, e = g.span
    assert g.texts[0][s:e] == "Istanbul" and "Istanbul" not in g.question
    # No negative states the answer.
    assert not any("istanbul" in t.lower() for t in g.texts[1:])
    assert len(g.texts) == 8 and len(set(g.texts)) == 8  # a group: 1 positive + 7 negatives
    # Left-out articles (the validation weeks') are never read.
    assert build_kind_groups([question], articles, {"b"}, random.Random(3)) == []
    assert sentence_spans(one)  # the split the groups are made of
