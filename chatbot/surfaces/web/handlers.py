"""The Gradio web UI: a thin shell over ``chatbot.bot.Chatbot`` (no retrieval or prompt logic).

Handlers are plain functions that take the bot and plain values, so tests call them without a
browser; ``build_app`` only wires them to components. Per-browser-session state (the ChatSession,
the shown messages, the sources of each answer) lives in a ``gr.State``, never in this module.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from chatbot.bot import ChatSession, make_filters
from chatbot.common.dates import day_range, to_datetime
from chatbot.errors import USER_ERRORS
from chatbot.presentation import html as render
from chatbot.presentation.alerts import alert_markdown
from chatbot.presentation.briefing import briefing_markdown, timeline_markdown
from chatbot.presentation.labels import format_every
from chatbot.surfaces.hosting import UploadRejected, save_upload, uploads_dir
from chatbot.vocabulary import AnswerEvent, IngestEvent, TokenEvent

if TYPE_CHECKING:
    from chatbot.bot import Chatbot

log = logging.getLogger(__name__)

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
Progress = Callable[..., Any]


def readable(exc: BaseException) -> str:
    """A one-line message for the page: ours as they are, anything else with its type."""
    if isinstance(exc, (*USER_ERRORS, UploadRejected, gr.Error)):
        return str(getattr(exc, "message", None) or exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap an event handler so that any failure reaches the page as a readable message
    (gr.Error), never as Gradio's bare "Error" or a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as exc:
            log.exception("UI handler %s failed", getattr(fn, "__name__", fn))
            raise gr.Error(readable(exc)) from exc

    return wrapper


# --- chat ------------------------------------------------------------------------------------


@dataclass
class ChatState:
    """One browser session's conversation: the API's ChatSession plus what the page shows."""

    session: ChatSession
    messages: list[dict[str, str]] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)  # sources HTML, one per answer
    turns: int = 0  # never reset, so citation anchors stay unique within the page
    cited: list[tuple[str, str]] = field(default_factory=list)  # the last answer's articles
    epoch: int = 0  # bumped by "new conversation": an answer still streaming then is dropped


def new_chat_state(bot: Chatbot) -> ChatState:
    return ChatState(bot.chat_session())


def chat_filters(
    since: str | None, until: str | None, outlets: Sequence[str] | None
) -> dict[str, Any]:
    """Filter fields -> ``Chatbot.stream`` keyword arguments. ``until`` is inclusive here: a
    reader who picks 'to 2025-02-27' expects articles of the 27th (the API's is exclusive)."""
    since = (since or "").strip() or None
    until = (until or "").strip() or None
    return {
        "since": to_datetime(since) if since else None,
        "until": day_range(until)[1] if until else None,
        "sources": list(outlets or []) or None,
    }


def chat_turn(
    bot: Chatbot,
    state: ChatState | None,
    question: str,
    since: str | None = None,
    until: str | None = None,
    outlets: Sequence[str] | None = None,
) -> Iterator[tuple[list[dict[str, str]], ChatState, str]]:
    """Stream one answer: yields (messages, state, sources panel HTML) as text arrives, and a
    last time with the checked answer (citation links, unsupported sentences marked)."""
    state = state or new_chat_state(bot)
    question = (question or "").strip()
    if not question:
        gr.Warning("Type a question first.")
        yield state.messages, state, render.sources_panel(state.sections)
        return
    state.turns += 1
    turn, epoch = str(state.turns), state.epoch
    user = {"role": "user", "content": render.esc(question)}
    shown = [*state.messages, user]
    # A fresh dict per yield: Gradio diffs successive values, so never mutate what it has seen.
    yield (
        [*shown, {"role": "assistant", "content": "…"}],
        state,
        render.sources_panel(state.sections),
    )
    text = ""
    content = '<div class="cb-error">⚠ No answer came back; please ask again.</div>'
    try:
        filters = make_filters(**chat_filters(since, until, outlets))
        for event in state.session.stream(question, filters):
            if isinstance(event, TokenEvent):
                text += event.text
                reply = {"role": "assistant", "content": render.streaming_html(text) + " ▌"}
                yield [*shown, reply], state, render.sources_panel(state.sections)
            elif isinstance(event, AnswerEvent):
                answer = event.answer
                state.sections.append(render.sources_html(answer, turn, bot.article))
                state.cited = list(
                    {c.article_id: (c.title, c.article_id) for c in answer.citations}.values()
                )
                content = render.answer_html(answer, turn)
                # A fallback or a failure also pops up; a routine repair is said in the answer.
                if answer.notice and not answer.repaired:
                    gr.Warning(answer.notice)
    except Exception as exc:  # backend down, store error: a message in the page, not a trace
        if isinstance(exc, USER_ERRORS):
            log.info("chat turn refused: %s", exc)
        else:
            log.exception("chat turn failed")
        message = readable(exc)
        gr.Warning(message)
        content = f'<div class="cb-error">⚠ Could not answer: {render.esc(message)}</div>'
    if state.epoch == epoch:
        state.messages = [*shown, {"role": "assistant", "content": content}]
    else:  # the conversation was reset while this answer streamed: keep it reset
        state.sections = [x for x in state.sections if f'data-turn="{turn}"' not in x]
    yield state.messages, state, render.sources_panel(state.sections)


def new_conversation(bot: Chatbot, state: ChatState | None) -> tuple[list[Any], ChatState, str]:
    """Forget the conversation (the API session's memory and what the page shows)."""
    if state is None:
        state = new_chat_state(bot)
    else:
        # A fresh API session rather than reset(): reset waits for an answer still streaming.
        state.session = new_chat_state(bot).session
        state.epoch += 1
        state.messages = []
        state.sections = []
    return [], state, render.sources_panel([])


# --- library ---------------------------------------------------------------------------------


def ingest_items(
    bot: Chatbot,
    files: Sequence[str | os.PathLike[str]] | None,
    urls: str | None,
    progress: Progress | None = None,
) -> tuple[list[list[str]], str]:
    """Upload files and/or URLs (pages or RSS/Atom feeds, one per line) into the store.
    Returns the per-item rows (item, result, detail) and a one-line summary."""
    rows: list[list[str]] = []
    items: list[str] = []
    folder = uploads_dir(bot.settings)
    for f in files or []:
        try:
            items.append(str(save_upload(bot.settings, f)))
        except (UploadRejected, OSError) as exc:
            rows.append([Path(f).name, "failed", readable(exc)])
    for line in (urls or "").splitlines():
        url = line.strip()
        if not url:
            continue
        if render.safe_url(url) is None:
            rows.append([url, "failed", "not an http(s) URL"])
        else:
            items.append(url)
    if not items and not rows:
        raise gr.Error("Choose files to upload or paste URLs first.")

    def label(item: str) -> str:  # upload paths shown as file names, not server paths
        return item.replace(str(folder) + os.sep, "")

    def on_event(event: IngestEvent) -> None:
        rows.append([label(event.item), event.status, label(event.detail)])
        if progress is not None:
            progress((len(rows), None), desc=f"{event.status}: {label(event.item)[:60]}")

    if items:
        if progress is not None:
            progress((0, None), desc="Loading…")
        try:
            report = bot.ingest(items, progress=on_event)
        except Exception as exc:
            log.exception("ingest failed")
            raise gr.Error(f"Ingest failed: {readable(exc)}") from exc
        summary = report.summary()
    else:
        summary = "nothing ingested"
    failed = sum(1 for r in rows if r[1] == "failed")
    if failed:
        gr.Warning(f"{failed} item(s) failed; see the table for the reasons.")
    return rows, summary


def article_table(bot: Chatbot, query: str = "") -> list[list[Any]]:
    return render.article_rows(bot.articles(), query or "")


def article_choices(bot: Chatbot) -> list[tuple[str, str]]:
    """(label, id) pairs for the delete picker."""
    return render.article_choices(bot.articles())


def delete_article(bot: Chatbot, article_id: str | None) -> str:
    if not article_id:
        raise gr.Error("Pick an article to delete first.")
    stored = bot.article(article_id)
    if not bot.delete(article_id):
        raise gr.Error(f"No such article: {article_id} (already deleted?)")
    title = stored.title if stored else article_id
    return f"Deleted “{render.esc(title)}” ({article_id})."  # shown as Markdown: escaped


def outlets(bot: Chatbot) -> list[str]:
    return sorted({a.source for a in bot.articles() if a.source})


def status_html(bot: Chatbot) -> str:
    try:
        return render.status_line(bot.status())
    except Exception as exc:  # the status line must not take the page down with it
        log.exception("status failed")
        message = render.esc(readable(exc))
        return f'<div class="cb-status cb-error">Status unavailable: {message}</div>'


# --- feeds -----------------------------------------------------------------------------------

FEED_INTERVALS = ("30m", "1h", "6h", "1d")
FEED_HEADERS = ["Name", "URL", "Every", "Last success", "Last refresh", "Last error", "Added"]


def feed_rows(bot: Chatbot) -> list[list[Any]]:

    rows = []
    for sub in bot.feeds():
        success = sub.last_success.strftime("%Y-%m-%d %H:%M UTC") if sub.last_success else "never"
        rows.append(
            [
                sub.name,
                sub.url,
                format_every(sub.every),
                success,
                sub.last_result or "not refreshed yet",
                sub.last_error,
                sub.articles_added,
            ]
        )
    return rows


def _refresh_message(report: Any) -> str:
    lines = [f"**{render.esc(report.summary())}**"]
    for feed in report.feeds:
        lines.append(f"- {render.esc(feed.name)}: {render.esc(feed.summary())}")
        for item, reason in [*feed.failed, *feed.teasers][:10]:
            lines.append(f"  - {render.esc(item)}: {render.esc(reason)}")
    return "\n".join(lines)


def add_feed(bot: Chatbot, url: str | None, name: str | None, every: str | None) -> str:
    """Subscribe and poll the feed at once; returns what happened (Markdown, escaped)."""
    url = (url or "").strip()
    if not url:
        raise gr.Error("Paste the URL of an RSS or Atom feed first.")
    sub = bot.add_feed(url, name=(name or "").strip() or None, every=every or None)
    report = bot.refresh([sub.url])
    return f"Subscribed to {render.esc(sub.name)}.\n\n" + _refresh_message(report)


def remove_feed(bot: Chatbot, url: str | None) -> str:
    if not url:
        raise gr.Error("Pick a feed to remove first.")
    if not bot.remove_feed(url):
        raise gr.Error(f"Not subscribed to {url} (already removed?)")
    return f"Unsubscribed from {render.esc(url)}; its articles stay in the library."


def refresh_feeds(bot: Chatbot) -> str:
    """The "Refresh now" button: every feed, due or not (an unchanged one answers 304)."""
    report = bot.refresh()
    if not report.feeds:
        return "No feeds yet: add one above."
    return _refresh_message(report)


# --- briefings -------------------------------------------------------------------------------


def _day(value: str | None) -> str:
    value = (value or "").strip()
    if not value:
        raise gr.Error("Pick a day (or type one as YYYY-MM-DD) first.")
    try:
        return to_datetime(value).date().isoformat()
    except USER_ERRORS as exc:  # a typo in the date: say so, no traceback in the server log
        raise gr.Error(str(exc)) from exc


def generate_briefing(bot: Chatbot, day: str | None) -> tuple[str, list[str]]:
    """Build the day's briefing; returns its Markdown and the md/html/json files to download."""
    try:
        date = _day(day)
        brief = bot.briefing(date=date)
        paths = bot.write_briefing(brief)
        return briefing_markdown(brief), [str(p) for p in paths]
    except gr.Error:
        raise
    except Exception as exc:
        log.exception("briefing failed")
        raise gr.Error(f"Could not build the briefing: {readable(exc)}") from exc


def briefing_days(bot: Chatbot) -> tuple[list[tuple[str, str]], str | None]:
    """The Briefing tab's day picker: (label, day) choices for the days that have articles,
    newest first, and the newest to preselect, so that the tab starts where the news is."""
    try:
        days = bot.article_days()
    except Exception as exc:  # a convenience like the past list: never fail the page over it
        log.warning("listing article days failed: %s: %s", type(exc).__name__, exc)
        return [], None
    choices = [
        (f"{day.isoformat()} · {n} article{'' if n == 1 else 's'}", day.isoformat())
        for day, n in days
    ]
    return choices, choices[0][1] if choices else None


def generate_in_tab(bot: Chatbot, day: str | None) -> tuple[str, list[str], list[str], str | None]:
    """The tab's Generate button: (Markdown, files, past briefings, the one to select).

    A missing or unreadable day, or a briefing that cannot be built, comes back as one message
    in the view with no files: raising would mark every output with a red "Error" badge while
    the reason vanished with the toast."""
    try:
        if not (day or "").strip() and not bot.article_days():
            raise gr.Error(
                "No articles yet: add some in the Library tab (files, URLs or feeds), then "
                "generate the briefing of their day."
            )
        markdown, paths = generate_briefing(bot, day)
    except gr.Error as exc:
        message = render.esc(readable(exc))
        return f"**⚠ No briefing:** {message}", [], past_briefings(bot), None
    # Listed, and selected, as soon as it is written.
    return markdown, paths, past_briefings(bot), _day(day)


def past_briefings(bot: Chatbot) -> list[str]:
    """Dates of stored briefings, newest first (whatever form the API lists them in)."""
    try:
        listed = bot.list_briefings()
    except Exception as exc:  # the list is a convenience: never fail the page over it
        log.warning("listing briefings failed: %s: %s", type(exc).__name__, exc)
        return []
    days = {m.group(0) for item in listed if (m := _DATE_RE.search(str(item)))}
    return sorted(days, reverse=True)


def open_briefing(bot: Chatbot, day: str | None) -> tuple[str, list[str]]:
    """A stored briefing's Markdown and files, from the briefings folder."""
    if not day:
        return "", []
    paths = bot.briefing_files(_day(day))
    markdown = next((p for p in paths if p.suffix == ".md"), None)
    if markdown is None:
        raise gr.Error(f"The briefing of {day} is not in {bot.settings.briefings_dir}.")
    return markdown.read_text(encoding="utf-8"), [str(p) for p in paths]


# --- stories and watches ----------------------------------------------------------------------

WATCH_INTERVALS = (
    ("after every refresh", ""),
    ("at most every 1h", "1h"),
    ("at most every 6h", "6h"),
    ("at most once a day", "1d"),
)
WATCH_HEADERS = ["Id", "Question", "Checked", "Last answer", "Last answered", "Alerts"]


def story_choices(bot: Chatbot) -> list[tuple[str, str]]:
    """The stories of the stored briefings, most recently seen first: (label, story id)."""
    try:
        stories = bot.stories()
    except Exception as exc:  # a convenience like the past briefings: never fail the page
        log.warning("listing stories failed: %s: %s", type(exc).__name__, exc)
        return []
    return [(f"{s.headline} (last in {s.last_seen})", s.story_id) for s in stories]


def briefing_stories(bot: Chatbot, day: str | None) -> list[tuple[str, str]]:
    """The stories of the briefing of ``day``, as numbered there: (label, story id)."""
    if not day:
        return []
    try:
        brief = bot.load_briefing(day)
    except Exception as exc:  # a convenience: never fail the page over it
        log.warning("listing the stories of briefing %s failed: %s", day, exc)
        return []
    return [
        (f"{i}. {s.headline}", s.story_id) for i, s in enumerate(brief.stories, 1) if s.story_id
    ]


# What a view says in place of its content: ours, and the handlers' own gr.Error.
REFUSALS: tuple[type[Exception], ...] = (gr.Error, *USER_ERRORS)


def notice(label: str, exc: BaseException) -> str:
    """A refusal shown in the view it concerns, where it stays: raising would mark the outputs
    with red "Error" badges while the reason vanished with the toast."""
    return f"**⚠ {label}:** {render.esc(readable(exc))}"


def show_story(
    bot: Chatbot,
    story_id: str | None = None,
    query: str | None = None,
    since: str | None = None,
    article_id: str | None = None,
) -> str:
    """A story's timeline as Markdown: by id (a briefing's story), by one of its articles (an
    answer's source) or by what it is about; ``since`` keeps what is new since that day. What
    stops it (nothing picked, no match, a bad date) is said in the view."""
    story_id, query = (story_id or "").strip() or None, (query or "").strip() or None
    since = (since or "").strip() or None
    try:
        if not (story_id or query or article_id):
            raise gr.Error("Pick a story, or type what it is about.")
        if since:
            since = _day(since)
        if article_id:
            timeline = bot.story(article_id=article_id, since=since)
        elif story_id:
            timeline = bot.story(story_id, since=since)
        else:
            timeline = bot.story(query=query, since=since)
    except REFUSALS as exc:
        return notice("No timeline", exc)
    return timeline_markdown(timeline)


def source_choices(state: ChatState | None) -> list[tuple[str, str]]:
    """The articles the last answer cited: (title, article id)."""
    return list(state.cited) if state is not None else []


def watch_rows(bot: Chatbot) -> list[list[Any]]:
    rows = []
    for w in bot.watches():
        answer = " ".join(s.text for s in w.sentences) or "(nothing in the stored articles yet)"
        rows.append(
            [
                w.id,
                w.question,
                f"every {format_every(w.every)} at most" if w.every else "after every refresh",
                answer,
                w.last_checked.strftime("%Y-%m-%d %H:%M UTC") if w.last_checked else "never",
                w.alerts,
            ]
        )
    return rows


def add_watch(bot: Chatbot, question: str | None, every: str | None) -> tuple[str, bool]:
    """The Watch button's message, and whether the watch was made; a refused question is said
    there (see ``notice``)."""
    question = (question or "").strip()
    try:
        if not question:
            raise gr.Error("Type the question to watch first.")
        w = bot.watch(question, every=every or None)
    except REFUSALS as exc:
        return notice("Not watched", exc), False
    answer = " ".join(s.text for s in w.sentences) or "nothing in the stored articles yet"
    return (
        f"Watching **{render.esc(w.question)}**. Answer now: {render.esc(answer)}\n\n"
        "It is answered again after each refresh; a changed answer is sent as an alert."
    ), True


def remove_watch(bot: Chatbot, watch_id: str | None) -> str:
    if not watch_id:
        return notice("Nothing removed", gr.Error("Pick a watch to remove first."))
    if not bot.unwatch(watch_id):
        return notice("Nothing removed", gr.Error(f"No watch {watch_id} (already removed?)"))
    return f"No longer watching {render.esc(watch_id)}."


def check_watches(bot: Chatbot) -> str:
    """The "Check now" button: every watch answered again; alerts for changed answers go out
    through the desk's channels, as after a refresh."""
    runs = bot.news_desk().check_watches(due_only=False)
    if not runs:
        return "No answer changed."
    parts = [f"**{len(runs)} answer{'s' if len(runs) != 1 else ''} changed:**"]
    for run in runs:
        parts.append(alert_markdown(run.alert))
        for d in run.deliveries:
            parts.append(f"- {render.esc(d.channel)}: {'sent' if d.ok else render.esc(d.error)}")
    return "\n\n".join(parts)


# --- the page --------------------------------------------------------------------------------


# Citation links are plain anchors (they survive the chatbot's HTML sanitizer); this listener
# makes a click show that answer's sources and highlight the cited one. No data is read from
# the page beyond the anchor's own href, so article text cannot steer it.
