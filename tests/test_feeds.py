"""Feed subscriptions and refresh against a real local HTTP server whose feed changes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chatbot.bot import Chatbot
from chatbot.models.embeddings import Embedder
from chatbot.news.feeds import TEASER_MARK, FeedError, FeedManager, parse_every
from tests.feed_pages import TOPICS, Item, rss, serve_feed, serve_page
from tests.http_fixtures import ChangingServer, Response, etag_of
from tests.store_fixtures import settings_in

FIRST = [
    Item("g1", "Council backs tram lines", "/a/1.html", "Trams: a short teaser."),
    Item("g2", "Harbour dredging starts", "/a/2.html", "Harbour: a short teaser."),
    Item("g3", "Airport bans night flights", "/a/3.html", "Airport: a short teaser."),
]


def serve_first(server: ChangingServer) -> str:
    for n, (title, topic) in enumerate(
        [
            ("Council backs tram lines", "trams"),
            ("Harbour dredging starts", "harbour"),
            ("Airport bans night flights", "airport"),
        ],
        start=1,
    ):
        serve_page(server, f"/a/{n}.html", title, topic)
    return serve_feed(server, "/feed.xml", FIRST)


def test_refresh_stores_full_pages_polls_conditionally_and_follows_changes(
    bot: Chatbot, changing_server: ChangingServer
) -> None:
    server = changing_server
    url = serve_first(server)
    sub = bot.add_feed(url, name="Gazette", every="1h")
    assert (sub.name, sub.every) == ("Gazette", 3600)

    first = bot.refresh()
    [feed] = first.feeds
    assert (feed.status, feed.failed, feed.teasers) == ("ok", [], [])
    assert len(feed.added) == 3 and feed.requests == 4 and len(server.gets()) == 4
    stored = {bot.article(i).title: bot.article(i) for i in feed.added}
    trams = stored["Council backs tram lines"]
    # The full article from the page, not the feed's teaser.
    assert "200,000 residents" in trams.text and "short teaser" not in trams.text
    assert trams.url == server.url("/a/1.html") and trams.source
    assert all(TEASER_MARK not in a.text for a in stored.values())

    assert bot.refresh(due_only=True).feeds == []  # not due again for an hour
    second = bot.refresh()  # a manual refresh polls every feed
    assert second.feeds[0].status == "not modified" and second.requests == 1
    last = server.gets("/feed.xml")[-1]
    assert last.headers["if-none-match"] == etag_of(rss(server, FIRST))
    assert last.headers["if-modified-since"] == "Tue, 04 Mar 2025 07:30:00 GMT"

    # The feed changes: item 2 changed (new title and page), item 3 gone, item 4 new.
    changed = Item(
        "g2",
        "Harbour dredging halted",
        "/a/2.html",
        "Harbour: halted.",
        datetime(2025, 3, 5, 9, 0, tzinfo=UTC),
    )
    serve_page(server, "/a/2.html", "Harbour dredging halted", "harbour", "Work stopped Friday.")
    serve_page(server, "/a/4.html", "Schools hire teachers", "schools")
    new = Item("g4", "Schools hire teachers", "/a/4.html", "Schools: a short teaser.")
    serve_feed(server, "/feed.xml", [FIRST[0], changed, new])
    before = len(server.gets())
    third = bot.refresh()
    [feed] = third.feeds
    assert (len(feed.added), len(feed.updated), feed.unchanged, feed.removed) == (1, 1, 1, 1)
    assert feed.failed == [] and feed.requests == 3
    fetched = sorted(r.path for r in server.gets()[before:])
    assert fetched == ["/a/2.html", "/a/4.html", "/feed.xml"]
    assert "Work stopped Friday" in bot.article(feed.updated[0]).text
    assert bot.article(feed.added[0]).title == "Schools hire teachers"
    assert len(server.gets("/a/1.html")) == 1  # seen and unchanged: never fetched again
    assert bot.store.count_articles() == 4  # the removed entry's article stays; none twice

    [sub] = bot.feeds()
    assert sub.articles_added == 4 and sub.last_error == "" and sub.last_success is not None
    assert sub.last_result.startswith("1 added, 1 updated")


@pytest.fixture
def strict_bot(tmp_path: Path, embedder: Embedder) -> Chatbot:
    settings = settings_in(
        tmp_path, allow_private_urls=True, fetch_timeout=1.0, fetch_max_bytes=100_000
    )
    return Chatbot(settings, embedder=embedder)


def test_bad_feeds_and_entries_get_reasons_and_the_rest_goes_on(
    strict_bot: Chatbot, changing_server: ChangingServer
) -> None:
    bot, server = strict_bot, changing_server
    serve_page(server, "/a/1.html", "Council backs tram lines", "trams")
    serve_page(server, "/a/slow.html", "Harbour dredging starts", "harbour", delay=1.5)
    long_teaser = "Harbour: the port authority began dredging so that larger ships can dock. " * 2
    undated = " ".join(["The education board will hire four hundred teachers."] * 3)
    good = serve_feed(
        server,
        "/good.xml",
        [
            Item("g1", "Council backs tram lines", "/a/1.html", "teaser"),
            Item("slow", "Harbour dredging starts", "/a/slow.html", long_teaser),
            Item("nolink", "Schools hire teachers", None, undated, published=None),
            Item("empty", "Tiny", None, "tiny"),
            Item("gone", "Missing page", "/a/missing.html", "short"),
        ],
    )
    server.set("/notxml.xml", Response(body=b"this is { not xml ]", content_type="application/xml"))
    server.set(
        "/page.html", Response(body=b"<html><body><p>" + b"words " * 50 + b"</p></body></html>")
    )
    server.set(
        "/to-metadata",
        Response(status=302, headers=(("Location", "http://169.254.169.254/latest/"),)),
    )
    server.set(
        "/huge.xml", Response(body=b"<rss>" + b"x" * 200_000, content_type="application/rss+xml")
    )
    server.set("/500.xml", Response(status=500, body=b"boom"))
    server.set(
        "/429.xml", Response(status=429, body=b"slow down", headers=(("Retry-After", "120"),))
    )
    bad = {
        "/notxml.xml": "not an RSS/Atom feed",
        "/page.html": "HTML page, not an RSS/Atom feed",
        "/to-metadata": "metadata",
        "/huge.xml": "larger than the limit of 100000 bytes",
        "/500.xml": "HTTP 500",
        "/429.xml": "retry after 120s",
    }
    for path in bad:
        bot.add_feed(server.url(path))
    bot.add_feed(good, name="Good")
    started = datetime.now(UTC)

    report = bot.refresh()
    by_url = {f.url: f for f in report.feeds}
    assert len(by_url) == 7 and not report.ok
    for path, reason in bad.items():
        feed = by_url[server.url(path)]
        assert feed.status == "failed" and reason in feed.error, (path, feed.error)
    feed = by_url[good]
    assert feed.status == "ok" and len(feed.added) == 3  # page, teaser fallback, link-less entry
    assert [link for link, _ in feed.teasers] == [server.url("/a/slow.html")]
    assert "timed out" in feed.teasers[0][1]
    failed = dict(feed.failed)
    assert "no link and no text" in failed["entry 'Tiny'"]
    assert "HTTP 404" in failed[server.url("/a/missing.html")]
    assert any("dated when first seen" in note for _, note in feed.notes)
    harbour = next(bot.article(i) for i in feed.added if "Harbour" in bot.article(i).title)
    assert harbour.text.endswith(TEASER_MARK) and "larger ships" in harbour.text
    schools = next(bot.article(i) for i in feed.added if "Schools" in bot.article(i).title)
    assert schools.published_at is not None and schools.published_at >= started - timedelta(1)

    listed = {s.url: s for s in bot.feeds()}
    for path, reason in bad.items():
        assert reason in listed[server.url(path)].last_error
    waited = listed[server.url("/429.xml")]
    assert waited.next_due >= started + timedelta(seconds=119)
    assert listed[good].last_error == "" and listed[good].articles_added == 3

    # The slow page is fast now: the teaser is replaced by the full article; the rest stays.
    serve_page(server, "/a/slow.html", "Harbour dredging starts", "harbour")
    again = {f.url: f for f in bot.refresh().feeds}
    feed = again[good]
    assert feed.updated == [harbour.id] and feed.added == [] and feed.teasers == []
    assert TEASER_MARK not in bot.article(harbour.id).text
    assert "container ships" in bot.article(harbour.id).text
    assert len(server.gets("/a/1.html")) == 1
    assert bot.store.count_articles() == 3


def test_subscriptions_live_with_the_store_and_survive_a_restart(
    tmp_path: Path, embedder: Embedder, changing_server: ChangingServer
) -> None:
    settings = settings_in(tmp_path, allow_private_urls=True)
    url = serve_first(changing_server)
    with Chatbot(settings, embedder=embedder) as bot:
        bot.add_feed(url, name="Gazette", every="6h")
        assert len(bot.refresh().feeds[0].added) == 3
    with Chatbot(settings, embedder=embedder) as bot:
        [sub] = bot.feeds()
        assert (sub.url, sub.name, sub.every, sub.articles_added) == (url, "Gazette", 21600, 3)
        assert len(sub.entries) == 3 and sub.etag
        assert bot.refresh(due_only=True).feeds == []  # checked just now: not due
        with pytest.raises(FeedError, match="Not subscribed"):
            bot.refresh(["http://127.0.0.1:9/other.xml"])
        assert bot.remove_feed(url) and not bot.remove_feed(url)
    with Chatbot(settings, embedder=embedder) as bot:
        assert bot.feeds() == []
        assert bot.store.count_articles() == 3  # unsubscribing keeps the articles


def test_feed_urls_and_intervals_are_checked(bot: Chatbot) -> None:
    assert [parse_every(x) for x in ("30m", "1h", "6h", "1d", "90s", 45)] == [
        1800,
        3600,
        21600,
        86400,
        90,
        45,
    ]
    with pytest.raises(FeedError, match="30m, 1h"):
        bot.add_feed("https://example.org/feed.xml", every="hourly")
    with pytest.raises(FeedError, match="http:// or https://"):
        bot.add_feed("file:///etc/passwd")
    assert bot.feeds() == []
    # Adding a subscribed feed again changes what is given and keeps the rest.
    url = "https://example.org/feed.xml"
    assert bot.add_feed(url).every == 3600  # feed_every
    assert (bot.add_feed(url, every="6h").name, bot.feeds()[0].every) == (url, 21600)
    renamed = bot.add_feed(url + "/", name="Example")  # the same feed, by its canonical URL
    assert (renamed.name, renamed.every, len(bot.feeds())) == ("Example", 21600, 1)


def test_a_refresh_and_an_ingest_in_one_process_take_turns(
    bot: Chatbot, changing_server: ChangingServer
) -> None:
    url = serve_first(changing_server)
    bot.add_feed(url)
    many = [
        {"title": f"Wire story {n}", "text": f"Story {n}: " + " ".join(TOPICS["schools"]) * 4}
        for n in range(30)
    ]
    done: dict[str, object] = {}
    writer = threading.Thread(target=lambda: done.update(report=bot.ingest(many)))
    writer.start()
    report = bot.refresh()  # its own write waits for the ingest instead of failing
    writer.join(timeout=120)
    assert report.ok and len(report.feeds[0].added) == 3
    assert getattr(done["report"], "ok", False)
    assert bot.store.count_articles() == 33


def test_a_feed_with_many_new_entries_is_worked_through_over_several_refreshes(
    bot: Chatbot, changing_server: ChangingServer
) -> None:
    items = []
    for n, topic in enumerate(["trams", "harbour", "airport", "schools", "trams"], start=1):
        serve_page(changing_server, f"/a/{n}.html", f"Story {n}", topic, extra=f"Item {n}.")
        items.append(Item(f"g{n}", f"Story {n}", f"/a/{n}.html", "teaser"))
    url = serve_feed(changing_server, "/feed.xml", items)
    manager = FeedManager(bot.store, bot.fetcher, bot.ingestor, max_new_entries=2)
    manager.add(url)
    counts = []
    for _ in range(4):
        [feed] = manager.refresh(due_only=False).feeds
        counts.append((len(feed.added), feed.postponed, feed.status))
    assert counts == [(2, 3, "ok"), (2, 1, "ok"), (1, 0, "ok"), (0, 0, "not modified")]
    assert bot.store.count_articles() == 5
    assert all(len(changing_server.gets(f"/a/{n}.html")) == 1 for n in range(1, 6))


def test_subscriptions_on_a_chroma_server_are_shared_by_its_clients(
    chroma_server: str, tmp_path: Path, embedder: Embedder, changing_server: ChangingServer
) -> None:
    import uuid

    suffix = uuid.uuid4().hex[:8]
    settings = settings_in(
        tmp_path,
        chroma_url=chroma_server,
        allow_private_urls=True,
        articles_collection=f"articles-{suffix}",
        chunks_collection=f"chunks-{suffix}",
        feeds_collection=f"feeds-{suffix}",
    )
    url = serve_first(changing_server)
    one, other = Chatbot(settings, embedder=embedder), Chatbot(settings, embedder=embedder)
    one.add_feed(url, name="Gazette")
    assert [s.name for s in other.feeds()] == ["Gazette"]
    assert len(other.refresh().feeds[0].added) == 3  # the other client polls it
    [sub] = one.feeds()
    assert sub.articles_added == 3 and sub.last_success is not None
    assert one.refresh(due_only=True).feeds == []  # polled by the other client just now
    assert other.remove_feed(url) and one.feeds() == []


def test_the_ssrf_guard_applies_to_feeds_and_their_pages(
    tmp_path: Path, embedder: Embedder, changing_server: ChangingServer
) -> None:
    url = serve_first(changing_server)
    guarded = Chatbot(settings_in(tmp_path), embedder=embedder)  # private addresses refused
    guarded.add_feed(url)
    [feed] = guarded.refresh().feeds
    assert feed.status == "failed" and "private or local address" in feed.error
    assert changing_server.gets() == []  # refused before connecting
    assert "CHATBOT_ALLOW_PRIVATE_URLS" in guarded.feeds()[0].last_error
