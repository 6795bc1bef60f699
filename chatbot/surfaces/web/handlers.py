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
from chatbot.presentation.briefing import briefing_markdown
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
    report = bot.refresh(all_feeds=True)
    if not report.feeds:
        return "No feeds yet: add one above."
    return _refresh_message(report)


# --- briefings -------------------------------------------------------------------------------


def _day(value: str | None) -> str:
    value = (value or "").strip()
    if not value:
        raise gr.Error("Pick a date (YYYY-MM-DD) first.")
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


# --- the page --------------------------------------------------------------------------------


# Citation links are plain anchors (they survive the chatbot's HTML sanitizer); this listener
# makes a click show that answer's sources and highlight the cited one. No data is read from
# the page beyond the anchor's own href, so article text cannot steer it.
