"""RSS/Atom: refusing unsafe XML, reading a feed, and an entry's text, date and authors."""

from __future__ import annotations

import io
import re
import xml.sax
import xml.sax.handler
import xml.sax.xmlreader
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chatbot.common.ids import content_hash
from chatbot.sources.formats import (
    clean_text,
    html_to_text,
    language_code,
    parse_date,
    plain,
    split_authors,
    url_host,
)
from chatbot.vocabulary import LoadFailure

MIN_ENTRY_TEXT = 400


MIN_LINKLESS_TEXT = 80


_FEED_SNIFF_RE = re.compile(rb"<(?:[a-z0-9]+:)?(rss|feed|rdf)\b", re.IGNORECASE)


def unsafe_xml_reason(data: bytes) -> str | None:
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


def looks_like_feed(data: bytes) -> bool:
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n")
    match = _FEED_SNIFF_RE.search(head)
    return match is not None and b"<html" not in head[: match.start()].lower()


def entry_text(entry: Mapping[str, Any]) -> str:
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


def entry_date(entry: Mapping[str, Any]) -> datetime | None:
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


def entry_authors(entry: Mapping[str, Any]) -> tuple[str, ...]:
    authors = entry.get("authors")
    if isinstance(authors, list) and authors:
        found = split_authors([a for a in authors if isinstance(a, Mapping)])
        if found:
            return found
    return split_authors(str(entry.get("author") or ""))


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
    if not looks_like_feed(data):
        head = data[:2048].lower()
        if b"<html" in head or b"<!doctype html" in head:
            return LoadFailure(url, "this is an HTML page, not an RSS/Atom feed")
    refusal = unsafe_xml_reason(data)
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
    title = plain(str(info.get("title") or ""))
    source = title or url_host(str(info.get("link") or "")) or url_host(url)
    entries: list[FeedEntry] = []
    for entry in raw_entries:
        entry_title = plain(str(entry.get("title") or "")).strip()
        link = str(entry.get("link") or "").strip()
        link = link if re.match(r"^https?://", link, re.IGNORECASE) else ""
        text = entry_text(entry)
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
                published_at=entry_date(entry),
                authors=entry_authors(entry),
                language=language_code(entry.get("language")),
                fingerprint=content_hash(entry_title, link, stamp, text),
            )
        )
    return ParsedFeed(title=title, source=source, entries=tuple(entries))
