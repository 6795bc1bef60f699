from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatbot.common.dates import DateParseError, time_scope, to_datetime

REF = datetime(2025, 2, 27, 15, 30, tzinfo=UTC)


def d(y: int, m: int, day: int) -> datetime:
    return datetime(y, m, day, tzinfo=UTC)


@pytest.mark.parametrize(
    ("question", "since", "until"),
    [
        ("What happened today?", d(2025, 2, 27), d(2025, 2, 28)),
        ("what did Putin say yesterday", d(2025, 2, 26), d(2025, 2, 27)),
        ("news this week", d(2025, 2, 24), d(2025, 2, 28)),
        ("What happened in January?", d(2025, 1, 1), d(2025, 2, 1)),
        ("talks in March", d(2024, 3, 1), d(2024, 4, 1)),  # the most recent March
        ("What happened on February 18?", d(2025, 2, 18), d(2025, 2, 19)),
        ("meeting on 12th December 2024", d(2024, 12, 12), d(2024, 12, 13)),
        ("since January", d(2025, 1, 1), d(2025, 2, 28)),
        ("last month", d(2025, 1, 1), d(2025, 2, 1)),
    ],
)
def test_time_phrases_become_date_ranges(question: str, since: datetime, until: datetime) -> None:
    scope = time_scope(question, REF)
    assert (scope.since, scope.until) == (since, until)
    assert not scope.recent
    assert scope.strict == ("week" not in question)


def test_latest_asks_for_recency_not_a_filter() -> None:
    scope = time_scope("What is the latest on the Ukraine talks?", REF)
    assert scope.recent and scope.since is None


def test_no_time_phrase() -> None:
    assert time_scope("Where did the diplomats meet?", REF).phrase == ""


def test_dates_parse_and_bad_dates_say_what_to_type() -> None:
    assert to_datetime("2025-02-27") == d(2025, 2, 27)
    assert to_datetime("2025-02-27T10:00:00Z").tzinfo is not None
    with pytest.raises(DateParseError, match="YYYY-MM-DD"):
        to_datetime("the day after tomorrow-ish")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_time_scope_never_fails(text: str) -> None:
    scope = time_scope(text, REF)
    assert scope.since is None or scope.until is None or scope.since < scope.until
