"""Text, Markdown, HTML and JSON records into ``Article``s: decoding, cleaning, metadata.

Pure functions of the bytes or text they are given; no I/O.
"""

from __future__ import annotations

import io
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from chatbot.sources.json_records import Record, RecordProblem, jsonl_records
from chatbot.vocabulary import Article, LoadFailure

Result = Article | LoadFailure

MAX_TITLE_CHARS = 120


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


_BARE_DATE_RE = re.compile(rf"^\s*date\s*[:=]?\s*({_ISO_DATE})(?:\s+|$)", re.IGNORECASE)


_DATELINE_SOURCE_RE = re.compile(r"\(([A-Z][A-Za-z.&' ]{0,23}[A-Za-z.])\)\s*(?::|-|—|–)")


_DATELINE_PREFIX_RE = re.compile(
    r"^[^()\n]{0,80}?\(([A-Z][A-Za-z.&' ]{0,23}[A-Za-z.])\)\s*(?::|-|—|–)\s*"
)


_SENTENCE_END_RE = re.compile(r"[.!?][\"'”’)]?(?=\s+[\"'“‘(]?[A-Z0-9])")


_LOOKS_HTML_RE = re.compile(
    r"<\s*/?\s*(p|br|div|a|span|strong|em|b|i|ul|ol|li|h[1-6]|img|figure|blockquote|table)\b",
    re.IGNORECASE,
)


_BLANK_RUNS_RE = re.compile(r"\n{3,}")


_TRAILING_WS_RE = re.compile(r"[ \t\u00a0]+\n")


_CONTROL_RE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ufeff\u200b]")


_LINE_BREAK_RE = re.compile("[\x0b\x0c\x85\u2028\u2029]")


HTML_CHARSET_RE = re.compile(rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.I)


_LATIN1_LABELS = frozenset({"iso-8859-1", "iso8859-1", "latin-1", "latin1", "us-ascii", "ascii"})


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


def decode(data: bytes, charset: str | None = None) -> str | LoadFailure:
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


def article_from_text(text: str, *, name: str, markdown: bool, url: str | None) -> Result:
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
    source = meta.get("source", "").strip() or _dateline_source(body) or url_host(page_url or "")
    return Article.create(
        title=title,
        text=body,
        source=source,
        authors=split_authors(meta.get("authors", "")),
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


def title_from_text(text: str) -> str:
    first = text.strip().split("\n", 1)[0] if text.strip() else ""
    return _title_from_line(first) or "Untitled"


def _dateline_source(text: str) -> str:
    match = _DATELINE_SOURCE_RE.search(text[:300])
    return match.group(1).strip() if match else ""


def split_authors(value: Any) -> tuple[str, ...]:
    """Authors from "A, B and C", "By A; B", a list of names or of {"name": ...} objects."""
    raw: list[str] = []
    if isinstance(value, str):
        raw = re.split(r"\s*(?:,|;|\||&|\band\b)\s*", value.strip())
    elif isinstance(value, Mapping):
        raw = [str(value.get("name") or "")]
    elif isinstance(value, list | tuple):
        for one in value:
            raw.extend(split_authors(one))
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


def url_host(url: str) -> str:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


def language_code(value: Any) -> str | None:
    if isinstance(value, str) and 2 <= len(value.strip()) <= 20:
        return value.strip()
    return None


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
    # Line breaks in the markup are spaces, as a browser shows them (a paragraph wrapped in the
    # source is one paragraph); only blocks and <br> break lines.
    for node in root.iter():
        node.text = node.text and re.sub(r"\s+", " ", node.text)
        node.tail = node.tail and re.sub(r"\s+", " ", node.tail)
    for block in root.xpath(
        ".//p|.//div|.//br|.//li|.//h1|.//h2|.//h3|.//h4|.//h5|.//h6|.//blockquote|.//tr"
    ):
        block.tail = "\n\n" + (block.tail or "")
    text = root.text_content()
    return clean_text(re.sub(r"[ \t]+", " ", text))


def article_from_html(html: str, *, name: str, url: str | None) -> Result:
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
    title = plain(str(meta.get("title") or "")) or title_from_text(text)
    source = str(meta.get("sitename") or "").strip() or url_host(page_url or "")
    return Article.create(
        title=title,
        text=text,
        source=source,
        authors=split_authors(str(meta.get("author") or "")),
        published_at=parse_date(meta.get("date")),
        url=page_url or None,
        language=language_code(meta.get("language")),
    )


def plain(value: str) -> str:
    """A one-line string with any markup removed (feed titles may contain HTML)."""
    if "<" in value and ">" in value:
        value = html_to_text(value)
    return " ".join(clean_text(value).split())


def articles_from_json(text: str, name: str) -> Iterator[Result]:
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
        yield article_from_mapping(data, name)
        return
    if not isinstance(data, list):
        yield LoadFailure(name, f"expected a JSON object or list of objects, got {_kind(data)}")
        return
    if not data:
        yield LoadFailure(name, "JSON list is empty")
    for index, value in enumerate(data):
        item = f"{name}[{index}]"
        if isinstance(value, Mapping):
            yield article_from_mapping(value, item)
        else:
            yield LoadFailure(item, f"expected a JSON object, got {_kind(value)}")


def articles_from_jsonl(text: str, name: str) -> Iterator[Result]:
    data = text.encode("utf-8")
    records = jsonl_records(io.BytesIO(data), name, len(data) + 1)
    yield from articles_from_records(records)


def articles_from_records(records: Iterable[Record]) -> Iterator[Result]:
    for record in records:
        if isinstance(record, RecordProblem):
            yield LoadFailure(record.name, record.reason)
            continue
        item, value, where = record
        if isinstance(value, Mapping):
            yield article_from_mapping(value, item)
        else:
            yield LoadFailure(item, f"expected a JSON object {where}, got {_kind(value)}")


def decode_record(line: bytes) -> str | RecordProblem:
    text = decode(line)
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


def article_from_mapping(data: Mapping[str, Any], name: str) -> Result:
    """An article from a dict with common field names (newsapi, news-please, our own)."""
    text = _as_text(_first(data, _TEXT_KEYS))
    if not text:
        expected = ", ".join(_TEXT_KEYS)
        return LoadFailure(name, f"no article text (expected one of the fields: {expected})")
    title = plain(_as_text(_first(data, _TITLE_KEYS))) or title_from_text(text)
    url_value = _first(data, _URL_KEYS)
    url = url_value.strip() if isinstance(url_value, str) else None
    url = url if url and re.match(r"^https?://", url, re.IGNORECASE) else None
    source_value = _first(data, _SOURCE_KEYS)
    if isinstance(source_value, Mapping):  # newsapi: {"id": ..., "name": "BBC News"}
        source_value = source_value.get("name") or source_value.get("title") or ""
    source = str(source_value or "").strip() if not isinstance(source_value, list) else ""
    language = language_code(_first(data, ("language", "lang")))
    return Article.create(
        title=title,
        text=text,
        source=source or url_host(url or ""),
        authors=split_authors(_first(data, _AUTHOR_KEYS)),
        published_at=parse_date(_first(data, _DATE_KEYS)),
        url=url,
        language=language,
    )
