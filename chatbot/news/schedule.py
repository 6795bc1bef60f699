"""The one scheduler module: times of day, time zones and APScheduler, for the daily briefing
(``run_schedule``) and the news desk (``NewsDesk``)."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chatbot.errors import ChatbotError
from chatbot.news.briefing import FORMATS, BriefingBuilder

log = logging.getLogger(__name__)

# Jobs run one at a time; runs missed while the machine slept collapse into one.
JOB_OPTIONS: dict[str, Any] = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 3600}


class ScheduleError(ChatbotError):
    """A time of day or a time zone cannot be read; the message says what to write."""


def time_of_day(at: str) -> tuple[int, int]:
    """(hour, minute) of "HH:MM"."""
    match = re.fullmatch(r"\s*([01]?\d|2[0-3]):([0-5]\d)\s*", at or "")
    if not match:
        raise ScheduleError(f"Cannot read {at!r} as a time of day; use HH:MM, e.g. 07:00.")
    return int(match[1]), int(match[2])


def time_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(
            f"Unknown time zone {name!r}; use a name like Europe/Moscow or UTC."
        ) from exc


def daily_trigger(at: str, zone: ZoneInfo) -> Any:
    from apscheduler.triggers.cron import CronTrigger

    hour, minute = time_of_day(at)
    return CronTrigger(hour=hour, minute=minute, timezone=zone)


def interval_trigger(seconds: float, zone: ZoneInfo) -> Any:
    from apscheduler.triggers.interval import IntervalTrigger

    return IntervalTrigger(seconds=seconds, timezone=zone)


def background_scheduler(zone: ZoneInfo) -> Any:
    from apscheduler.schedulers.background import BackgroundScheduler

    return BackgroundScheduler(timezone=zone)


@dataclass
class ScheduleStats:
    """What a schedule did so far (owned by one ``run_schedule`` call)."""

    runs: int = 0
    failures: int = 0
    last_error: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def briefing_job(
    make_builder: Callable[[], BriefingBuilder], formats: Iterable[str] = FORMATS
) -> Callable[[], list[Path]]:
    """A scheduled run: everything since the last briefing, written in ``formats``."""
    wanted = tuple(formats)

    def job() -> list[Path]:
        builder = make_builder()
        briefing = builder.build(since_last=True)
        paths = builder.write(briefing, wanted)
        log.info("briefing %s: %d stories -> %s", briefing.key, len(briefing.stories), paths)
        return paths

    return job


def run_schedule(
    job: Callable[[], object],
    *,
    at: str = "07:00",
    timezone: str,
    stop_event: threading.Event | None = None,
    trigger: Any = None,
    poll_seconds: float = 0.5,
) -> ScheduleStats:
    """Run ``job`` every day at ``at`` (HH:MM in ``timezone``) until ``stop_event`` is set or
    the process is interrupted. A run that raises is logged and counted; the next tick runs as
    usual. ``trigger`` replaces the daily trigger (tests use a one-second interval)."""
    zone = time_zone(timezone)
    if trigger is None:
        trigger = daily_trigger(at, zone)
    stats = ScheduleStats()

    def guarded() -> None:
        try:
            job()
        except Exception as exc:  # a failed run must never stop the schedule
            log.exception("scheduled briefing failed; the next run is at the next tick")
            with stats._lock:
                stats.failures += 1
                stats.last_error = f"{type(exc).__name__}: {exc}"
        finally:
            with stats._lock:
                stats.runs += 1

    scheduler = background_scheduler(zone)
    scheduler.add_job(guarded, trigger, id="briefing", **JOB_OPTIONS)
    stop = stop_event or threading.Event()
    scheduler.start()
    job_ = scheduler.get_job("briefing")
    log.info("briefing scheduled; next run at %s", job_.next_run_time if job_ else "?")
    try:
        while not stop.wait(poll_seconds):
            pass
    except KeyboardInterrupt:
        log.info("schedule stopped")
    finally:
        scheduler.shutdown(wait=True)
    return stats
