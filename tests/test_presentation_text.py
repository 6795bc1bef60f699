"""Terminal text: each cited source is named once, with every quote taken from it beneath."""

from __future__ import annotations

from datetime import UTC, datetime

from chatbot.presentation.text import answer_to_text
from chatbot.vocabulary import Answer, Citation


def _citation(n: int, quote: str, title: str) -> Citation:
    return Citation(
        n=n,
        article_id=f"a{n}",
        title=title,
        source="ANI",
        published_at=datetime(2025, 2, 27, tzinfo=UTC),
        url=None,
        quote=quote,
        char_start=0,
        char_end=len(quote),
        supported=True,
        score=0.9,
    )


def test_one_header_per_source_in_number_order() -> None:
    citations = (
        _citation(2, "Delegations met in Riyadh on February 18.", "Riyadh talks"),
        _citation(1, "Diplomats held talks in Istanbul.", "Istanbul talks"),
        _citation(2, "Lavrov said both sides reached an agreement.", "Riyadh talks"),
    )
    answer = Answer(
        question="Where?", text="They met [2]. They talked [1].", citations=citations, sources=()
    )
    lines = answer_to_text(answer).splitlines()
    headers = [line for line in lines if line.startswith("[")]
    assert headers == [
        "[1] “Istanbul talks” — ANI, 2025-02-27",
        "[2] “Riyadh talks” — ANI, 2025-02-27",
    ]
    riyadh = lines.index(headers[1])
    assert lines[riyadh + 1 : riyadh + 3] == [
        "    “…Delegations met in Riyadh on February 18.…”",
        "    “…Lavrov said both sides reached an agreement.…”",
    ]
