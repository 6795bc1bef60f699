"""Fixtures for loader/fetch tests (local HTTP server on 127.0.0.1).

``http_server`` is a real ``http.server`` in a thread, serving fixed routes (see ``ROUTES``):
articles, feeds, errors, redirects, a slow endpoint, an oversized body and a PNG.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SLOW_SECONDS = 1.5
BIG_BODY_BYTES = 300_000

_PARAGRAPHS = [
    "The city council voted on Tuesday to approve a new public transport plan that will add "
    "three tram lines and extend night bus services to the outer districts by next spring.",
    "Council members said the plan, which costs an estimated 400 million euros, would cut "
    "commuting times for about 200,000 residents and reduce traffic in the historic centre.",
    "Opposition members criticised the funding model, arguing that ticket prices would rise "
    "and that the construction schedule was unrealistic given delays on earlier projects.",
    "The mayor said the first tram line would open in 2027 and that the remaining lines would "
    "follow within two years, subject to approval of the regional budget in the autumn.",
]


def article_html(title: str, body: list[str], *, canonical: str | None = None) -> str:
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    paragraphs = "\n".join(f"<p>{p}</p>" for p in body)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} | Local Gazette</title>
<meta property="og:title" content="{title}">
<meta property="og:site_name" content="Local Gazette">
<meta name="author" content="Jane Doe">
<meta property="article:published_time" content="2025-03-04T08:30:00+01:00">
{link}</head>
<body>
<header><nav><a href="/">Home</a> | <a href="/politics">Politics</a> | <a href="/sport">Sport</a>
</nav></header>
<main><article><h1>{title}</h1>
{paragraphs}
</article></main>
<footer><p>Copyright Local Gazette. All rights reserved.</p><a href="/privacy">Privacy</a>
</footer></body></html>"""


def live_blog_html(base: str) -> str:
    """A live blog as outlets publish it: schema.org LiveBlogPosting with liveBlogUpdate in
    JSON-LD (the third entry's body only on the page, under its anchor), and the entries in
    the page with their timestamps, share prompts and bylines between them."""
    updates = [
        {
            "@type": "BlogPosting",
            "headline": "Messi ties men's World Cup goal-scoring record",
            "datePublished": "2026-06-16T22:49:00-04:00",
            "url": f"{base}/live.html#entry-messi-ties",
            "author": [{"@type": "Person", "name": "Victoria Hernandez"}],
            "articleBody": "After scoring a hat trick on Tuesday night, Lionel Messi is now tied "
            "as the top all-time scorer at the men's World Cup with 16 goals.",
        },
        {
            "@type": "BlogPosting",
            "headline": "Ivory Coast and Ecuador draw in Houston",
            "datePublished": "2026-06-14T15:05:00-04:00",
            "url": f"{base}/live.html#entry-ivory-coast",
            "articleBody": "<p>Ivory Coast and Ecuador played to a goalless draw in Houston, "
            "where the heat forced two drinks breaks in each half.</p>",
        },
        {
            "@type": "BlogPosting",
            "headline": "Messi becomes the top scorer",
            "datePublished": "2026-06-22T18:10:00-04:00",
            "url": f"{base}/live.html#entry-messi-record",
        },
    ]
    data = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "WebPage", "name": "World Cup live"},
            {
                "@type": "LiveBlogPosting",
                "headline": "World Cup 2026 live updates",
                "coverageStartTime": "2026-06-11T12:00:00-04:00",
                "liveBlogUpdate": updates,
            },
        ],
    }
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>World Cup 2026 live updates</title>
<meta property="og:site_name" content="Local Gazette">
<meta property="article:published_time" content="2026-06-11T12:00:00-04:00">
<script type="application/ld+json">{{"@context": "https://schema.org", "broken": </script>
<script type="application/ld+json">{json.dumps(data)}</script>
</head><body><main><article><h1>World Cup 2026 live updates</h1>
<div id="entry-messi-record"><p>6:10 pm ET June 22, 2026</p><p>Share this update</p>
<h2>Messi becomes the top scorer</h2><p>Seth Vertelney</p>
<p>Lionel Messi scored his 17th World Cup goal on Monday in Dallas and became the all-time
leading scorer at the men's World Cup, passing Miroslav Klose.</p></div>
<div id="entry-messi-ties"><p>10:49 pm ET June 16, 2026</p><p>Share this update</p>
<h2>Messi ties men's World Cup goal-scoring record</h2><p>Victoria Hernandez</p>
<p>After scoring a hat trick on Tuesday night, Lionel Messi is now tied as the top all-time
scorer at the men's World Cup with 16 goals.</p></div>
<div id="entry-ivory-coast"><p>3:05 pm ET June 14, 2026</p>
<p>Ivory Coast and Ecuador played to a goalless draw in Houston, where the heat forced two
drinks breaks in each half.</p></div>
</article></main></body></html>"""


def _long_text(topic: str) -> str:
    return " ".join(f"{p} This paragraph is about {topic}." for p in _PARAGRAPHS)


@dataclass(frozen=True)
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str | None = "text/html; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    content_length: bool = True


def _routes(base: str) -> dict[str, Response]:
    rss = f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Local Gazette RSS</title><link>{base}/</link>
<description>News</description>
<item><title>Trams approved</title><link>{base}/news/1.html</link>
<description>Short teaser about trams.</description>
<pubDate>Tue, 04 Mar 2025 07:30:00 GMT</pubDate><author>desk@example.com (Jane Doe)</author>
</item>
<item><title>Budget talks stall</title><link>{base}/news/2.html</link>
<description>Teaser about the budget.</description><pubDate>Wed, 05 Mar 2025 10:00:00 GMT</pubDate>
</item>
<item><title>Orphan entry</title><description>tiny</description></item>
</channel></rss>"""
    atom = f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Wire Atom</title><id>urn:wire</id>
<updated>2025-03-06T12:00:00Z</updated>
<entry><title>Harbour expansion</title><id>urn:wire:1</id>
<link href="{base}/unused/harbour.html"/><updated>2025-03-06T12:00:00Z</updated>
<author><name>Ann Writer</name></author>
<content type="html">&lt;p&gt;{_long_text("the harbour")}&lt;/p&gt;</content></entry>
<entry><title>Airport noise rules</title><id>urn:wire:2</id>
<updated>2025-03-07T09:00:00Z</updated>
<content type="html">&lt;p&gt;{_long_text("the airport")}&lt;/p&gt;</content></entry>
</feed>"""
    bomb = (
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
        + "".join(
            f' <!ENTITY lol{i} "' + f"&lol{i - 1 if i > 1 else ''};" * 10 + '">\n'
            for i in range(1, 10)
        )
        + ']>\n<rss version="2.0"><channel><title>&lol9;</title></channel></rss>'
    )
    html_ct = "text/html; charset=utf-8"
    return {
        "/article.html": Response(
            body=article_html("Council approves tram plan", _PARAGRAPHS).encode()
        ),
        "/news/1.html": Response(
            body=article_html(
                "Trams approved (page title)", _PARAGRAPHS, canonical=f"{base}/news/1.html"
            ).encode()
        ),
        "/news/2.html": Response(
            body=article_html("Budget talks stall", list(reversed(_PARAGRAPHS))).encode()
        ),
        "/empty.html": Response(
            body=b"<html><head><title>Nothing</title></head><body><nav>Home</nav></body></html>"
        ),
        "/plain.txt": Response(
            body=("Title: Plain wire story\nDate: 2025-01-02\n\n" + _long_text("rain")).encode(),
            content_type="text/plain; charset=utf-8",
        ),
        "/data.json": Response(
            body=json.dumps(
                {
                    "articles": [
                        {
                            "title": "JSON story",
                            "content": _long_text("json"),
                            "url": "https://example.org/json-story",
                            "publishedAt": "2025-02-01T10:00:00Z",
                        }
                    ]
                }
            ).encode(),
            content_type="application/json",
        ),
        "/404": Response(status=404, body=b"not found"),
        "/500": Response(status=500, body=b"boom"),
        "/slow": Response(body=b"<html>late</html>", delay=SLOW_SECONDS),
        "/redirect": Response(status=302, headers=(("Location", "/article.html"),)),
        "/redirect-abs": Response(status=301, headers=(("Location", f"{base}/article.html"),)),
        "/redirect-loop": Response(status=302, headers=(("Location", "/redirect-loop"),)),
        "/redirect-metadata": Response(
            status=302, headers=(("Location", "http://169.254.169.254/latest/meta-data/"),)
        ),
        "/redirect-private": Response(status=307, headers=(("Location", "http://10.0.0.1/"),)),
        "/redirect-ftp": Response(status=302, headers=(("Location", "ftp://127.0.0.1/x"),)),
        "/feed.rss": Response(body=rss.encode(), content_type="application/rss+xml"),
        "/feed.atom": Response(body=atom.encode(), content_type="application/atom+xml"),
        "/feed-as-html": Response(body=atom.encode(), content_type=html_ct),
        "/notfeed.xml": Response(
            body=b"this is { not xml at all ]", content_type="application/xml"
        ),
        "/bomb.xml": Response(body=bomb.encode(), content_type="application/rss+xml"),
        "/big": Response(body=b"<p>" + b"x" * BIG_BODY_BYTES + b"</p>"),
        "/big-no-length": Response(
            body=b"<p>" + b"x" * BIG_BODY_BYTES + b"</p>", content_length=False
        ),
        "/image.png": Response(body=b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, content_type="image/png"),
        "/octet": Response(body=b"\x00\x01\x02", content_type="application/octet-stream"),
        "/live.html": Response(body=live_blog_html(base).encode()),
    }


@dataclass(frozen=True)
class LocalServer:
    base: str
    hits: Callable[[], list[str]]

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


@pytest.fixture(scope="session")
def http_server() -> Iterator[LocalServer]:
    """A real HTTP server on 127.0.0.1 (random port) serving the fixed routes above."""
    hits: list[str] = []
    lock = threading.Lock()
    routes: dict[str, Response] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # close after each response: lets "no Content-Length" work

        def do_GET(self) -> None:  # http.server's naming
            path = self.path.split("?", 1)[0]
            with lock:
                hits.append(path)
            response = routes.get(path)
            if response is None:
                response = Response(status=404, body=b"no such route")
            if response.delay:
                time.sleep(response.delay)
            try:
                self.send_response(response.status)
                if response.content_type:
                    self.send_header("Content-Type", response.content_type)
                for key, value in response.headers:
                    self.send_header(key, value)
                if response.content_length:
                    self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeouts, size limits): expected in these tests

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    base = f"http://127.0.0.1:{server.server_address[1]}"
    routes.update(_routes(base))
    thread = threading.Thread(target=server.serve_forever, name="test-http", daemon=True)
    thread.start()

    def snapshot() -> list[str]:
        with lock:
            return list(hits)

    try:
        yield LocalServer(base=base, hits=snapshot)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass(frozen=True)
class TLSServer:
    base: str  # https://localhost:PORT (the certificate is for "localhost" only)
    cafile: Path


@pytest.fixture(scope="session")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSServer]:
    """HTTPS on 127.0.0.1 with a self-signed certificate for 'localhost'; echoes the Host header."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    command += ["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"]
    command += ["-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
    )

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:  # http.server's naming
            body = f"<html><body><p>host={self.headers.get('Host')}</p></body></html>".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="test-https", daemon=True)
    thread.start()
    try:
        yield TLSServer(base=f"https://localhost:{server.server_address[1]}", cafile=cert)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- a server whose routes change during a test (feeds that change between refreshes) --------


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ChangingServer:
    """A real HTTP server on 127.0.0.1 whose routes a test sets and changes.

    Every 200 answer to a GET carries an ETag and a Last-Modified derived from its body, and a
    GET whose If-None-Match matches gets 304 (a real conditional GET). POSTs are recorded and
    answered with the next status queued in ``post_statuses`` (200 when none is queued)."""

    def __init__(self) -> None:
        self.routes: dict[str, Response] = {}
        self.requests: list[Request] = []
        self.answered: list[tuple[str, str, int]] = []  # (method, path, status sent)
        self.post_statuses: list[int] = []
        self.lock = threading.Lock()
        self.base = ""

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def set(self, path: str, response: Response) -> None:
        with self.lock:
            self.routes[path] = response

    def remove(self, path: str) -> None:
        with self.lock:
            self.routes.pop(path, None)

    def gets(self, path: str | None = None) -> list[Request]:
        with self.lock:
            return [
                r for r in self.requests if r.method == "GET" and (path is None or r.path == path)
            ]

    def statuses(self, path: str) -> list[int]:
        """The HTTP statuses this server sent to the GETs of ``path``, in order (304s counted)."""
        with self.lock:
            return [code for method, p, code in self.answered if method == "GET" and p == path]

    def posts(self, path: str | None = None) -> list[Request]:
        with self.lock:
            return [
                r for r in self.requests if r.method == "POST" and (path is None or r.path == path)
            ]


def etag_of(body: bytes) -> str:
    import hashlib

    return '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


@pytest.fixture
def changing_server() -> Iterator[ChangingServer]:
    state = ChangingServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def _record(self, body: bytes) -> str:
            path = self.path.split("?", 1)[0]
            with state.lock:
                headers = {k.lower(): v for k, v in self.headers.items()}
                state.requests.append(Request(self.command, path, headers, body))
            self.recorded_path = path
            return path

        def _send(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
            with state.lock:
                state.answered.append((self.command, getattr(self, "recorded_path", ""), status))
            try:
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_GET(self) -> None:  # http.server's naming
            path = self._record(b"")
            with state.lock:
                response = state.routes.get(path)
            if response is None:
                self._send(404, b"no such route", [("Content-Type", "text/plain")])
                return
            if response.delay:
                time.sleep(response.delay)
            headers = list(response.headers)
            if response.content_type:
                headers.append(("Content-Type", response.content_type))
            if response.status == 200:
                tag = etag_of(response.body)
                headers += [("ETag", tag), ("Last-Modified", "Tue, 04 Mar 2025 07:30:00 GMT")]
                if self.headers.get("If-None-Match") == tag:
                    self._send(304, b"", [("ETag", tag)])
                    return
            self._send(response.status, response.body, headers)

        def do_POST(self) -> None:  # http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            self._record(self.rfile.read(length))
            with state.lock:
                status = state.post_statuses.pop(0) if state.post_statuses else 200
            self._send(status, b"{}", [("Content-Type", "application/json")])

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="test-changing", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
