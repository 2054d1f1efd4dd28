"""The network side of webhooks: which addresses a URL may reach, and one signed POST.

Knows nothing of events or the database. The POST goes to an address checked right before
connecting (a host that resolved to a public address when the URL was saved may resolve to
127.0.0.1 now: DNS rebinding), keeps the URL's host name for TLS and the Host header, and
never follows a redirect.
"""

import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

TIMEOUT_SECONDS = 10
USER_AGENT = "MFDP-Webhooks/1"
# Read at most this much of an answer: only its start is kept.
RESPONSE_READ_BYTES = 2048
RESPONSE_EXCERPT_CHARS = 500


class AddressRefused(Exception):
    """The URL may not be called: its host resolves to an address that is not public. The
    message is English: it is recorded with the attempt."""


class HostUnresolved(AddressRefused):
    """The host name does not resolve at all."""


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The MFDP-Signature header's value: v1=hex(HMAC-SHA256(secret, "<timestamp>.<body>"))."""
    signed = f"{timestamp}.".encode() + body
    return "v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for an address on the public Internet only: not loopback, private, link-local,
    shared (CGNAT), reserved, multicast or unspecified; an IPv4 address carried inside an
    IPv6 one (mapped, 6to4, NAT64) is judged itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif address.sixtofour is not None:
            address = address.sixtofour
        elif address in NAT64:
            address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.is_global and not (
        address.is_multicast
        or address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


def default_port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


def resolve(host: str, port: int, *, allow_private: bool) -> list[str]:
    """The addresses of `host` in the resolver's order. Unless `allow_private`, every one of
    them must be public: one private answer refuses the host (an attacker controls the DNS
    of a hostile host, so trying only the public answers would not be safe)."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise HostUnresolved(f"the host {host} does not resolve ({error})") from error
    addresses = list(dict.fromkeys(str(answer[4][0]) for answer in answers))
    if not addresses:
        raise HostUnresolved(f"the host {host} does not resolve")
    if not allow_private:
        for address in addresses:
            # Scoped IPv6 answers ("fe80::1%eth0") carry their zone after a percent sign.
            if not is_public_address(ipaddress.ip_address(address.split("%", 1)[0])):
                raise AddressRefused(f"the host {host} resolves to a non-public address")
    return addresses


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to an address checked beforehand instead of resolving the host again."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.pinned_address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.pinned_address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.pinned_address = address

    def connect(self) -> None:
        sock = socket.create_connection((self.pinned_address, self.port), self.timeout)
        # The certificate is checked against the URL's host name, not the address.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


@dataclass(frozen=True)
class Outcome:
    """What one POST came to: the receiver's status and the start of its answer, or the
    error that kept it from answering."""

    status_code: int | None
    duration_ms: int
    error: str = ""
    response_excerpt: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(*, url: str, body: bytes, headers: dict[str, str], allow_private: bool) -> Outcome:
    """POST `body` to `url` once, within TIMEOUT_SECONDS per network step; never raises for
    what the network or the receiver does, and never follows a redirect (a 3xx is not 2xx)."""
    started = time.monotonic()

    def elapsed_ms() -> int:
        return round((time.monotonic() - started) * 1000)

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Outcome(None, elapsed_ms(), error="the URL is not an http(s) URL")
    if parts.scheme != "https" and not allow_private:
        return Outcome(None, elapsed_ms(), error="only https URLs are called")
    try:
        port = default_port(parts)
        addresses = resolve(parts.hostname, port, allow_private=allow_private)
    except (AddressRefused, ValueError) as error:
        return Outcome(None, elapsed_ms(), error=f"refused: {error}")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    request_headers = {
        **headers,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Content-Length": str(len(body)),
    }
    last_error = ""
    for address in addresses:
        connection = connection_class(
            parts.hostname, port, address=address, timeout=TIMEOUT_SECONDS
        )
        try:
            try:
                connection.connect()
            except OSError as error:
                # Nothing was sent: the host's next address may answer.
                last_error = _describe(error)
                continue
            try:
                connection.request("POST", target, body=body, headers=request_headers)
                response = connection.getresponse()
                excerpt = response.read(RESPONSE_READ_BYTES).decode("utf-8", errors="replace")
            except (OSError, ValueError, http.client.HTTPException) as error:
                # Perhaps received: never sent twice in one attempt.
                return Outcome(None, elapsed_ms(), error=_describe(error))
            return Outcome(
                response.status,
                elapsed_ms(),
                error="redirects are not followed" if 300 <= response.status < 400 else "",
                response_excerpt=excerpt[:RESPONSE_EXCERPT_CHARS],
            )
        finally:
            connection.close()
    return Outcome(None, elapsed_ms(), error=last_error)


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {TIMEOUT_SECONDS} s"
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"[:RESPONSE_EXCERPT_CHARS]
