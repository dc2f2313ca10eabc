"""Where a webhook may point: `https://` to a public address, checked when the endpoint is added and again
at every delivery after DNS (the address connected to is the one checked, so a name that changes its answer
between check and connect cannot slip through). `SCIMHUB_WEBHOOK_ALLOW_PRIVATE=true` (development, tests)
also allows `http://` and loopback, private and link-local addresses.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

MAX_URL = 2048


class UnsafeTarget(ValueError):
    """A URL webhooks may not be sent to; the message says why (never a 500)."""


def check_url(url: str, *, allow_private: bool) -> None:
    """The URL's form: scheme, host, no credentials; an IP literal must be public unless allowed."""
    if len(url) > MAX_URL or any(c.isspace() or ord(c) < 32 for c in url):
        raise UnsafeTarget(f"a webhook URL is at most {MAX_URL} characters without spaces")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeTarget("the webhook URL cannot be read") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise UnsafeTarget("a webhook URL must start with https://")
    if not parts.hostname:
        raise UnsafeTarget("a webhook URL needs a host name")
    if parts.username or parts.password:
        raise UnsafeTarget("a webhook URL may not hold a user name or password")
    if port == 0:
        raise UnsafeTarget("a webhook URL needs a port between 1 and 65535")
    try:
        ip = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return
    if not allow_private and not _public(ip):
        raise UnsafeTarget(f"webhooks may not be sent to {ip} (loopback, private or link-local address)")


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def resolve(url: str, *, allow_private: bool) -> str:
    """The address to connect to for this URL, after DNS: UnsafeTarget if the name does not resolve or any of
    its addresses is not public (unless allowed)."""
    check_url(url, allow_private=allow_private)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeTarget(f"the webhook host {host!r} does not resolve") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise UnsafeTarget(f"the webhook host {host!r} does not resolve")
    if not allow_private:
        for a in addresses:
            if not _public(ipaddress.ip_address(a.split("%")[0])):
                raise UnsafeTarget(f"the webhook host {host!r} resolves to {a} (loopback, private or link-local)")
    return addresses[0]
