"""The web UI's page: the Gradio layout wired to the handlers of :mod:`.ui`, and its launch
(address, login, the start-up message)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from chatbot.config import Settings
from chatbot.errors import ChatbotError
from chatbot.presentation import html as render
from chatbot.surfaces.hosting import (
    UPLOAD_EXTENSIONS,
    login_for,
    login_warning,
    reach,
    warm_up_in_background,
)
from chatbot.surfaces.web.handlers import (
    FEED_HEADERS,
    FEED_INTERVALS,
    WATCH_HEADERS,
    WATCH_INTERVALS,
    ChatState,
    add_feed,
    add_watch,
    article_table,
    briefing_days,
    briefing_stories,
    chat_turn,
    check_watches,
    delete_article,
    feed_rows,
    friendly,
    generate_in_tab,
    ingest_items,
    new_conversation,
    open_briefing,
    past_briefings,
    refresh_feeds,
    remove_feed,
    remove_watch,
    show_story,
    source_choices,
    status_html,
    story_choices,
    watch_rows,
)

if TYPE_CHECKING:
    from chatbot.bot import Chatbot

log = logging.getLogger(__name__)


CSS = """
.cb-status { font-size: 0.9em; opacity: 0.85; padding: 2px 4px; }
.cb-cite { font-weight: 600; text-decoration: none; padding: 0 1px; cursor: pointer;
  color: #2563eb !important; }
.cb-unsupported { text-decoration: underline wavy #d97706; text-underline-offset: 3px; }
.cb-quoted-mark { font-size: 0.72em; opacity: 0.6; font-style: italic; white-space: nowrap;
  cursor: help; }
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
.cb-short { font-size: 1.1em; margin-bottom: .4em; }
.cb-answer { background: #bbf7d0; color: #111827; font-weight: 600; padding: 0 1px; }
"""


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
        with gr.Tabs() as tabs:
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
                    with gr.Row():
                        source_pick = gr.Dropdown(
                            label="Follow the story of a cited source",
                            choices=[],
                            elem_id="cb-source-story-pick",
                            scale=4,
                        )
                        source_story = gr.Button(
                            "Story timeline", elem_id="cb-source-story", scale=1
                        )
            with gr.Tab("Library", id="library"):
                with gr.Row():
                    with gr.Column():
                        upload = gr.File(
                            label="Upload articles (txt, md, html, json, jsonl, pdf)",
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
                    # The days that have articles, newest first and preselected (filled on
                    # load and after every change to the library); another day can be typed.
                    day = gr.Dropdown(
                        label="Day (the days with articles; or type YYYY-MM-DD)",
                        choices=[],
                        allow_custom_value=True,
                        elem_id="cb-brief-date",
                    )
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
                    brief_story = gr.Dropdown(
                        label="Follow a story of this briefing",
                        choices=[],
                        elem_id="cb-brief-story",
                    )
                    brief_story_go = gr.Button("Story timeline", elem_id="cb-brief-story-go")
                with gr.Column(scale=3):
                    brief_view = gr.Markdown(
                        "The newest day with articles is picked: generate its briefing.",
                        elem_id="cb-brief-view",
                        latex_delimiters=[],  # "$5bn … $3bn" is money, not maths
                        sanitize_html=True,  # briefing text comes from articles
                    )
            with gr.Tab("Stories", id="stories"):
                with gr.Row():
                    story_pick = gr.Dropdown(
                        label="Story (from the briefings)",
                        choices=[],
                        elem_id="cb-story-pick",
                        scale=3,
                    )
                    story_query = gr.Textbox(
                        label="Or what it is about", elem_id="cb-story-query", scale=3, max_lines=1
                    )
                    story_since = gr.Textbox(
                        label="New since (YYYY-MM-DD, optional)",
                        elem_id="cb-story-since",
                        scale=2,
                        max_lines=1,
                    )
                    story_go = gr.Button(
                        "Show timeline", variant="primary", elem_id="cb-story-go", scale=1
                    )
                story_view = gr.Markdown(
                    "A story's timeline: what each day added, with citations. Pick a story of "
                    "a briefing, or type what it is about.",
                    elem_id="cb-story-view",
                    latex_delimiters=[],
                    sanitize_html=True,
                )
            with gr.Tab("Watches", id="watches"):
                with gr.Row():
                    watch_question = gr.Textbox(
                        label="Question to watch",
                        elem_id="cb-watch-question",
                        scale=5,
                        max_lines=2,
                    )
                    watch_every = gr.Dropdown(
                        label="Answer it again",
                        choices=list(WATCH_INTERVALS),
                        value="",
                        elem_id="cb-watch-every",
                        scale=2,
                    )
                    watch_add = gr.Button(
                        "Watch", variant="primary", elem_id="cb-watch-add", scale=1
                    )
                watch_table = gr.Dataframe(
                    headers=WATCH_HEADERS,
                    interactive=False,
                    elem_id="cb-watches",
                    wrap=True,
                    column_widths=["10%", "24%", "12%", "34%", "12%", "8%"],
                )
                with gr.Row():
                    watch_pick = gr.Dropdown(
                        label="Watch", choices=[], elem_id="cb-watch-pick", scale=4
                    )
                    watch_remove = gr.Button(
                        "Stop watching", variant="stop", elem_id="cb-watch-remove", scale=1
                    )
                    watch_check = gr.Button("Check now", elem_id="cb-watch-check", scale=1)
                watch_result = gr.Markdown(
                    elem_id="cb-watch-result", latex_delimiters=[], sanitize_html=True
                )

        # --- wiring: small closures binding the bot; the logic is in the handlers ----------
        @friendly
        def refresh(query: str, shown_day: str | None = None) -> tuple[Any, ...]:
            """Everything that lists articles, after they changed; the Briefing tab keeps the
            day it shows while that day still has articles."""
            arts = bot.articles()
            rows = render.article_rows(arts, query or "")
            days, newest = briefing_days(bot)
            if shown_day in {value for _, value in days}:
                newest = shown_day
            return (
                status_html(bot),
                rows,
                gr.Dropdown(choices=render.article_choices(arts), value=None),
                gr.Dropdown(choices=sorted({a.source for a in arts if a.source})),
                gr.Dataset(samples=[[q] for q in render.example_questions(arts)]),
                gr.Dropdown(choices=past_briefings(bot)),
                gr.Dropdown(choices=days, value=newest),
            )

        refreshed = [status, table, to_delete, outlet_pick, examples, past, day]

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
        # After each answer, the picker offers the stories of the articles it cited.
        follow: dict[str, Any] = {
            "fn": lambda st: gr.Dropdown(choices=source_choices(st), value=None),
            "inputs": chat_state,
            "outputs": source_pick,
        }
        ask.click(**chat_io).then(**follow)
        question.submit(**chat_io).then(**follow)
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
            shown_day: str | None,
            progress: Any = gr.Progress(),  # noqa: B008 - Gradio's way to request a progress bar
        ) -> tuple[Any, ...]:
            rows, summary = ingest_items(bot, picked, pasted, progress)
            return rows, f"**{summary}**", None, "", *refresh(query, shown_day)

        add.click(
            on_add,
            inputs=[upload, urls, search, day],
            outputs=[ingest_rows, ingest_summary, upload, urls, *refreshed],
            concurrency_limit=1,
        )
        search.change(friendly(lambda q: article_table(bot, q)), inputs=search, outputs=table)

        def on_pick_row(evt: gr.SelectData) -> Any:
            row = evt.row_value or []
            return row[4] if len(row) > 4 else gr.Dropdown()  # the clicked row's Id column

        table.select(on_pick_row, outputs=to_delete)

        @friendly
        def on_delete(article_id: str | None, query: str, shown_day: str | None) -> tuple[Any, ...]:
            return delete_article(bot, article_id), *refresh(query, shown_day)

        delete.click(
            on_delete,
            inputs=[to_delete, search, day],
            outputs=[delete_result, *refreshed],
            concurrency_limit=1,
        )

        @friendly
        def on_generate(d: str | None) -> tuple[Any, ...]:
            markdown, paths, listed, written = generate_in_tab(bot, d)
            # The new briefing is listed and shown as picked; after a refusal the pick stays.
            picked = (
                gr.Dropdown(choices=listed, value=written)
                if written
                else gr.Dropdown(choices=listed)
            )
            return markdown, paths, picked

        def to_story(markdown: str) -> tuple[Any, ...]:
            return markdown, gr.Tabs(selected="stories")

        # The shown briefing's stories, to follow one across days in the Stories tab.
        stories_of: dict[str, Any] = {
            "fn": lambda d: (
                gr.Dropdown(choices=briefing_stories(bot, d), value=None),
                gr.Dropdown(choices=story_choices(bot)),
            ),
            "inputs": past,
            "outputs": [brief_story, story_pick],
        }
        generate.click(
            on_generate,
            inputs=day,
            outputs=[brief_view, files, past],
            concurrency_limit=1,
        ).then(**stories_of)
        past.select(
            friendly(lambda d: open_briefing(bot, d)), inputs=past, outputs=[brief_view, files]
        ).then(**stories_of)
        brief_story_go.click(
            friendly(lambda i: to_story(show_story(bot, i))),
            inputs=brief_story,
            outputs=[story_view, tabs],
            concurrency_limit=2,
        )

        def feed_outputs(message: str, query: str, shown_day: str | None = None) -> tuple[Any, ...]:
            rows = feed_rows(bot)
            picks = gr.Dropdown(choices=[(f"{r[0]} <{r[1]}>", r[1]) for r in rows], value=None)
            return message, rows, picks, *refresh(query, shown_day)

        feed_io = [feed_result, feed_table, feed_pick, *refreshed]

        @friendly
        def on_feed_add(
            url: str, name: str, every: str, query: str, shown_day: str | None
        ) -> tuple[Any, ...]:
            return "", "", *feed_outputs(add_feed(bot, url, name, every), query, shown_day)

        feed_add.click(
            on_feed_add,
            inputs=[feed_url, feed_name, feed_every, search, day],
            outputs=[feed_url, feed_name, *feed_io],
            concurrency_limit=1,
        )
        feed_remove.click(
            friendly(lambda url, q, d: feed_outputs(remove_feed(bot, url), q, d)),
            inputs=[feed_pick, search, day],
            outputs=feed_io,
            concurrency_limit=1,
        )
        feed_refresh.click(
            friendly(lambda q, d: feed_outputs(refresh_feeds(bot), q, d)),
            inputs=[search, day],
            outputs=feed_io,
            concurrency_limit=1,
        )

        # --- stories and watches --------------------------------------------------------------
        story_go.click(
            friendly(lambda i, q, d: show_story(bot, i, q, d)),
            inputs=[story_pick, story_query, story_since],
            outputs=story_view,
            concurrency_limit=2,
        )
        source_story.click(
            friendly(lambda a: to_story(show_story(bot, article_id=a))),
            inputs=source_pick,
            outputs=[story_view, tabs],
            concurrency_limit=2,
        )

        def watch_outputs(message: str) -> tuple[Any, ...]:
            rows = watch_rows(bot)
            picks = gr.Dropdown(choices=[(f"{r[0]}: {r[1]}", r[0]) for r in rows], value=None)
            return message, rows, picks

        watch_io = [watch_result, watch_table, watch_pick]

        @friendly
        def on_watch_add(q: str, every: str) -> tuple[Any, ...]:
            message, made = add_watch(bot, q, every)
            return "" if made else q, *watch_outputs(message)  # a refused one stays to mend

        watch_add.click(
            on_watch_add,
            inputs=[watch_question, watch_every],
            outputs=[watch_question, *watch_io],
            concurrency_limit=1,
        )
        watch_remove.click(
            friendly(lambda w: watch_outputs(remove_watch(bot, w))),
            inputs=watch_pick,
            outputs=watch_io,
            concurrency_limit=1,
        )
        watch_check.click(
            friendly(lambda: watch_outputs(check_watches(bot))),
            outputs=watch_io,
            concurrency_limit=1,
        )
        app.load(refresh, inputs=search, outputs=refreshed)
        app.load(friendly(lambda: watch_outputs("")[1:]), outputs=[watch_table, watch_pick])
        app.load(friendly(lambda: gr.Dropdown(choices=story_choices(bot))), outputs=story_pick)
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


def startup_message(url: str, host: str, login: bool) -> str:
    """The line printed at start: where the UI listens, who can reach it, whether it asks for a
    login (and a warning when it is reachable from the network without one)."""
    login_text = "login required" if login else "no login"
    line = f"Web UI listening on {url} ({reach(host)}; {login_text})"
    return line + login_warning(host, login, "")


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
    warm_up_in_background(bot)
    if block:
        app.block_thread()
    return app
