"""What every rendering shares: which links are safe, how dates and sources are labelled."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from chatbot.common.dates import date_label as date_label  # re-exported for the renderers
from chatbot.common.dates import moment_label
from chatbot.vocabulary import Citation, StoredArticle

# The quiet mark on a sentence that is a source's own words where the language model's were not
# supported (or beside them, for a fact it left out), and what it means, on hover.
QUOTED_MARK = "quoted from the source"
QUOTED_DETAIL = (
    "The language model's sentence was not supported by its sources, or left out what they "
    "say, so the source's own words are shown here."
)


def safe_url(url: str | None) -> str | None:
    """The URL if it is a plain http(s) link (no javascript:, data:, relative paths), else None."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if any(ch in url for ch in "\"'<>` \t\r\n\\"):
        return None
    return url


def outlet_label(source: str | None) -> str:
    return source or "unknown outlet"


def page_label(page: int | None) -> str:
    """``p. 3`` for a passage of a paged document (PDF); "" otherwise."""
    return f"p. {page}" if page is not None else ""


def citation_header(c: Citation | StoredArticle, n: int | None = None) -> str:
    """``[n] “Title” — Outlet, 2025-02-27, p. 3 — https://…`` (plain text; the page only for a
    PDF, the URL only when safe)."""
    head = f"“{c.title}” — {outlet_label(c.source)}, {moment_label(c.published_at)}"
    page = page_label(c.page) if isinstance(c, Citation) else ""
    head += f", {page}" if page else ""
    if n is not None:
        head = f"[{n}] {head}"
    url = safe_url(c.url)
    return head + (f" — {url}" if url else "")


def format_every(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def by_source(citations: Sequence[Citation]) -> list[list[Citation]]:
    """Citations grouped by source number, in number order: one header per source, with all
    the quotes taken from it beneath."""
    groups: dict[int, list[Citation]] = {}
    for c in citations:
        groups.setdefault(c.n, []).append(c)
    return [groups[n] for n in sorted(groups)]
