"""The Gradio web UI: a thin shell over ``chatbot.api.Chatbot`` (no retrieval or prompt logic).

Handlers are plain functions that take the bot and plain values, so tests call them without a
browser; ``build_app`` only wires them to components. Per-browser-session state (the ChatSession,
the shown messages, the sources of each answer) lives in a ``gr.State``, never in this module.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from chatbot.api import ChatSession, make_filters
from chatbot.common.dates import day_range, to_datetime
from chatbot.config import Settings
from chatbot.errors import USER_ERRORS, ChatbotError
from chatbot.presentation import html as render
from chatbot.presentation.briefing import briefing_markdown
from chatbot.presentation.labels import format_every
from chatbot.vocabulary import AnswerEvent, IngestEvent, TokenEvent

if TYPE_CHECKING:
    from chatbot.api import Chatbot

log = logging.getLogger(__name__)

UPLOAD_EXTENSIONS = (".txt", ".md", ".html", ".htm", ".json", ".jsonl")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_UNSAFE_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")
Progress = Callable[..., Any]


class UploadRejected(ValueError):
    """An uploaded file the UI refuses (type, size, empty); the message names the file."""


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


def uploads_dir(settings: Settings) -> Path:
    return (Path(settings.data_dir) / "uploads").resolve()


def safe_upload_name(name: str) -> str:
    """A file name that cannot leave the uploads folder or surprise a shell: base name only,
    [A-Za-z0-9._-], no leading dot, a known extension kept as is."""
    base = re.split(r"[\\/]", name)[-1]
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    ext = f".{ext.lower()}" if ext else ""
    if ext not in UPLOAD_EXTENSIONS:
        raise UploadRejected(
            f"{base}: unsupported file type {ext or '(none)'}; use {', '.join(UPLOAD_EXTENSIONS)}"
        )
    clean = _UNSAFE_NAME_RE.sub("_", stem).strip("._-")[:80] or "upload"
    return clean + ext


def save_upload(settings: Settings, source: str | os.PathLike[str]) -> Path:
    """Copy an uploaded file into ``data_dir/uploads`` under a sanitized name; a different file
    that already has the name gets a content-hash suffix instead of replacing it."""
    src = Path(source)
    name = safe_upload_name(src.name)
    size = src.stat().st_size
    if size > settings.upload_max_bytes:
        raise UploadRejected(
            f"{src.name}: {size:,} bytes is over the upload limit of "
            f"{settings.upload_max_bytes:,} bytes"
        )
    if size == 0:
        raise UploadRejected(f"{src.name}: the file is empty")
    data = src.read_bytes()
    folder = uploads_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / name
    if dest.exists() and dest.read_bytes() != data:
        digest = hashlib.sha256(data).hexdigest()[:8]
        dest = folder / f"{dest.stem}-{digest}{dest.suffix}"
    if dest.resolve().parent != folder:  # belt and braces: the name was sanitized above
        raise UploadRejected(f"{src.name}: refused file name")
    if not dest.exists():
        tmp = dest.with_name(f".{dest.name}.part")
        tmp.write_bytes(data)
        tmp.replace(dest)
    return dest


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

CSS = """
.cb-status { font-size: 0.9em; opacity: 0.85; padding: 2px 4px; }
.cb-cite { font-weight: 600; text-decoration: none; padding: 0 1px; cursor: pointer;
  color: #2563eb !important; }
.cb-unsupported { text-decoration: underline wavy #d97706; text-underline-offset: 3px; }
.cb-flag { display: inline-block; font-size: 0.75em; font-weight: 600; color: #b45309;
  background: #fef3c7; border-radius: 4px; padding: 0 4px; margin-left: 2px; }
.cb-notice, .cb-error { border-left: 4px solid #d97706; background: #fffbeb; color: #78350f;
  padding: 4px 8px; margin-bottom: 6px; border-radius: 4px; }
.cb-error { border-color: #dc2626; background: #fef2f2; color: #7f1d1d; }
.cb-sources { max-height: 640px; overflow-y: auto; }
.cb-sources-empty { opacity: 0.7; font-style: italic; padding: 8px; }
.cb-sources:not(:has(.cb-active)) .cb-turn:not(:first-child) { display: none; }
.cb-sources:has(.cb-active) .cb-turn:not(.cb-active) { display: none; }
.cb-turn-q { font-size: 0.85em; opacity: 0.75; margin: 4px 0 8px; }
.cb-source { border: 1px solid rgba(128,128,128,0.35); border-radius: 8px; padding: 8px 10px;
  margin-bottom: 10px; }
.cb-source.cb-focus { border-color: #2563eb; box-shadow: 0 0 0 2px rgba(37,99,235,0.35); }
.cb-source-head { font-weight: 600; }
.cb-meta { font-size: 0.85em; opacity: 0.8; margin: 2px 0 6px; }
.cb-context { font-size: 0.92em; line-height: 1.45; white-space: pre-wrap; }
.cb-context + .cb-context { margin-top: 6px; padding-top: 6px;
  border-top: 1px dashed rgba(128,128,128,0.4); }
.cb-quote { background: #fde68a; color: #111827; padding: 0 1px; border-radius: 2px; }
"""

# Citation links are plain anchors (they survive the chatbot's HTML sanitizer); this listener
# makes a click show that answer's sources and highlight the cited one. No data is read from
# the page beyond the anchor's own href, so article text cannot steer it.
CLIENT_JS = """
() => {
  document.addEventListener('click', (event) => {
    const link = event.target && event.target.closest ? event.target.closest('a.cb-cite') : null;
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    const id = (link.getAttribute('href') || '').replace(/^#/, '');
    const card = id ? document.getElementById(id) : null;
    if (!card) return;
    const section = card.closest('.cb-turn');
    document.querySelectorAll('.cb-turn').forEach(
      (s) => s.classList.toggle('cb-active', s === section));
    document.querySelectorAll('.cb-source.cb-focus').forEach((c) => c.classList.remove('cb-focus'));
    card.classList.add('cb-focus');
    card.scrollIntoView({block: 'nearest'});
  }, true);
}
"""


def build_app(bot: Chatbot) -> gr.Blocks:
    """The three tabs and the status line, wired to the handlers above. Nothing runs until a
    browser connects (lists and status are filled on page load)."""
    with gr.Blocks(title="News chatbot", analytics_enabled=False) as app:
        chat_state = gr.State(None)
        status = gr.HTML(elem_id="cb-status")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"), gr.Row():
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(
                        label="Conversation",
                        elem_id="cb-chat",
                        height=480,
                        latex_delimiters=[],
                        feedback_options=None,
                        buttons=["copy"],
                        placeholder="Ask a question about the stored articles.",
                    )
                    with gr.Row():
                        question = gr.Textbox(
                            show_label=False,
                            placeholder="Ask about the stored articles…",
                            elem_id="cb-question",
                            scale=5,
                            lines=1,
                            max_lines=4,
                        )
                        ask = gr.Button("Ask", variant="primary", scale=1, elem_id="cb-ask")
                    examples = gr.Dataset(
                        components=[question],
                        samples=[],
                        label="Example questions",
                        elem_id="cb-examples",
                    )
                    with gr.Accordion("Filters", open=False):
                        with gr.Row():
                            since = gr.Textbox(label="From (YYYY-MM-DD)", elem_id="cb-since")
                            until = gr.Textbox(label="To (YYYY-MM-DD)", elem_id="cb-until")
                        outlet_pick = gr.Dropdown(
                            label="Outlets (none = all)",
                            multiselect=True,
                            choices=[],
                            elem_id="cb-outlets",
                        )
                    new_chat = gr.Button("New conversation", elem_id="cb-new")
                with gr.Column(scale=2):
                    gr.Markdown("### Sources")
                    sources = gr.HTML(render.sources_panel([]), elem_id="cb-sources-panel")
            with gr.Tab("Library", id="library"):
                with gr.Row():
                    with gr.Column():
                        upload = gr.File(
                            label="Upload articles (txt, md, html, json, jsonl)",
                            file_count="multiple",
                            file_types=list(UPLOAD_EXTENSIONS),
                            elem_id="cb-upload",
                        )
                        urls = gr.Textbox(
                            label="Or paste URLs of articles or RSS/Atom feeds, one per line",
                            lines=3,
                            elem_id="cb-urls",
                        )
                        add = gr.Button("Add to library", variant="primary", elem_id="cb-add")
                    with gr.Column():
                        ingest_summary = gr.Markdown(elem_id="cb-ingest-summary")
                        ingest_rows = gr.Dataframe(
                            headers=["Item", "Result", "Detail"],
                            label="Result per item",
                            interactive=False,
                            elem_id="cb-ingest-rows",
                            wrap=True,
                            column_widths=["50%", "14%", "36%"],
                        )
                gr.Markdown("### Stored articles")
                search = gr.Textbox(
                    label="Search titles, outlets, dates", elem_id="cb-search", max_lines=1
                )
                table = gr.Dataframe(
                    headers=["Title", "Outlet", "Date", "Chunks", "Id"],
                    interactive=False,
                    elem_id="cb-articles",
                    wrap=True,
                    column_widths=["46%", "16%", "12%", "8%", "18%"],
                )
                with gr.Row():
                    to_delete = gr.Dropdown(
                        label="Article to delete", choices=[], elem_id="cb-delete-pick", scale=4
                    )
                    delete = gr.Button("Delete", variant="stop", elem_id="cb-delete", scale=1)
                delete_result = gr.Markdown(elem_id="cb-delete-result")
                gr.Markdown("### Feeds")
                with gr.Row():
                    feed_url = gr.Textbox(
                        label="RSS/Atom feed URL", elem_id="cb-feed-url", scale=4, max_lines=1
                    )
                    feed_name = gr.Textbox(
                        label="Name (optional)", elem_id="cb-feed-name", scale=2, max_lines=1
                    )
                    feed_every = gr.Dropdown(
                        label="Check every",
                        choices=list(dict.fromkeys([*FEED_INTERVALS, bot.settings.feed_every])),
                        value=bot.settings.feed_every,
                        elem_id="cb-feed-every",
                        scale=1,
                    )
                    feed_add = gr.Button("Add feed", variant="primary", elem_id="cb-feed-add")
                feed_table = gr.Dataframe(
                    headers=FEED_HEADERS,
                    interactive=False,
                    elem_id="cb-feeds",
                    wrap=True,
                    column_widths=["12%", "22%", "6%", "13%", "22%", "19%", "6%"],
                )
                with gr.Row():
                    feed_pick = gr.Dropdown(
                        label="Feed", choices=[], elem_id="cb-feed-pick", scale=4
                    )
                    feed_remove = gr.Button(
                        "Remove feed", variant="stop", elem_id="cb-feed-remove", scale=1
                    )
                    feed_refresh = gr.Button("Refresh now", elem_id="cb-feed-refresh", scale=1)
                feed_result = gr.Markdown(elem_id="cb-feed-result")
            with gr.Tab("Briefing", id="briefing"), gr.Row():
                with gr.Column(scale=1):
                    day = gr.Textbox(label="Date (YYYY-MM-DD)", elem_id="cb-brief-date")
                    generate = gr.Button(
                        "Generate briefing", variant="primary", elem_id="cb-brief-go"
                    )
                    past = gr.Dropdown(label="Past briefings", choices=[], elem_id="cb-brief-past")
                    files = gr.File(
                        label="Download (Markdown, HTML, JSON)",
                        file_count="multiple",
                        interactive=False,
                        elem_id="cb-brief-files",
                    )
                with gr.Column(scale=3):
                    brief_view = gr.Markdown(
                        "Pick a date and generate its briefing.",
                        elem_id="cb-brief-view",
                        latex_delimiters=[],  # "$5bn … $3bn" is money, not maths
                        sanitize_html=True,  # briefing text comes from articles
                    )

        # --- wiring: small closures binding the bot; the logic is in the handlers ----------
        @friendly
        def refresh(query: str) -> tuple[Any, ...]:
            arts = bot.articles()
            rows = render.article_rows(arts, query or "")
            return (
                status_html(bot),
                rows,
                gr.Dropdown(choices=render.article_choices(arts), value=None),
                gr.Dropdown(choices=sorted({a.source for a in arts if a.source})),
                gr.Dataset(samples=[[q] for q in render.example_questions(arts)]),
                gr.Dropdown(choices=past_briefings(bot)),
            )

        refreshed = [status, table, to_delete, outlet_pick, examples, past]

        def on_ask(
            state: ChatState | None, q: str, s: str, u: str, o: list[str]
        ) -> Iterator[tuple[Any, ...]]:
            for messages, new_state, panel in chat_turn(bot, state, q, s, u, o):
                yield messages, new_state, panel, ""

        chat_io: dict[str, Any] = {
            "fn": on_ask,
            "inputs": [chat_state, question, since, until, outlet_pick],
            "outputs": [chatbot, chat_state, sources, question],
            "concurrency_limit": 4,
            "show_progress": "minimal",
        }
        ask.click(**chat_io)
        question.submit(**chat_io)
        examples.click(lambda sample: sample[0], inputs=examples, outputs=question)
        reset: dict[str, Any] = {
            "fn": friendly(lambda state: new_conversation(bot, state)),
            "inputs": chat_state,
            "outputs": [chatbot, chat_state, sources],
        }
        new_chat.click(**reset)
        chatbot.clear(**reset)  # the chat's own trash button must forget the session too

        @friendly
        def on_add(
            picked: list[str] | None,
            pasted: str,
            query: str,
            progress: Any = gr.Progress(),  # noqa: B008 - Gradio's way to request a progress bar
        ) -> tuple[Any, ...]:
            rows, summary = ingest_items(bot, picked, pasted, progress)
            return rows, f"**{summary}**", None, "", *refresh(query)

        add.click(
            on_add,
            inputs=[upload, urls, search],
            outputs=[ingest_rows, ingest_summary, upload, urls, *refreshed],
            concurrency_limit=1,
        )
        search.change(friendly(lambda q: article_table(bot, q)), inputs=search, outputs=table)

        def on_pick_row(evt: gr.SelectData) -> Any:
            row = evt.row_value or []
            return row[4] if len(row) > 4 else gr.Dropdown()  # the clicked row's Id column

        table.select(on_pick_row, outputs=to_delete)

        @friendly
        def on_delete(article_id: str | None, query: str) -> tuple[Any, ...]:
            return delete_article(bot, article_id), *refresh(query)

        delete.click(
            on_delete,
            inputs=[to_delete, search],
            outputs=[delete_result, *refreshed],
            concurrency_limit=1,
        )

        @friendly
        def on_generate(d: str) -> tuple[Any, ...]:
            markdown, paths = generate_briefing(bot, d)
            return markdown, paths, gr.Dropdown(choices=past_briefings(bot), value=None)

        generate.click(
            on_generate,
            inputs=day,
            outputs=[brief_view, files, past],
            concurrency_limit=1,
        )
        past.select(
            friendly(lambda d: open_briefing(bot, d)), inputs=past, outputs=[brief_view, files]
        )

        def feed_outputs(message: str, query: str) -> tuple[Any, ...]:
            rows = feed_rows(bot)
            picks = gr.Dropdown(choices=[(f"{r[0]} <{r[1]}>", r[1]) for r in rows], value=None)
            return message, rows, picks, *refresh(query)

        feed_io = [feed_result, feed_table, feed_pick, *refreshed]

        @friendly
        def on_feed_add(url: str, name: str, every: str, query: str) -> tuple[Any, ...]:
            return "", "", *feed_outputs(add_feed(bot, url, name, every), query)

        feed_add.click(
            on_feed_add,
            inputs=[feed_url, feed_name, feed_every, search],
            outputs=[feed_url, feed_name, *feed_io],
            concurrency_limit=1,
        )
        feed_remove.click(
            friendly(lambda url, q: feed_outputs(remove_feed(bot, url), q)),
            inputs=[feed_pick, search],
            outputs=feed_io,
            concurrency_limit=1,
        )
        feed_refresh.click(
            friendly(lambda q: feed_outputs(refresh_feeds(bot), q)),
            inputs=search,
            outputs=feed_io,
            concurrency_limit=1,
        )
        app.load(refresh, inputs=search, outputs=refreshed)
        app.load(
            friendly(lambda q: feed_outputs("", q)[1:3]),
            inputs=search,
            outputs=[feed_table, feed_pick],
        )
    return app


def launch_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``Blocks.launch`` that the app needs wherever it is launched."""
    return {
        "css": CSS,
        "js": CLIENT_JS,
        "max_file_size": settings.upload_max_bytes,
        # Briefing downloads are served from here; nothing else outside Gradio's cache is.
        "allowed_paths": [str(Path(settings.briefings_dir).resolve())],
        "ssr_mode": False,
        "footer_links": [],
        "show_error": False,
        "quiet": True,
    }


def login_for(settings: Settings) -> tuple[str, str] | None:
    if settings.ui_username and settings.ui_password:
        return settings.ui_username, settings.ui_password.get_secret_value()
    return None


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def startup_message(url: str, host: str, login: bool) -> str:
    """The line printed at start: where the UI listens, who can reach it, whether it asks for a
    login (and a warning when it is reachable from the network without one)."""
    reach = (
        "only this machine can reach it"
        if host in LOOPBACK_HOSTS
        else f"bound to {host}: other machines can reach it"
    )
    line = f"Web UI listening on {url} ({reach}; {'login required' if login else 'no login'})"
    if not login and host not in LOOPBACK_HOSTS:
        line += (
            " — WARNING: reachable from other machines without a login; set "
            "CHATBOT_UI_USERNAME and CHATBOT_UI_PASSWORD"
        )
    return line


def _warm_up(bot: Chatbot) -> None:
    try:
        bot.warm_up()
    except Exception as exc:  # the first question reports real problems; this only saves time
        log.warning("warm-up failed: %s", exc)


def launch(
    bot: Chatbot,
    host: str | None = None,
    port: int | None = None,
    auth: tuple[str, str] | None = None,
    *,
    block: bool = True,
    announce: Callable[[str], None] | None = None,
) -> gr.Blocks:
    """Serve the UI (host/port/login default to the settings; 127.0.0.1 unless told otherwise).

    ``announce`` receives a line saying where it listens and whether a login is required.
    With ``block=False`` it returns at once with the server running; call ``.close()`` on the
    returned Blocks to stop it.
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home
    settings = bot.settings
    host = host or settings.ui_host
    port = settings.ui_port if port is None else port
    auth = auth or login_for(settings)
    app = build_app(bot)
    app.queue(default_concurrency_limit=2)
    try:
        app.launch(
            server_name=host,
            server_port=port or None,
            auth=auth,
            auth_message="Log in with ui_username / ui_password from the settings."
            if auth
            else None,
            prevent_thread_lock=True,
            **launch_options(settings),
        )
    except OSError as exc:  # port taken, address not available: say so, not a traceback
        raise ChatbotError(f"Cannot start the web UI on {host}:{port}: {exc}") from exc
    if announce is not None:
        announce(startup_message(str(app.local_url), host, auth is not None))
    threading.Thread(target=_warm_up, args=(bot,), name="warm-up", daemon=True).start()
    if block:
        app.block_thread()
    return app
