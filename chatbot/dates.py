"""Dates from users: ISO dates, datetimes and a few plain-English phrases."""

from __future__ import annotations

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
