"""Fetch one URL safely: http(s) only, SSRF guard, manual redirects, size and time limits.

Every failure is a ``FetchError`` whose message names the URL, the reason and, where there is one,
the setting to change. Nothing happens at import time; a ``Fetcher`` holds only its limits.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from chatbot.errors import ChatbotError

if TYPE_CHECKING:
    from chatbot.config import Settings

MAX_REDIRECTS = 5
_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
_USER_AGENT = "chatbot-news-loader/0.1"
_ACCEPT = (
    "text/html,application/xhtml+xml,application/rss+xml,application/atom+xml,"
    "application/xml;q=0.9,text/xml;q=0.9,application/json;q=0.8,application/pdf;q=0.8,"
    "text/plain;q=0.7"
)
# Exact media types we can turn into articles; any "+xml" / "+json" type is accepted too.
_ACCEPTED_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "text/plain",
        "text/markdown",
        "text/xml",
        "application/xml",
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/json",
        "application/pdf",
        "application/x-pdf",
    }
)
# Servers often send a PDF as a generic binary type; accepted when the URL names a .pdf (the
# loader then checks for the PDF header).
_GENERIC_BINARY_TYPES = frozenset({"application/octet-stream", "binary/octet-stream"})
# Hostnames that are cloud metadata services whatever they resolve to.
_METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})
_METADATA_IPS = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),
        ipaddress.ip_address("169.254.170.2"),
        ipaddress.ip_address("fd00:ec2::254"),
        ipaddress.ip_address("100.100.100.200"),
    }
)
_PRIVATE_HINT = "set CHATBOT_ALLOW_PRIVATE_URLS=true to allow local addresses"


class FetchError(ChatbotError):
    """A URL could not be fetched; ``str(err)`` is ``"<url>: <reason>"``."""

    def __init__(
        self,
        url: str,
        reason: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.status = status  # the HTTP status when the server answered with an error
        self.retry_after = retry_after  # seconds the server asked us to wait (429/503)


@dataclass(frozen=True)
class FetchedPage:
    """A fetched response body.

    ``url`` is the final URL after redirects (with its original host name, not the pinned IP);
    ``content_type`` is the raw Content-Type header value (may carry ``; charset=...``).
    """

    url: str
    content: bytes
    content_type: str
    # Conditional GET: 304 means "not modified since the validators sent" (empty content);
    # etag/last_modified are the response's validators for the next request.
    status: int = 200
    etag: str = ""
    last_modified: str = ""

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def mime_type(self) -> str:
        return self.content_type.split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str | None:
        for param in self.content_type.split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                return value.strip().strip("\"'")
        return None


def is_accepted_content_type(mime: str, path: str = "") -> bool:
    """Whether a media type is one the loaders can make articles from (``path``: the URL's)."""
    mime = mime.lower()
    return (
        mime in _ACCEPTED_TYPES
        or (mime in _GENERIC_BINARY_TYPES and path.lower().endswith(".pdf"))
        or mime.endswith(("+xml", "+json"))
        or mime.endswith("/xml")
        or mime == ""  # no header: let the loader sniff the body
    )


def _retry_after(value: str) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), None if absent/bad."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, round(when.timestamp() - time.time()))


def _unmapped(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """::ffff:127.0.0.1 is 127.0.0.1 for every check."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def refusal_reason(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address must not be fetched from (SSRF guard), or None if it is public."""
    ip = _unmapped(ip)
    if ip in _METADATA_IPS:
        return "a cloud metadata address"
    checks = (
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "a non-public address"),  # e.g. 100.64.0.0/10 carrier-grade NAT
    )
    for hit, reason in checks:
        if hit:
            return reason
    return None


class Fetcher:
    """Fetches one URL at a time with the project's safety rules.

    - only http/https; redirects followed by hand (at most ``MAX_REDIRECTS``), each hop re-checked;
    - unless ``allow_private``, every address a host resolves to must be public, and the
      connection goes to that validated IP (no second DNS lookup to rebind); cloud metadata
      addresses are refused even with ``allow_private``;
    - ``timeout`` bounds the whole fetch (DNS, connect, every hop, the body), ``max_bytes`` the
      decoded body; environment proxies are not used (they would defeat the IP pinning).

    Override hooks (tests use them): ``_resolve``, ``_refusal_reason``, ``_make_client``.
    """

    def __init__(self, *, timeout: float, max_bytes: int, allow_private: bool) -> None:
        self.timeout = float(timeout)
        self.max_bytes = int(max_bytes)
        self.allow_private = bool(allow_private)

    @classmethod
    def from_settings(cls, settings: Settings) -> Fetcher:
        return cls(
            timeout=settings.fetch_timeout,
            max_bytes=settings.fetch_max_bytes,
            allow_private=settings.allow_private_urls,
        )

    # -- hooks ------------------------------------------------------------------------------

    def _resolve(self, host: str, port: int, timeout: float) -> list[str]:
        """IP addresses of ``host`` (getaddrinfo has no timeout of its own: run it in a thread)."""
        result: list[str] = []
        error: list[BaseException] = []

        def lookup() -> None:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                result.extend(dict.fromkeys(str(info[4][0]) for info in infos))
            except BaseException as exc:  # handed back to the caller below
                error.append(exc)

        thread = threading.Thread(target=lookup, name=f"resolve-{host}", daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError
        if error:
            raise error[0]
        return result

    def _refusal_reason(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
        if self.allow_private:
            # Allowing local servers is not allowing cloud credentials: metadata stays refused.
            return "a cloud metadata address" if _unmapped(ip) in _METADATA_IPS else None
        return refusal_reason(ip)

    def _make_client(self) -> httpx.Client:
        # trust_env=False: an environment proxy would bypass the IP pinning in _get_once.
        return httpx.Client(
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": _USER_AGENT, "Accept": _ACCEPT},
        )

    # -- public -----------------------------------------------------------------------------

    def get(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchedPage:
        """GET ``url`` and return its body; raise ``FetchError`` for anything not accepted.

        With ``etag``/``last_modified`` (validators of an earlier response) the request is
        conditional: an unchanged resource comes back as a page with ``not_modified`` set and
        no body."""
        deadline = time.monotonic() + self.timeout
        current = self._parse_url(url)
        conditional: dict[str, str] = {}
        if etag:
            conditional["If-None-Match"] = etag
        if last_modified:
            conditional["If-Modified-Since"] = last_modified
        with self._make_client() as client:
            for _hop in range(MAX_REDIRECTS + 1):
                page_or_next = self._get_once(client, current, deadline, conditional)
                if isinstance(page_or_next, FetchedPage):
                    return page_or_next
                current = page_or_next
        raise FetchError(url, f"too many redirects (more than {MAX_REDIRECTS})")

    # -- internals --------------------------------------------------------------------------

    def _parse_url(self, url: str) -> httpx.URL:
        try:
            parsed = httpx.URL(url.strip())
        except (httpx.InvalidURL, ValueError, TypeError) as exc:
            raise FetchError(url, f"invalid URL ({exc})") from None
        if parsed.scheme not in ("http", "https"):
            scheme = parsed.scheme or "no scheme"
            raise FetchError(url, f"only http:// and https:// URLs can be fetched (got {scheme})")
        if not parsed.host:
            raise FetchError(url, "URL has no host name")
        return parsed

    def _validated_addresses(self, url: httpx.URL, deadline: float) -> list[str]:
        """The IPs that may be connected to (checked after DNS resolution, on every hop)."""
        host = url.host.lower().rstrip(".")
        shown = str(url)
        if host in _METADATA_HOSTS:
            raise FetchError(shown, f"refused: {host} is a cloud metadata service")
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
            addresses = [str(literal)]
        except ValueError:
            remaining = max(deadline - time.monotonic(), 0.01)
            try:
                addresses = self._resolve(host, port, remaining)
            except TimeoutError:
                raise FetchError(
                    shown, f"timed out after {self.timeout:g}s (DNS lookup of {host})"
                ) from None
            except (OSError, UnicodeError) as exc:
                raise FetchError(shown, f"could not resolve host {host} ({exc})") from None
        if not addresses:
            raise FetchError(shown, f"could not resolve host {host} (no addresses)")
        # Every address must be public: otherwise a DNS answer could mix in an internal one.
        validated: list[str] = []
        for address in addresses:
            try:
                ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
            except ValueError:
                raise FetchError(
                    shown, f"host {host} resolved to invalid address {address}"
                ) from None
            reason = self._refusal_reason(ip)
            if reason is not None:
                where = host if host == str(ip) else f"{host} resolves to {ip}"
                if _unmapped(ip) in _METADATA_IPS:
                    raise FetchError(shown, f"refused: {where} is {reason}")
                raise FetchError(
                    shown,
                    f"refused to fetch a private or local address ({where}, {reason}); "
                    f"{_PRIVATE_HINT}",
                )
            validated.append(str(ip))
        return validated

    def _get_once(
        self,
        client: httpx.Client,
        url: httpx.URL,
        deadline: float,
        conditional: dict[str, str] | None = None,
    ) -> FetchedPage | httpx.URL:
        """One request: the page, or the next URL when the response is a redirect."""
        addresses = self._validated_addresses(url, deadline)
        for number, ip in enumerate(addresses, start=1):
            try:
                return self._request(client, url, ip, deadline, conditional)
            except httpx.ConnectError as exc:
                # Like socket.create_connection: try the next address (e.g. ::1, then 127.0.0.1).
                if number == len(addresses):
                    raise FetchError(str(url), f"request failed ({exc})") from None
        raise AssertionError("unreachable: _validated_addresses never returns an empty list")

    def _request(
        self,
        client: httpx.Client,
        url: httpx.URL,
        ip: str,
        deadline: float,
        conditional: dict[str, str] | None = None,
    ) -> FetchedPage | httpx.URL:
        shown = str(url)
        # Connect to the address we validated, not to a second DNS answer (no TOCTOU / DNS
        # rebinding): the URL carries the IP; Host and TLS SNI (hence the certificate check)
        # carry the name.
        target = url.copy_with(host=ip)
        headers = {"Host": url.netloc.decode("ascii"), **(conditional or {})}
        extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError(shown, f"timed out after {self.timeout:g}s")
        try:
            with client.stream(
                "GET",
                target,
                headers=headers,
                extensions=extensions,
                timeout=httpx.Timeout(remaining),
            ) as response:
                if response.status_code in _REDIRECT_CODES:
                    location = response.headers.get("location")
                    if not location:
                        raise FetchError(
                            shown, f"HTTP {response.status_code} redirect without a Location"
                        )
                    try:
                        return self._parse_url(str(url.join(location.strip())))
                    except (httpx.InvalidURL, ValueError) as exc:
                        raise FetchError(
                            shown, f"invalid redirect target {location!r} ({exc})"
                        ) from None
                validators = {
                    "etag": response.headers.get("etag", ""),
                    "last_modified": response.headers.get("last-modified", ""),
                }
                if response.status_code == 304 and conditional:
                    return FetchedPage(shown, b"", "", status=304, **validators)
                if response.status_code >= 400:
                    phrase = response.reason_phrase or ""
                    reason = f"HTTP {response.status_code} {phrase}".rstrip()
                    wait = _retry_after(response.headers.get("retry-after", ""))
                    if wait is not None:
                        reason += f" (the server asks to retry after {wait:g}s)"
                    raise FetchError(shown, reason, status=response.status_code, retry_after=wait)
                content_type = response.headers.get("content-type", "")
                mime = content_type.split(";", 1)[0].strip().lower()
                if not is_accepted_content_type(mime, url.path):
                    raise FetchError(
                        shown,
                        f"unsupported content type {mime!r} (expected an HTML page, plain "
                        "text, JSON, a PDF or an RSS/Atom feed)",
                    )
                body = self._read_body(response, shown, deadline)
                return FetchedPage(url=shown, content=body, content_type=content_type, **validators)
        except httpx.TimeoutException:
            raise FetchError(shown, f"timed out after {self.timeout:g}s") from None
        except httpx.ConnectError:
            raise  # _get_once may try the next address
        except httpx.HTTPError as exc:
            detail = str(exc) or type(exc).__name__
            raise FetchError(shown, f"request failed ({detail})") from None

    def _read_body(self, response: httpx.Response, shown: str, deadline: float) -> bytes:
        too_big = (
            f"response is larger than the limit of {self.max_bytes} bytes "
            "(raise CHATBOT_FETCH_MAX_BYTES to allow it)"
        )
        declared = response.headers.get("content-length", "")
        if declared.strip().isdigit() and int(declared) > self.max_bytes:
            raise FetchError(shown, f"{too_big}; Content-Length is {int(declared)}")
        chunks: list[bytes] = []
        total = 0
        # iter_bytes decodes gzip/deflate, so the limit also bounds decompression bombs.
        for chunk in response.iter_bytes():
            total += len(chunk)
            if total > self.max_bytes:
                raise FetchError(shown, too_big)
            if time.monotonic() > deadline:  # per-read timeouts alone allow a slow trickle
                raise FetchError(shown, f"timed out after {self.timeout:g}s")
            chunks.append(chunk)
        return b"".join(chunks)
