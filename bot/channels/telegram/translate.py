"""Translate Telegram updates into what the channel needs: who, and a line or a button token."""

from __future__ import annotations

from dataclasses import dataclass

from telegram import Update
from telegram.constants import ChatType

from bot.channels.telegram.delivery import TOKEN_PREFIX


@dataclass(frozen=True)
class TypedLine:
    """The person sent text (commands included)."""

    chat_id: int
    text: str


@dataclass(frozen=True)
class Pressed:
    """The person pressed one of our inline buttons."""

    chat_id: int
    token: str
    query_id: str
    message_id: int | None
    label: str | None
    html: str | None


@dataclass(frozen=True)
class Unsupported:
    """A sticker, photo, group chat...: answered with a short explanation."""

    chat_id: int


TelegramInput = TypedLine | Pressed | Unsupported


def _pressed_label(update: Update, data: str) -> str | None:
    message = update.callback_query.message if update.callback_query else None
    markup = getattr(message, "reply_markup", None)
    for row in markup.inline_keyboard if markup else ():
        for button in row:
            if button.callback_data == data:
                return str(button.text)
    return None


def translate_update(update: Update) -> TelegramInput | None:
    """The input in an update, or None for updates we ignore (edits, joins...)."""
    chat = update.effective_chat
    if chat is None:
        return None
    if chat.type != ChatType.PRIVATE:
        return Unsupported(chat.id)
    query = update.callback_query
    if query is not None:
        data = query.data or ""
        message = query.message
        return Pressed(
            chat_id=chat.id,
            token=data.removeprefix(TOKEN_PREFIX) if data.startswith(TOKEN_PREFIX) else "",
            query_id=query.id,
            message_id=message.message_id if message else None,
            label=_pressed_label(update, data),
            html=getattr(message, "text_html", None) if message else None,
        )
    message = update.message
    if message is None:
        return None
    if message.text:
        return TypedLine(chat.id, message.text)
    return Unsupported(chat.id)
