"""A cap on the new web chats one address may start per hour (each one stores rows)."""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from aiohttp import web

WINDOW_SECONDS = 3600.0
MAX_ADDRESSES = 10_000
"""Addresses tracked at once; the least recently active is forgotten first."""
MAX_KNOWN = 100_000
"""Browser ids remembered as already having a chat, so they are not looked up again."""


class NewcomerLimit:
    """Per process: browser ids known to have a chat, and new chats per address in the window.

    A browser whose id already has a chat is never limited; only the first message of a new
    browser counts against its address. In memory only: after a restart an id is looked up once.
    """

    def __init__(self, per_window: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_window = per_window
        self.clock = clock
        self._known: OrderedDict[str, None] = OrderedDict()
        self._starts: OrderedDict[str, deque[float]] = OrderedDict()

    def known(self, external_id: str) -> bool:
        """Whether this browser id has been seen with a chat."""
        if external_id in self._known:
            self._known.move_to_end(external_id)
            return True
        return False

    def remember(self, external_id: str) -> None:
        """This browser id has a chat now."""
        self._known[external_id] = None
        self._known.move_to_end(external_id)
        while len(self._known) > MAX_KNOWN:
            self._known.popitem(last=False)

    def admit(self, address: str) -> bool:
        """Count one new chat from `address`; False (and nothing counted) if over the cap."""
        now = self.clock()
        starts = self._starts.pop(address, None) or deque()
        while starts and starts[0] <= now - WINDOW_SECONDS:
            starts.popleft()
        self._starts[address] = starts  # re-inserted last: most recently active
        while len(self._starts) > MAX_ADDRESSES:
            self._starts.popitem(last=False)
        if len(starts) >= self.per_window:
            return False
        starts.append(now)
        return True

    def retry_after(self, address: str) -> int:
        """Seconds until `address` may start a new chat again."""
        starts = self._starts.get(address)
        if not starts:
            return 0
        return max(1, int(starts[0] + WINDOW_SECONDS - self.clock()) + 1)


def client_address(request: web.Request) -> str:
    """Whom a request comes from, for the cap.

    The peer's address; behind a reverse proxy on this machine (a loopback peer), the address
    that proxy saw (the last X-Forwarded-For entry: the one it wrote itself). An IPv6 address
    counts by its /64, within which one client can change addresses at will.
    """
    peer = _ip(request.remote or "")
    forwarded = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
    if peer is not None and peer.is_loopback and forwarded:
        peer = _ip(forwarded)
        if peer is None:
            return forwarded
    if peer is None:
        return request.remote or "unknown"
    if isinstance(peer, ipaddress.IPv6Address):
        if peer.ipv4_mapped is not None:
            return str(peer.ipv4_mapped)
        return str(ipaddress.IPv6Network((peer, 64), strict=False))
    return str(peer)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
