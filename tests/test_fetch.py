"""Fetcher: schemes, SSRF guard (on every redirect hop), limits, errors, against a real server."""

from __future__ import annotations

import ipaddress
import socket
import ssl
from typing import Any

import httpx
import pytest

from chatbot.sources.fetch import FetchedPage, Fetcher, FetchError, refusal_reason
from tests.http_fixtures import BIG_BODY_BYTES, LocalServer, TLSServer


def local_fetcher(**overrides: Any) -> Fetcher:
    options: dict[str, Any] = {"timeout": 5.0, "max_bytes": 1_000_000, "allow_private": True}
    options.update(overrides)
    return Fetcher(**options)


class LoopbackIsPublic(Fetcher):
    """The real guard, except that 127.0.0.1 counts as public: lets redirects be tested here."""

    def _refusal_reason(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
        if str(ip) == "127.0.0.1":
            return None
        return super()._refusal_reason(ip)


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Record every outgoing TCP connection; refuse (without connecting) any non-loopback one."""
    seen: list[tuple[str, int]] = []
    real = socket.create_connection

    def guarded(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        seen.append((str(address[0]), int(address[1])))
        if not ipaddress.ip_address(address[0]).is_loopback:
            raise AssertionError(f"test tried to connect to {address}")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    return seen


def test_fetches_html_page(http_server: LocalServer) -> None:
    page = local_fetcher().get(http_server.url("/article.html"))
    assert isinstance(page, FetchedPage)
    assert page.url == http_server.url("/article.html")
    assert page.mime_type == "text/html"
    assert page.charset == "utf-8"
    assert b"Council approves tram plan" in page.content


def test_from_settings_uses_fetch_settings() -> None:
    from chatbot.config import Settings

    settings = Settings(fetch_timeout=3.5, fetch_max_bytes=1234, allow_private_urls=True)
    fetcher = Fetcher.from_settings(settings)
    assert (fetcher.timeout, fetcher.max_bytes, fetcher.allow_private) == (3.5, 1234, True)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_refused_by_default(
    http_server: LocalServer, connections: list[tuple[str, int]], host: str
) -> None:
    url = http_server.url("/article.html").replace("127.0.0.1", host)
    with pytest.raises(FetchError) as info:
        local_fetcher(allow_private=False).get(url)
    message = str(info.value)
    assert url in message
    assert "private or local address" in message
    assert "CHATBOT_ALLOW_PRIVATE_URLS=true" in message
    assert connections == []  # refused before connecting


def test_loopback_allowed_with_allow_private(http_server: LocalServer) -> None:
    url = http_server.url("/article.html").replace("127.0.0.1", "localhost")
    page = local_fetcher(allow_private=True).get(url)
    assert page.url == url
    assert b"<article>" in page.content


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://10.0.0.1/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://[::1]:8080/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
    ],
)
def test_non_public_addresses_refused_without_connecting(
    connections: list[tuple[str, int]], url: str, reason: str
) -> None:
    with pytest.raises(FetchError, match=reason):
        local_fetcher(allow_private=False, timeout=2.0).get(url)
    assert connections == []


def test_metadata_refused_even_when_private_allowed(connections: list[tuple[str, int]]) -> None:
    for url in ("http://169.254.169.254/latest/", "http://[::ffff:169.254.169.254]/"):
        with pytest.raises(FetchError, match="cloud metadata") as info:
            local_fetcher(allow_private=True).get(url)
        assert "CHATBOT_ALLOW_PRIVATE_URLS" not in str(info.value)  # no setting unlocks it
    assert connections == []


def test_refusal_reason_classifies_addresses() -> None:
    assert refusal_reason(ipaddress.ip_address("93.184.216.34")) is None
    assert refusal_reason(ipaddress.ip_address("2606:4700::1111")) is None
    assert refusal_reason(ipaddress.ip_address("169.254.169.254")) == "a cloud metadata address"
    assert refusal_reason(ipaddress.ip_address("100.64.0.1")) is not None  # carrier-grade NAT
    assert refusal_reason(ipaddress.ip_address("fe80::1")) is not None


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://127.0.0.1/file.txt", "gopher://x/", "javascript:alert(1)"]
)
def test_only_http_schemes(url: str) -> None:
    with pytest.raises(FetchError, match="only http:// and https://") as info:
        local_fetcher().get(url)
    assert url in str(info.value)


def test_redirect_followed_and_final_url_reported(http_server: LocalServer) -> None:
    for path in ("/redirect", "/redirect-abs"):
        page = local_fetcher().get(http_server.url(path))
        assert page.url == http_server.url("/article.html")


def test_redirect_is_rechecked_on_every_hop(
    http_server: LocalServer, connections: list[tuple[str, int]]
) -> None:
    fetcher = LoopbackIsPublic(timeout=5.0, max_bytes=1_000_000, allow_private=False)
    # The guarded fetcher itself works on "public" 127.0.0.1 (and pins the validated IP).
    assert fetcher.get(http_server.url("/redirect")).url == http_server.url("/article.html")
    with pytest.raises(FetchError, match="cloud metadata") as info:
        fetcher.get(http_server.url("/redirect-metadata"))
    assert "169.254.169.254" in str(info.value)
    with pytest.raises(FetchError, match="private address") as info:
        fetcher.get(http_server.url("/redirect-private"))
    assert "CHATBOT_ALLOW_PRIVATE_URLS" in str(info.value)
    with pytest.raises(FetchError, match="only http:// and https://"):
        fetcher.get(http_server.url("/redirect-ftp"))
    assert connections, "the loopback server should have been contacted"
    assert all(host == "127.0.0.1" for host, _port in connections)


def test_next_resolved_address_tried_when_first_refuses(
    http_server: LocalServer, connections: list[tuple[str, int]]
) -> None:
    class TwoAddresses(Fetcher):
        def _resolve(self, host: str, port: int, timeout: float) -> list[str]:
            return ["127.0.0.2", "127.0.0.1"]  # nothing listens on .2: connection refused

    fetcher = TwoAddresses(timeout=5.0, max_bytes=1_000_000, allow_private=True)
    url = http_server.url("/article.html").replace("127.0.0.1", "localhost")
    assert fetcher.get(url).url == url
    assert [host for host, _port in connections] == ["127.0.0.2", "127.0.0.1"]


def test_too_many_redirects(http_server: LocalServer) -> None:
    with pytest.raises(FetchError, match="too many redirects"):
        local_fetcher().get(http_server.url("/redirect-loop"))


@pytest.mark.parametrize(("path", "status"), [("/404", 404), ("/500", 500)])
def test_http_errors_carry_status(http_server: LocalServer, path: str, status: int) -> None:
    with pytest.raises(FetchError, match=f"HTTP {status}") as info:
        local_fetcher().get(http_server.url(path))
    assert http_server.url(path) in str(info.value)


def test_timeout(http_server: LocalServer) -> None:
    with pytest.raises(FetchError, match=r"timed out after 0\.3s"):
        local_fetcher(timeout=0.3).get(http_server.url("/slow"))


@pytest.mark.parametrize("path", ["/big", "/big-no-length"])
def test_size_limit(http_server: LocalServer, path: str) -> None:
    with pytest.raises(FetchError, match="larger than the limit of 10000 bytes") as info:
        local_fetcher(max_bytes=10_000).get(http_server.url(path))
    assert "CHATBOT_FETCH_MAX_BYTES" in str(info.value)
    # Under the limit the same body is fine.
    page = local_fetcher(max_bytes=BIG_BODY_BYTES + 100).get(http_server.url(path))
    assert len(page.content) == BIG_BODY_BYTES + 7


@pytest.mark.parametrize(
    ("path", "mime"), [("/image.png", "image/png"), ("/octet", "application/octet-stream")]
)
def test_content_type_refused(http_server: LocalServer, path: str, mime: str) -> None:
    with pytest.raises(FetchError, match="unsupported content type") as info:
        local_fetcher().get(http_server.url(path))
    assert mime in str(info.value)


@pytest.mark.parametrize(
    ("path", "mime"),
    [
        ("/feed.rss", "application/rss+xml"),
        ("/feed.atom", "application/atom+xml"),
        ("/plain.txt", "text/plain"),
        ("/data.json", "application/json"),
    ],
)
def test_accepted_content_types(http_server: LocalServer, path: str, mime: str) -> None:
    assert local_fetcher().get(http_server.url(path)).mime_type == mime


def test_connection_refused_is_a_fetch_error() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchError, match="request failed"):
        local_fetcher().get(f"http://127.0.0.1:{port}/")


def test_invalid_url() -> None:
    with pytest.raises(FetchError):
        local_fetcher().get("http://")


class PinnedTLS(LoopbackIsPublic):
    """Trusts the test certificate; 'localhost' resolves to 127.0.0.1 only."""

    cafile = ""

    def _resolve(self, host: str, port: int, timeout: float) -> list[str]:
        return ["127.0.0.1"] if host == "localhost" else super()._resolve(host, port, timeout)

    def _make_client(self) -> httpx.Client:
        return httpx.Client(verify=ssl.create_default_context(cafile=self.cafile), trust_env=False)


def test_https_pinned_ip_keeps_host_name_for_tls_and_host_header(
    https_server: TLSServer, connections: list[tuple[str, int]]
) -> None:
    fetcher = PinnedTLS(timeout=5.0, max_bytes=100_000, allow_private=False)
    fetcher.cafile = str(https_server.cafile)
    page = fetcher.get(https_server.base + "/")
    port = https_server.base.rsplit(":", 1)[1]
    assert page.url == https_server.base + "/"
    assert f"host=localhost:{port}".encode() in page.content  # Host header kept the name
    assert connections == [("127.0.0.1", int(port))]  # ...while the socket used the pinned IP
    # The certificate is still checked against the name: by IP it does not match.
    with pytest.raises(FetchError, match="request failed"):
        fetcher.get(https_server.base.replace("localhost", "127.0.0.1") + "/")
