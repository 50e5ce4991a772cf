"""Telegram enrollment links: the bot's username, deep links with a start code, QR codes."""

from __future__ import annotations

from pathlib import Path

import qrcode
import qrcode.image.pure
from telegram import Bot

from bot.settings import Settings


async def telegram_username(settings: Settings) -> str | None:
    """The bot's @username from getMe, or None when Telegram is not configured."""
    if settings.telegram_bot_token is None:
        return None
    root = settings.telegram_api_base_url.rstrip("/")
    bot = Bot(
        settings.telegram_bot_token.get_secret_value(),
        base_url=f"{root}/bot",
        base_file_url=f"{root}/file/bot",
    )
    async with bot:
        me = await bot.get_me()
    return me.username


def deep_link(username: str, code: str) -> str:
    """https://t.me/<bot>?start=<code>: opening it sends /start <code> to the bot."""
    return f"https://t.me/{username}?start={code}"


def write_qr(link: str, path: Path) -> None:
    """A PNG QR code of `link` (pure Python, no imaging library needed)."""
    image = qrcode.make(link, image_factory=qrcode.image.pure.PyPNGImage)
    with path.open("wb") as handle:
        image.save(handle)
