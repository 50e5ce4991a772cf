"""While the database is away: a localised 503 «try again» instead of a bare 500."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from dialogs.i18n import normalize_locale, translate

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5
DATABASE_DOWN = (DBAPIError, PoolTimeout, ConnectionError)
"""What a lost or restarting database raises (nothing was stored: the transaction rolled back)."""


def request_locale(request: web.Request, default: str) -> str:
    """The first language the browser asks for, if we have it."""
    first = request.headers.get("Accept-Language", "").split(",")[0].split(";")[0].strip()
    return normalize_locale(first or None, default)


def unavailable_middleware(default_locale: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Middleware: database errors become 503 with a localised text and Retry-After."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except DATABASE_DOWN as error:
            log.warning("database unavailable: %s", type(error).__name__)
            text = translate(request_locale(request, default_locale), "service.unavailable")
            return web.Response(
                status=503, text=text, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
            )

    return middleware
