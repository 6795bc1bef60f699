"""RSS documents and article pages for feed tests (served by ``changing_server``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape

from tests.http_fixtures import ChangingServer, Response, article_html

TOPICS = {
    "trams": [
        "The city council approved a plan to add three tram lines to the outer districts.",
        "Council members said the tram lines would cut commuting times for 200,000 residents.",
        "The mayor said the first tram line would open in 2027 after the regional budget vote.",
    ],
    # The tram story a day later, in other words: the same story, no shared sentence.
    "trams-followup": [
        "The mayor signed the construction contract for the first of the three new tram lines.",
        "Work on the tram tracks to the outer districts will begin in May, the transport office "
        "said.",
        "Opposition councillors repeated that the tram plan's budget was unrealistic.",
    ],
    # The tram story changes: the opening date moves (news for a watched question) ...
    "trams-delay": [
        "The first tram line will now open in 2029, two years late, because of a shortage of "
        "steel.",
        "The transport office blamed the rail supplier for the delay to the tram line.",
    ],
    # ... and is then restated in other words by another outlet (no news).
    "trams-delay-restated": [
        "Officials confirmed that the first tram line is to open in 2029, two years later than "
        "planned, owing to a steel shortage.",
    ],
    "harbour": [
        "The port authority began dredging the harbour to let larger container ships dock.",
        "Shipping companies welcomed the harbour expansion but fishermen fear for their catch.",
        "The harbour works will cost 90 million euros and last until the end of next year.",
    ],
    "airport": [
        "New night-flight rules at the airport ban take-offs between midnight and five.",
        "Residents near the airport had complained about noise for more than a decade.",
        "Airlines said the airport rules would force them to cancel some holiday routes.",
    ],
    "schools": [
        "The education board will hire four hundred new teachers for primary schools.",
        "Class sizes in the city's primary schools have grown by a fifth since 2019.",
        "Teachers' unions said the hiring plan for schools did not go far enough.",
    ],
}


@dataclass(frozen=True)
class Item:
    guid: str
    title: str
    link: str | None  # a path on the server, or None for an entry without a link
    teaser: str
    published: datetime | None = datetime(2025, 3, 4, 7, 30, tzinfo=UTC)


def rss(server: ChangingServer, items: list[Item], title: str = "Local Gazette") -> bytes:
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<rss version="2.0"><channel><title>{escape(title)}</title>',
        f"<link>{server.base}/</link><description>News</description>",
    ]
    for item in items:
        parts.append("<item>")
        parts.append(f"<title>{escape(item.title)}</title>")
        parts.append(f'<guid isPermaLink="false">{escape(item.guid)}</guid>')
        if item.link:
            parts.append(f"<link>{server.url(item.link)}</link>")
        parts.append(f"<description>{escape(item.teaser)}</description>")
        if item.published:
            parts.append(f"<pubDate>{format_datetime(item.published, usegmt=True)}</pubDate>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "\n".join(parts).encode()


def serve_feed(server: ChangingServer, path: str, items: list[Item], **kwargs: str) -> str:
    server.set(
        path, Response(body=rss(server, items, **kwargs), content_type="application/rss+xml")
    )
    return server.url(path)


def serve_page(
    server: ChangingServer, path: str, title: str, topic: str, extra: str = "", delay: float = 0
) -> None:
    body = [f"{p} {extra}".strip() for p in TOPICS[topic]]
    html = article_html(title, body, canonical=server.url(path))
    server.set(path, Response(body=html.encode(), delay=delay))
