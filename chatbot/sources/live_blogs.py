"""Live blogs into dated entries: one page of timestamped updates becomes one article per entry,
each with its own time, headline and link, so that dates, briefings, timelines and watches see
each entry at its own time (a June 16 entry is not news on June 22) and citations name it.

Recognised from the page's structure where it has one (schema.org ``LiveBlogPosting`` with
``liveBlogUpdate`` in JSON-LD, as many outlets publish), else from the text: lines that are only
an entry's time ("10:49 pm ET June 16, 2026", maybe with "Share this update"), each followed by
the entry. Pure functions of the page; no I/O.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

from chatbot.common.furniture import entry_time, is_furniture
from chatbot.common.ids import canonical_url
from chatbot.sources.formats import clean_text, html_to_text, parse_date, split_authors
from chatbot.vocabulary import Article

# Fewer timestamped entries than this is a story with a time in it, not a live blog.
MIN_ENTRIES = 2
# An entry needs this much text of its own (a timestamp over a photo is not an entry).
MIN_ENTRY_CHARS = 40
# A page's lead above its first entry is kept (as the page's own article) when it is this long.
MIN_INTRO_CHARS = 80
MAX_HEADLINE_CHARS = 160
# Entries found by their times alone are a live blog's only when they were written within this
# long of the page's date (the day it was published or last updated), and within LIVE_SPAN of
# each other.
LIVE_WINDOW = timedelta(days=14)
LIVE_SPAN = timedelta(days=31)
# JSON-LD blocks larger than this are not parsed (a hostile page cannot make us parse megabytes).
_MAX_JSON_LD_CHARS = 5_000_000

_JSON_LD_RE = re.compile(
    r"<script\b[^>]*\btype\s*=\s*[\"']?application/ld\+json[\"']?[^>]*>(.*?)</script\s*>",
    re.IGNORECASE | re.DOTALL,
)
_ZONES: dict[str, str | float] = {
    # North American zones named without the season: the date decides standard or daylight.
    "ET": "America/New_York",
    "CT": "America/Chicago",
    "MT": "America/Denver",
    "PT": "America/Los_Angeles",
    "EST": -5,
    "EDT": -4,
    "CST": -6,
    "CDT": -5,
    "MST": -7,
    "MDT": -6,
    "PST": -8,
    "PDT": -7,
    "AKDT": -8,
    "HST": -10,
    "GMT": 0,
    "UTC": 0,
    "BST": 1,
    "CET": 1,
    "CEST": 2,
    "EET": 2,
    "EEST": 3,
    "IST": 5.5,
    "HKT": 8,
    "SGT": 8,
    "JST": 9,
    "KST": 9,
    "AEST": 10,
    "AEDT": 11,
}
_ZONE_RE = re.compile(r"\(?\b(" + "|".join(sorted(_ZONES, key=len, reverse=True)) + r")\b\)?")
_NOISE_RE = re.compile(
    r"\b(?:Mon|Tues?|Wed|Thu(?:rs?)?|Fri|Sat|Sun)(?:day)?\b\.?|\bat\b|\bon\b|[|·•/()]",
    re.IGNORECASE,
)
_MERIDIEM_RE = re.compile(r"\b([ap])\.\s?m\b\.?", re.IGNORECASE)
_CLOCK_HINT = re.compile(r"\d:\d\d|\d\s?[ap]\.?\s?m\b", re.IGNORECASE)
_SENTENCE_END_RE = re.compile(r"[.!?…][\"'”’)]*$")


@dataclass(frozen=True)
class LiveEntry:
    """One update of a live blog."""

    published_at: datetime
    headline: str
    text: str
    key: str  # what identifies it on its page, across fetches (its anchor, or time and headline)
    url: str | None = None
    authors: tuple[str, ...] = ()


def live_blog_articles(page: Article, html: str | None = None) -> list[Article] | None:
    """The page's entries as articles (the lead above them, when long enough, stays the page's
    own article, under its id), or None when the page is not a live blog."""
    found = _json_ld_blog(html, page) if html else None
    if found is None:
        found = _text_blog(page)
    if found is None:
        return None
    intro, entries = found
    articles: list[Article] = []
    if len(intro) >= MIN_INTRO_CHARS:
        lead_id = page.id if page.url else entry_id(page, "lead")
        articles.append(replace(page, id=lead_id, text=intro, pages=()))
    seen: set[str] = set()
    for entry in entries:
        if entry.key in seen:
            continue
        seen.add(entry.key)
        articles.append(
            Article.create(
                id=entry_id(page, entry.key),
                title=entry.headline,
                text=entry.text,
                source=page.source,
                authors=entry.authors or page.authors,
                published_at=entry.published_at,
                url=entry.url or page.url,
                language=page.language,
            )
        )
    return articles


def entry_id(page: Article, key: str) -> str:
    """An entry's article id: from its page and its key, so that loading the page again (more
    entries, or edited ones) finds the same entries."""
    # Without a URL (a file), the page's title and outlet name it: its content id changes with
    # every update of the page.
    basis = canonical_url(page.url) if page.url else f"{page.source}\x1f{page.title}"
    return hashlib.sha256(f"{basis}\x1f{key}".encode()).hexdigest()[:16]


# --- in the text ----------------------------------------------------------------------------------


def _text_blog(page: Article) -> tuple[str, list[LiveEntry]] | None:
    if len(_CLOCK_HINT.findall(page.text, 0, 2_000_000)) < MIN_ENTRIES:
        return None  # most articles: one cheap scan
    lines = page.text.split("\n")
    stamps: list[tuple[int, datetime]] = []
    previous = page.published_at
    for index, line in enumerate(lines):
        if len(line) > 120:
            continue
        found = entry_time(line)
        if found is None:
            continue
        moment = parse_stamp(found[0], default=previous)
        if moment is not None:
            stamps.append((index, moment))
            previous = moment
    if len(stamps) < MIN_ENTRIES:
        return None
    entries: list[LiveEntry] = []
    for k, (index, moment) in enumerate(stamps):
        stop = stamps[k + 1][0] if k + 1 < len(stamps) else len(lines)
        entry = _entry_from_lines(lines[index + 1 : stop], moment, page.title)
        if entry is not None:
            entries.append(entry)
    if len(entries) < MIN_ENTRIES or not _reported_live(entries, page.published_at):
        return None
    intro = "\n".join(lines[: stamps[0][0]]).strip()
    return intro, entries


def _reported_live(entries: list[LiveEntry], page_date: datetime | None) -> bool:
    """Whether the times are a live blog's: reported near the page's date. A history told
    sighting by sighting ("5:45 p.m. April 28, 1949" in a 2015 story) or a festival's programme
    weeks ahead has the same shape, but not the same times."""
    times = [e.published_at for e in entries]
    if max(times) - min(times) > LIVE_SPAN:
        return False
    if page_date is None:
        return True
    return all(abs(t - page_date) <= LIVE_WINDOW for t in times)


def _entry_from_lines(lines: list[str], moment: datetime, page_title: str) -> LiveEntry | None:
    """An entry's headline, byline and text from the lines under its time."""
    body = [line.strip() for line in lines]
    authors: tuple[str, ...] = ()
    headline = ""
    # Above the text: prompts ("Share this update"), the headline, the byline, in some order.
    while body and (not body[0] or is_furniture(body[0])):
        body.pop(0)
    if (
        len(body) > 1
        and len(body[0]) <= MAX_HEADLINE_CHARS
        and not _SENTENCE_END_RE.search(body[0])
    ):
        headline = body.pop(0)
    # Under the headline: its byline ("Victoria Hernandez and Seth Vertelney"), and prompts.
    while body and (not body[0] or is_furniture(body[0]) or _looks_like_names(body[0])):
        line = body.pop(0)
        if line and not authors and _looks_like_names(line):
            authors = _names(line)
    text = "\n".join(body).strip()
    text = re.sub(r"\n{3,}", "\n\n", text)
    if len(text) < MIN_ENTRY_CHARS:
        return None
    if not headline:
        first = text.split("\n", 1)[0]
        headline = _cut(first)
    key = f"{moment.astimezone(UTC).isoformat()}\x1f{headline}"
    return LiveEntry(moment, headline or page_title, text, key, None, authors)


def _looks_like_names(line: str) -> bool:
    """ "Victoria Hernandez and Seth Vertelney", "By Jane Doe": a byline, not a sentence."""
    if len(line) > 100 or _SENTENCE_END_RE.search(line.rstrip(".")) or ":" in line:
        return False
    words = re.findall(r"[\w'’.-]+", line.removeprefix("By "))
    return 2 <= len(words) <= 12 and all(w[0].isupper() or w in ("and", "de", "van") for w in words)


def _names(line: str) -> tuple[str, ...]:
    parts = re.split(r"\s*(?:,|\band\b|&)\s*", line.removeprefix("By ").strip(" .-–—"))
    return tuple(p for p in parts if p)


def _cut(text: str) -> str:
    """A headline from an entry's first line: its first sentence, or the line cut at a word."""
    match = re.search(r"[.!?](?=\s|$)", text[20:MAX_HEADLINE_CHARS])
    if match:
        return text[: 20 + match.start() + 1]
    if len(text) <= MAX_HEADLINE_CHARS:
        return text
    cut = text[: MAX_HEADLINE_CHARS - 1]
    return (cut[: cut.rfind(" ")] if " " in cut else cut).rstrip(" ,;:") + "…"


def parse_stamp(stamp: str, default: datetime | None) -> datetime | None:
    """ "10:49 pm ET June 16, 2026" -> that moment (aware). A missing date or year is taken from
    ``default`` (the entry before, or the page's date); a missing zone, from it too (else UTC)."""
    from dateutil import parser as date_parser

    zone_match = _ZONE_RE.search(stamp)
    cleaned = _ZONE_RE.sub(" ", stamp)
    cleaned = _MERIDIEM_RE.sub(lambda m: f" {m.group(1).lower()}m ", cleaned)
    cleaned = " ".join(_NOISE_RE.sub(" ", cleaned).replace(",", " ").split())
    base = (default or datetime(2000, 1, 1, tzinfo=UTC)).replace(second=0, microsecond=0)
    zone: tzinfo = _zone(zone_match.group(1), base) if zone_match else (base.tzinfo or UTC)
    local_base = base.astimezone(zone)
    try:
        parsed = date_parser.parse(cleaned, default=local_base.replace(tzinfo=None), fuzzy=True)
    except (ValueError, OverflowError, date_parser.ParserError):
        return None
    return parsed.replace(tzinfo=zone)


def _zone(name: str, when: datetime) -> tzinfo:
    value = _ZONES[name]
    if isinstance(value, str):
        try:
            from zoneinfo import ZoneInfo

            return ZoneInfo(value)
        except (ImportError, KeyError, OSError, ValueError):  # no tz database: standard time
            value = {"ET": -5, "CT": -6, "MT": -7, "PT": -8}[name]
    return timezone(timedelta(hours=float(value)))


# --- in JSON-LD -----------------------------------------------------------------------------------


def _json_ld_blog(html: str, page: Article) -> tuple[str, list[LiveEntry]] | None:
    for blog in _live_blog_postings(html):
        updates = blog.get("liveBlogUpdate")
        if isinstance(updates, Mapping):
            updates = [updates]
        if not isinstance(updates, list):
            continue
        elements = _PageElements(html)
        found = (_entry_from_json(u, elements, page) for u in updates if isinstance(u, Mapping))
        entries = [e for e in found if e is not None]
        if len(entries) >= MIN_ENTRIES:
            intro = _plain(blog.get("articleBody") or blog.get("description") or "")
            return intro, entries
    return None


def _live_blog_postings(html: str) -> Iterator[Mapping[str, Any]]:
    for match in _JSON_LD_RE.finditer(html):
        raw = match.group(1).strip()
        if not raw or len(raw) > _MAX_JSON_LD_CHARS:
            continue
        try:
            data = json.loads(raw.removeprefix("<!--").removesuffix("-->"))
        except (json.JSONDecodeError, RecursionError):
            continue  # a broken block is common and not ours to report: the page still loads
        yield from _walk(data, depth=0)


def _walk(data: Any, depth: int) -> Iterator[Mapping[str, Any]]:
    if depth > 6:
        return
    if isinstance(data, list):
        for item in data:
            yield from _walk(item, depth + 1)
    elif isinstance(data, Mapping):
        kinds = data.get("@type")
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if "LiveBlogPosting" in kinds:
            yield data
        elif "@graph" in data:
            yield from _walk(data["@graph"], depth + 1)
        elif isinstance(data.get("mainEntity"), Mapping | list):
            yield from _walk(data["mainEntity"], depth + 1)


def _entry_from_json(
    update: Mapping[str, Any], elements: _PageElements, page: Article
) -> LiveEntry | None:
    moment = parse_date(update.get("datePublished") or update.get("dateCreated"))
    if moment is None:
        moment = parse_date(update.get("dateModified"))
    if moment is None:
        return None
    link = update.get("url") or update.get("@id")
    link = link if isinstance(link, str) else None
    anchor = link.split("#", 1)[1] if link and "#" in link else None
    text = _plain(update.get("articleBody") or update.get("text") or "")
    if len(text) < MIN_ENTRY_CHARS and anchor:
        text = elements.text(anchor)  # outlets that leave the body to the page
    if len(text) < MIN_ENTRY_CHARS:
        return None
    headline = _plain(update.get("headline") or update.get("name") or "")
    headline = " ".join(headline.split())[:MAX_HEADLINE_CHARS] or _cut(text.split("\n", 1)[0])
    url = link if link and re.match(r"^https?://", link, re.IGNORECASE) else None
    if url is None and anchor and page.url:
        url = f"{page.url.split('#', 1)[0]}#{anchor}"
    key = anchor or (link or "") or f"{moment.astimezone(UTC).isoformat()}\x1f{headline}"
    return LiveEntry(moment, headline, text, key, url, split_authors(update.get("author") or ""))


def _plain(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    return html_to_text(value) if "<" in value and ">" in value else clean_text(value)


class _PageElements:
    """The page's elements by id, for entries whose body only the page holds; the page is
    parsed once, at the first such entry."""

    def __init__(self, html: str) -> None:
        self._html = html
        self._root: Any = None

    def text(self, anchor: str) -> str:
        from lxml import etree
        from lxml import html as lxml_html

        if self._root is None:
            try:
                self._root = lxml_html.fromstring(self._html)
            except (etree.ParserError, ValueError):
                self._root = False
        if self._root is False:
            return ""
        found = self._root.xpath("//*[@id=$anchor]", anchor=anchor)
        return html_to_text(etree.tostring(found[0], encoding="unicode")) if found else ""
