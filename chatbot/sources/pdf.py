"""PDF reports (agency statements, court filings, central-bank decisions) -> ``Article``.

The text layer is read page by page with pypdf; the article keeps where each page starts, so
that chunks and citations carry their page. Title, authors and date come from the document
information (/Title, /Author, /CreationDate or /ModDate) when present, else from the text as
for a plain-text file. A PDF that cannot give text (scanned, encrypted, damaged) becomes a
``LoadFailure`` that says why and what to do next; it never raises.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from chatbot.sources.formats import (
    Result,
    article_from_text,
    clean_text,
    split_authors,
    title_from_text,
    url_host,
)
from chatbot.vocabulary import Article, LoadFailure

PDF_MAGIC = b"%PDF-"
# Fewer letters than this in the whole text layer: a scan (page numbers or a stamp at most).
MIN_PDF_LETTERS = 40
# Pages are joined with a blank line: a sentence never runs from one page into the next.
PAGE_SEPARATOR = "\n\n"
# A visual line this share of the page's longest line (or more) ends inside a paragraph.
_FULL_LINE = 0.6

_SENTENCE_END_RE = re.compile(r"[.!?:;…][\"'”’)\]]*$")
# PDF dates: D:YYYYMMDDHHmmSSOHH'mm' with everything after the year optional.
_PDF_DATE_RE = re.compile(
    r"^(?:D:)?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?\s*(?:([Zz+-])(\d{2})?'?(\d{2})?'?)?"
)
# Document titles that are a word processor's leftovers, not a title.
_JUNK_TITLE_RE = re.compile(
    r"^(?:untitled|microsoft word\b.*|document\d*|title|\S+\.(?:docx?|pdf|rtf|odt|indd|txt|"
    r"html?|pptx?|xlsx?|tex|dvi|ps|qxd|pub))$",
    re.IGNORECASE,
)

_OCR_HINT = "run OCR on it first (e.g. `ocrmypdf in.pdf out.pdf`) and ingest the result"
_DAMAGED_HINT = "the file is damaged or incomplete; download or export it again"


def looks_like_pdf(data: bytes) -> bool:
    """Whether a body of unknown type is a PDF: it starts with the PDF header. (A page that only
    mentions "%PDF-" somewhere stays a page.)"""
    return data[:1024].lstrip().startswith(PDF_MAGIC)


def article_from_pdf(data: bytes, *, name: str, url: str | None) -> Result:
    """The article in a PDF's text layer, or why there is none (never raises for bad input)."""
    if PDF_MAGIC not in data[:1024]:  # readers allow a little junk before the header
        return LoadFailure(name, f"not a PDF file (no %PDF header); {_DAMAGED_HINT}")
    # pypdf is imported only when a PDF is actually loaded.
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
    except DependencyError as exc:
        return LoadFailure(name, f"cannot open the PDF ({exc})")
    except Exception as exc:  # pypdf raises many types on damaged files
        return LoadFailure(name, f"not a readable PDF ({_detail(exc)}); {_DAMAGED_HINT}")
    if reader.is_encrypted:
        failure = _decrypt(reader, name)
        if failure is not None:
            return failure
    try:
        page_texts = []
        for number, page in enumerate(reader.pages, start=1):
            try:
                page_texts.append(_reflow(page.extract_text() or ""))
            except DependencyError as exc:
                return LoadFailure(name, f"cannot read page {number} ({exc})")
            except Exception as exc:
                return LoadFailure(
                    name, f"page {number} cannot be read ({_detail(exc)}); {_DAMAGED_HINT}"
                )
    except Exception as exc:  # the page tree itself is broken
        return LoadFailure(name, f"not a readable PDF ({_detail(exc)}); {_DAMAGED_HINT}")
    if not page_texts:
        return LoadFailure(name, f"the PDF has no pages; {_DAMAGED_HINT}")
    text, pages = _join_pages(page_texts)
    if sum(ch.isalpha() for ch in text) < MIN_PDF_LETTERS:
        count = f"{len(page_texts)} page{'' if len(page_texts) == 1 else 's'}"
        return LoadFailure(
            name, f"the PDF ({count}) has no text layer (a scanned image?); {_OCR_HINT}"
        )
    return _article(text, pages, _info(reader), name=name, url=url)


def _decrypt(reader: Any, name: str) -> LoadFailure | None:
    """Open a PDF that is encrypted with an empty user password (common: only printing or
    copying is restricted); one that needs a password is refused with what to do."""
    from pypdf.errors import DependencyError

    try:
        opened = reader.decrypt("")
    except DependencyError as exc:
        # AES needs the optional cryptography package; say so rather than "damaged".
        return LoadFailure(name, f"the PDF is encrypted and cannot be opened here ({exc})")
    except Exception as exc:
        return LoadFailure(name, f"the PDF is encrypted and cannot be decrypted ({_detail(exc)})")
    if not opened:  # PasswordType.NOT_DECRYPTED == 0
        return LoadFailure(
            name,
            "the PDF is encrypted (password-protected); save a copy without the password "
            "(e.g. `qpdf --decrypt --password=PASSWORD in.pdf out.pdf`) and ingest that",
        )
    return None


def _detail(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _reflow(page_text: str) -> str:
    """A page's visual lines joined back into paragraphs: a line break inside a sentence would
    end the sentence for the segmenter (and cut quotes). A line stays a line when it ends a
    sentence, or is short (a heading, a list item) and the next one starts a capital."""
    lines = [line.strip() for line in clean_text(page_text).split("\n")]
    width = max((len(line) for line in lines), default=0)
    out: list[str] = []
    previous = ""  # the previous visual line (not the paragraph it joined)
    for line in lines:
        if out and out[-1] and line:
            if (
                len(previous) > 1
                and previous.endswith("-")
                and previous[-2].isalpha()
                and line[0].islower()
            ):
                out[-1] = out[-1][:-1] + line  # "coop-" + "eration": a hyphen at the margin
                previous = line
                continue
            full = len(previous) >= _FULL_LINE * width
            if not _SENTENCE_END_RE.search(previous) and (full or line[0].islower()):
                out[-1] += " " + line
                previous = line
                continue
        out.append(line)
        previous = line
    return clean_text("\n".join(out))


def _join_pages(page_texts: list[str]) -> tuple[str, tuple[int, ...]]:
    """The article text and where each page starts in it (an empty page starts where the
    next one does: it has no text to cite)."""
    parts: list[str] = []
    pages: list[int] = []
    length = 0
    for page_text in page_texts:
        if parts and page_text:
            parts.append(PAGE_SEPARATOR)
            length += len(PAGE_SEPARATOR)
        pages.append(length)
        parts.append(page_text)
        length += len(page_text)
    return "".join(parts), tuple(pages)


def _info(reader: Any) -> dict[str, Any]:
    """The document information dictionary as plain values; {} when absent or unreadable."""
    try:
        meta = reader.metadata
        if not meta:
            return {}
        return {str(k): meta.get(k) for k in ("/Title", "/Author", "/CreationDate", "/ModDate")}
    except Exception:  # a damaged info dictionary loses only the metadata, not the text
        return {}


def _article(
    text: str, pages: tuple[int, ...], info: dict[str, Any], *, name: str, url: str | None
) -> Article:
    # What a plain-text file of the same text would give (a "Title:"/"Date:" header, the first
    # line, a dateline's outlet): the fallback for what the document information lacks.
    from_text = article_from_text(text, name=name, markdown=False, url=url)
    fallback = from_text if isinstance(from_text, Article) else None
    title = _title(info.get("/Title")) or (fallback.title if fallback else title_from_text(text))
    published = _pdf_date(info.get("/CreationDate")) or _pdf_date(info.get("/ModDate"))
    authors = split_authors(_string(info.get("/Author")))
    return Article.create(
        title=title,
        text=text,
        source=fallback.source if fallback else url_host(url or ""),
        authors=authors or (fallback.authors if fallback else ()),
        published_at=published or (fallback.published_at if fallback else None),
        url=url,
        pages=pages,
    )


def _string(value: Any) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def _title(value: Any) -> str:
    title = _string(value).strip(" \"'")
    if not title or len(title) > 300 or _JUNK_TITLE_RE.match(title):
        return ""
    return title


def _pdf_date(value: Any) -> datetime | None:
    """A PDF date string (``D:20250227143000+03'00'``) as an aware datetime; None if absent,
    malformed or implausible."""
    match = _PDF_DATE_RE.match(_string(value))
    if match is None:
        return None
    year, month, day, hour, minute, second, sign, tz_h, tz_m = match.groups()
    tz: timezone = UTC
    if sign in ("+", "-") and tz_h:
        offset = timedelta(hours=int(tz_h), minutes=int(tz_m or 0))
        tz = timezone(offset if sign == "+" else -offset)
    try:
        result = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=tz,
        )
    except ValueError:
        return None
    return result if 1800 <= result.year <= 2200 else None
