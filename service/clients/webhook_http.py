"""Outbound webhook calls: http(s) only, to public addresses only, with hard limits.

The SSRF guard runs on the address the name resolves to at the moment of the call (a name
that was public at registration may point inside later), and the request is then sent to that
very address (Host header and TLS SNI keep the name), so a second lookup cannot swap it.
Private, loopback and other non-global addresses are refused unless `allow_private` is set
(tests with a local receiver); link-local addresses (169.254.0.0/16, fe80::/10: cloud
metadata endpoints) are refused always.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(Exception):
    """The URL may not be called (scheme, or where its name points)."""


@dataclass(frozen=True)
class HttpResult:
    status_code: int | None
    latency_ms: int
    error: str | None = None
    # Worth trying again later: a timeout, a connection failure, 5xx or 429.
    retryable: bool = False

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def check_address(ip: IPAddress, allow_private: bool) -> None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_link_local:
        raise AddressRefused(f"{ip} is a link-local address")
    if not ip.is_global and not allow_private:
        kind = "loopback" if ip.is_loopback else "private or reserved"
        raise AddressRefused(f"{ip} is a {kind} address")


def check_url_shape(url: str) -> None:
    try:
        parts = urlsplit(url)  # ValueError for a broken IPv6 literal
        port = parts.port  # ValueError unless a number from 0 to 65535
    except ValueError as exc:
        raise AddressRefused(f"the URL is malformed: {exc}") from exc
    if port == 0:
        raise AddressRefused("port 0 cannot be called")
    if parts.scheme not in ("http", "https"):
        raise AddressRefused("only http and https URLs can be called")
    if not parts.hostname:
        raise AddressRefused("the URL has no host")
    if parts.username or parts.password:
        raise AddressRefused("the URL must not carry credentials")


class WebhookClient:
    def __init__(
        self,
        *,
        connect_timeout: float,
        timeout: float,
        max_response_bytes: int,
        allow_private: bool,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.allow_private = allow_private
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        """httpx, made at the first POST: the web tier only resolves (at registration) and
        need not load it (9 MB per worker, more with its CLI's rich and pygments installed)."""
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout),
                follow_redirects=False,  # a redirect could point anywhere: it counts as a failure
                trust_env=False,  # no proxy from the environment between us and the guard
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=0),
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def resolve(self, url: str) -> IPAddress:
        """The address to call for `url`; AddressRefused if any address it resolves to is
        refused (a name with one public and one private address is refused as a whole)."""
        check_url_shape(url)
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            check_address(literal, self.allow_private)
            return literal
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError, ValueError) as exc:  # ValueError: IDNA refused the name
            raise AddressRefused(f"{host} does not resolve") from exc
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        if not addresses:
            raise AddressRefused(f"{host} does not resolve")
        for address in addresses:
            check_address(address, self.allow_private)
        return addresses[0]

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> HttpResult:
        """POST once; never raises for what the other side did (it is in the result)."""
        started = time.monotonic()

        def result(status: int | None, error: str | None, retryable: bool) -> HttpResult:
            elapsed = round((time.monotonic() - started) * 1000)
            return HttpResult(status, elapsed, error, retryable)

        try:
            address = await self.resolve(url)
        except AddressRefused as exc:
            return result(None, f"refused: {exc}", False)
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"[{address}]" if address.version == 6 else str(address)
        if parts.port:
            netloc += f":{parts.port}"
        target = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        host_header = host if not parts.port else f"{host}:{parts.port}"
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        client = self._http()
        import httpx  # loaded by _http; bound here for the exceptions below

        try:
            async with asyncio.timeout(self.timeout):
                request = client.build_request(
                    "POST",
                    target,
                    content=body,
                    headers={**headers, "Host": host_header},
                    extensions=extensions,
                )
                response = await client.send(request, stream=True)
                try:
                    await self._read_capped(response)
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            return result(None, "timeout", True)
        except httpx.HTTPError as exc:
            return result(None, f"{type(exc).__name__}: {exc}"[:500], True)
        status = response.status_code
        retryable = status >= 500 or status == 429
        return result(status, None if 200 <= status < 300 else f"HTTP {status}", retryable)

    async def _read_capped(self, response: httpx.Response) -> None:
        """Read at most max_response_bytes of the answer (nothing more is ever buffered)."""
        seen = 0
        async for chunk in response.aiter_raw():
            seen += len(chunk)
            if seen >= self.max_response_bytes:
                break
