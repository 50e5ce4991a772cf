"""The web chat's HTTP side: the page, a signed identity cookie and the JSON endpoints."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.channels.actions import ActionError, translate_event
from bot.channels.web.newcomers import NewcomerLimit, client_address
from bot.channels.web.render import render_message
from bot.services.conversation import ConversationService, Reply
from bot.settings import Settings
from bot.web.unavailable import request_locale
from dialogs.i18n import normalize_locale, translate
from storage.store import Store

COOKIE = "followup_web"
IDENTITY = web.RequestKey("web_identity", str)
STATIC_DIR = Path(__file__).parent / "static"
CHANNEL = "web"
MAX_ECHO = 500


class WebChat:
    """Serves /chat and /chat/api/*; one instance per app."""

    def __init__(
        self,
        store: Store,
        service: ConversationService,
        settings: Settings,
        secret: bytes,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.service = service
        self.settings = settings
        self.secret = secret
        self.clock = clock
        self.newcomers = NewcomerLimit(settings.web_new_chats_per_hour)
        self.templates = Environment(
            loader=FileSystemLoader(STATIC_DIR), autoescape=select_autoescape(["html"])
        )

    def register(self, app: web.Application) -> None:
        """Add the routes."""
        app.router.add_get("/", self.redirect_to_chat)
        app.router.add_get("/chat", self.page)
        app.router.add_static("/chat/static", STATIC_DIR)
        app.router.add_get("/chat/api/session", self.session)
        app.router.add_get("/chat/api/messages", self.messages)
        app.router.add_post("/chat/api/send", self.send)
        app.router.add_post("/chat/api/demo", self.demo)

    async def redirect_to_chat(self, request: web.Request) -> web.StreamResponse:
        """The root shows the chat."""
        raise web.HTTPFound("/chat")

    async def page(self, request: web.Request) -> web.StreamResponse:
        """The chat page, in the browser's language (nb unless it asks for nn or en)."""
        response = web.Response(content_type="text/html")
        external_id = self._identity(request, response)
        locale = await self.service.locale_of(CHANNEL, external_id) or normalize_locale(
            request.headers.get("Accept-Language", "").split(",")[0],
            self.settings.default_locale,
        )
        response.text = self.templates.get_template("chat.html").render(
            locale=locale, t=lambda key: translate(locale, key)
        )
        return response

    async def session(self, request: web.Request) -> web.StreamResponse:
        """Who am I, in which language, and (demo only) whom can I pretend to be."""
        response = web.json_response({})
        external_id = self._identity(request, response)
        async with self.store.transaction() as tx:
            identity = await tx.org.identity(CHANNEL, external_id)
            person = (
                await tx.org.person(identity.person_id)
                if identity and identity.person_id
                else None
            )
            demo = []
            if person is None and self.settings.demo_enabled:
                for candidate in await tx.org.people():
                    if candidate.email:
                        units = [m.unit_id for m in await tx.org.memberships(candidate.id)]
                        demo.append(
                            {
                                "person_id": candidate.id,
                                "name": candidate.name or candidate.email,
                                "units": units,
                            }
                        )
        locale = normalize_locale(person.locale if person else None, self.settings.default_locale)
        response.text = json.dumps(
            {
                "linked": person is not None,
                "name": person.name if person else None,
                "locale": locale,
                "demo": demo,
            }
        )
        return response

    async def messages(self, request: web.Request) -> web.StreamResponse:
        """Transcript lines after ?after=<id> (the page polls this for proactive messages)."""
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            raise web.HTTPBadRequest(text="'after' must be an integer") from None
        response = web.json_response({})
        external_id = self._identity(request, response)
        response.text = json.dumps({"messages": await self._lines(external_id, after)})
        return response

    async def send(self, request: web.Request) -> web.StreamResponse:
        """One user action: answer, button press, command or text."""
        data = await self._json(request)
        try:
            event = translate_event(data)
        except ActionError as error:
            raise web.HTTPBadRequest(text=str(error)) from None
        response = web.json_response({})
        external_id = self._identity(request, response)
        await self._admit(request, external_id)
        echo = data.get("echo")
        reply = await self.service.handle(CHANNEL, external_id, event, self.clock())
        await self._record(external_id, echo if isinstance(echo, str) else None, reply)
        after = data.get("after") if isinstance(data.get("after"), int) else 0
        response.text = json.dumps({"messages": await self._lines(external_id, int(after or 0))})
        return response

    async def demo(self, request: web.Request) -> web.StreamResponse:
        """Demo mode on a loopback host only: be one of the example people."""
        if not self.settings.demo_enabled:
            raise web.HTTPForbidden(text="demo mode is off")
        data = await self._json(request)
        person_id = data.get("person_id")
        if not isinstance(person_id, int) or isinstance(person_id, bool):
            raise web.HTTPBadRequest(text="'person_id' must be an integer")
        async with self.store.transaction() as tx:
            person = await tx.org.person(person_id)
        if person is None or not person.active or not person.email:
            raise web.HTTPBadRequest(text="no such demo person")
        response = web.json_response({})
        external_id = self._identity(request, response)
        reply = await self.service.link(CHANNEL, external_id, person_id, self.clock())
        await self._record(external_id, None, reply)
        response.text = json.dumps({"messages": await self._lines(external_id, 0)})
        return response

    async def _admit(self, request: web.Request, external_id: str) -> None:
        """Refuse (429, localised) a new browser's first message past its address's cap."""
        if self.newcomers.known(external_id):
            return
        async with self.store.transaction() as tx:
            has_chat = await tx.org.identity(CHANNEL, external_id) is not None
        address = client_address(request)
        if has_chat or self.newcomers.admit(address):
            self.newcomers.remember(external_id)
            return
        locale = request_locale(request, self.settings.default_locale)
        raise web.HTTPTooManyRequests(
            text=translate(locale, "web.too_many_new_chats"),
            headers={"Retry-After": str(self.newcomers.retry_after(address))},
        )

    async def _record(self, external_id: str, echo: str | None, reply: Reply) -> None:
        async with self.store.transaction() as tx:
            identity = await tx.org.ensure_identity(CHANNEL, external_id)
            tag = reply.anonymous_round
            if echo:
                line = {"type": "echo", "text": echo[:MAX_ECHO]}
                await tx.web.append(identity.id, "in", line, tag)
            for message in reply.messages:
                await tx.web.append(identity.id, "out", render_message(message), tag)

    async def _lines(self, external_id: str, after: int) -> list[dict[str, Any]]:
        async with self.store.transaction() as tx:
            identity = await tx.org.identity(CHANNEL, external_id)
            if identity is None:
                return []
            rows = await tx.web.after(identity.id, after)
        return [{"id": r.id, "direction": r.direction, **r.payload} for r in rows]

    @staticmethod
    async def _json(request: web.Request) -> dict[str, Any]:
        # Requiring a JSON body also keeps cross-site form posts out (no CORS preflight pass).
        if request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType(text="send application/json")
        try:
            data = await request.json()
        except (ValueError, UnicodeDecodeError):
            raise web.HTTPBadRequest(text="the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="the body must be a JSON object")
        return data

    def _identity(self, request: web.Request, response: web.StreamResponse) -> str:
        """The browser's random id from the signed cookie; a new one (and cookie) if absent."""
        known = self._verify(request.cookies.get(COOKIE, ""))
        if known:
            request[IDENTITY] = known
            return known
        fresh = request.get(IDENTITY) or secrets.token_urlsafe(18)
        request[IDENTITY] = fresh
        response.set_cookie(
            COOKIE,
            f"{fresh}.{self._sign(fresh)}",
            httponly=True,
            samesite="Lax",
            secure=bool(self.settings.public_url),
            max_age=60 * 60 * 24 * 365,
            path="/",
        )
        return fresh

    def _sign(self, value: str) -> str:
        return hmac.new(self.secret, value.encode(), hashlib.sha256).hexdigest()[:32]

    def _verify(self, cookie: str) -> str | None:
        value, _, signature = cookie.rpartition(".")
        if value and hmac.compare_digest(signature, self._sign(value)):
            return value
        return None
