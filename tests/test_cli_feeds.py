"""`chatbot feeds add/list/remove` and `chatbot refresh` as a user runs them (real processes)."""

from __future__ import annotations

from pathlib import Path

from tests.feed_pages import Item, serve_feed, serve_page
from tests.http_fixtures import ChangingServer, Response
from tests.test_cli import run


def test_feeds_commands(tmp_path: Path, changing_server: ChangingServer) -> None:
    server = changing_server
    serve_page(server, "/a/1.html", "Council backs tram lines", "trams")
    serve_page(server, "/a/2.html", "Harbour dredging starts", "harbour")
    url = serve_feed(
        server,
        "/feed.xml",
        [
            Item("g1", "Council backs tram lines", "/a/1.html", "teaser"),
            Item("g2", "Harbour dredging starts", "/a/2.html", "teaser"),
        ],
    )
    server.set("/500.xml", Response(status=500, body=b"boom"))
    env = {"CHATBOT_ALLOW_PRIVATE_URLS": "true"}

    added = run(["feeds", "add", url, "--name", "Gazette", "--every", "6h"], tmp_path, **env)
    assert added.returncode == 0, added.stderr
    assert f"subscribed: Gazette <{url}> every 6h" in added.stdout
    assert "Gazette: 2 added, 0 updated, 0 unchanged, 0 failed (3 requests" in added.stdout

    broken = run(["feeds", "add", server.url("/500.xml"), "--every", "30m"], tmp_path, **env)
    assert broken.returncode == 1
    assert "failed: HTTP 500" in broken.stdout

    refreshed = run(["refresh", "--all"], tmp_path, **env)
    assert refreshed.returncode == 1  # the broken feed still fails
    assert "Gazette: not modified (HTTP 304) (1 requests" in refreshed.stdout
    assert "2 feeds refreshed (1 failed)" in refreshed.stdout

    listed = run(["feeds", "list"], tmp_path, **env)
    assert listed.returncode == 0, listed.stderr
    assert f"Gazette  <{url}>" in listed.stdout
    assert "every 6h" in listed.stdout and "2 articles added" in listed.stdout
    assert "last error: HTTP 500" in listed.stdout
    assert "2 feeds" in listed.stderr

    removed = run(["feeds", "remove", server.url("/500.xml"), "http://x.example/none"], tmp_path)
    assert removed.returncode == 1
    assert f"unsubscribed {server.url('/500.xml')}" in removed.stdout
    assert "Not subscribed: http://x.example/none" in removed.stderr
    articles = run(["articles"], tmp_path)
    assert "Council backs tram lines" in articles.stdout and "2 articles" in articles.stderr
