"""Dates from users: ISO dates, datetimes and a few plain-English phrases."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from chatbot.errors import ChatbotError

DateLike = str | date | datetime


class DateParseError(ChatbotError, ValueError):
    pass


def to_datetime(value: DateLike) -> datetime:
    """A timezone-aware datetime (naive values and plain dates are taken as UTC)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time.min, tzinfo=UTC)
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            from dateutil import parser as dateutil_parser

            parsed = dateutil_parser.parse(text)
        except (ValueError, OverflowError) as exc:
            raise DateParseError(
                f"Cannot read {value!r} as a date; use YYYY-MM-DD, e.g. 2025-02-27."
            ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def day_range(value: DateLike) -> tuple[datetime, datetime]:
    """[start, end) of the UTC day containing ``value``."""
    start = to_datetime(value)
    start = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


@dataclass(frozen=True)
class TimeScope:
    """What a question says about time: a date range and/or a wish for the newest news."""

    since: datetime | None = None
    until: datetime | None = None
    recent: bool = False
    phrase: str = ""
    # A named day or month is a filter; "this week"-style talk is loose, so only a preference.
    strict: bool = True
    # "On July 4, 1776" names its year: before the stored news it is history, not a filter.
    explicit_year: bool = False


_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        "january february march april may june july august september october november "
        "december".split()
    )
}
_MONTH_RE = "|".join(_MONTHS)
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\btoday\b|\btonight\b|\bthis morning\b", re.I), "today"),
    (re.compile(r"\byesterday\b", re.I), "yesterday"),
    (re.compile(r"\bthis week\b", re.I), "this week"),
    (re.compile(r"\blast week\b|\bpast week\b", re.I), "last week"),
    (re.compile(r"\bthis month\b", re.I), "this month"),
    (re.compile(r"\blast month\b", re.I), "last month"),
    (re.compile(r"\b(?:in|during|since)\s+(" + _MONTH_RE + r")(?:\s+(\d{4}))?\b", re.I), "month"),
    (
        re.compile(
            r"\bon\s+(?:(" + _MONTH_RE + r")\s+(\d{1,2})(?:st|nd|rd|th)?|(\d{1,2})(?:st|nd|rd|th)?"
            r"\s+(" + _MONTH_RE + r"))(?:,?\s+(\d{4}))?\b",
            re.I,
        ),
        "day",
    ),
    (re.compile(r"\b(?:latest|newest|most recent|recently|currently|now)\b", re.I), "recent"),
]


def time_scope(question: str, reference: datetime) -> TimeScope:
    """Read time phrases relative to ``reference`` (the newest article's date, or a given date).

    "today", "this week", "in January", "on February 27" become date ranges; "latest" asks for
    a recency boost instead of a hard filter.
    """
    ref_day, _ = day_range(reference)
    for pattern, kind in _PATTERNS:
        match = pattern.search(question)
        if not match:
            continue
        phrase = match.group(0)
        if kind == "today":
            return TimeScope(ref_day, ref_day + timedelta(days=1), phrase=phrase)
        if kind == "yesterday":
            return TimeScope(ref_day - timedelta(days=1), ref_day, phrase=phrase)
        if kind == "this week":
            start = ref_day - timedelta(days=ref_day.weekday())
            return TimeScope(start, ref_day + timedelta(days=1), phrase=phrase, strict=False)
        if kind == "last week":
            start = ref_day - timedelta(days=7)
            return TimeScope(start, ref_day + timedelta(days=1), phrase=phrase, strict=False)
        if kind == "this month":
            return TimeScope(
                ref_day.replace(day=1), ref_day + timedelta(days=1), phrase=phrase, strict=False
            )
        if kind == "last month":
            end = ref_day.replace(day=1)
            return TimeScope((end - timedelta(days=1)).replace(day=1), end, phrase=phrase)
        if kind == "month":
            month = _MONTHS[match.group(1).lower()]
            year = int(match.group(2)) if match.group(2) else _latest_year(ref_day, month)
            start = datetime(year, month, 1, tzinfo=UTC)
            end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
            if phrase.lower().startswith("since"):
                end = ref_day + timedelta(days=1)
            return TimeScope(start, end, phrase=phrase, explicit_year=bool(match.group(2)))
        if kind == "day":
            month_name = match.group(1) or match.group(4)
            day = int(match.group(2) or match.group(3))
            month = _MONTHS[month_name.lower()]
            year = int(match.group(5)) if match.group(5) else _latest_year(ref_day, month, day)
            try:
                start = datetime(year, month, day, tzinfo=UTC)
            except ValueError:
                continue
            return TimeScope(
                start, start + timedelta(days=1), phrase=phrase, explicit_year=bool(match.group(5))
            )
        return TimeScope(recent=True, phrase=phrase)
    return TimeScope()


def _latest_year(ref_day: datetime, month: int, day: int = 1) -> int:
    """The year of the most recent (month, day) not after the reference day."""
    return ref_day.year if (month, day) <= (ref_day.month, ref_day.day) else ref_day.year - 1


def utc_label(value: datetime) -> str:
    """A moment for people: ``2025-02-27 10:00 UTC``."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def date_label(value: datetime | None) -> str:
    """A publication day for people and prompts: ``2025-02-27``, or ``undated``."""
    return value.date().isoformat() if value else "undated"


def moment_label(value: datetime | None) -> str:
    """When a cited source was published: ``2026-06-17 02:49 UTC`` when it gave a time of day
    (a live blog's entries are minutes apart), else its day as :func:`date_label` gives it."""
    if value is None:
        return date_label(value)
    utc = value.astimezone(UTC)
    if (utc.hour, utc.minute) == (0, 0):
        return date_label(value)
    return utc_label(value)
