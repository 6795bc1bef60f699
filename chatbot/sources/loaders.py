"""Turn files, folders, URLs, RSS/Atom feeds, JSON(L) and Python objects into ``Article``s.

``iter_articles`` never raises for a bad item: it yields a ``LoadFailure(item, reason)`` and goes
on with the rest of the batch. Nothing here touches the network except through the ``Fetcher``.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import unicodedata
import xml.sax
import xml.sax.handler
import xml.sax.xmlreader
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from chatbot.sources.fetch import FetchedPage, Fetcher, FetchError
from chatbot.sources.json_records import (
    Record,
    RecordProblem,
    json_array_records,
    jsonl_records,
)
from chatbot.vocabulary import Article, LoadFailure, content_hash

Item = str | os.PathLike[str] | Article | Mapping[str, Any]
Result = Article | LoadFailure

TEXT_EXTENSIONS = frozenset({".txt", ".md"})
HTML_EXTENSIONS = frozenset({".html", ".htm"})
JSON_EXTENSIONS = frozenset({".json", ".jsonl"})
FEED_EXTENSIONS = frozenset({".xml", ".rss", ".atom"})
KNOWN_EXTENSIONS = TEXT_EXTENSIONS | HTML_EXTENSIONS | JSON_EXTENSIONS | FEED_EXTENSIONS

# A feed entry's own content is used when it has at least this much text; else its link is fetched.
MIN_ENTRY_TEXT = 400
# An entry with no link is still loaded from a shorter summary, but not from a mere teaser.
MIN_LINKLESS_TEXT = 80
MAX_TITLE_CHARS = 120
# Extracted HTML text shorter than this is page furniture ("Home", "Menu"), not an article.
MIN_HTML_TEXT = 40

_TITLE_KEYS = ("title", "headline", "name")
_TEXT_KEYS = (
    "text",
    "content",
    "body",
    "article",
    "maintext",
    "full_text",
    "description",
    "summary",
)
_SOURCE_KEYS = ("source", "outlet", "publisher", "site", "sitename", "source_name", "domain")
_AUTHOR_KEYS = ("authors", "author", "byline", "creator")
_DATE_KEYS = (
    "published_at",
    "date",
    "publishedAt",
    "pubDate",
    "published",
    "datetime",
    "date_publish",
    "published_date",
    "publish_date",
    "created_at",
    "time",
    "updated",
)
_URL_KEYS = ("url", "link", "href", "canonical_url", "permalink")
_LIST_KEYS = ("articles", "items", "data", "entries", "results", "documents")

_HEADER_RE = re.compile(
    r"^\s*(title|date|published|source|url|link|authors?|byline)\s*:\s*(.*?)\s*$", re.IGNORECASE
)
_ISO_DATE = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
# "date 2025-02-27 Moscow [Russia], ..." : a date glued to the start of the first line.
_BARE_DATE_RE = re.compile(rf"^\s*date\s*[:=]?\s*({_ISO_DATE})(?:\s+|$)", re.IGNORECASE)
# Wire-service datelines: "(ANI):", "(Reuters) -", "(AP) —".
_DATELINE_SOURCE_RE = re.compile(r"\(([A-Z][A-Za-z.&' ]{0,23}[A-Za-z.])\)\s*(?::|-|—|–)")
_DATELINE_PREFIX_RE = re.compile(
    r"^[^()\n]{0,80}?\(([A-Z][A-Za-z.&' ]{0,23}[A-Za-z.])\)\s*(?::|-|—|–)\s*"
)
_SENTENCE_END_RE = re.compile(r"[.!?][\"'”’)]?(?=\s+[\"'“‘(]?[A-Z0-9])")
_LOOKS_HTML_RE = re.compile(
    r"<\s*/?\s*(p|br|div|a|span|strong|em|b|i|ul|ol|li|h[1-6]|img|figure|blockquote|table)\b",
    re.IGNORECASE,
)
_FEED_SNIFF_RE = re.compile(rb"<(?:[a-z0-9]+:)?(rss|feed|rdf)\b", re.IGNORECASE)
_BLANK_RUNS_RE = re.compile(r"\n{3,}")
_TRAILING_WS_RE = re.compile(r"[ \t\u00a0]+\n")
# Control characters other than \n and \t (C0, DEL, C1) go; line-ish ones become newlines.
# (A regex, not str.translate: translate with a dict is ~20x slower on long clean text.)
_CONTROL_RE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ufeff\u200b]")
_LINE_BREAK_RE = re.compile("[\x0b\x0c\x85\u2028\u2029]")
_HTML_CHARSET_RE = re.compile(rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.I)
# WHATWG: these labels mean windows-1252 in practice, and pages labelled so are often UTF-8.
_LATIN1_LABELS = frozenset({"iso-8859-1", "iso8859-1", "latin-1", "latin1", "us-ascii", "ascii"})


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


def clean_text(text: str) -> str:
    """Normalise newlines, drop control characters, trim lines, collapse blank-line runs."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _LINE_BREAK_RE.sub("\n", text)
    text = _CONTROL_RE.sub("", text)
    text = _TRAILING_WS_RE.sub("\n", text + "\n")
    text = _BLANK_RUNS_RE.sub("\n\n", text)
    return text.strip()


def parse_date(value: Any) -> datetime | None:
    """A timezone-aware datetime from common date shapes; naive -> UTC, date-only -> midnight."""
    result: datetime | None = None
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, date):
        result = datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value  # milliseconds since the epoch
        try:
            result = datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    elif isinstance(value, str):
        result = _parse_date_string(value.strip())
    if result is None or not 1800 <= result.year <= 2200:
        return None
    if result.tzinfo is None or result.tzinfo.utcoffset(result) is None:
        result = result.replace(tzinfo=UTC)
    return result


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
            yield _article_from_mapping(item, name)
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
            records = jsonl_records(handle, name, self.max_file_bytes, decode=_decode_record)
        else:
            records = json_array_records(handle, name, self.max_file_bytes)
        yield from _articles_from_records(records)

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
        self, page: FetchedPage, *, name: str, feed_allowed: bool = True
    ) -> Iterator[Result]:
        """Decide from Content-Type and a sniff of the body what a fetched page is."""
        mime = page.mime_type
        body = page.content
        if _looks_like_feed(body) or (mime.endswith("xml") and mime != "application/xhtml+xml"):
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
        yield from self.parse(body, name=name, kind=kind, url=page.url, charset=page.charset)

    def parse(
        self,
        data: bytes,
        *,
        name: str,
        kind: str,
        url: str | None,
        charset: str | None = None,
    ) -> Iterator[Result]:
        if not data.strip():
            yield LoadFailure(name, "file is empty" if url is None else "response body is empty")
            return
        if kind in FEED_EXTENSIONS:
            yield from self.parse_feed(data, name=name, url=url)
            return
        if charset is None and kind in HTML_EXTENSIONS:
            sniffed = _HTML_CHARSET_RE.search(data[:4096])
            charset = sniffed.group(1).decode("ascii") if sniffed else None
            if charset and charset.lower().startswith(("utf-16", "utf-32")):
                charset = None  # a meta tag readable as ASCII cannot be UTF-16 (WHATWG rule)
        text_or_error = _decode(data, charset)
        if isinstance(text_or_error, LoadFailure):
            yield LoadFailure(name, text_or_error.reason)
            return
        text = text_or_error
        if kind in TEXT_EXTENSIONS:
            yield _article_from_text(text, name=name, markdown=kind == ".md", url=url)
        elif kind in HTML_EXTENSIONS:
            yield _article_from_html(text, name=name, url=url)
        elif kind == ".jsonl":
            yield from _articles_from_jsonl(text, name)
        elif kind == ".json":
            yield from _articles_from_json(text, name)
        else:
            yield LoadFailure(name, f"unsupported file type ({kind})")

    # -- feeds ------------------------------------------------------------------------------

    def parse_feed(self, data: bytes, *, name: str, url: str | None) -> Iterator[Result]:
        refusal = _unsafe_xml_reason(data)
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
        feed_title = _plain(str(feed_info.get("title") or ""))
        feed_source = feed_title or _host(str(feed_info.get("link") or "")) or _host(url or "")
        if not entries:
            yield LoadFailure(name, "feed has no entries")
            return
        for number, entry in enumerate(entries, start=1):
            title = _plain(str(entry.get("title") or "")).strip()
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
        text = _entry_text(entry)
        published = _entry_date(entry)
        authors = _entry_authors(entry)
        if len(text) >= MIN_ENTRY_TEXT or (not link and len(text) >= MIN_LINKLESS_TEXT):
            yield Article.create(
                title=title or _title_from_text(text),
                text=text,
                source=feed_source,
                authors=authors,
                published_at=published,
                url=link or None,
                language=_language(entry.get("language")),
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


def _decode(data: bytes, charset: str | None = None) -> str | LoadFailure:
    """Text from bytes: declared charset, UTF-8 (with or without BOM), UTF-16 BOM, cp1252."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return _check_text(data.decode("utf-16"))
        except UnicodeDecodeError:
            return LoadFailure("", "binary file (invalid UTF-16 text)")
    if b"\x00" in data:
        return LoadFailure("", "binary file (contains NUL bytes), not text")
    candidates: list[str] = []
    if charset and charset.strip().lower() not in _LATIN1_LABELS:
        candidates.append(charset.strip())
    candidates += ["utf-8-sig", "cp1252", "latin-1"]
    for encoding in candidates:
        try:
            return _check_text(data.decode(encoding))
        except (UnicodeDecodeError, LookupError):
            continue
    return LoadFailure("", "binary file (not decodable as text)")  # unreachable: latin-1


def _check_text(text: str) -> str | LoadFailure:
    """Reject decoded 'text' that is mostly control characters (i.e. binary data)."""
    sample = text[:20_000]
    if not sample:
        return text
    controls = sum(
        1
        for ch in sample
        if unicodedata.category(ch) in ("Cc", "Co", "Cs") and ch not in "\n\r\t\f"
    )
    if controls / len(sample) > 0.02:
        return LoadFailure("", "binary file (too many control characters), not text")
    return text


def _unsafe_xml_reason(data: bytes) -> str | None:
    """Refuse XML with entity declarations before feedparser sees it (billion laughs, XXE).

    defusedxml's SAX parser stops at the first ``<!ENTITY`` declaration, so a bomb is refused
    in microseconds with no expansion, and no tree is built. External DTDs (old RSS 0.91 feeds
    name one) are allowed but never loaded: external entities/parameter entities are off.
    """
    import defusedxml.sax
    from defusedxml import DefusedXmlException

    parser = defusedxml.sax.make_parser()
    parser.setFeature(xml.sax.handler.feature_external_ges, False)
    parser.setFeature(xml.sax.handler.feature_external_pes, False)
    parser.setContentHandler(xml.sax.handler.ContentHandler())
    parser.forbid_dtd = False
    parser.forbid_entities = True
    parser.forbid_external = False  # the DTD reference is skipped, see the features above
    source = xml.sax.xmlreader.InputSource()
    source.setByteStream(io.BytesIO(data))
    try:
        parser.parse(source)
    except DefusedXmlException as exc:
        return f"refused: the XML declares entities (possible XML bomb); {type(exc).__name__}"
    except xml.sax.SAXException:
        # Not well-formed: feedparser's lenient parser may still read it; it does not expand
        # DTD entities, but refuse outright if a declaration is visible anyway.
        head = data[:65536].lower()
        if b"<!entity" in head or b"<\x00!\x00e\x00n\x00t\x00i\x00t\x00y" in head:
            return "refused: the XML declares entities (possible XML bomb)"
    except (ValueError, RecursionError) as exc:
        return f"not an RSS/Atom feed ({type(exc).__name__}: {exc})"
    return None


def _looks_like_feed(data: bytes) -> bool:
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n")
    match = _FEED_SNIFF_RE.search(head)
    return match is not None and b"<html" not in head[: match.start()].lower()


# --------------------------------------------------------------------------- text files


def _article_from_text(text: str, *, name: str, markdown: bool, url: str | None) -> Result:
    text = clean_text(text)
    meta: dict[str, str] = {}
    lines = text.split("\n")
    if markdown:
        lines = _strip_front_matter(lines, meta)
    body_start = 0
    for index, line in enumerate(lines[:12]):
        match = _HEADER_RE.match(line)
        if match is None:
            break
        key, value = match.group(1).lower(), match.group(2)
        key = {"published": "date", "link": "url", "author": "authors", "byline": "authors"}.get(
            key, key
        )
        if key == "date" and parse_date(value) is None:
            break  # "Date: 2025-02-27 Moscow ..." is body text with a glued date, handled below
        meta.setdefault(key, value)
        body_start = index + 1
    lines = lines[body_start:]
    while lines and not lines[0].strip():
        lines = lines[1:]
    if lines:
        bare = _BARE_DATE_RE.match(lines[0])
        if bare is not None and parse_date(bare.group(1)) is not None:
            meta.setdefault("date", bare.group(1))
            lines[0] = lines[0][bare.end() :]
    body = clean_text("\n".join(lines))
    if not body:
        return LoadFailure(name, "no article text found (the file has only a metadata header)")
    title = meta.get("title", "").strip()
    if not title:
        first = body.split("\n", 1)[0].strip()
        if markdown:
            first = first.lstrip("#").strip().strip("*_").strip()
        title = _title_from_line(first)
    page_url = meta.get("url") or url
    page_url = page_url if page_url and re.match(r"^https?://", page_url, re.I) else None
    source = meta.get("source", "").strip() or _dateline_source(body) or _host(page_url or "")
    return Article.create(
        title=title,
        text=body,
        source=source,
        authors=_split_authors(meta.get("authors", "")),
        published_at=parse_date(meta["date"]) if "date" in meta else None,
        url=page_url,
    )


def _strip_front_matter(lines: list[str], meta: dict[str, str]) -> list[str]:
    """Simple YAML-ish front matter (``---`` / ``key: value`` / ``---``) at the top of Markdown."""
    if not lines or lines[0].strip() != "---":
        return lines
    for end in range(1, min(len(lines), 40)):
        if lines[end].strip() in ("---", "..."):
            for line in lines[1:end]:
                key, sep, value = line.partition(":")
                key = key.strip().lower()
                value = value.strip().strip("\"'")
                if sep and value:
                    key = {"published": "date", "link": "url", "author": "authors"}.get(key, key)
                    meta.setdefault(key, value)
            return lines[end + 1 :]
    return lines


def _title_from_line(line: str) -> str:
    """A title from a first line: itself if short, else its first sentence, cut at a word."""
    line = line.strip()
    if len(line) <= MAX_TITLE_CHARS:
        return line
    line = _DATELINE_PREFIX_RE.sub("", line, count=1) or line
    match = _SENTENCE_END_RE.search(line, 20)
    sentence = line[: match.start() + 1] if match else line
    if len(sentence) <= MAX_TITLE_CHARS:
        return sentence.strip()
    cut = sentence[: MAX_TITLE_CHARS - 1]
    if " " in cut[MAX_TITLE_CHARS // 2 :]:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:-–—") + "…"


def _title_from_text(text: str) -> str:
    first = text.strip().split("\n", 1)[0] if text.strip() else ""
    return _title_from_line(first) or "Untitled"


def _dateline_source(text: str) -> str:
    match = _DATELINE_SOURCE_RE.search(text[:300])
    return match.group(1).strip() if match else ""


def _split_authors(value: Any) -> tuple[str, ...]:
    """Authors from "A, B and C", "By A; B", a list of names or of {"name": ...} objects."""
    raw: list[str] = []
    if isinstance(value, str):
        raw = re.split(r"\s*(?:,|;|\||&|\band\b)\s*", value.strip())
    elif isinstance(value, Mapping):
        raw = [str(value.get("name") or "")]
    elif isinstance(value, list | tuple):
        for one in value:
            raw.extend(_split_authors(one))
    names: list[str] = []
    for name in raw:
        name = re.sub(r"^\s*by\s+", "", str(name), flags=re.IGNORECASE).strip()
        if name and len(name) <= 100 and name not in names:
            names.append(name)
    return tuple(names)


def _parse_date_string(value: str) -> datetime | None:
    if not value or len(value) > 80:
        return None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        except ValueError:
            return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(value)  # RFC 2822, as in RSS pubDate
    except (TypeError, ValueError, IndexError):
        pass
    try:
        from dateutil import parser as date_parser
    except ImportError:  # optional dependency
        return None
    try:
        return date_parser.parse(value)
    except (ValueError, OverflowError, TypeError, date_parser.ParserError):
        return None


def _host(url: str) -> str:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


def _language(value: Any) -> str | None:
    if isinstance(value, str) and 2 <= len(value.strip()) <= 20:
        return value.strip()
    return None


# --------------------------------------------------------------------------- HTML


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment (feed content, JSON fields), paragraphs kept."""
    if not fragment.strip():
        return ""
    from lxml import etree
    from lxml import html as lxml_html

    try:
        root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return clean_text(fragment)
    for bad in root.xpath(".//script|.//style|.//noscript"):
        bad.drop_tree()
    for block in root.xpath(
        ".//p|.//div|.//br|.//li|.//h1|.//h2|.//h3|.//h4|.//h5|.//h6|.//blockquote|.//tr"
    ):
        block.tail = "\n\n" + (block.tail or "")
    text = root.text_content()
    return clean_text(re.sub(r"[ \t]+", " ", text))


def _article_from_html(html: str, *, name: str, url: str | None) -> Result:
    import trafilatura

    extracted: Any = trafilatura.bare_extraction(
        html,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        deduplicate=False,
    )
    if extracted is not None and not isinstance(extracted, dict):
        extracted = extracted.as_dict()  # trafilatura >= 2 returns a Document
    meta: dict[str, Any] = extracted or {}
    text = clean_text(str(meta.get("text") or ""))
    if len(text) < MIN_HTML_TEXT:
        detail = f" (only {len(text)} characters of text)" if text else ""
        return LoadFailure(name, f"no article text found in the HTML page{detail}")
    canonical = str(meta.get("url") or "")
    page_url = canonical if re.match(r"^https?://", canonical, re.I) else url
    title = _plain(str(meta.get("title") or "")) or _title_from_text(text)
    source = str(meta.get("sitename") or "").strip() or _host(page_url or "")
    return Article.create(
        title=title,
        text=text,
        source=source,
        authors=_split_authors(str(meta.get("author") or "")),
        published_at=parse_date(meta.get("date")),
        url=page_url or None,
        language=_language(meta.get("language")),
    )


def _plain(value: str) -> str:
    """A one-line string with any markup removed (feed titles may contain HTML)."""
    if "<" in value and ">" in value:
        value = html_to_text(value)
    return " ".join(clean_text(value).split())


# --------------------------------------------------------------------------- JSON


def _articles_from_json(text: str, name: str) -> Iterator[Result]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        yield LoadFailure(name, f"invalid JSON: {exc}")
        return
    if isinstance(data, Mapping):
        for key in _LIST_KEYS:
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if isinstance(data, Mapping):
        yield _article_from_mapping(data, name)
        return
    if not isinstance(data, list):
        yield LoadFailure(name, f"expected a JSON object or list of objects, got {_kind(data)}")
        return
    if not data:
        yield LoadFailure(name, "JSON list is empty")
    for index, value in enumerate(data):
        item = f"{name}[{index}]"
        if isinstance(value, Mapping):
            yield _article_from_mapping(value, item)
        else:
            yield LoadFailure(item, f"expected a JSON object, got {_kind(value)}")


def _articles_from_jsonl(text: str, name: str) -> Iterator[Result]:
    data = text.encode("utf-8")
    records = jsonl_records(io.BytesIO(data), name, len(data) + 1)
    yield from _articles_from_records(records)


def _articles_from_records(records: Iterable[Record]) -> Iterator[Result]:
    for record in records:
        if isinstance(record, RecordProblem):
            yield LoadFailure(record.name, record.reason)
            continue
        item, value, where = record
        if isinstance(value, Mapping):
            yield _article_from_mapping(value, item)
        else:
            yield LoadFailure(item, f"expected a JSON object {where}, got {_kind(value)}")


def _decode_record(line: bytes) -> str | RecordProblem:
    text = _decode(line)
    return RecordProblem("", text.reason) if isinstance(text, LoadFailure) else text


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number" if isinstance(value, int | float) else "a value")


def _first(mapping: Mapping[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        value = mapping.get(key)
        if value not in (None, "", [], {}):
            return value
    return None


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        value = "\n\n".join(_as_text(v) for v in value)
    elif isinstance(value, Mapping):
        value = _first(value, ("value", "text", "content", "body")) or ""
    text = str(value) if value is not None else ""
    if _LOOKS_HTML_RE.search(text):
        return html_to_text(text)
    return clean_text(text)


def _article_from_mapping(data: Mapping[str, Any], name: str) -> Result:
    """An article from a dict with common field names (newsapi, news-please, our own)."""
    text = _as_text(_first(data, _TEXT_KEYS))
    if not text:
        expected = ", ".join(_TEXT_KEYS)
        return LoadFailure(name, f"no article text (expected one of the fields: {expected})")
    title = _plain(_as_text(_first(data, _TITLE_KEYS))) or _title_from_text(text)
    url_value = _first(data, _URL_KEYS)
    url = url_value.strip() if isinstance(url_value, str) else None
    url = url if url and re.match(r"^https?://", url, re.IGNORECASE) else None
    source_value = _first(data, _SOURCE_KEYS)
    if isinstance(source_value, Mapping):  # newsapi: {"id": ..., "name": "BBC News"}
        source_value = source_value.get("name") or source_value.get("title") or ""
    source = str(source_value or "").strip() if not isinstance(source_value, list) else ""
    language = _language(_first(data, ("language", "lang")))
    return Article.create(
        title=title,
        text=text,
        source=source or _host(url or ""),
        authors=_split_authors(_first(data, _AUTHOR_KEYS)),
        published_at=parse_date(_first(data, _DATE_KEYS)),
        url=url,
        language=language,
    )


# --------------------------------------------------------------------------- feed entries


def _entry_text(entry: Mapping[str, Any]) -> str:
    """The longest of an entry's content blocks and its summary, as plain text."""
    candidates: list[str] = []
    for block in entry.get("content") or []:
        if isinstance(block, Mapping) and block.get("value"):
            candidates.append(str(block["value"]))
    for key in ("summary", "description"):
        if entry.get(key):
            candidates.append(str(entry[key]))
    texts = [html_to_text(c) if "<" in c else clean_text(c) for c in candidates]
    return max(texts, key=len, default="")


def _entry_date(entry: Mapping[str, Any]) -> datetime | None:
    for key in ("published", "updated", "created"):
        parsed = parse_date(entry.get(key))
        if parsed is not None:
            return parsed
    for key in ("published_parsed", "updated_parsed"):
        value = entry.get(key)
        if value:
            try:
                year, month, day, hour, minute, second = value[:6]  # struct_time, in UTC
                return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
            except (TypeError, ValueError):
                continue
    return None


def _entry_authors(entry: Mapping[str, Any]) -> tuple[str, ...]:
    authors = entry.get("authors")
    if isinstance(authors, list) and authors:
        found = _split_authors([a for a in authors if isinstance(a, Mapping)])
        if found:
            return found
    return _split_authors(str(entry.get("author") or ""))


# --------------------------------------------------------------------------- feed subscriptions


@dataclass(frozen=True)
class FeedEntry:
    """What a feed says about one entry, for subscriptions that poll the feed.

    ``key`` identifies the entry across polls (its id/guid, else its link, else its title);
    ``fingerprint`` changes whenever the feed changes what it says about the entry."""

    key: str
    title: str
    link: str  # an http(s) link, or ""
    text: str  # the entry's own text: often only a teaser
    published_at: datetime | None
    authors: tuple[str, ...]
    language: str | None
    fingerprint: str


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    source: str  # the outlet name given to its articles
    entries: tuple[FeedEntry, ...]


def read_feed(data: bytes, *, url: str) -> ParsedFeed | LoadFailure:
    """The entries of an RSS/Atom document, without fetching anything; a failure says why the
    document is not a usable feed (not XML, an HTML page, an XML bomb, no entries)."""
    if not data.strip():
        return LoadFailure(url, "response body is empty")
    if not _looks_like_feed(data):
        head = data[:2048].lower()
        if b"<html" in head or b"<!doctype html" in head:
            return LoadFailure(url, "this is an HTML page, not an RSS/Atom feed")
    refusal = _unsafe_xml_reason(data)
    if refusal is not None:
        return LoadFailure(url, refusal)
    import feedparser  # heavy import, only when a feed is actually read

    parsed = feedparser.parse(io.BytesIO(data), response_headers={"content-location": url})
    raw_entries = list(parsed.get("entries") or [])
    if not parsed.get("version") and not raw_entries:
        detail = ""
        if parsed.get("bozo") and parsed.get("bozo_exception") is not None:
            detail = f" ({parsed['bozo_exception']})"
        return LoadFailure(url, f"not an RSS/Atom feed{detail}")
    info = parsed.get("feed") or {}
    title = _plain(str(info.get("title") or ""))
    source = title or _host(str(info.get("link") or "")) or _host(url)
    entries: list[FeedEntry] = []
    for entry in raw_entries:
        entry_title = _plain(str(entry.get("title") or "")).strip()
        link = str(entry.get("link") or "").strip()
        link = link if re.match(r"^https?://", link, re.IGNORECASE) else ""
        text = _entry_text(entry)
        key = str(entry.get("id") or "").strip() or link or entry_title or text[:200]
        if not key:
            continue  # nothing at all to identify or load: not an entry
        # dict.get: feedparser's own get maps a missing "updated" to "published", with a warning.
        stamp = str(dict.get(entry, "updated") or dict.get(entry, "published") or "")
        entries.append(
            FeedEntry(
                key=key,
                title=entry_title,
                link=link,
                text=text,
                published_at=_entry_date(entry),
                authors=_entry_authors(entry),
                language=_language(entry.get("language")),
                fingerprint=content_hash(entry_title, link, stamp, text),
            )
        )
    return ParsedFeed(title=title, source=source, entries=tuple(entries))


def article_from_page(page: FetchedPage, *, name: str) -> Article | LoadFailure:
    """The article on a fetched page (HTML, text or JSON); a feed is refused, not followed."""
    ctx = _Context(fetcher=None, max_file_bytes=max(len(page.content), 1))
    for result in _guarded(name, lambda: ctx.parse_page(page, name=name, feed_allowed=False)):
        return result
    return LoadFailure(name, "no article found on the page")
