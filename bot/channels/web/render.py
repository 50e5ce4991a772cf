"""Render service messages as the JSON the web chat page draws."""

from __future__ import annotations

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


def render_actions(actions: tuple[engine.Action, ...]) -> list[dict[str, Any]]:
    """Action buttons (back, skip, done, submit...)."""
    return [{"kind": a.kind.value, "label": a.label, "item_id": a.item_id} for a in actions]


def render_message(message: Message) -> dict[str, Any]:
    """One bot message as a JSON object with a `type`."""
    if isinstance(message, engine.Ask):
        return {
            "type": "ask",
            "item_id": message.item_id,
            "kind": message.kind.value,
            "text": message.text,
            "input": message.input.value,
            "choices": [
                {"id": c.id, "label": c.label, "selected": c.selected} for c in message.choices
            ],
            "actions": render_actions(message.actions),
            "position": message.position,
            "total": message.total,
            "hint": message.hint,
            "current": message.current.to_dict() if message.current else None,
        }
    if isinstance(message, engine.Summary):
        return {
            "type": "summary",
            "text": message.text,
            "rows": [
                {"item_id": r.item_id, "question": r.question, "answer": r.answer}
                for r in message.rows
            ],
            "actions": render_actions(message.actions),
        }
    if isinstance(message, Invitation):
        return {
            "type": "invitation",
            "key": message.key,
            "text": message.text,
            "rounds": [
                {"round_id": r.round_id, "title": r.title, "label": r.label}
                for r in message.rounds
            ],
        }
    if isinstance(message, LanguageMenu):
        return {
            "type": "languages",
            "text": message.text,
            "options": [{"code": code, "label": label} for code, label in message.options],
        }
    if isinstance(message, Prompt):
        return {
            "type": "prompt",
            "key": message.key,
            "text": message.text,
            "buttons": [
                {"label": b.label, "request": event_payload(b.event)} for b in message.buttons
            ],
        }
    if isinstance(message, Picture):
        return message.payload()
    if isinstance(message, DataExport):
        return {
            "type": "export",
            "text": message.text,
            "filename": message.filename,
            "content": message.content,
        }
    return {
        "type": "say",
        "key": message.key,
        "text": message.text,
        "actions": render_actions(message.actions),
    }
