"""Briefings on a schedule: build (and write) the briefing every day at a set time."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chatbot.news.briefing import FORMATS, BriefingBuilder, BriefingError

log = logging.getLogger(__name__)


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
    timezone: str = "Europe/Moscow",
    stop_event: threading.Event | None = None,
    trigger: Any = None,
    poll_seconds: float = 0.5,
) -> ScheduleStats:
    """Run ``job`` every day at ``at`` (HH:MM in ``timezone``) until ``stop_event`` is set or
    the process is interrupted. A run that raises is logged and counted; the next tick runs as
    usual. ``trigger`` replaces the daily CronTrigger (tests use a one-second IntervalTrigger)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger

    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise BriefingError(
            f"Unknown time zone {timezone!r}; use a name like Europe/Moscow or UTC."
        ) from exc
    if trigger is None:
        match = re.fullmatch(r"\s*([01]?\d|2[0-3]):([0-5]\d)\s*", at)
        if not match:
            raise BriefingError(f"Cannot read {at!r} as a time of day; use HH:MM, e.g. 07:00.")
        trigger = CronTrigger(hour=int(match[1]), minute=int(match[2]), timezone=zone)
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

    scheduler = BackgroundScheduler(timezone=zone)
    # One run at a time; runs missed while the machine slept collapse into one.
    scheduler.add_job(
        guarded, trigger, id="briefing", max_instances=1, coalesce=True, misfire_grace_time=3600
    )
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
