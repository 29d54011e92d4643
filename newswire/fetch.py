"""Fetching feeds over HTTP safely: scheme and address checks on every hop, size and time limits."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class FetchError(Exception):
    """A fetch failed; `transient` says whether retrying later may succeed."""

    def __init__(self, message: str, *, transient: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.status = status


class BlockedAddress(FetchError):
    """The URL resolves to an address feeds may not reach (loopback, private, ...)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=False)


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A fetched document, or `not_modified` when the conditional GET said nothing changed."""

    url: str
    status: int
    content: bytes
    etag: str | None
    last_modified: str | None
    not_modified: bool = False


def check_url(url: str, allowed: Sequence[Network]) -> None:
    """Refuse non-http(s) URLs and hosts resolving to non-public addresses not in `allowed`."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise BlockedAddress(f"only http and https feeds are allowed, not {parts.scheme!r}")
    host = parts.hostname
    if not host:
        raise BlockedAddress(f"URL has no host: {url}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise FetchError(f"invalid URL {url!r}: {exc}", transient=False) from exc
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchError(f"cannot resolve {host}: {exc}", transient=True) from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if any(address in network for network in allowed):
            continue
        if not address.is_global or address.is_multicast:
            raise BlockedAddress(
                f"{host} resolves to {address}, a non-public address; "
                "allow it with NEWSWIRE_FEED_ALLOW_NETWORKS if intended"
            )


def fetch_feed(
    url: str,
    *,
    allowed: Sequence[Network],
    timeout: float,
    max_bytes: int,
    max_redirects: int,
    user_agent: str,
    etag: str | None = None,
    last_modified: str | None = None,
    client: httpx.Client | None = None,
) -> FetchResult:
    """GET a feed with conditional headers, following redirects only to allowed addresses."""
    headers = {
        "User-Agent": user_agent,
        "Accept": "application/rss+xml, application/atom+xml, "
        "application/feed+json, application/xml;q=0.9, */*;q=0.8",
    }
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    own_client = client is None
    http = client or httpx.Client(timeout=timeout, follow_redirects=False)
    try:
        current = url
        for _ in range(max_redirects + 1):
            check_url(current, allowed)
            try:
                with http.stream("GET", current, headers=headers) as response:
                    if response.status_code == 304:
                        return FetchResult(current, 304, b"", etag, last_modified, True)
                    if response.status_code in {301, 302, 303, 307, 308}:
                        location = response.headers.get("location")
                        if not location:
                            raise FetchError(
                                "redirect without Location",
                                transient=False,
                                status=response.status_code,
                            )
                        current = urljoin(current, location)
                        continue
                    if response.status_code >= 400:
                        raise FetchError(
                            f"HTTP {response.status_code}",
                            transient=response.status_code in {408, 425, 429}
                            or response.status_code >= 500,
                            status=response.status_code,
                        )
                    body = bytearray()
                    for chunk in response.iter_bytes():
                        body.extend(chunk)
                        if len(body) > max_bytes:
                            raise FetchError(
                                f"body larger than {max_bytes} bytes",
                                transient=False,
                                status=response.status_code,
                            )
                    return FetchResult(
                        url=current,
                        status=response.status_code,
                        content=bytes(body),
                        etag=response.headers.get("etag"),
                        last_modified=response.headers.get("last-modified"),
                    )
            except httpx.TimeoutException as exc:
                raise FetchError(f"timeout: {exc}", transient=True) from exc
            except httpx.TransportError as exc:
                raise FetchError(f"connection failed: {exc}", transient=True) from exc
        raise FetchError(f"more than {max_redirects} redirects", transient=False)
    finally:
        if own_client:
            http.close()
