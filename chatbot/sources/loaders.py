"""Turn files, folders, URLs, RSS/Atom feeds, JSON(L) and Python objects into ``Article``s.

``iter_articles`` never raises for a bad item: it yields a ``LoadFailure(item, reason)`` and goes
on with the rest of the batch. Nothing here touches the network except through the ``Fetcher``.
"""

from __future__ import annotations

import functools
import io
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from chatbot.sources.feed_entries import (
    MIN_ENTRY_TEXT,
    MIN_LINKLESS_TEXT,
    entry_authors,
    entry_date,
    entry_text,
    looks_like_feed,
    unsafe_xml_reason,
)
from chatbot.sources.fetch import FetchedPage, Fetcher, FetchError
from chatbot.sources.formats import (
    HTML_CHARSET_RE,
    Result,
    article_from_html,
    article_from_mapping,
    article_from_text,
    articles_from_json,
    articles_from_jsonl,
    articles_from_records,
    decode,
    decode_record,
    language_code,
    plain,
    title_from_text,
    url_host,
)
from chatbot.sources.json_records import (
    json_array_records,
    jsonl_records,
)
from chatbot.sources.live_blogs import live_blog_articles
from chatbot.sources.pdf import article_from_pdf, looks_like_pdf
from chatbot.vocabulary import Article, LoadFailure

Item = str | os.PathLike[str] | Article | Mapping[str, Any]

TEXT_EXTENSIONS = frozenset({".txt", ".md"})
HTML_EXTENSIONS = frozenset({".html", ".htm"})
JSON_EXTENSIONS = frozenset({".json", ".jsonl"})
FEED_EXTENSIONS = frozenset({".xml", ".rss", ".atom"})
PDF_EXTENSIONS = frozenset({".pdf"})
KNOWN_EXTENSIONS = (
    TEXT_EXTENSIONS | HTML_EXTENSIONS | JSON_EXTENSIONS | FEED_EXTENSIONS | PDF_EXTENSIONS
)

# A feed entry's own content is used when it has at least this much text; else its link is fetched.
# An entry with no link is still loaded from a shorter summary, but not from a mere teaser.
# Extracted HTML text shorter than this is page furniture ("Home", "Menu"), not an article.


# "date 2025-02-27 Moscow [Russia], ..." : a date glued to the start of the first line.
# Wire-service datelines: "(ANI):", "(Reuters) -", "(AP) —".
# Control characters other than \n and \t (C0, DEL, C1) go; line-ish ones become newlines.
# (A regex, not str.translate: translate with a dict is ~20x slower on long clean text.)
# WHATWG: these labels mean windows-1252 in practice, and pages labelled so are often UTF-8.


# --------------------------------------------------------------------------- public API


def iter_articles(
    items: Iterable[Item] | Item, *, fetcher: Fetcher, max_file_bytes: int
) -> Iterator[Result]:
    """Yield an ``Article`` or a ``LoadFailure`` for everything in ``items``, in order.

    Items may be paths (files or folders), ``http(s)://`` URLs (pages or RSS/Atom feeds),
    mappings with article fields, or ``Article`` objects. A single item is accepted as-is.
    """
    if isinstance(items, str | os.PathLike | Mapping | Article):
        items = [items]  # a str is iterable too: never iterate its characters
    ctx = _Context(fetcher=fetcher, max_file_bytes=max_file_bytes)
    for index, item in enumerate(items):
        name = _item_name(item, index)
        yield from _guarded(name, functools.partial(ctx.load_item, item, name))


def load_bytes(
    data: bytes,
    *,
    name: str,
    kind: str,
    fetcher: Fetcher | None = None,
    url: str | None = None,
) -> Iterator[Result]:
    """Parse in-memory content (an upload, say) as if it were a file of type ``kind`` (".txt").

    Feeds whose entries need their links fetched report a failure for those entries when no
    fetcher is given. Never raises.
    """
    kind = kind.lower() if kind.startswith(".") else f".{kind.lower()}"
    ctx = _Context(fetcher=fetcher, max_file_bytes=max(len(data), 1))
    yield from _guarded(name, lambda: ctx.parse(data, name=name, kind=kind, url=url))


# --------------------------------------------------------------------------- internals


def _guarded(name: str, make: Callable[[], Iterator[Result]]) -> Iterator[Result]:
    """Run one item's loader; an unexpected exception becomes a failure, not a crash."""
    try:
        yield from make()
    except RecursionError:
        yield LoadFailure(name, "content is nested too deeply to parse")
    except Exception as exc:  # the contract: bad input never stops the batch
        yield LoadFailure(name, f"unexpected error: {type(exc).__name__}: {exc}")


def _item_name(item: object, index: int) -> str:
    if isinstance(item, Article):
        return item.url or item.title or f"article #{index}"
    if isinstance(item, Mapping):
        for key in ("url", "link", "title", "id"):
            value = item.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
        return f"item #{index}"
    if isinstance(item, str | os.PathLike):
        return os.fspath(item)
    return f"item #{index} ({type(item).__name__})"


class _Context:
    """The collaborators and limits of one loading run (no state beyond them)."""

    def __init__(self, *, fetcher: Fetcher | None, max_file_bytes: int) -> None:
        self.fetcher = fetcher
        self.max_file_bytes = max_file_bytes

    # -- dispatch ---------------------------------------------------------------------------

    def load_item(self, item: object, name: str) -> Iterator[Result]:
        if isinstance(item, Article):
            yield item
        elif isinstance(item, Mapping):
            yield article_from_mapping(item, name)
        elif isinstance(item, str) and re.match(r"^\s*https?://", item, re.IGNORECASE):
            yield from self.load_url(item.strip())
        elif isinstance(item, str) and re.match(r"^[a-z][a-z0-9+.-]*://", item, re.IGNORECASE):
            scheme = item.split(":", 1)[0]
            yield LoadFailure(name, f"unsupported URL scheme {scheme}:// (use http or https)")
        elif isinstance(item, str | os.PathLike):
            yield from self.load_path(Path(item), name)
        else:
            yield LoadFailure(
                name, "unsupported item type (expected a path, URL, mapping or Article)"
            )

    def load_path(self, path: Path, name: str) -> Iterator[Result]:
        if not path.exists():
            yield LoadFailure(name, "no such file or folder")
        elif path.is_dir():
            files = _walk(path)
            if not files:
                known = ", ".join(sorted(KNOWN_EXTENSIONS))
                yield LoadFailure(name, f"folder has no files of a supported type ({known})")
            for file in files:
                yield from _guarded(str(file), functools.partial(self.load_file, file, str(file)))
        else:
            yield from self.load_file(path, name)

    def load_file(self, path: Path, name: str) -> Iterator[Result]:
        kind = path.suffix.lower()
        if kind not in KNOWN_EXTENSIONS:
            known = ", ".join(sorted(KNOWN_EXTENSIONS))
            shown = kind or "no extension"
            yield LoadFailure(name, f"unsupported file type ({shown}); supported: {known}")
            return
        try:
            size = path.stat().st_size
            if kind in JSON_EXTENSIONS and (kind == ".jsonl" or size > self.max_file_bytes):
                with path.open("rb") as handle:
                    if handle.read(2) not in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16: whole file
                        handle.seek(0)
                        yield from self.stream_json(handle, name=name, kind=kind)
                        return
            if size > self.max_file_bytes:
                yield LoadFailure(
                    name,
                    f"file is {size} bytes, over the limit of {self.max_file_bytes} bytes "
                    "(raise CHATBOT_MAX_FILE_BYTES to allow it)",
                )
                return
            with path.open("rb") as handle:
                # Read at most one byte past the limit: the file may grow after stat().
                data = handle.read(self.max_file_bytes + 1)
        except OSError as exc:
            yield LoadFailure(name, f"cannot read file ({exc.strerror or exc})")
            return
        if len(data) > self.max_file_bytes:
            yield LoadFailure(name, f"file is over the limit of {self.max_file_bytes} bytes")
            return
        yield from self.parse(data, name=name, kind=kind, url=None)

    def stream_json(self, handle: IO[bytes], *, name: str, kind: str) -> Iterator[Result]:
        """Record by record, in bounded memory: JSON Lines, or one large JSON array."""
        if kind == ".jsonl":
            records = jsonl_records(handle, name, self.max_file_bytes, decode=decode_record)
        else:
            records = json_array_records(handle, name, self.max_file_bytes)
        for result in articles_from_records(records):
            yield from with_entries(result)

    def load_url(self, url: str) -> Iterator[Result]:
        if self.fetcher is None:
            yield LoadFailure(url, "cannot fetch URLs here (no fetcher given)")
            return
        try:
            page = self.fetcher.get(url)
        except FetchError as exc:
            yield LoadFailure(url, exc.reason)
            return
        yield from self.parse_page(page, name=url)

    def parse_page(
        self, page: FetchedPage, *, name: str, feed_allowed: bool = True, split: bool = True
    ) -> Iterator[Result]:
        """Decide from Content-Type and a sniff of the body what a fetched page is."""
        mime = page.mime_type
        body = page.content
        if mime in ("application/pdf", "application/x-pdf") or looks_like_pdf(body):
            kind = ".pdf"  # a served PDF, or one sent as octet-stream (fetch allows it for .pdf)
        elif looks_like_feed(body) or (mime.endswith("xml") and mime != "application/xhtml+xml"):
            if not feed_allowed:
                # A feed entry linking to a feed would fan out without bound (or loop).
                yield LoadFailure(name, "the link is a feed, not an article page")
                return
            kind = ".xml"
        elif mime.endswith("json"):
            kind = ".json"
        elif mime in ("text/plain", "text/markdown"):
            kind = ".md" if mime == "text/markdown" else ".txt"
        else:
            kind = ".html"
        yield from self.parse(
            body, name=name, kind=kind, url=page.url, charset=page.charset, split=split
        )

    def parse(
        self,
        data: bytes,
        *,
        name: str,
        kind: str,
        url: str | None,
        charset: str | None = None,
        split: bool = True,
    ) -> Iterator[Result]:
        """The articles in ``data``; a live blog as its entries unless ``split`` is False (the
        page as one article, for a caller that splits it later)."""
        if not data.strip():
            yield LoadFailure(name, "file is empty" if url is None else "response body is empty")
            return
        if kind in FEED_EXTENSIONS:
            yield from self.parse_feed(data, name=name, url=url)
            return
        if kind in PDF_EXTENSIONS:  # binary: never decoded as text
            yield article_from_pdf(data, name=name, url=url)
            return
        if charset is None and kind in HTML_EXTENSIONS:
            sniffed = HTML_CHARSET_RE.search(data[:4096])
            charset = sniffed.group(1).decode("ascii") if sniffed else None
            if charset and charset.lower().startswith(("utf-16", "utf-32")):
                charset = None  # a meta tag readable as ASCII cannot be UTF-16 (WHATWG rule)
        text_or_error = decode(data, charset)
        if isinstance(text_or_error, LoadFailure):
            yield LoadFailure(name, text_or_error.reason)
            return
        text = text_or_error
        results: Iterable[Result]
        if kind in TEXT_EXTENSIONS:
            results = [article_from_text(text, name=name, markdown=kind == ".md", url=url)]
        elif kind in HTML_EXTENSIONS:
            results = [article_from_html(text, name=name, url=url)]
        elif kind == ".jsonl":
            results = articles_from_jsonl(text, name)
        elif kind == ".json":
            results = articles_from_json(text, name)
        else:
            yield LoadFailure(name, f"unsupported file type ({kind})")
            return
        html = text if kind in HTML_EXTENSIONS else None
        for result in results:
            yield from with_entries(result, html) if split else (result,)

    # -- feeds ------------------------------------------------------------------------------

    def parse_feed(self, data: bytes, *, name: str, url: str | None) -> Iterator[Result]:
        refusal = unsafe_xml_reason(data)
        if refusal is not None:
            yield LoadFailure(name, refusal)
            return
        import feedparser  # heavy import, only when a feed is actually loaded

        headers = {"content-location": url} if url else {}
        # A stream, never bytes/str: feedparser treats a str as a URL/path and opens it.
        parsed = feedparser.parse(io.BytesIO(data), response_headers=headers)
        entries = list(parsed.get("entries") or [])
        if not parsed.get("version") and not entries:
            detail = ""
            if parsed.get("bozo") and parsed.get("bozo_exception") is not None:
                detail = f" ({parsed['bozo_exception']})"
            yield LoadFailure(name, f"not an RSS/Atom feed{detail}")
            return
        feed_info = parsed.get("feed") or {}
        feed_title = plain(str(feed_info.get("title") or ""))
        feed_source = (
            feed_title or url_host(str(feed_info.get("link") or "")) or url_host(url or "")
        )
        if not entries:
            yield LoadFailure(name, "feed has no entries")
            return
        for number, entry in enumerate(entries, start=1):
            title = plain(str(entry.get("title") or "")).strip()
            label = f"{name} entry {number}" + (f" {title!r}" if title else "")
            yield from _guarded(
                label,
                functools.partial(
                    self._feed_entry,
                    entry,
                    title=title,
                    label=label,
                    feed_name=name,
                    feed_source=feed_source,
                ),
            )

    def _feed_entry(
        self,
        entry: Mapping[str, Any],
        *,
        title: str,
        label: str,
        feed_name: str,
        feed_source: str,
    ) -> Iterator[Result]:
        link = str(entry.get("link") or "").strip()
        link = link if re.match(r"^https?://", link, re.IGNORECASE) else ""
        text = entry_text(entry)
        published = entry_date(entry)
        authors = entry_authors(entry)
        if len(text) >= MIN_ENTRY_TEXT or (not link and len(text) >= MIN_LINKLESS_TEXT):
            yield Article.create(
                title=title or title_from_text(text),
                text=text,
                source=feed_source,
                authors=authors,
                published_at=published,
                url=link or None,
                language=language_code(entry.get("language")),
            )
            return
        if not link:
            shown = repr(title) if title else "(untitled)"
            detail = f" (only {len(text)} characters of summary)" if text else ""
            yield LoadFailure(
                label, f"feed {feed_name}: entry {shown} has no link and no content to load{detail}"
            )
            return
        if self.fetcher is None:
            yield LoadFailure(link, f"entry of feed {feed_name}: cannot fetch (no fetcher given)")
            return
        try:
            page = self.fetcher.get(link)
        except FetchError as exc:
            yield LoadFailure(link, f"entry {title!r} of feed {feed_name}: {exc.reason}")
            return
        for result in self.parse_page(page, name=link, feed_allowed=False):
            if isinstance(result, Article):
                # The feed's own metadata is usually cleaner than what a page scrape finds.
                result = Article.create(
                    title=title or result.title,
                    text=result.text,
                    source=result.source or feed_source,
                    authors=result.authors or authors,
                    published_at=published or result.published_at,
                    url=result.url,
                    language=result.language,
                )
            yield result


def _walk(folder: Path) -> list[Path]:
    """Supported, non-hidden files under ``folder``, sorted, without following symlinked dirs."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for filename in sorted(files):
            if filename.startswith("."):
                continue
            if Path(filename).suffix.lower() in KNOWN_EXTENSIONS:
                found.append(Path(root) / filename)
    return sorted(found)  # by path parts: a/z.txt before b.txt, whatever the walk order


# --------------------------------------------------------------------------- decoding


# --------------------------------------------------------------------------- text files


# --------------------------------------------------------------------------- HTML


# --------------------------------------------------------------------------- JSON


# --------------------------------------------------------------------------- feed entries


# --------------------------------------------------------------------------- feed subscriptions


def with_entries(result: Result, html: str | None = None) -> Iterator[Result]:
    """A live blog's entries, each an article at its own time (:mod:`.live_blogs`); any other
    result as it is."""
    if isinstance(result, Article):
        entries = live_blog_articles(result, html)
        if entries:
            yield from entries
            return
    yield result


def article_from_page(page: FetchedPage, *, name: str) -> Article | LoadFailure:
    """The article on a fetched page (HTML, text or JSON); a feed is refused, not followed."""
    ctx = _Context(fetcher=None, max_file_bytes=max(len(page.content), 1))
    # A live blog stays one article here: the feed's reader splits it (news.feeds).
    pages = _guarded(name, lambda: ctx.parse_page(page, name=name, feed_allowed=False, split=False))
    for result in pages:
        return result
    return LoadFailure(name, "no article found on the page")
