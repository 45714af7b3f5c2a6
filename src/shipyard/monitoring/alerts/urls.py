"""Checking webhook URLs: http(s) only, and never to a non-global address unless allowed.

A webhook is a request Shipyard makes on an operator's behalf, so a rule file must not be a
way to reach the server's own loopback, the cloud metadata service (link-local) or the
private network behind it. The host is resolved and every address checked, when the rules
are loaded and again at each delivery; the delivery then connects to the address it
checked (the ``Host`` header and TLS server name stay the URL's), so a DNS answer that
changes between the check and the connection (rebinding) cannot redirect it.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

from shipyard.errors import InvalidRequest

MAX_URL = 2048
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Unresolvable(InvalidRequest):
    """The host does not resolve (now): worth another attempt later, unlike a refusal."""


@dataclass(frozen=True)
class Pinned:
    """A checked URL: connect to ``url`` (its host replaced by the checked address) with
    ``host_header`` and TLS server name ``server_name``."""

    url: str
    host_header: str
    server_name: str
    address: str


def refused_address(address: IPAddress) -> str | None:
    """Why ``address`` is not a global unicast address, or None when it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return refused_address(address.ipv4_mapped)
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_private:
        return "private"
    if address.is_multicast or address.is_reserved or not address.is_global:
        return "non-global"
    return None


def check_url(url: str, *, allow_private: bool, resolve: bool = True, strict_dns: bool = True) -> list[str]:
    """The addresses ``url``'s host resolves to, all checked; ``InvalidRequest`` when the
    URL is refused. With ``strict_dns`` False, a host that does not resolve (yet) passes."""
    parts = _split(url)
    host = parts.hostname or ""
    if not resolve:
        return []
    try:
        addresses = _resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
    except Unresolvable:
        if strict_dns:
            raise
        return []
    if not allow_private:
        for address in addresses:
            why = refused_address(ipaddress.ip_address(address))
            if why is not None:
                raise InvalidRequest(
                    f"webhook host {host!r} resolves to {why} address {address}",
                    hint="only public addresses are allowed unless the webhook_allow_private setting is on",
                )
    return addresses


def pin(url: str, *, allow_private: bool) -> Pinned:
    """Resolve and check ``url`` now, for one delivery: the URL to connect to."""
    parts = _split(url)
    addresses = check_url(url, allow_private=allow_private)
    address = addresses[0]
    host = parts.hostname or ""
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    host_header = parts.netloc
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    return Pinned(url=pinned, host_header=host_header, server_name=host, address=address)


def redact(url: str) -> str:
    """``url`` without credentials, query or fragment (safe to log and record)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(invalid url)"
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _split(url: str) -> SplitResult:
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise InvalidRequest(f"a webhook URL is a non-empty string of at most {MAX_URL} characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise InvalidRequest("a webhook URL has no spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidRequest(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidRequest(f"webhook URLs are http or https, not {parts.scheme or 'schemeless'!r}")
    if not parts.hostname:
        raise InvalidRequest("a webhook URL names a host")
    if "@" in parts.netloc:
        raise InvalidRequest("a webhook URL carries no user or password: receivers check the signature instead")
    if port == 0:
        raise InvalidRequest("a webhook URL's port is 1 to 65535")
    if parts.fragment:
        raise InvalidRequest("a webhook URL has no #fragment")
    return parts


def _resolve(host: str, port: int) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Unresolvable(f"webhook host {host!r} does not resolve: {exc}") from None
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0]).split("%", 1)[0]
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise Unresolvable(f"webhook host {host!r} has no address")
    return addresses
