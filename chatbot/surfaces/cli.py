"""The ``chatbot`` command: a thin shell over ``chatbot.bot.Chatbot``."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import wraps
from typing import TYPE_CHECKING, Any

import click

from chatbot.config import Settings, load_settings
from chatbot.presentation.text import (
    answer_to_text,
    stories_to_text,
    summary_to_text,
    timeline_to_text,
)
from chatbot.vocabulary import (
    Answer,
    IngestEvent,
    RefreshReport,
    StreamEvent,
    TokenEvent,
    final_answer,
)

if TYPE_CHECKING:  # the facade loads chromadb: imported when a command needs a bot
    from chatbot.bot import Chatbot, NewsDesk


class Context:
    """Settings from flags, and the Chatbot built from them on first use."""

    def __init__(self, overrides: dict[str, Any]) -> None:
        self.overrides = overrides
        self._bot: Chatbot | None = None

    def settings(self, **more: Any) -> Settings:
        # A command's own flag wins over the group's only when it was given.
        given = {k: v for k, v in more.items() if v is not None}
        return load_settings(**{**self.overrides, **given})

    def bot(self, **more: Any) -> Chatbot:
        if self._bot is None:
            from chatbot.bot import Chatbot

            self._bot = Chatbot(self.settings(**more))
        return self._bot

    def close(self) -> None:
        """Release the store when the command ends (an embedded store admits one process at a
        time, so a caller that runs commands in-process must not keep it)."""
        if self._bot is not None:
            self._bot.close()
            self._bot = None


def friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Show users what went wrong and what to do, not a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from pydantic import ValidationError

        from chatbot.errors import USER_ERRORS

        try:
            return func(*args, **kwargs)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
                for e in exc.errors()
            )
            raise click.ClickException(f"Invalid settings: {problems}") from exc
        except USER_ERRORS as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper


@click.group()
@click.option("--store-path", type=click.Path(), help="Embedded Chroma folder.")
@click.option("--chroma-url", help="Chroma server URL (instead of the embedded store).")
@click.option(
    "--backend", "llm_backend", help="LLM backend: auto|openai|openai-compatible|local|extractive."
)
@click.option("--base-url", "llm_base_url", help="OpenAI-compatible server URL.")
@click.option("--model", "llm_model", help="LLM model name.")
@click.option(
    "--allow-private-urls",
    is_flag=True,
    default=None,
    help="Allow fetching from private/loopback addresses.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log what happens.")
@click.pass_context
def main(ctx: click.Context, verbose: bool, **overrides: Any) -> None:
    """News summarization and Q&A over your own articles, with checked citations."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    ctx.obj = Context(overrides)
    ctx.call_on_close(ctx.obj.close)


@main.command()
@click.argument("items", nargs=-1, required=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_obj
@friendly_errors
def ingest(obj: Context, items: tuple[str, ...], quiet: bool) -> None:
    """Add files, folders, URLs and RSS/Atom feeds to the store."""
    from tqdm import tqdm

    bot = obj.bot()
    with tqdm(desc="Ingesting", unit=" items", disable=quiet, file=sys.stderr) as bar:

        def progress(event: IngestEvent) -> None:
            bar.update(1)
            if event.status == "failed":
                bar.write(f"failed: {event.item}: {event.detail}", file=sys.stderr)

        report = bot.ingest(list(items), progress=progress)
    for item, reason in report.skipped:
        click.echo(f"skipped: {item}: {reason}", err=True)
    click.echo(report.summary())
    articles, chunks = bot.counts()
    click.echo(f"Store: {articles} articles, {chunks} chunks")
    if report.failed:
        click.echo("Failed:", err=True)
        for item, reason in report.failed:
            click.echo(f"  {item}: {reason}", err=True)
        sys.exit(1)


@main.command()
@click.option("--source", multiple=True, help="Only these outlets (repeatable).")
@click.option("--since", help="Published on or after this date (YYYY-MM-DD).")
@click.option("--until", help="Published before this date (YYYY-MM-DD).")
@click.pass_obj
@friendly_errors
def articles(obj: Context, source: tuple[str, ...], since: str | None, until: str | None) -> None:
    """List stored articles, newest first."""
    found = obj.bot().articles(source=list(source) or None, since=since, until=until)
    for a in found:
        date = a.published_at.date().isoformat() if a.published_at else "----------"
        click.echo(f"{a.id}  {date}  {a.source or '-':<20.20}  {a.title}")
    click.echo(f"{len(found)} articles", err=True)


def _remove_each(
    items: Sequence[str], remove: Callable[[str], bool], *, done: str, missing: str
) -> None:
    """Remove each item, saying so; then one error naming those that were not there."""
    absent = [item for item in items if not remove(item)]
    for item in items:
        if item not in absent:
            click.echo(f"{done} {item}")
    if absent:
        raise click.ClickException(missing.format(", ".join(absent)))


@main.command()
@click.argument("article_ids", nargs=-1, required=True)
@click.pass_obj
@friendly_errors
def delete(obj: Context, article_ids: tuple[str, ...]) -> None:
    """Delete articles (all their chunks) from the store."""
    _remove_each(
        article_ids,
        obj.bot().delete,
        done="deleted",
        missing="No such article: {} (see `chatbot articles` for ids)",
    )


@main.command()
@click.pass_obj
@friendly_errors
def status(obj: Context) -> None:
    """What the app is using: store, models, counts."""
    for key, value in obj.bot().status().items():
        click.echo(f"{key}: {value}")


@main.command()
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_obj
@friendly_errors
def reindex(obj: Context, quiet: bool) -> None:
    """Bring a store from an older version up to date (`chatbot status` says when): store its
    live blogs as dated entries, and embed every chunk again in the current format. Stopping
    it is safe: run it again."""
    from tqdm import tqdm

    bot = obj.bot()
    with tqdm(desc="Reindexing", unit=" chunks", disable=quiet, file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        count = bot.reindex(progress)
    click.echo(f"Reindexed {count} chunks ({bot.status()['chunk_vectors']}).")


def _filter_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option("--since", help="Only articles published on or after (YYYY-MM-DD)."),
            click.option("--until", help="Only articles published before (YYYY-MM-DD)."),
            click.option("--source", "sources", multiple=True, help="Only these outlets."),
            click.option("--author", "authors", multiple=True, help="Only these authors."),
            click.option("--article", "article_ids", multiple=True, help="Only these ids."),
            click.option(
                "--as-of",
                help="Read the news as of this date (YYYY-MM-DD): 'today' and 'latest' count "
                "from it (default: the newest stored article).",
            ),
        ]
    ):
        func = option(func)
    return func


def _backend_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The LLM choice may also follow the command: `chatbot ask "..." --backend local`."""
    for option in reversed(
        [
            click.option(
                "--backend", "llm_backend", help="auto|openai|openai-compatible|local|extractive."
            ),
            click.option("--base-url", "llm_base_url", help="OpenAI-compatible server URL."),
            click.option("--model", "llm_model", help="LLM model name."),
        ]
    ):
        func = option(func)
    return func


def _split(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    backend = {k: options.pop(k) for k in ("llm_backend", "llm_base_url", "llm_model")}
    return backend, {k: v or None for k, v in options.items()}


def _ask(bot: Chatbot, stream: Iterable[StreamEvent]) -> Answer:
    """The answer, its text shown live (dimmed, on stderr) while a model writes it."""
    live = bot.streams_tokens and sys.stderr.isatty()

    def shown(events: Iterable[StreamEvent]) -> Iterator[StreamEvent]:
        for event in events:
            if isinstance(event, TokenEvent) and live:
                click.secho(event.text, nl=False, err=True, dim=True)
            yield event
        if live:
            click.echo("", err=True)

    return final_answer(shown(stream))


@main.command()
@click.argument("question")
@_filter_options
@_backend_options
@click.pass_obj
@friendly_errors
def ask(obj: Context, question: str, **options: Any) -> None:
    """Answer a question from the stored articles, with checked citations."""
    backend, filters = _split(options)
    bot = obj.bot(**backend)
    answer = _ask(bot, bot.stream(question, **filters))
    click.echo(answer_to_text(answer))


@main.command()
@_filter_options
@_backend_options
@click.pass_obj
@friendly_errors
def chat(obj: Context, **options: Any) -> None:
    """A conversation in the terminal; follow-up questions are understood in context."""
    backend, filters = _split(options)
    bot = obj.bot(**backend)
    session = bot.chat_session(**filters)
    click.echo(f"Using {bot.llm_description}. Empty line or Ctrl-D to quit; /new to start over.")
    while True:
        try:
            question = input("> ").strip()
        except (EOFError, KeyboardInterrupt):
            click.echo("")
            return
        if not question:
            return
        if question == "/new":
            session.reset()
            click.echo("(new conversation)")
            continue
        click.echo(answer_to_text(_ask(bot, session.stream(question))))


@main.command()
@click.option("--host", help="Address to bind (default: the ui_host setting, 127.0.0.1).")
@click.option("--port", type=int, help="Port (default: the ui_port setting, 7860).")
@click.option(
    "--example/--no-example",
    default=True,
    show_default=True,
    help="Load the packaged example article first when the store is empty.",
)
@click.pass_obj
@friendly_errors
def ui(obj: Context, host: str | None, port: int | None, example: bool) -> None:
    """The web UI: cited chat, article library, daily briefings."""
    from chatbot.surfaces.web import page as web

    bot = obj.bot()
    click.echo(f"LLM: {bot.backend_reason}")
    if example and (report := bot.load_example_if_empty()) is not None:
        click.echo(f"The store was empty: loaded the example article ({report.summary()}).")
    web.launch(bot, host, port, announce=click.echo)


@main.command()
@click.option("--host", help="Address to bind (default: the ui_host setting, 127.0.0.1).")
@click.option("--port", type=int, help="Port (default: the ui_port setting, 7860).")
@click.option(
    "--example/--no-example",
    default=True,
    show_default=True,
    help="Load the packaged example article first when the store is empty.",
)
@click.option(
    "--desk/--no-desk",
    default=True,
    show_default=True,
    help="Run the news desk too: scheduled feed refresh, daily briefing and its delivery.",
)
@click.option("--briefing-at", metavar="HH:MM", help="Daily briefing time (desk_briefing_at).")
@click.option("--timezone", help="Time zone of --briefing-at (desk_timezone).")
@click.pass_obj
@friendly_errors
def serve(
    obj: Context,
    host: str | None,
    port: int | None,
    example: bool,
    desk: bool,
    briefing_at: str | None,
    timezone: str | None,
) -> None:
    """The long-running service: web UI, OpenAI-compatible API (/v1), REST (/api), /docs,
    and the news desk (feeds refreshed, the daily briefing written and delivered)."""
    from chatbot.surfaces import service
    from chatbot.surfaces.service.feeds import feeds_router

    settings = obj.settings()
    service.check_exposure(host or settings.ui_host, settings)  # before the slow start
    bot = obj.bot()
    news_desk = bot.news_desk(briefing_at=briefing_at, timezone=timezone) if desk else None
    desk_options: dict[str, Any] = {"extra_routers": [feeds_router(bot, news_desk)]}
    if news_desk is not None:
        desk_options.update(on_startup=[news_desk.start], on_shutdown=[news_desk.stop])
        click.echo(_desk_line(news_desk))
    click.echo(f"LLM: {bot.backend_reason}")
    if example and (report := bot.load_example_if_empty()) is not None:
        click.echo(f"The store was empty: loaded the example article ({report.summary()}).")
    service.serve(bot, host, port, announce=click.echo, **desk_options)


@main.command()
@click.argument("article_id", required=False)
@click.option("--query", help="Summarize the articles that best match this query.")
@click.option("--since", help="Only articles published on or after (YYYY-MM-DD).")
@click.option("--until", help="Only articles published before (YYYY-MM-DD).")
@click.option("--source", "sources", multiple=True, help="Only these outlets.")
@click.option("--limit", type=int, default=5, show_default=True, help="Articles for --query.")
@click.pass_obj
@friendly_errors
def summarize(
    obj: Context,
    article_id: str | None,
    query: str | None,
    since: str | None,
    until: str | None,
    sources: tuple[str, ...],
    limit: int,
) -> None:
    """A short cited summary of ARTICLE_ID, or of the articles matching --query/--since."""
    if not (article_id or query or since or until):
        raise click.UsageError("Give an ARTICLE_ID, or --query and/or --since/--until.")
    summary = obj.bot().summarize(
        article_id,
        query=query,
        since=since,
        until=until,
        sources=list(sources) or None,
        limit=limit,
    )
    click.echo(summary_to_text(summary))


@main.command()
@click.option("--date", help="Day to brief: YYYY-MM-DD, today or yesterday (default today, UTC).")
@click.option("--since", "since_", help="Start of a range instead of a day.")
@click.option("--until", help="End of the range (default now).")
@click.option("--since-last", is_flag=True, help="Everything since the last briefing.")
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(["md", "html", "json"]),
    help="Output format (repeatable; default md, html and json).",
)
@click.option("--out", type=click.Path(file_okay=False), help="Output folder.")
@click.option("--max-stories", type=int, help="Most stories in the briefing.")
@click.option("--schedule", metavar="HH:MM", help="Keep running; write the briefing daily then.")
@click.option("--timezone", help="For --schedule (default: CHATBOT_DESK_TIMEZONE, Europe/Moscow).")
@click.pass_obj
@friendly_errors
def briefing(
    obj: Context,
    date: str | None,
    since_: str | None,
    until: str | None,
    since_last: bool,
    formats: tuple[str, ...],
    out: str | None,
    max_stories: int | None,
    schedule: str | None,
    timezone: str | None,
) -> None:
    """The day's stories, each told once with citations, as Markdown/HTML/JSON files."""
    bot = obj.bot(briefings_dir=out, briefing_max_stories=max_stories)
    wanted = list(formats) or ["md", "html", "json"]
    if schedule:
        timezone = timezone or bot.settings.desk_timezone
        click.echo(
            f"Writing the briefing every day at {schedule} ({timezone}) into "
            f"{bot.settings.briefings_dir}; Ctrl-C to stop.",
            err=True,
        )
        stats = bot.run_briefing_schedule(at=schedule, timezone=timezone, formats=wanted)
        click.echo(f"{stats.runs} runs, {stats.failures} failed", err=True)
        return
    brief = bot.briefing(date, since=since_, until=until, since_last=since_last)
    for path in bot.write_briefing(brief, wanted):
        click.echo(str(path))
    click.echo(f"{len(brief.stories)} stories. {brief.notice}".strip(), err=True)


@main.command()
@click.argument("story_id", required=False)
@click.option("--query", help="The story that best matches this, instead of a STORY_ID.")
@click.option("--article", "article_id", help="The story this article belongs to.")
@click.option("--since", help="Only what is new since this day (YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True, help="The timeline as JSON.")
@click.pass_obj
@friendly_errors
def story(
    obj: Context,
    story_id: str | None,
    query: str | None,
    article_id: str | None,
    since: str | None,
    as_json: bool,
) -> None:
    """A story's timeline: what each day added, with citations. Without arguments, the
    stories of recent briefings."""
    bot = obj.bot()
    if story_id is None and query is None and article_id is None:
        click.echo(stories_to_text(bot.stories()))
        return
    timeline = bot.story(story_id, query=query, article_id=article_id, since=since)
    if as_json:
        import json

        from chatbot.codecs import timeline_to_dict

        click.echo(json.dumps(timeline_to_dict(timeline), ensure_ascii=False, indent=2))
    else:
        click.echo(timeline_to_text(timeline))


@main.group()
def watch() -> None:
    """Watched questions (kept with the store): answered again after each refresh of the news
    desk; an alert goes out when the answer changes."""


@watch.command("add")
@click.argument("question")
@click.option("--every", help="At most this often: 30m, 1h, 1d (default: after every refresh).")
@click.pass_obj
@friendly_errors
def watch_add(obj: Context, question: str, every: str | None) -> None:
    """Watch QUESTION; prints its answer now (what later answers are compared with)."""
    from chatbot.presentation.text import watch_to_text

    click.echo(watch_to_text(obj.bot().watch(question, every=every)))


@watch.command("list")
@click.pass_obj
@friendly_errors
def watch_list(obj: Context) -> None:
    """Watched questions with their last answers."""
    from chatbot.presentation.text import watch_to_text

    watches = obj.bot().watches()
    for w in watches:
        click.echo(watch_to_text(w))
        click.echo("")
    if not watches:
        click.echo('No watches yet: `chatbot watch add "your question"`.', err=True)
        return
    click.echo(f"{len(watches)} watch{'' if len(watches) == 1 else 'es'}", err=True)


@watch.command("remove")
@click.argument("watch_ids", nargs=-1, required=True)
@click.pass_obj
@friendly_errors
def watch_remove(obj: Context, watch_ids: tuple[str, ...]) -> None:
    """Stop watching (ids as `chatbot watch list` shows them)."""
    _remove_each(
        watch_ids,
        obj.bot().unwatch,
        done="no longer watched",
        missing="No watch {} (see `chatbot watch list`)",
    )


@watch.command("check")
@click.option("--all", "all_watches", is_flag=True, help="Also the watches not due yet.")
@click.pass_obj
@friendly_errors
def watch_check(obj: Context, all_watches: bool) -> None:
    """Answer the watched questions again now and send alerts for changed answers through the
    news desk's channels (as the desk does after each refresh)."""
    from chatbot.presentation.alerts import alert_markdown

    desk = obj.bot().news_desk()
    runs = desk.check_watches(due_only=not all_watches)
    for run in runs:
        click.echo(alert_markdown(run.alert))
        for d in run.deliveries:
            click.echo(f"  {d.channel}: {'sent' if d.ok else 'not sent: ' + d.error}")
    click.echo(f"{len(runs)} changed answer(s); {len(desk.channels)} channel(s)", err=True)


# --- feeds and the news desk --------------------------------------------------------------------


def _echo_refresh(report: RefreshReport) -> None:
    for feed in report.feeds:
        click.echo(f"{feed.name}: {feed.summary()} ({feed.requests} requests, {feed.seconds:.1f}s)")
        for link, reason in feed.teasers:
            click.echo(f"  feed summary only: {link}: {reason}", err=True)
        for item, reason in feed.failed:
            click.echo(f"  failed: {item}: {reason}", err=True)
        for item, note in feed.notes:
            click.echo(f"  note: {item}: {note}", err=True)
    click.echo(report.summary())


@main.group()
def feeds() -> None:
    """Feed subscriptions (kept with the store): add, list, remove."""


@feeds.command("add")
@click.argument("url")
@click.option("--name", help="A name for the feed (default: its URL).")
@click.option("--every", help="Polling interval: 30m, 1h, 6h, 1d (default: feed_every).")
@click.option("--refresh/--no-refresh", default=True, show_default=True, help="Poll it now.")
@click.pass_obj
@friendly_errors
def feeds_add(obj: Context, url: str, name: str | None, every: str | None, refresh: bool) -> None:
    """Subscribe to an RSS/Atom feed."""
    from chatbot.presentation.labels import format_every

    bot = obj.bot()
    sub = bot.add_feed(url, name=name, every=every)
    click.echo(f"subscribed: {sub.name} <{sub.url}> every {format_every(sub.every)}")
    if refresh:
        report = bot.refresh([sub.url])
        _echo_refresh(report)
        if not report.ok:
            sys.exit(1)


@feeds.command("list")
@click.pass_obj
@friendly_errors
def feeds_list(obj: Context) -> None:
    """Subscribed feeds: name, URL, interval, last success, last error, articles added."""
    from chatbot.presentation.labels import format_every

    subs = obj.bot().feeds()
    for sub in subs:
        success = sub.last_success.strftime("%Y-%m-%d %H:%M UTC") if sub.last_success else "never"
        click.echo(f"{sub.name}  <{sub.url}>")
        click.echo(
            f"  every {format_every(sub.every)} · last success {success} · "
            f"{sub.articles_added} articles added · next due "
            f"{sub.next_due.strftime('%Y-%m-%d %H:%M UTC')}"
        )
        if sub.last_result:
            click.echo(f"  last refresh: {sub.last_result}")
        if sub.last_error:
            click.echo(f"  last error: {sub.last_error}")
    click.echo(f"{len(subs)} feeds", err=True)


@feeds.command("remove")
@click.argument("urls", nargs=-1, required=True)
@click.pass_obj
@friendly_errors
def feeds_remove(obj: Context, urls: tuple[str, ...]) -> None:
    """Unsubscribe (articles already stored stay)."""
    _remove_each(
        urls,
        obj.bot().remove_feed,
        done="unsubscribed",
        missing="Not subscribed: {} (see `chatbot feeds list`)",
    )


@main.command()
@click.argument("urls", nargs=-1)
@click.option(
    "--due", "due_only", is_flag=True, help="Only the feeds whose interval has passed (the desk's)."
)
# Every feed is the default now; --all stays accepted so that older scripts keep working.
@click.option("--all", "all_feeds", is_flag=True, hidden=True)
@click.pass_obj
@friendly_errors
def refresh(obj: Context, urls: tuple[str, ...], due_only: bool, all_feeds: bool) -> None:
    """Poll every feed now (or the given ones) and store their new and changed articles; an
    unchanged feed costs one request (HTTP 304)."""
    if due_only and all_feeds:
        raise click.UsageError("--due and --all contradict each other; give one.")
    report = obj.bot().refresh(list(urls) or None, due_only=due_only)
    _echo_refresh(report)
    if not report.ok:
        sys.exit(1)


def _desk_line(news_desk: NewsDesk) -> str:
    channels = ", ".join(c.name for c in news_desk.channels) or "none besides the folder"
    return (
        f"News desk: feeds checked every {news_desk.check_seconds:g}s; briefing daily at "
        f"{news_desk.briefing_at} {news_desk.timezone} into {news_desk.settings.briefings_dir} "
        f"(delivery: {channels})."
    )


@main.command()
@click.option("--briefing-at", metavar="HH:MM", help="Daily briefing time (desk_briefing_at).")
@click.option("--timezone", help="Time zone of --briefing-at (desk_timezone).")
@click.pass_obj
@friendly_errors
def desk(obj: Context, briefing_at: str | None, timezone: str | None) -> None:
    """The news desk alone (no web server): refresh feeds, write and deliver the daily
    briefing; `chatbot serve` runs it with the UI and API. Runs until Ctrl-C or SIGTERM."""

    news_desk = obj.bot().news_desk(briefing_at=briefing_at, timezone=timezone)
    click.echo(f"{_desk_line(news_desk)} Running; Ctrl-C to stop.", err=True)
    news_desk.run_until_stopped()
    click.echo("News desk stopped.", err=True)


if __name__ == "__main__":
    main()
