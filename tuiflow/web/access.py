"""Who may use a served run: a one-time link, then a cookie; and only this server's own names.

A link carries a token that opens once: the first page load exchanges it for a session cookie
(HttpOnly, SameSite=Strict), which every later request — the page, its scripts, the terminal's
websocket — must carry. The Host header must name this server (the address it listens on, or
localhost on loopback, or with a wildcard address any IP and this machine's name), so a page
whose DNS name was rebound to this address is refused; an Origin header, when a browser sends
one, must be this very server, so no other site's page can open a terminal here.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
import socket
from typing import NamedTuple

TOKEN_BYTES = 24          # 192 random bits per link and per session


class Refusal(NamedTuple):
    """Why a request is turned away, and with which HTTP status."""

    status: int
    reason: str


def _digest(secret: str) -> bytes:
    """What is kept of a secret: looking a digest up tells a timing attacker nothing of the secret."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def split_host(value: str) -> tuple[str, int | None] | None:
    """`name:port` of a Host header, lower-cased (`[v6]` keeps its brackets); None if malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[:end + 1], value[end + 1:]
    elif value.count(":") > 1:          # a bare IPv6 address is not a valid Host
        return None
    else:
        name, sep, port = value.partition(":")
        rest = sep + port
    if not name:
        return None
    if not rest:
        return name, None
    if not rest.startswith(":") or not rest[1:].isdigit() or len(rest) > 6:
        return None
    return name, int(rest[1:])


def host_literal(address: str) -> str:
    """An IP address as it appears in a URL's host: `127.0.0.1`, `[::1]`."""
    ip = ipaddress.ip_address(address)
    return f"[{ip.compressed}]" if ip.version == 6 else ip.compressed


def is_ip_literal(name: str) -> bool:
    try:
        ip = ipaddress.ip_address(name[1:-1] if name.startswith("[") and name.endswith("]") else name)
    except ValueError:
        return False
    return (ip.version == 6) == name.startswith("[")


class Access:
    """The links, sessions and names of one server listening on `address` (an IP) and `port`;
    `named` is the --host it was given (an address or a name)."""

    def __init__(self, address: str, port: int, named: str) -> None:
        ip = ipaddress.ip_address(address)
        self.port = port
        self.cookie = f"tuiflow-{port}"      # cookies are per host, not per port: one name per server
        self.loopback = ip.is_loopback
        self.wildcard = ip.is_unspecified
        names = {host_literal(address), named.strip().lower()}
        if self.loopback or self.wildcard:
            names |= {"localhost", "127.0.0.1", "[::1]"}
        if self.wildcard:
            names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
        self.names = frozenset(n for n in names if n)
        self._tokens: set[bytes] = set()
        self._sessions: set[bytes] = set()

    # ------------------------------------------------------------------ links and sessions
    def new_token(self) -> str:
        """A token for one more link; it opens once."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        self._tokens.add(_digest(token))
        return token

    def exchange(self, token: str) -> str | None:
        """The new session's secret (the cookie's value) for an unused token; None otherwise."""
        digest = _digest(token)
        if digest not in self._tokens:
            return None
        self._tokens.discard(digest)
        session = secrets.token_urlsafe(TOKEN_BYTES)
        self._sessions.add(_digest(session))
        return session

    def has_session(self, cookie: str | None) -> bool:
        return bool(cookie) and _digest(cookie) in self._sessions

    # ------------------------------------------------------------------ names
    def check_host(self, host: str | None) -> Refusal | None:
        """A Host header that does not name this server (DNS rebinding, a stray proxy) is refused."""
        parsed = split_host(host) if host else None
        if parsed is None:
            return Refusal(403, f"refused: the request's Host {host!r} is not a host name")
        name, port = parsed
        if (port or 80) != self.port:
            return Refusal(403, f"refused: the request's Host {host!r} names another port than {self.port}")
        if name in self.names or (self.wildcard and is_ip_literal(name)):
            return None
        return Refusal(403, f"refused: the request's Host {host!r} is not a name of this server "
                            f"(a page whose DNS name points here, or a proxy that is not set up for it)")

    def check_origin(self, origin: str | None, host: str) -> Refusal | None:
        """A browser says which page sent a request (always for a websocket): only this server's own."""
        if origin is None:
            return None
        if origin.strip().lower() == f"http://{host.strip().lower()}":
            return None
        return Refusal(403, f"refused: a page from {origin!r} may not use this run")


__all__ = ["TOKEN_BYTES", "Access", "Refusal", "host_literal", "is_ip_literal", "split_host"]
