"""The stored briefings as an Atom feed (RFC 4287), so any feed reader can subscribe to them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from chatbot.presentation.alerts import alert_html, alert_subject
from chatbot.presentation.briefing import briefing_html
from chatbot.vocabulary import Alert, Briefing

ATOM_NS = "http://www.w3.org/2005/Atom"
FEED_FILE = "briefings.atom"
ALERTS_FILE = "alerts.atom"
MAX_ENTRIES = 30


def briefing_href(briefing: Briefing, base_url: str | None) -> str:
    """Where a briefing's HTML page is: under ``base_url`` when given, else next to the feed."""
    name = f"briefing-{briefing.key}.html"
    return f"{base_url.rstrip('/')}/{name}" if base_url else name


def briefings_atom(
    briefings: Sequence[Briefing],
    *,
    base_url: str | None = None,
    href: Callable[[Briefing], str] | None = None,
    self_url: str | None = None,
    title: str = "News briefings",
    now: datetime | None = None,
) -> str:
    """The newest ``MAX_ENTRIES`` briefings as an Atom document; each entry carries the
    briefing's self-contained HTML (escaped by the XML writer) and links to its page:
    ``href(briefing)``, else the HTML file under ``base_url`` or next to the feed."""
    link_for = href or (lambda b: briefing_href(b, base_url))
    if self_url is None and base_url:
        self_url = f"{base_url.rstrip('/')}/{FEED_FILE}"
    newest = sorted(briefings, key=lambda b: (b.generated_at, b.key), reverse=True)[:MAX_ENTRIES]
    updated = newest[0].generated_at if newest else (now or datetime.now(UTC))
    # Plain tag names under a default xmlns: no prefixes, and no change to ElementTree's
    # process-wide namespace registry.
    feed = ET.Element("feed", {"xmlns": ATOM_NS})
    _text(feed, "title", title)
    _text(feed, "id", "urn:chatbot:briefings")
    _text(feed, "updated", _when(updated))
    author = ET.SubElement(feed, "author")
    _text(author, "name", "chatbot news desk")
    if self_url:
        ET.SubElement(feed, "link", {"rel": "self", "href": self_url})
    for b in newest:
        entry = ET.SubElement(feed, "entry")
        _text(entry, "title", f"News briefing — {b.period}")
        _text(entry, "id", f"urn:chatbot:briefing:{b.key}")
        _text(entry, "updated", _when(b.generated_at))
        ET.SubElement(
            entry,
            "link",
            {"rel": "alternate", "type": "text/html", "href": link_for(b)},
        )
        headlines = "; ".join(s.headline for s in b.stories[:5]) or (b.notice or "No stories.")
        count = len(b.stories)
        _text(entry, "summary", f"{count} {'story' if count == 1 else 'stories'}: {headlines}")
        content = _text(entry, "content", briefing_html(b))
        content.set("type", "html")
    ET.indent(feed)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode")


def alerts_atom(alerts: Sequence[Alert], *, now: datetime | None = None) -> str:
    """The newest ``MAX_ENTRIES`` alerts of watched questions as an Atom document."""
    newest = sorted(alerts, key=lambda a: (a.at, a.key), reverse=True)[:MAX_ENTRIES]
    updated = newest[0].at if newest else (now or datetime.now(UTC))
    feed = ET.Element("feed", {"xmlns": ATOM_NS})
    _text(feed, "title", "Watched questions: changed answers")
    _text(feed, "id", "urn:chatbot:alerts")
    _text(feed, "updated", _when(updated))
    author = ET.SubElement(feed, "author")
    _text(author, "name", "chatbot news desk")
    for a in newest:
        entry = ET.SubElement(feed, "entry")
        _text(entry, "title", alert_subject(a))
        _text(entry, "id", f"urn:chatbot:alert:{a.key}")
        _text(entry, "updated", _when(a.at))
        _text(entry, "summary", " ".join(s.text for s in a.sentences))
        content = _text(entry, "content", alert_html(a))
        content.set("type", "html")
    ET.indent(feed)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode")


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = text
    return element


def _when(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
