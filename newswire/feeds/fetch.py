"""Fetching feeds over HTTP safely: address checks at connect time, size and time limits.

The address policy is enforced where the socket is opened, not before the request: a custom
httpcore network backend resolves the host once, refuses the connection if any answer is a
non-public address outside the allowance, and connects to the address it checked. A DNS answer
that changes between the check and the connection (DNS rebinding) therefore cannot reach a
private address, and every redirect hop, which opens its own connection, is checked the same way.
Proxies from the environment are ignored (they would connect on our behalf, unchecked).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import zlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)
REDIRECTS = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECTS = frozenset({301, 308})


class FetchError(Exception):
    """A fetch failed; `kind` classifies it, `transient` says whether retrying may succeed."""

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        status: int | None = None,
        kind: str = "http",
        retry_after: str | None = None,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.status = status
        self.kind = kind
        self.retry_after = retry_after


class BlockedAddress(FetchError):
    """The URL resolves to an address feeds may not reach (loopback, private, ...)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=False, kind="blocked")


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A fetched document, or `not_modified` when the conditional GET said nothing changed."""

    url: str
    status: int
    content: bytes
    etag: str | None
    last_modified: str | None
    not_modified: bool = False
    # The final URL when every hop was a permanent redirect (301/308): the feed has moved.
    moved_to: str | None = None
    content_type: str | None = None
    cache_control: str | None = None
    expires: str | None = None


def check_address(host: str, address: str, allowed: Sequence[Network]) -> None:
    """Refuse `address` unless it is public (and not multicast) or inside an allowed network."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if any(ip in network for network in allowed):
        return
    if not ip.is_global or ip.is_multicast:
        raise BlockedAddress(
            f"{host} resolves to {ip}, a non-public address; "
            "allow it with NEWSWIRE_FEED_ALLOW_NETWORKS if intended"
        )


def check_scheme(url: str) -> tuple[str, int]:
    """Refuse anything but http(s) URLs with a host; returns (host, port)."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise BlockedAddress(f"only http and https feeds are allowed, not {parts.scheme!r}")
    if not parts.hostname:
        raise BlockedAddress(f"URL has no host: {url}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise FetchError(f"invalid URL {url!r}: {exc}", transient=False, kind="url") from exc
    return parts.hostname, port


def check_url(url: str, allowed: Sequence[Network]) -> None:
    """Scheme check plus a resolution of the host and its address check (no connection)."""
    host, port = check_scheme(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchError(f"cannot resolve {host}: {exc}", transient=True, kind="dns") from exc
    for info in infos:
        check_address(host, str(info[4][0]), allowed)


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses of `host` from the system resolver, in its order, without repeats."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchError(f"cannot resolve {host}: {exc}", transient=True, kind="dns") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks every answer, then connects to the checked address (not the name)."""

    def __init__(self, allowed: Sequence[Network], resolver: Resolver | None = None) -> None:
        self._allowed = tuple(allowed)
        self._resolve = resolver or system_resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._resolve(host, port)
        if not addresses:
            raise FetchError(f"cannot resolve {host}: no addresses", transient=True, kind="dns")
        for address in addresses:  # all of them: a later fallback must not be a private one
            check_address(host, address, self._allowed)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress("unix sockets are not feed addresses")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool on the GuardedBackend and no proxies."""

    def __init__(
        self,
        allowed: Sequence[Network],
        *,
        resolver: Resolver | None = None,
        limits: httpx.Limits | None = None,
    ) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        super().__init__(trust_env=False, limits=limits)
        # httpx does not expose httpcore's network_backend; swapping the pool it built is the
        # smallest way in (the rebinding test fails if a new httpx stops honouring it).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(allowed, resolver),
        )


def make_client(
    allowed: Sequence[Network],
    *,
    connect_timeout: float,
    read_timeout: float,
    max_connections: int = 100,
    resolver: Resolver | None = None,
) -> httpx.AsyncClient:
    """An async client whose every connection goes through the address policy."""
    transport = GuardedTransport(
        allowed,
        resolver=resolver,
        limits=httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=30.0,
        ),
    )
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
        follow_redirects=False,
        trust_env=False,
    )


class _Decoder:
    """Content-Encoding decoding with a hard cap on the decoded size (gzip bombs included)."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._raw_fallback = False
        name = encoding.strip().lower()
        if name in {"", "identity"}:
            self._z = None
        elif name in {"gzip", "x-gzip"}:
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif name == "deflate":
            self._z = zlib.decompressobj()
            self._raw_fallback = True  # many servers send raw deflate without the zlib header
        else:
            raise FetchError(
                f"unsupported Content-Encoding {encoding!r}", transient=False, kind="encoding"
            )

    def feed(self, chunk: bytes) -> bytes:
        room = self.limit - self.size
        if self._z is None:
            out = chunk
        else:
            try:
                out = self._z.decompress(chunk, room + 1)
            except zlib.error as exc:
                if not (self._raw_fallback and self.size == 0):
                    raise FetchError(
                        f"corrupt compressed body: {exc}", transient=False, kind="encoding"
                    ) from exc
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                self._raw_fallback = False
                return self.feed(chunk)
            self._raw_fallback = False
        self.size += len(out)
        if self.size > self.limit:
            raise FetchError(
                f"body larger than {self.limit} bytes", transient=False, kind="too_large"
            )
        return out


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    max_bytes: int,
    max_redirects: int,
    user_agent: str,
    deadline: float,
    etag: str | None = None,
    last_modified: str | None = None,
) -> FetchResult:
    """GET a feed with conditional headers, following at most `max_redirects` checked hops.

    `deadline` bounds the whole fetch (all hops and the body), so a server that drips one byte
    at a time cannot hold a poller longer than that whatever the read timeout.
    """
    try:
        async with asyncio.timeout(deadline):
            return await _fetch(
                client,
                url,
                max_bytes=max_bytes,
                max_redirects=max_redirects,
                user_agent=user_agent,
                etag=etag,
                last_modified=last_modified,
            )
    except TimeoutError as exc:
        raise FetchError(
            f"timeout: no complete answer within {deadline:g} s", transient=True, kind="timeout"
        ) from exc


async def _fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    max_bytes: int,
    max_redirects: int,
    user_agent: str,
    etag: str | None,
    last_modified: str | None,
) -> FetchResult:
    headers = {"User-Agent": user_agent, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    current, permanent = url, True
    for _ in range(max_redirects + 1):
        check_scheme(current)
        try:
            response = await client.send(
                client.build_request("GET", current, headers=headers), stream=True
            )
        except httpx.TimeoutException as exc:
            raise FetchError(f"timeout: {exc!r}", transient=True, kind="timeout") from exc
        except httpx.TransportError as exc:
            raise FetchError(
                f"connection failed: {exc!r}", transient=True, kind="connection"
            ) from exc
        try:
            status = response.status_code
            if status in REDIRECTS:
                location = response.headers.get("location")
                if not location:
                    raise FetchError(
                        "redirect without Location", transient=False, status=status, kind="http"
                    )
                permanent = permanent and status in PERMANENT_REDIRECTS
                current = urljoin(current, location)
                continue
            moved_to = current if permanent and current != url else None
            if status == 304:
                return FetchResult(
                    url=current,
                    status=304,
                    content=b"",
                    etag=response.headers.get("etag") or etag,
                    last_modified=response.headers.get("last-modified") or last_modified,
                    not_modified=True,
                    moved_to=moved_to,
                    cache_control=response.headers.get("cache-control"),
                    expires=response.headers.get("expires"),
                )
            if status >= 400 or status < 200:
                raise FetchError(
                    f"HTTP {status}",
                    transient=status in {408, 425, 429} or status >= 500,
                    status=status,
                    kind="http",
                    retry_after=response.headers.get("retry-after"),
                )
            body = await _read_body(response, max_bytes)
            return FetchResult(
                url=current,
                status=status,
                content=body,
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
                moved_to=moved_to,
                content_type=response.headers.get("content-type"),
                cache_control=response.headers.get("cache-control"),
                expires=response.headers.get("expires"),
            )
        finally:
            await response.aclose()
    raise FetchError(f"more than {max_redirects} redirects", transient=False, kind="redirects")


async def _read_body(response: httpx.Response, max_bytes: int) -> bytes:
    length = response.headers.get("content-length", "")
    encoding = response.headers.get("content-encoding", "")
    if length.isdigit() and int(length) > max_bytes and not encoding:
        raise FetchError(
            f"body larger than {max_bytes} bytes", transient=False, kind="too_large", status=200
        )
    decoder = _Decoder(encoding, max_bytes)
    body = bytearray()
    try:
        async for chunk in response.aiter_raw():
            body += decoder.feed(chunk)
    except FetchError as exc:
        exc.status = response.status_code
        raise
    except httpx.TimeoutException as exc:
        raise FetchError(f"timeout: {exc!r}", transient=True, kind="timeout") from exc
    except httpx.TransportError as exc:
        raise FetchError(f"connection failed: {exc!r}", transient=True, kind="connection") from exc
    return bytes(body)


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
    connect_timeout: float | None = None,
) -> FetchResult:
    """One fetch from synchronous code (the CLI's `ingest URL`): a client for this call only."""

    async def run() -> FetchResult:
        async with make_client(
            allowed,
            connect_timeout=connect_timeout or min(timeout, 10.0),
            read_timeout=timeout,
            max_connections=4,
        ) as client:
            return await fetch(
                client,
                url,
                max_bytes=max_bytes,
                max_redirects=max_redirects,
                user_agent=user_agent,
                deadline=timeout,
                etag=etag,
                last_modified=last_modified,
            )

    return asyncio.run(run())
