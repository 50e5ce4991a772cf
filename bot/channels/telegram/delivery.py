"""Sending rendered messages to Telegram: button tokens, keyboards, documents, error mapping."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram import Message as TelegramMessage
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.channels.base import Failed, SendResult, Sent, Unreachable
from bot.channels.base import RetryAfter as RetryLater
from bot.channels.telegram.render import TelegramOut
from storage.store import Store, Transaction

TOKEN_PREFIX = "t:"
REPLY_ATTEMPTS = 3
MAX_REPLY_WAIT = 10.0
"""Seconds a reply in a conversation waits for a 429 to pass; beyond, the person can /resume."""
T = TypeVar("T")


async def keyboard(
    store: Store, identity_id: int, out: TelegramOut
) -> InlineKeyboardMarkup | None:
    """The inline keyboard of `out`, each button's meaning stored behind a short token."""
    if not out.rows:
        return None
    async with store.transaction() as tx:
        return await keyboard_in(tx, identity_id, out)


async def keyboard_in(
    tx: Transaction, identity_id: int, out: TelegramOut
) -> InlineKeyboardMarkup | None:
    """`keyboard` inside the caller's transaction (several messages' tokens at once)."""
    if not out.rows:
        return None
    tokens = iter(
        await tx.buttons.issue_many(identity_id, [k.payload for row in out.rows for k in row])
    )
    rows = [
        [InlineKeyboardButton(key.label, callback_data=TOKEN_PREFIX + next(tokens)) for key in row]
        for row in out.rows
    ]
    return InlineKeyboardMarkup(rows)


async def deliver(
    bot: Bot,
    store: Store,
    identity_id: int,
    chat_id: int,
    out: TelegramOut,
    markup: InlineKeyboardMarkup | None = None,
) -> TelegramMessage:
    """Send one rendered message (text with keyboard, a document, or text and a photo).

    `markup` is a keyboard prepared ahead (its tokens already stored); else it is made here.
    """
    if out.photo is not None:
        # A photo caption holds 1024 characters: the text goes first, the picture after it.
        await bot.send_message(chat_id, out.text, parse_mode=ParseMode.HTML)
        return await bot.send_photo(
            chat_id, photo=out.photo, caption=out.caption, parse_mode=ParseMode.HTML
        )
    if out.document is not None:
        filename, content = out.document
        return await bot.send_document(
            chat_id,
            document=content,
            filename=filename,
            caption=out.text,
            parse_mode=ParseMode.HTML,
        )
    return await bot.send_message(
        chat_id,
        out.text,
        parse_mode=ParseMode.HTML,
        reply_markup=markup or await keyboard(store, identity_id, out),
        disable_web_page_preview=True,
    )


def seconds(value: int | float | timedelta) -> float:
    """retry_after as seconds (PTB gives an int or a timedelta depending on version)."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def classify(error: TelegramError) -> SendResult:
    """What a Bot API error means for the outbox."""
    if isinstance(error, RetryAfter):
        return RetryLater(_retry_seconds(error))
    if isinstance(error, Forbidden):
        return Unreachable(error.message)
    if isinstance(error, BadRequest) and "chat not found" in error.message.lower():
        return Unreachable(error.message)
    return Failed(error.message)


async def patiently(send: Callable[[], Awaitable[T]]) -> T:
    """A reply inside a conversation, retried through a short 429, a 5xx or a lost connection.

    The person's answer is stored before the reply goes out, so giving up costs them only a
    /resume; waiting out a brief fault shows them the next step without it. A retried timeout
    may show a message twice (the Bot API has no idempotency key).
    """
    attempt = 1
    while True:
        try:
            return await send()
        except RetryAfter as error:
            wait = _retry_seconds(error)
            if attempt >= REPLY_ATTEMPTS or wait > MAX_REPLY_WAIT:
                raise
            await asyncio.sleep(wait)
        except BadRequest:
            raise
        except NetworkError:  # 5xx, timeouts and dropped connections
            if attempt >= REPLY_ATTEMPTS:
                raise
            await asyncio.sleep(0.5 * attempt)
        attempt += 1


def _retry_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():
        # PTB 22 warns that retry_after will become a timedelta; seconds() takes both.
        warnings.simplefilter("ignore")
        return seconds(error.retry_after)


async def send_safely(
    bot: Bot,
    store: Store,
    identity_id: int,
    chat_id: int,
    out: TelegramOut,
    markup: InlineKeyboardMarkup | None = None,
) -> SendResult:
    """`deliver`, with Telegram's errors turned into a SendResult."""
    try:
        sent = await deliver(bot, store, identity_id, chat_id, out, markup)
    except TelegramError as error:
        return classify(error)
    return Sent(str(sent.message_id))
