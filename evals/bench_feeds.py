"""Refresh of a local N-item RSS feed: time and requests of a first run, an unchanged second run
(conditional GET) and a third run after one entry is added.

    .venv/bin/python -m evals.bench_feeds [--items 50] [--workers 4]

A real HTTP server on 127.0.0.1 serves the feed (with ETag/Last-Modified) and one article page per
entry; the store is a fresh embedded Chroma in a temporary folder with the real packaged
embedder. Prints one line per run and writes evals/results/bench_feeds.json.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from evals.rtqa import write_results

_SENTENCES = [
    "The council met on {day} to discuss item {n}, a plan that affects {k} thousand residents.",
    "Officials said the cost of project {n} would reach {k} million euros over four years.",
    "Critics argued that proposal {n} ignored the concerns raised at {k} public hearings.",
    "The vote on measure {n} is expected after the summer, according to the mayor's office.",
    "Local businesses said item {n} could bring {k} hundred jobs to the eastern districts.",
]


def _page(n: int) -> bytes:
    body = "".join(
        f"<p>{s.format(n=n, k=(n * 7 + i) % 90 + 10, day='Tuesday')}</p>"
        for i, s in enumerate(_SENTENCES * 2)
    )
    return (
        f"<html><head><title>Story {n}</title></head><body><article><h1>Story number {n}"
        f"</h1>{body}</article></body></html>"
    ).encode()


def _feed(base: str, count: int) -> bytes:
    items = "".join(
        f"<item><title>Story number {n}</title><guid>story-{n}</guid>"
        f"<link>{base}/story/{n}.html</link><description>Teaser {n}.</description>"
        f"<pubDate>Tue, 04 Mar 2025 {n % 24:02d}:00:00 GMT</pubDate></item>"
        for n in range(1, count + 1)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Bench feed</title>'
        f"<link>{base}/</link>{items}</channel></rss>"
    ).encode()


class _Server:
    def __init__(self) -> None:
        self.count = 0
        self.requests = 0
        self.lock = threading.Lock()
        state = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:  # http.server's naming
                with state.lock:
                    state.requests += 1
                if self.path == "/feed.xml":
                    body, kind = _feed(state.base, state.count), "application/rss+xml"
                elif self.path.startswith("/story/"):
                    body, kind = _page(int(self.path.split("/")[-1].split(".")[0])), "text/html"
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                tag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == tag:
                    self.send_response(304)
                    self.send_header("ETag", tag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("ETag", tag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from chatbot.bot import Chatbot
    from chatbot.config import load_settings

    server = _Server()
    server.count = args.items
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = load_settings(
            store_path=folder / "vs",
            data_dir=folder / "data",
            briefings_dir=folder / "briefings",
            llm_backend="extractive",
            allow_private_urls=True,
            feed_workers=args.workers,
        )
        with Chatbot(settings) as bot:
            bot.embedder.embed_query("warm-up")  # model loading is not part of a refresh
            bot.add_feed(f"{server.base}/feed.xml", name="bench")
            runs = [("first", 0), ("second (unchanged)", 0), ("third (1 new entry)", 1)]
            for label, more in runs:
                server.count += more
                before = server.requests
                started = time.perf_counter()
                report = bot.refresh()
                seconds = time.perf_counter() - started
                [feed] = report.feeds
                row = {
                    "run": label,
                    "seconds": round(seconds, 2),
                    "pages_seconds": round(feed.load_seconds, 2),
                    "requests": server.requests - before,
                    "status": feed.status,
                    "added": len(feed.added),
                    "updated": len(feed.updated),
                    "unchanged": feed.unchanged,
                    "failed": len(feed.failed),
                }
                rows.append(row)
                print(
                    f"{label:<22} {seconds:7.2f} s (pages {feed.load_seconds:5.2f} s)  "
                    f"{row['requests']:3d} requests  {feed.summary()}"
                )
    server.close()
    path = write_results(
        "bench_feeds",
        {"items": args.items, "workers": args.workers, "cpus": os.cpu_count(), "runs": rows},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
