"""Channel-neutral action payloads (what a button or a typed line means) -> conversation events.

The web chat posts these payloads as JSON; Telegram and Teams keep them behind server-side
button tokens. One translation serves every channel.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.services.messages import BeginRound, Event, Help, RedeemCode, SetLanguage, ShowRounds
from dialogs import engine

MAX_TEXT = 4000


class ActionError(ValueError):
    """A payload no honest client sends; refused, and nothing changes."""


def _text(data: Mapping[str, object], name: str, limit: int = 200) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ActionError(f"'{name}' must be a non-empty string of at most {limit} characters")
    return value


def translate_event(data: Mapping[str, object]) -> Event:
    """Map {"type": ..., ...} to an event, or raise ActionError."""
    kind = data.get("type")
    if kind == "text":
        text = _text(data, "text", MAX_TEXT).strip()
        return _command(text) or engine.Text(text)
    if kind == "choose":
        return engine.Choose(_text(data, "item_id"), _text(data, "option_id"))
    if kind == "toggle":
        return engine.Toggle(_text(data, "item_id"), _text(data, "option_id"))
    if kind == "action":
        return _action(_text(data, "action"), data.get("item_id"))
    if kind == "begin":
        round_id = data.get("round_id")
        if not isinstance(round_id, int) or isinstance(round_id, bool):
            raise ActionError("'round_id' must be an integer")
        return BeginRound(round_id)
    if kind == "language":
        return SetLanguage(_text(data, "code", 5))
    raise ActionError(f"unknown request type {kind!r}")


def _action(action: str, item_id: object) -> Event:
    target = item_id if isinstance(item_id, str) and item_id else None
    simple: dict[str, Event] = {
        "back": engine.Back(),
        "submit": engine.Submit(),
        "start": engine.Start(),
        "resume": engine.Resume(),
        "pause": engine.Pause(),
    }
    if action in simple:
        return simple[action]
    if action == "skip":
        return engine.Skip(target)
    if action in ("done", "edit") and target:
        return engine.Done(target) if action == "done" else engine.Edit(target)
    raise ActionError(f"unknown action {action!r}")


def _command(text: str) -> Event | None:
    # Slash commands work the same way in every channel.
    if not text.startswith("/"):
        return None
    name, _, rest = text[1:].partition(" ")
    name = name.lower()
    if name in ("start", "status"):
        return RedeemCode(rest.strip()) if rest.strip() else ShowRounds()
    if name in ("help", "hjelp"):
        return Help()
    if name in ("language", "språk", "sprak"):
        return SetLanguage(rest.strip() or None)
    if name in ("pause", "stop"):
        return engine.Pause()
    if name == "resume":
        return engine.Resume()
    if name == "back":
        return engine.Back()
    return Help()
