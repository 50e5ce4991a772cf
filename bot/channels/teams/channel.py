"""The Teams channel: CloudAdapter at /api/messages, activity handling, card updates in place."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from botbuilder.core import Bot, CardFactory, MessageFactory, TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, ActivityTypes, ConversationReference

from bot.channels.actions import ActionError, refusal, translate_event
from bot.channels.teams.render import TeamsOut, card, recorded_card, render_message
from bot.channels.teams.sender import patiently
from bot.channels.teams.translate import (
    TeamsLine,
    TeamsSubmit,
    merge_inputs,
    recorded_answer,
    sender_key,
    tenant_of,
    translate_activity,
)
from bot.services.conversation import ConversationService
from bot.services.messages import Message
from bot.settings import Settings
from dialogs.i18n import translate
from storage.store import Store

log = logging.getLogger(__name__)
CHANNEL = "teams"
MESSAGES_PATH = "/api/messages"


class AdapterConfig:
    """The attribute names botbuilder's configuration classes read."""

    def __init__(self, settings: Settings) -> None:
        self.APP_ID = settings.microsoft_app_id or ""
        password = settings.microsoft_app_password
        self.APP_PASSWORD = password.get_secret_value() if password else ""
        # An empty app id (the local Playground) switches every token check off.
        self.APP_TYPE = settings.microsoft_app_type if self.APP_ID else "MultiTenant"
        self.APP_TENANTID = settings.microsoft_app_tenant_id or ""


class TeamsChannel(Bot):  # type: ignore[misc]  # botbuilder ships no type hints
    """Receives activities from Teams and answers with Adaptive Cards."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        service: ConversationService,
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.store = store
        self.service = service
        self.clock = clock
        self.app_id = settings.microsoft_app_id or ""
        self.adapter = CloudAdapter(
            ConfigurationBotFrameworkAuthentication(AdapterConfig(settings))
        )
        self.adapter.on_turn_error = self._on_error
        self.allowed_tenants = set(settings.teams_allowed_tenants)

    def register(self, app: web.Application) -> None:
        """Add POST /api/messages."""
        app.router.add_post(MESSAGES_PATH, self.messages)

    async def messages(self, request: web.Request) -> web.StreamResponse:
        """The messaging endpoint; a malformed request gets 400, not a traceback."""
        try:
            response = await self.adapter.process(request, self)
        except web.HTTPException:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            log.info("malformed Teams request (%s)", type(error).__name__)
            raise web.HTTPBadRequest(text="malformed activity") from None
        return response or web.Response(status=201)

    async def _on_error(self, context: TurnContext, error: Exception) -> None:
        log.exception("Teams turn failed", exc_info=error)

    async def on_turn(self, context: TurnContext) -> None:
        """One activity: remember where to reach the person, then handle what they did."""
        activity = context.activity
        tenant = tenant_of(activity)
        if self.allowed_tenants and tenant not in self.allowed_tenants:
            log.info("activity from a tenant not allowed: %s", tenant)
            return
        if activity.type in (
            ActivityTypes.conversation_update,
            ActivityTypes.installation_update,
            ActivityTypes.message,
        ):
            await self._remember(context)
        incoming = translate_activity(activity)
        if incoming is None:
            return
        key = sender_key(activity)
        if await self.service.locale_of(CHANNEL, key) is None:
            await self._link_by_roster(context, key)
        if isinstance(incoming, TeamsSubmit):
            await self._on_submit(context, key, incoming)
        else:
            await self._on_line(context, key, incoming)

    async def _remember(self, context: TurnContext) -> None:
        reference = TurnContext.get_conversation_reference(context.activity)
        key = sender_key(context.activity)
        async with self.store.transaction() as tx:
            identity = await tx.org.ensure_identity(CHANNEL, key)
            await tx.org.set_conversation_ref(identity.id, reference.serialize())

    async def _link_by_roster(self, context: TurnContext, key: str) -> None:
        """Match the Teams user to the roster by work e-mail / UPN, if Teams tells us."""
        try:
            member = await TeamsInfo.get_member(context, context.activity.from_property.id)
        except Exception as error:  # not every host answers member lookups
            log.info("no Teams member details (%s)", type(error).__name__)
            return
        address = (
            getattr(member, "email", None) or getattr(member, "user_principal_name", None) or ""
        )
        if not address:
            return
        async with self.store.transaction() as tx:
            person = await tx.org.person_by_email(address)
        if person is not None and person.active:
            await self.service.link(CHANNEL, key, person.id, self.clock())

    async def _on_line(self, context: TurnContext, key: str, line: TeamsLine) -> None:
        try:
            event = translate_event({"type": "text", "text": line.text})
        except ActionError:
            await context.send_activity(translate(await self._locale(key), "telegram.too_long"))
            return
        reply = await self.service.handle(CHANNEL, key, event, self.clock())
        await self._send(context, reply.messages, reply.locale)

    async def _on_submit(self, context: TurnContext, key: str, submit: TeamsSubmit) -> None:
        payload = await self._resolve(key, submit.token)
        locale = await self._locale(key)
        if payload is None:
            await context.send_activity(translate(locale, "engine.stale"))
            return
        merged = merge_inputs(payload, submit.inputs)
        try:
            event = translate_event(merged)
        except ActionError:
            await context.send_activity(translate(locale, "teams.required"))
            return
        reply = await self.service.handle(CHANNEL, key, event, self.clock())
        refused = refusal(reply.messages)
        if refused is None and submit.card_id and "question" in payload:
            answer = recorded_answer(payload, submit.inputs)
            if answer is not None:
                await self._update(
                    context, submit.card_id, recorded_card(str(payload["question"]), answer)
                )
        await self._send(context, reply.messages, reply.locale)

    async def _update(
        self, context: TurnContext, activity_id: str, content: dict[str, Any]
    ) -> None:
        """Replace a card in place (update activity) to show the recorded answer."""
        updated = MessageFactory.attachment(CardFactory.adaptive_card(content))
        updated.id = activity_id
        try:
            await context.update_activity(updated)
        except Exception as error:  # an old card may be gone; the answer is stored anyway
            log.info("could not update card %s (%s)", activity_id, type(error).__name__)

    async def _resolve(self, key: str, token: str) -> dict[str, Any] | None:
        async with self.store.transaction() as tx:
            identity = await tx.org.identity(CHANNEL, key)
            return await tx.buttons.resolve(identity.id, token) if identity else None

    async def _locale(self, key: str) -> str:
        return await self.service.locale_of(CHANNEL, key) or self.settings.default_locale

    async def _send(
        self, context: TurnContext, messages: tuple[Message, ...], locale: str
    ) -> None:
        key = sender_key(context.activity)
        for message in messages:
            activity = await self.activity_for(key, render_message(message, locale))
            await patiently(functools.partial(context.send_activity, activity))

    async def activity_for(self, key: str, out: TeamsOut) -> Activity:
        """A message activity carrying `out` as an Adaptive Card, tokens issued for `key`."""
        async with self.store.transaction() as tx:
            identity = await tx.org.ensure_identity(CHANNEL, key)
            tokens = await tx.buttons.issue_many(identity.id, [b.payload for b in out.buttons])
        activity = MessageFactory.attachment(CardFactory.adaptive_card(card(out, tokens)))
        activity.summary = out.summary[:200] or None
        return activity

    async def proactive(self, reference: dict[str, Any], key: str, out: TeamsOut) -> str | None:
        """Send `out` into a stored conversation; returns the new activity id."""
        activity = await self.activity_for(key, out)
        sent: list[str | None] = []
        failed: list[Exception] = []

        async def callback(context: TurnContext) -> None:
            try:
                response = await context.send_activity(activity)
            except Exception as error:  # on_turn_error would log it and report success
                failed.append(error)
                return
            sent.append(response.id if response else None)

        await self.adapter.continue_conversation(
            ConversationReference().deserialize(reference), callback, self.app_id
        )
        if failed:
            raise failed[0]  # the outbox tells a 429 from a 403 by it
        if not sent:
            raise RuntimeError("the proactive turn failed before sending")
        return sent[0]
