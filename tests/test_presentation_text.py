"""Terminal text and briefings: each cited source is named once, with every quote taken from it
beneath."""

from __future__ import annotations

from datetime import UTC, date, datetime

from chatbot.presentation.briefing import briefing_html, briefing_markdown
from chatbot.presentation.text import answer_to_text
from chatbot.vocabulary import Answer, Briefing, Citation, Story


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


def test_a_briefing_story_names_each_source_once_with_all_its_quotes() -> None:
    citations = (
        _citation(1, "Diplomats held talks in Istanbul.", "Istanbul talks"),
        _citation(1, "The talks lasted more than six hours.", "Istanbul talks"),
        _citation(2, "Delegations met in Riyadh on February 18.", "Riyadh talks"),
    )
    story = Story(
        headline="Talks in Istanbul",
        summary="Diplomats held talks in Istanbul [1]. They lasted six hours [1]. Riyadh [2].",
        citations=citations,
        articles=(),
        outlets=("ANI",),
    )
    day = datetime(2025, 2, 27, tzinfo=UTC)
    brief = Briefing(date(2025, 2, 27), day, day, (story,), day, "extractive")
    sources = [line for line in briefing_markdown(brief).splitlines() if line.startswith("- [")]
    assert len(sources) == 2
    assert sources[0].startswith("- [1] Istanbul talks — ANI, 2025-02-27: ")
    assert (
        "“Diplomats held talks in Istanbul.” … “The talks lasted more than six hours.”"
        in (sources[0])
    )
    page = briefing_html(brief)
    assert page.count('id="s1-1"') == 1 and page.count('id="s1-2"') == 1
    assert page.count("<blockquote>") == 3
