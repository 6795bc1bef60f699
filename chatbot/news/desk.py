"""The news desk: a scheduler that keeps the store fresh and delivers the daily briefing.

``bot.news_desk().start()`` runs, in background threads (APScheduler):

- every ``desk_check_seconds``: a refresh of the due feeds, then a retry of failed deliveries;
- every day at ``desk_briefing_at`` (in ``desk_timezone``): a refresh of the due feeds, then the
  briefing of the day just ended (the last complete UTC day, as briefings count days), written
  to the briefings folder, the Atom feed of briefings rewritten, then delivered by e-mail (SMTP)
  and/or webhook (POST JSON) when those are configured;
- at start: a refresh of the due feeds, then the briefing run missed while the desk was down;
- after each refresh: the watched questions answered again (``Watches.check``); an answer that
  states something its previous answer's sources did not is an alert, delivered like a
  briefing and added to ``alerts.atom`` in the briefings folder. An unchanged answer sends
  nothing.

A delivery that fails is retried (``delivery_retries``, backoff doubling from
``delivery_backoff``); if it still fails it goes to an outbox kept in ``data_dir/desk`` and is
retried at every check until it succeeds; failures are logged and shown by ``status()``. ``stop()``
ends cleanly: running work finishes or is abandoned between steps, every file is written whole
(atomic replace), and what was not done is redone at the next start.
"""

from __future__ import annotations

import json
import logging
import signal
import smtplib
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from chatbot.codecs import alert_from_dict, alert_to_dict, briefing_to_dict
from chatbot.common.files import atomic_write
from chatbot.config import Settings
from chatbot.errors import ChatbotError
from chatbot.news.briefing import FORMATS, BriefingBuilder
from chatbot.news.feeds import FeedManager
from chatbot.news.schedule import (
    JOB_OPTIONS,
    background_scheduler,
    daily_trigger,
    interval_trigger,
    time_of_day,
    time_zone,
)
from chatbot.news.watches import Watches
from chatbot.presentation.alerts import alert_html, alert_markdown, alert_subject
from chatbot.presentation.atom import ALERTS_FILE, FEED_FILE, alerts_atom, briefings_atom
from chatbot.presentation.briefing import briefing_html, briefing_markdown
from chatbot.vocabulary import Alert, Briefing

if TYPE_CHECKING:
    from chatbot.vocabulary import RefreshReport

log = logging.getLogger(__name__)


MAX_ALERTS = 200  # alerts kept for the outbox and the Atom feed


class DeskError(ChatbotError):
    """The desk cannot be configured or started; the message says what to do."""


# --- delivery channels ----------------------------------------------------------------------


class Channel(Protocol):
    name: str

    def deliver(self, item: Briefing | Alert) -> None:
        """Send the briefing or the alert; raise on failure (the desk retries and reports)."""


class EmailChannel:
    """The briefing or alert as an e-mail (plain-text Markdown with an HTML alternative) over
    SMTP."""

    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        sender: str,
        recipients: Sequence[str],
        timeout: float = 30.0,
    ) -> None:
        if not recipients:
            raise DeskError("E-mail delivery needs recipients: set CHATBOT_SMTP_TO.")
        self.host, self.port, self.security = host, port, security
        self.username, self.password = username, password
        self.sender, self.recipients, self.timeout = sender, list(recipients), timeout

    def message(self, item: Briefing | Alert) -> EmailMessage:
        message = EmailMessage()
        if isinstance(item, Alert):
            message["Subject"] = alert_subject(item)[:200]
            text, page = alert_markdown(item), alert_html(item)
        else:
            message["Subject"] = f"News briefing — {item.period}"
            text, page = briefing_markdown(item), briefing_html(item)
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message.set_content(text)
        message.add_alternative(page, subtype="html")
        return message

    def deliver(self, item: Briefing | Alert) -> None:
        message = self.message(item)
        context = ssl.create_default_context()
        smtp_class = smtplib.SMTP_SSL if self.security == "ssl" else smtplib.SMTP
        kwargs: dict[str, Any] = {"timeout": self.timeout}
        if self.security == "ssl":
            kwargs["context"] = context
        with smtp_class(self.host, self.port, **kwargs) as smtp:
            if self.security == "starttls":
                smtp.starttls(context=context)
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


class WebhookChannel:
    """The briefing's JSON (``codecs.briefing_to_dict``) or the alert's (``alert_to_dict``,
    ``"type": "watch_alert"``) POSTed to a URL the operator set."""

    name = "webhook"

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self.url, self.timeout = url, timeout

    def deliver(self, item: Briefing | Alert) -> None:
        # The URL comes from the operator's settings, not from article content: no SSRF guard.
        response = httpx.post(
            self.url,
            json=alert_to_dict(item) if isinstance(item, Alert) else briefing_to_dict(item),
            timeout=self.timeout,
            follow_redirects=False,
            headers={"User-Agent": "chatbot-news-desk/0.1"},
        )
        if response.status_code >= 300:
            raise DeskError(f"webhook {self.url} answered HTTP {response.status_code}")


def channels_from_settings(settings: Settings) -> list[Channel]:
    channels: list[Channel] = []
    if settings.smtp_host:
        channels.append(
            EmailChannel(
                settings.smtp_host,
                settings.smtp_port,
                security=settings.smtp_security,
                username=settings.smtp_username,
                password=settings.smtp_password.get_secret_value()
                if settings.smtp_password
                else None,
                sender=settings.smtp_from,
                recipients=settings.smtp_to,
            )
        )
    if settings.webhook_url:
        channels.append(WebhookChannel(settings.webhook_url))
    return channels


# --- the desk --------------------------------------------------------------------------------


@dataclass
class Delivery:
    """One channel's delivery of one briefing or one alert."""

    channel: str
    briefing: str  # the briefing's key ("" for an alert)
    ok: bool = False
    attempts: int = 0
    error: str = ""
    at: str = ""
    alert: str = ""  # the alert's key ("" for a briefing)

    @property
    def item(self) -> str:
        return f"alert {self.alert}" if self.alert else f"briefing {self.briefing}"


@dataclass
class BriefingRun:
    day: date
    briefing: Briefing
    paths: list[Path]
    deliveries: list[Delivery] = field(default_factory=list)


@dataclass
class AlertRun:
    alert: Alert
    deliveries: list[Delivery] = field(default_factory=list)


class NewsDesk:
    """Scheduled refresh, daily briefing, watched questions and delivery; a start/stop object.
    It is given the briefing builder, the feed manager and the watches it drives
    (``Chatbot.news_desk`` wires them)."""

    def __init__(
        self,
        briefings: BriefingBuilder,
        feeds: FeedManager,
        settings: Settings,
        *,
        briefing_at: str | None = None,
        timezone: str | None = None,
        check_seconds: float | None = None,
        channels: Sequence[Channel] | None = None,
        clock: Callable[[], datetime] | None = None,
        briefing_trigger: Any = None,
        formats: Sequence[str] = FORMATS,
        watches: Watches | None = None,
    ) -> None:
        self.briefings = briefings
        self.feeds = feeds
        self.watches = watches
        s = self.settings = settings
        self.briefing_at = briefing_at or s.desk_briefing_at
        self.hour, self.minute = time_of_day(self.briefing_at)
        self.timezone = timezone or s.desk_timezone
        self.zone = time_zone(self.timezone)
        self.check_seconds = check_seconds or s.desk_check_seconds
        self.channels = list(channels_from_settings(s) if channels is None else channels)
        self.retries = s.delivery_retries
        self.backoff = s.delivery_backoff
        self.formats = tuple(formats)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._trigger = briefing_trigger  # tests: a short IntervalTrigger instead of the cron
        self.state_dir = Path(s.data_dir) / "desk"
        self._stop = threading.Event()
        self._scheduler: Any = None
        self._work = threading.Lock()  # briefing runs and outbox retries take turns
        self.last_refresh: RefreshReport | None = None
        self.last_error = ""

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> NewsDesk:
        if self._scheduler is not None:
            return self
        self._stop.clear()
        scheduler = background_scheduler(self.zone)
        now = datetime.now(self.zone)
        scheduler.add_job(
            self._guard(self.check),
            interval_trigger(self.check_seconds, self.zone),
            id="check",
            **JOB_OPTIONS,
        )
        trigger = self._trigger or daily_trigger(self.briefing_at, self.zone)
        scheduler.add_job(
            self._guard(self.scheduled_briefing), trigger, id="briefing", **JOB_OPTIONS
        )
        # At start: fresh feeds first, so that a missed briefing includes what they bring.
        scheduler.add_job(self._guard(self.startup), id="startup", next_run_time=now)
        scheduler.start()
        self._scheduler = scheduler
        log.info(
            "news desk started: feeds checked every %gs, briefing daily at %s %s",
            self.check_seconds,
            self.briefing_at,
            self.timezone,
        )
        return self

    def stop(self, wait: bool = True) -> None:
        """Stop the schedule: running work stops at its next step (nothing half-written)."""
        self._stop.set()
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=wait)
            log.info("news desk stopped")

    @property
    def running(self) -> bool:
        return self._scheduler is not None

    def run_until_stopped(self, stop_event: threading.Event | None = None) -> None:
        """Start, then block until ``stop_event``, SIGTERM or Ctrl-C; then stop cleanly."""
        stop_event = stop_event or threading.Event()
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, lambda *_: stop_event.set())
        try:
            self.start()
            while not stop_event.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    def __enter__(self) -> NewsDesk:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _guard(self, job: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            if self._stop.is_set():
                return
            try:
                job()
            except Exception as exc:  # a failed run must never stop the schedule
                log.exception("news desk job %s failed", getattr(job, "__name__", job))
                self.last_error = f"{type(exc).__name__}: {exc}"

        return run

    # --- jobs ---------------------------------------------------------------------------------

    def check(self) -> None:
        """Refresh the due feeds, answer the watched questions again, then retry deliveries
        waiting in the outbox."""
        # The timer polls only the feeds whose interval has passed (a manual refresh polls all).
        self.last_refresh = self.feeds.refresh(due_only=True, should_stop=self._stop.is_set)
        self.check_watches()
        self.retry_outbox()

    def check_watches(self, *, due_only: bool = True) -> list[AlertRun]:
        """Answer the (due) watched questions again; deliver an alert for each changed answer
        and add it to ``alerts.atom``. An unchanged answer sends nothing."""
        if self.watches is None:
            return []
        alerts = self.watches.check(due_only=due_only)
        if not alerts:
            return []
        runs = [AlertRun(alert) for alert in alerts]
        with self._work:
            for alert in alerts:
                self._keep_alert(alert)
            self.write_alerts_atom()
            for run in runs:
                for channel in self.channels:
                    if self._stop.is_set():
                        break  # the next start does not resend: the Atom feed has it
                    run.deliveries.append(self._deliver(channel, run.alert))
        log.info("watches: %d changed answer(s) sent as alerts", len(alerts))
        return runs

    def startup(self) -> None:
        self.check()
        self.catch_up()

    def due_day(self, now: datetime | None = None) -> date:
        """The day the latest scheduled run (at or before ``now``) briefs: the last complete
        UTC day at that run's time."""
        now = (now or self._clock()).astimezone(self.zone)
        run = now.replace(hour=self.hour, minute=self.minute, second=0, microsecond=0)
        if run > now:
            run -= timedelta(days=1)
        return run.astimezone(UTC).date() - timedelta(days=1)

    def scheduled_briefing(self) -> BriefingRun | None:
        # The due feeds first: the briefing should hold what they published until now.
        self.last_refresh = self.feeds.refresh(due_only=True, should_stop=self._stop.is_set)
        self.check_watches()
        return self.run_briefing(self.due_day())

    def catch_up(self) -> BriefingRun | None:
        """The run missed while the desk was down (none when the last one is up to date)."""
        day = self.due_day()
        last = self._state().get("last_day")
        if last and date.fromisoformat(last) >= day:
            return None
        log.info("news desk: running the missed briefing of %s", day)
        return self.run_briefing(day)

    def run_briefing(self, day: date) -> BriefingRun | None:
        """Build, write and deliver the briefing of ``day``; None when stopping."""
        with self._work:
            if self._stop.is_set():
                return None
            briefing = self.briefings.build(day)
            paths = self.briefings.write(briefing, self.formats)
            paths.append(self.write_atom())
            self._save_state(last_day=day.isoformat(), last_run=self._clock().isoformat())
            run = BriefingRun(day, briefing, paths)
            for channel in self.channels:
                run.deliveries.append(self._deliver(channel, briefing))
            log.info(
                "briefing %s: %d stories -> %s; %s",
                briefing.key,
                len(briefing.stories),
                [str(p) for p in paths],
                ", ".join(f"{d.channel}: {'ok' if d.ok else d.error}" for d in run.deliveries)
                or "no delivery channels",
            )
            return run

    def write_atom(self) -> Path:
        """Rewrite ``briefings.atom`` in the briefings folder from the stored briefings."""
        stored = []
        for key in self.briefings.list_briefings():
            try:
                stored.append(self.briefings.load_briefing(key))
            except (ChatbotError, ValueError, KeyError) as exc:
                log.warning("briefing %s left out of the Atom feed: %s", key, exc)
        path = Path(self.settings.briefings_dir) / FEED_FILE
        atomic_write(path, briefings_atom(stored, base_url=self.settings.public_url))
        return path

    # --- alerts -------------------------------------------------------------------------------

    def alerts(self) -> list[Alert]:
        """The alerts kept (the newest ``MAX_ALERTS``), oldest first."""
        path = self.state_dir / "alerts.json"
        try:
            items = json.loads(path.read_text(encoding="utf-8"))
            return [alert_from_dict(item) for item in items]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("unreadable alerts %s: %s", path, exc)
            return []

    def _keep_alert(self, alert: Alert) -> None:
        kept = [a for a in self.alerts() if a.key != alert.key] + [alert]
        atomic_write(
            self.state_dir / "alerts.json",
            json.dumps([alert_to_dict(a) for a in kept[-MAX_ALERTS:]], ensure_ascii=False),
        )

    def write_alerts_atom(self) -> Path:
        """Rewrite ``alerts.atom`` in the briefings folder from the kept alerts."""
        path = Path(self.settings.briefings_dir) / ALERTS_FILE
        atomic_write(path, alerts_atom(self.alerts()))
        return path

    # --- delivery -----------------------------------------------------------------------------

    def _deliver(self, channel: Channel, item: Briefing | Alert) -> Delivery:
        if isinstance(item, Alert):
            delivery = Delivery(channel.name, "", alert=item.key)
        else:
            delivery = Delivery(channel.name, item.key)
        delay = self.backoff
        for attempt in range(1, self.retries + 2):
            delivery.attempts = attempt
            try:
                channel.deliver(item)
            except Exception as exc:  # network, auth, HTTP status: retried, then reported
                delivery.error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "delivery of %s by %s failed (attempt %d): %s",
                    delivery.item,
                    channel.name,
                    attempt,
                    delivery.error,
                )
                if attempt <= self.retries and self._stop.wait(delay):
                    break  # stopping: the outbox keeps it for the next start
                delay *= 2
                continue
            delivery.ok, delivery.error = True, ""
            break
        delivery.at = self._clock().isoformat()
        self._update_outbox(delivery)
        if not delivery.ok:
            log.error(
                "%s was not delivered by %s (%s); it stays in the outbox and is retried every %gs",
                delivery.item,
                channel.name,
                delivery.error,
                self.check_seconds,
            )
        return delivery

    def outbox(self) -> list[Delivery]:
        """Deliveries that failed and wait for a retry."""
        path = self.state_dir / "outbox.json"
        try:
            items = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.warning("unreadable outbox %s: %s", path, exc)
            return []
        return [Delivery(**item) for item in items]

    def _update_outbox(self, delivery: Delivery) -> None:
        pending = [
            d
            for d in self.outbox()
            if (d.channel, d.briefing, d.alert)
            != (delivery.channel, delivery.briefing, delivery.alert)
        ]
        if not delivery.ok:
            pending.append(delivery)
        atomic_write(
            self.state_dir / "outbox.json", json.dumps([asdict(d) for d in pending], indent=2)
        )

    def retry_outbox(self) -> list[Delivery]:
        by_name = {c.name: c for c in self.channels}
        done = []
        with self._work:
            for waiting in self.outbox():
                if self._stop.is_set():
                    break
                channel = by_name.get(waiting.channel)
                if channel is None:
                    continue  # that channel is no longer configured: kept, shown in status
                item: Briefing | Alert | None
                if waiting.alert:
                    item = next((a for a in self.alerts() if a.key == waiting.alert), None)
                    if item is None:
                        log.warning("outbox: alert %s is no longer kept", waiting.alert)
                        continue
                else:
                    try:
                        item = self.briefings.load_briefing(waiting.briefing)
                    except ChatbotError as exc:
                        log.warning("outbox: %s", exc)
                        continue
                done.append(self._deliver(channel, item))
        return done

    # --- state --------------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        try:
            return dict(json.loads((self.state_dir / "state.json").read_text(encoding="utf-8")))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("unreadable desk state: %s", exc)
            return {}

    def _save_state(self, **values: str) -> None:
        atomic_write(self.state_dir / "state.json", json.dumps({**self._state(), **values}))

    def status(self) -> dict[str, Any]:
        jobs = {}
        if self._scheduler is not None:
            for job in self._scheduler.get_jobs():
                jobs[job.id] = job.next_run_time.isoformat() if job.next_run_time else None
        state = self._state()
        return {
            "running": self.running,
            "briefing_at": f"{self.briefing_at} {self.timezone}",
            "next_briefing": jobs.get("briefing"),
            "last_briefing_day": state.get("last_day"),
            "channels": [c.name for c in self.channels],
            "outbox": [asdict(d) for d in self.outbox()],
            "last_refresh": self.last_refresh.summary() if self.last_refresh else "",
            "watches": len(self.watches.all()) if self.watches is not None else 0,
            "alerts": len(self.alerts()),
            "last_error": self.last_error,
        }
