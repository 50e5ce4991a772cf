"""Render service messages as Telegram messages: HTML text plus inline keyboards."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from html import escape
from typing import Any

from bot.channels.actions import event_payload
from bot.services.messages import (
    DataExport,
    Invitation,
    LanguageMenu,
    Message,
    Picture,
    Prompt,
)
from dialogs import engine

SHORT_LABEL = 18
"""Buttons with labels up to this length share a row (three at most)."""
SELECTED, UNSELECTED = "✅ ", "◻️ "
MAX_TEXT = 4096
PAGE_SIZE = 8
"""Options per page: longer lists get ◀ ▶ buttons (phones show about eight rows)."""


@dataclass(frozen=True)
class Key:
    """One inline button: its label and the action payload it stands for."""

    label: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class TelegramOut:
    """One message to send: HTML text, keyboard rows, or a document."""

    text: str
    rows: tuple[tuple[Key, ...], ...] = ()
    document: tuple[str, bytes] | None = None
    photo: bytes | None = None
    """A picture sent after the text (its caption is the picture's alt text)."""
    caption: str = ""
    item_id: str | None = None
    toggles: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _rows(keys: list[Key]) -> list[tuple[Key, ...]]:
    """Short labels three to a row, long labels alone (they would be cut on phones)."""
    rows: list[tuple[Key, ...]] = []
    row: list[Key] = []
    for key in keys:
        if len(key.label) > SHORT_LABEL:
            if row:
                rows.append(tuple(row))
                row = []
            rows.append((key,))
            continue
        row.append(key)
        if len(row) == 3:
            rows.append(tuple(row))
            row = []
    if row:
        rows.append(tuple(row))
    return rows


def _action_keys(actions: tuple[engine.Action, ...]) -> list[Key]:
    return [
        Key(a.label, {"type": "action", "action": a.kind.value, "item_id": a.item_id})
        for a in actions
    ]


def _page_keys(keys: list[Key], page: int, item_id: str) -> tuple[list[Key], list[Key]]:
    """One page of a long option list, and the buttons to move between pages."""
    pages = max(1, -(-len(keys) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    shown = keys[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    nav = []
    if page > 0:
        nav.append(Key("◀", {"type": "page", "page": page - 1, "item_id": item_id}))
    if page < pages - 1:
        nav.append(Key("▶", {"type": "page", "page": page + 1, "item_id": item_id}))
    return shown, nav


def _ask(message: engine.Ask, page: int = 0) -> TelegramOut:
    lines = [f"<b>{message.position}/{message.total}</b> {escape(message.text)}"]
    if message.hint:
        lines.append(f"<i>{escape(message.hint)}</i>")
    toggles = message.input == engine.InputMode.TOGGLES
    keys = []
    for choice in message.choices:
        if toggles:
            mark = SELECTED if choice.selected else UNSELECTED
            keys.append(
                Key(
                    mark + choice.label,
                    {"type": "toggle", "item_id": message.item_id, "option_id": choice.id},
                )
            )
        else:
            keys.append(
                Key(
                    choice.label,
                    {"type": "choose", "item_id": message.item_id, "option_id": choice.id},
                )
            )
    nav: list[Key] = []
    if len(keys) > PAGE_SIZE:
        keys, nav = _page_keys(keys, page, message.item_id)
    rows = _rows(keys) + ([tuple(nav)] if nav else []) + _rows(_action_keys(message.actions))
    return TelegramOut("\n".join(lines), tuple(rows), item_id=message.item_id, toggles=toggles)


def _summary_text(message: engine.Summary) -> str:
    """The summary within Telegram's 4096 characters: long answers are shortened to fit."""
    text = escape(message.text)
    if len(text) <= MAX_TEXT:
        return text
    budget = max(40, (MAX_TEXT - 200) // max(1, len(message.rows)) - 80)
    lines = [escape(message.heading or message.text.split("\n")[0])]
    for number, row in enumerate(message.rows, start=1):
        answer = row.answer if len(row.answer) <= budget else row.answer[: budget - 1] + "…"
        lines.append(f"{number}. {escape(row.question[:80])}\n{escape(answer)}")
    return "\n".join(lines)[:MAX_TEXT]


def render_message(message: Message, page: int = 0) -> TelegramOut:
    """One service message as one Telegram message (`page` of a long option list)."""
    if isinstance(message, engine.Ask):
        return _ask(message, page)
    if isinstance(message, engine.Summary):
        return TelegramOut(_summary_text(message), tuple(_rows(_action_keys(message.actions))))
    if isinstance(message, Invitation):
        keys = [
            Key(f"{r.label}: {r.title}", {"type": "begin", "round_id": r.round_id})
            for r in message.rounds
        ]
        return TelegramOut(escape(message.text), tuple((k,) for k in keys))
    if isinstance(message, LanguageMenu):
        keys = [Key(label, {"type": "language", "code": code}) for code, label in message.options]
        return TelegramOut(escape(message.text), tuple(_rows(keys)))
    if isinstance(message, Prompt):
        keys = [Key(b.label, event_payload(b.event)) for b in message.buttons]
        return TelegramOut(escape(message.text), tuple((k,) for k in keys))
    if isinstance(message, DataExport):
        return TelegramOut(
            escape(message.text), document=(message.filename, message.content.encode("utf-8"))
        )
    if isinstance(message, Picture):
        return _picture(message)
    return TelegramOut(escape(message.text), tuple(_rows(_action_keys(message.actions))))


def _picture(picture: Picture) -> TelegramOut:
    photo = base64.b64decode(picture.image) if picture.image else None
    return TelegramOut(escape(picture.text), photo=photo, caption=escape(picture.alt))


def render_payload(body: dict[str, Any]) -> TelegramOut:
    """A proactive outbox body (the channel-neutral JSON of an invitation or a notice)."""
    if body.get("type") == "picture":
        return _picture(Picture.from_payload(body))
    keys = [
        Key(f"{r['label']}: {r['title']}", {"type": "begin", "round_id": r["round_id"]})
        for r in body.get("rounds", [])
    ] + [Key(b["label"], b["request"]) for b in body.get("buttons", [])]
    return TelegramOut(escape(str(body.get("text", ""))), tuple((k,) for k in keys))
