"""Operations endpoints: /healthz (database and scheduler lease) and /metrics (Prometheus)."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
from collections.abc import Callable
from datetime import datetime

from aiohttp import web

from bot.metrics import CONTENT_TYPE, Metrics
from bot.settings import Settings
from scheduler.lease import SchedulerLease
from storage import operations
from storage.store import Store

log = logging.getLogger(__name__)
PING_TIMEOUT = 2.0
"""Seconds the database gets to answer a health check (a load balancer waits for us)."""
FORWARDED = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


def direct_loopback(request: web.Request) -> bool:
    """A client on this machine, not a request a local reverse proxy passes on from outside."""
    if any(name in request.headers for name in FORWARDED):
        return False
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


class OperationsRoutes:
    """Serves /healthz to anyone (it reveals nothing) and /metrics to loopback or the token."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        lease: SchedulerLease,
        settings: Settings,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.lease = lease
        self.settings = settings
        self.clock = clock

    def register(self, app: web.Application) -> None:
        """Add the routes."""
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics_page)

    async def healthz(self, request: web.Request) -> web.StreamResponse:
        """200 when the database answers a trivial query in time, else 503."""
        try:
            async with asyncio.timeout(PING_TIMEOUT):
                async with self.store.transaction() as tx:
                    await operations.ping(tx.session)
            database = "ok"
        except Exception as error:  # any failure means "not healthy"; say which kind only
            log.warning("health check: database unavailable (%s)", type(error).__name__)
            database = "unavailable"
        healthy = database == "ok"
        return web.json_response(
            {
                "status": "ok" if healthy else "unavailable",
                "database": database,
                "scheduler_lease": self.lease.held,
            },
            status=200 if healthy else 503,
            headers={"Cache-Control": "no-store"},
        )

    async def metrics_page(self, request: web.Request) -> web.StreamResponse:
        """The Prometheus text format; gauges are read from the database now."""
        self._check_access(request)
        try:
            async with asyncio.timeout(PING_TIMEOUT):
                await self.metrics.refresh(
                    self.store, self.clock(), self.settings.min_group_size, self.lease.held
                )
        except Exception as error:  # the counters are still worth a scrape
            log.warning("metrics: gauges not refreshed (%s)", type(error).__name__)
        return web.Response(
            body=self.metrics.render(),
            headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"},
        )

    def _check_access(self, request: web.Request) -> None:
        token = self.settings.metrics_token
        if token is not None:
            expected = f"Bearer {token.get_secret_value()}".encode()
            given = request.headers.get("Authorization", "").encode()
            if hmac.compare_digest(given, expected):
                return
        if direct_loopback(request):
            return
        if token is not None:
            raise web.HTTPUnauthorized(
                text="a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        raise web.HTTPForbidden(text="/metrics is served to loopback clients only")
