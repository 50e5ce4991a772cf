"""The Telegram channel: PTB application lifecycle, webhook route, update handling."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hmac
import json
import logging
from collections.abc import Callable
from datetime import datetime
from html import escape
from typing import Any

from aiohttp import web
from telegram import BotCommand, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

from bot.channels.actions import MENU, ActionError, refusal, translate_event
from bot.channels.telegram.delivery import deliver, keyboard, patiently
from bot.channels.telegram.render import render_message
from bot.channels.telegram.sender import TelegramSender
from bot.channels.telegram.translate import Pressed, TypedLine, Unsupported, translate_update
from bot.services.conversation import ENGINE_EVENTS, ConversationService
from bot.services.messages import Message
from bot.settings import Settings
from bot.web.unavailable import DATABASE_DOWN, RETRY_AFTER_SECONDS
from dialogs import engine
from dialogs.i18n import translate
from dialogs.model import LOCALES
from storage.store import Store

log = logging.getLogger(__name__)
CHANNEL = "telegram"
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DATABASE_FAILURES: contextvars.ContextVar[list[BaseException] | None] = contextvars.ContextVar(
    "telegram_database_failures", default=None
)
"""Set while a webhook request is handled: updates that met a database outage land here."""


class TelegramChannel:
    """Owns the PTB application: polling without FOLLOWUP_PUBLIC_URL, webhook with it."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        service: ConversationService,
        clock: Callable[[], datetime],
    ) -> None:
        assert settings.telegram_bot_token is not None
        self.settings = settings
        self.store = store
        self.service = service
        self.clock = clock
        self.webhook = settings.public_url is not None
        root = settings.telegram_api_base_url.rstrip("/")
        builder = (
            ApplicationBuilder()
            .token(settings.telegram_bot_token.get_secret_value())
            .base_url(f"{root}/bot")
            .base_file_url(f"{root}/file/bot")
            .concurrent_updates(True)
        )
        if self.webhook:
            builder = builder.updater(None)
        self.application: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self.application.add_handler(TypeHandler(Update, self.on_update))
        self.sender = TelegramSender(self.application.bot, store)

    def register(self, app: web.Application) -> None:
        """Add the webhook route (webhook mode only)."""
        if self.webhook:
            app.router.add_post(WEBHOOK_PATH, self.webhook_handler)

    async def start(self) -> None:
        """Initialize PTB, publish the command menu, and start polling or set the webhook."""
        await self.application.initialize()
        await self._set_commands()
        bot = self.application.bot
        if self.webhook:
            secret = self.settings.telegram_webhook_secret
            await bot.set_webhook(
                f"{self.settings.public_url}{WEBHOOK_PATH}",
                secret_token=secret.get_secret_value() if secret else None,
                allowed_updates=["message", "callback_query"],
            )
            await self.application.start()
            return
        await bot.delete_webhook()
        updater = self.application.updater
        assert updater is not None
        await updater.start_polling(
            timeout=self.settings.telegram_poll_timeout,
            allowed_updates=["message", "callback_query"],
        )
        await self.application.start()

    async def start_sending(self) -> None:
        """Only what proactive sending needs (for a separate outbox process): no updates."""
        await self.application.initialize()

    async def stop(self) -> None:
        """Stop polling and PTB, in that order."""
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    async def _set_commands(self) -> None:
        for locale in (*LOCALES, None):
            commands = [
                BotCommand(
                    name,
                    translate(locale or self.settings.default_locale, f"telegram.command.{name}"),
                )
                for name in MENU
            ]
            await self.application.bot.set_my_commands(commands, language_code=locale)

    async def webhook_handler(self, request: web.Request) -> web.StreamResponse:
        """POST /telegram/webhook: verify the secret, then handle the update."""
        secret = self.settings.telegram_webhook_secret
        given = request.headers.get(SECRET_HEADER, "")
        if secret is None or not hmac.compare_digest(given, secret.get_secret_value()):
            raise web.HTTPUnauthorized(text="wrong or missing secret token")
        try:
            data = await request.json()
            if not isinstance(data, dict):  # PTB expects an object: `null` or `1` crash it
                raise TypeError("an update is a JSON object")
            update = Update.de_json(data, self.application.bot)
        except (ValueError, TypeError, KeyError, AttributeError, json.JSONDecodeError):
            raise web.HTTPBadRequest(text="not a Telegram update") from None
        failed: list[BaseException] = []
        token = DATABASE_FAILURES.set(failed)
        try:
            await self.application.process_update(update)
        finally:
            DATABASE_FAILURES.reset(token)
        if failed:  # nothing was stored: Telegram delivers the update again later
            raise web.HTTPServiceUnavailable(headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        return web.Response(text="ok")

    async def on_update(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """Handle one update: translate, call the service, answer in the chat."""
        incoming = translate_update(update)
        if incoming is None:
            return
        try:
            if isinstance(incoming, Pressed):
                await self._on_press(incoming)
            elif isinstance(incoming, TypedLine):
                await self._on_line(incoming)
            elif isinstance(incoming, Unsupported):
                locale = await self._locale(incoming.chat_id)
                await self.application.bot.send_message(
                    incoming.chat_id, translate(locale, "telegram.text_only")
                )
        except Forbidden as error:
            await self._mark_unreachable(incoming.chat_id, error.message)
        except BadRequest as error:
            # E.g. "chat not found": a chat we cannot write to; nothing more to do for it.
            log.warning("Telegram refused the reply to an update (%s)", type(error).__name__)
        except DATABASE_DOWN as error:
            await self._database_down(incoming.chat_id, error)

    async def _database_down(self, chat_id: int, error: BaseException) -> None:
        """Webhook: answer 503 so Telegram redelivers; polling: say so (the update is gone)."""
        log.warning("database unavailable for an update: %s", type(error).__name__)
        failed = DATABASE_FAILURES.get()
        if failed is not None:
            failed.append(error)
            return
        with contextlib.suppress(TelegramError):
            await self.application.bot.send_message(
                chat_id, translate(self.settings.default_locale, "service.unavailable")
            )

    async def _locale(self, chat_id: int) -> str:
        return await self.service.locale_of(CHANNEL, str(chat_id)) or self.settings.default_locale

    async def _on_line(self, line: TypedLine) -> None:
        try:
            event = translate_event({"type": "text", "text": line.text})
        except ActionError:
            locale = await self._locale(line.chat_id)
            await self.application.bot.send_message(
                line.chat_id, translate(locale, "telegram.too_long")
            )
            return
        reply = await self.service.handle(CHANNEL, str(line.chat_id), event, self.clock())
        if refusal(reply.messages) is None:
            await self._close_previous_prompt(line.chat_id)
        await self._send(line.chat_id, reply.messages)

    async def _on_press(self, press: Pressed) -> None:
        bot = self.application.bot
        resolved = await self._resolve(press)
        if resolved is None:
            locale = await self._locale(press.chat_id)
            await self._answer_query(press.query_id, translate(locale, "engine.stale"))
            return
        identity_id, payload = resolved
        if payload.get("type") == "page":
            await self._turn_page(press, int(payload.get("page", 0)), payload.get("item_id"))
            return
        try:
            event = translate_event(payload)
        except ActionError:
            await self._answer_query(press.query_id)
            return
        reply = await self.service.handle(CHANNEL, str(press.chat_id), event, self.clock())
        refused = refusal(reply.messages)
        if refused is not None:
            await self._answer_query(
                press.query_id,
                refused.text[:200],
                show_alert=refused.key.startswith("engine.invalid."),
            )
            return
        await self._answer_query(press.query_id)
        first = reply.messages[0] if reply.messages else None
        if (
            isinstance(first, engine.Ask)
            and first.input == engine.InputMode.TOGGLES
            and payload.get("type") == "toggle"
            and press.message_id is not None
        ):
            # A toggle redraws the same question's buttons in place.
            markup = await keyboard(self.store, identity_id, render_message(first))
            await bot.edit_message_reply_markup(
                press.chat_id, press.message_id, reply_markup=markup
            )
            return
        if press.message_id is not None:
            await self._close(press.chat_id, press.message_id, press.html, press.label)
        # An answer keeps the identity as it was (a confirmed «forget me» deletes it).
        known = identity_id if isinstance(event, ENGINE_EVENTS) else None
        await self._send(press.chat_id, reply.messages, known)

    async def _turn_page(self, press: Pressed, page: int, item_id: object) -> None:
        """Show another page of a long option list, in place (the answer state is unchanged)."""
        bot = self.application.bot
        reply = await self.service.handle(
            CHANNEL, str(press.chat_id), engine.Start(), self.clock()
        )
        ask = next((m for m in reply.messages if isinstance(m, engine.Ask)), None)
        if ask is None or press.message_id is None or ask.item_id != item_id:
            # An old question's page buttons must not bring the current question's options.
            locale = await self._locale(press.chat_id)
            await self._answer_query(press.query_id, translate(locale, "engine.stale"))
            return
        await self._answer_query(press.query_id)
        identity_id = await self._identity_id(press.chat_id)
        markup = await keyboard(self.store, identity_id, render_message(ask, page))
        await bot.edit_message_reply_markup(press.chat_id, press.message_id, reply_markup=markup)

    async def _answer_query(
        self, query_id: str, text: str | None = None, show_alert: bool = False
    ) -> None:
        """Answer a button press (an old one, redelivered after downtime, no longer can be)."""
        try:
            await self.application.bot.answer_callback_query(query_id, text, show_alert)
        except BadRequest as error:
            log.info("could not answer button press (%s)", type(error).__name__)

    async def _resolve(self, press: Pressed) -> tuple[int, dict[str, Any]] | None:
        """The pressed button's identity id and payload (None: unknown or not theirs)."""
        if not press.token:
            return None
        async with self.store.transaction() as tx:
            identity = await tx.org.identity(CHANNEL, str(press.chat_id))
            if identity is None:
                return None
            payload = await tx.buttons.resolve(identity.id, press.token)
            return None if payload is None else (identity.id, payload)

    async def _identity_id(self, chat_id: int) -> int:
        async with self.store.transaction() as tx:
            return (await tx.org.ensure_identity(CHANNEL, str(chat_id))).id

    async def _close(
        self, chat_id: int, message_id: int, html: str | None, label: str | None
    ) -> None:
        """Show the recorded answer on the question and take its buttons away."""
        try:
            if html is not None and label is not None:
                await self.application.bot.edit_message_text(
                    f"{html}\n✔ <b>{escape(label)}</b>",
                    chat_id,
                    message_id,
                    parse_mode=ParseMode.HTML,
                )
            else:
                await self.application.bot.edit_message_reply_markup(chat_id, message_id)
        except BadRequest as error:
            log.info("could not close message %s (%s)", message_id, type(error).__name__)

    async def _close_previous_prompt(self, chat_id: int) -> None:
        identity_id = await self._identity_id(chat_id)
        async with self.store.transaction() as tx:
            ref = await tx.org.conversation_ref(identity_id)
        prompt = ref.get("prompt")
        if isinstance(prompt, int):
            # BadRequest: already without buttons, or deleted by the person.
            with contextlib.suppress(BadRequest):
                await self.application.bot.edit_message_reply_markup(chat_id, prompt)

    async def _send(
        self, chat_id: int, messages: tuple[Message, ...], identity_id: int | None = None
    ) -> None:
        if identity_id is None:
            identity_id = await self._identity_id(chat_id)
        prompt: int | None = None
        for message in messages:
            try:
                sent = await patiently(
                    functools.partial(
                        deliver,
                        self.application.bot,
                        self.store,
                        identity_id,
                        chat_id,
                        render_message(message),
                    )
                )
            except BadRequest as error:
                # Never leave the person without a reply: say so, keep the state as it is.
                log.warning("Telegram refused a message (%s)", type(error).__name__)
                locale = await self._locale(chat_id)
                await self.application.bot.send_message(
                    chat_id, translate(locale, "telegram.send_failed")
                )
                continue
            if isinstance(message, engine.Ask | engine.Summary):
                prompt = sent.message_id
        async with self.store.transaction() as tx:
            # The whole of a Telegram reference: written without reading it first.
            await tx.org.set_conversation_ref(identity_id, {"chat_id": chat_id, "prompt": prompt})

    async def _mark_unreachable(self, chat_id: int, reason: str) -> None:
        async with self.store.transaction() as tx:
            identity = await tx.org.identity(CHANNEL, str(chat_id))
            if identity is not None:
                await tx.org.mark_unreachable(identity.id, reason)


__all__ = ["CHANNEL", "TelegramChannel", "TelegramError"]
