"""Channel-neutral action payloads (what a button or a typed line means) -> conversation events.

The web chat posts these payloads as JSON; Telegram and Teams keep them behind server-side
button tokens. One translation serves every channel.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bot.services.messages import (
    BeginRound,
    ChangeSettings,
    ConfirmMeasureStatus,
    CreateLinkCode,
    Event,
    ExportMyData,
    Forget,
    Help,
    ManageRounds,
    Message,
    PlanReminder,
    RedeemCode,
    SendReminders,
    ServiceEvent,
    SetLanguage,
    SetMeasureStatus,
    ShowDigest,
    ShowMeasures,
    ShowPrivacy,
    ShowRounds,
    ShowStatus,
    StopMessages,
)
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
        if "item_id" in data:  # an input on a card: an answer to that question, never a command
            return engine.Text(text, _text(data, "item_id"))
        return translate_command(text) or engine.Text(text)
    if kind == "picks":
        picks = data.get("picks")
        if not isinstance(picks, list) or not all(isinstance(p, str) for p in picks):
            raise ActionError("'picks' must be a list of option ids")
        return engine.Done(_text(data, "item_id"), tuple(picks))
    if kind == "choose":
        return engine.Choose(_text(data, "item_id"), _text(data, "option_id"))
    if kind == "toggle":
        return engine.Toggle(_text(data, "item_id"), _text(data, "option_id"))
    if kind == "action":
        return _action(_text(data, "action"), data.get("item_id"))
    if kind == "begin":
        return BeginRound(_round_id(data))
    if kind == "measures":
        measure = data.get("measure")
        return ShowMeasures(_text(data, "measure") if measure is not None else None)
    if kind == "measure_status":
        return SetMeasureStatus(_text(data, "measure"), _text(data, "status", 20))
    if kind == "measure_confirm":
        return ConfirmMeasureStatus(_text(data, "measure"))
    if kind == "remind":
        round_id = _round_id(data)
        return SendReminders(round_id) if data.get("confirm") is True else PlanReminder(round_id)
    if kind == "forget":
        return Forget(confirmed=data.get("confirm") is True)
    if kind == "language":
        return SetLanguage(_text(data, "code", 5))
    raise ActionError(f"unknown request type {kind!r}")


MAX_ID = 2**31 - 1
"""Ids are database integers: a larger number would overflow PostgreSQL's int4 (a 500)."""


def _round_id(data: Mapping[str, object]) -> int:
    round_id = data.get("round_id")
    if not isinstance(round_id, int) or isinstance(round_id, bool) or abs(round_id) > MAX_ID:
        raise ActionError("'round_id' must be an integer id")
    return round_id


MAX_NOTE = 500


def _measures(rest: str) -> Event:
    """`/measures`, `/measures SLUG`, or `/measures SLUG STATUS [a note]`."""
    slug, _, tail = rest.strip().partition(" ")
    status, _, note = tail.strip().partition(" ")
    if not slug:
        return ShowMeasures(None)
    if not status:
        return ShowMeasures(slug)
    return SetMeasureStatus(slug, status.lower()[:20], note.strip()[:MAX_NOTE] or None)


def _remind(rest: str) -> Event:
    if not rest:
        return PlanReminder(None)
    number = rest.lstrip("#").removeprefix("nr.").strip()
    # Not a number: -1 names no round, so the person hears "no such round" (not a crash).
    return PlanReminder(int(number) if number.isdigit() and len(number) < 10 else -1)


def _action(action: str, item_id: object) -> Event:
    target = item_id if isinstance(item_id, str) and item_id else None
    simple: dict[str, Event] = {
        "back": engine.Back(),
        "submit": engine.Submit(),
        "start": engine.Start(),
        "resume": engine.Resume(),
        "pause": engine.Pause(),
        "finish": engine.Finish(),
    }
    if action in simple:
        return simple[action]
    if action == "skip":
        return engine.Skip(target)
    if action in ("done", "edit") and target:
        return engine.Done(target) if action == "done" else engine.Edit(target)
    raise ActionError(f"unknown action {action!r}")


COMMANDS: dict[str, Callable[[str], Event]] = {
    "start": lambda rest: RedeemCode(rest) if rest else ShowRounds(),
    "status": lambda _rest: ShowStatus(),
    "help": lambda _rest: Help(),
    "language": lambda rest: SetLanguage(rest or None),
    "resume": lambda _rest: engine.Resume(),
    "pause": lambda _rest: engine.Pause(),
    "back": lambda _rest: engine.Back(),
    "stop": lambda _rest: StopMessages(),
    "privacy": lambda _rest: ShowPrivacy(),
    "mydata": lambda _rest: ExportMyData(),
    "forget": lambda _rest: Forget(),
    "link": lambda rest: RedeemCode(rest) if rest else CreateLinkCode(),
    "measures": lambda rest: _measures(rest),
    "rounds": lambda _rest: ManageRounds(),
    "remind": _remind,
    "settings": lambda rest: ChangeSettings(rest),
    "digest": lambda rest: ShowDigest(rest.strip()[:20]),
}
"""Slash commands, the same in every channel (Norwegian aliases below)."""

MENU = (
    "start",
    "status",
    "measures",
    "digest",
    "rounds",
    "remind",
    "resume",
    "settings",
    "language",
    "help",
    "privacy",
    "mydata",
    "stop",
    "forget",
    "link",
)
"""The commands chat apps list in their menus, in menu order."""

ALIASES = {
    "tiltak": "measures",
    "hjelp": "help",
    "språk": "language",
    "sprak": "language",
    "personvern": "privacy",
    "mine_data": "mydata",
    "glem": "forget",
    "kobling": "link",
    "runder": "rounds",
    "rundar": "rounds",
    "påminn": "remind",
    "paminn": "remind",
    "innstillinger": "settings",
    "innstillingar": "settings",
    "oversikt": "digest",
}


def translate_command(text: str) -> Event | None:
    """A slash command (e.g. "/start AB12-CD34") as an event; None if `text` is no command."""
    if not text.startswith("/"):
        return None
    name, _, rest = text[1:].partition(" ")
    # Telegram appends the bot's name in groups: /start@followup_bot
    name = name.split("@", 1)[0].lower()
    command = COMMANDS.get(ALIASES.get(name, name))
    return command(rest.strip()) if command else Help()


def event_payload(event: ServiceEvent) -> dict[str, object]:
    """The payload a button carries for a service event (inverse of translate_event)."""
    if isinstance(event, Forget):
        return {"type": "forget", "confirm": event.confirmed}
    if isinstance(event, BeginRound):
        return {"type": "begin", "round_id": event.round_id}
    if isinstance(event, SetLanguage):
        return {"type": "language", "code": event.locale}
    if isinstance(event, ShowMeasures):
        return {"type": "measures", "measure": event.measure}
    if isinstance(event, SetMeasureStatus):
        return {"type": "measure_status", "measure": event.measure, "status": event.status}
    if isinstance(event, ConfirmMeasureStatus):
        return {"type": "measure_confirm", "measure": event.measure}
    if isinstance(event, PlanReminder | SendReminders) and event.round_id is not None:
        confirm = isinstance(event, SendReminders)
        return {"type": "remind", "round_id": event.round_id, "confirm": confirm}
    raise ValueError(f"no button payload for {event!r}")


REFUSALS = (
    "engine.stale",
    "engine.already_submitted",
    "engine.invalid.",
    "engine.at_start",
    "service.round_closed",
    "service.round_done",
    "service.round_unknown",
)
"""Replies that refuse a button press: a channel shows them as a notice and sends nothing else."""


def refusal(messages: tuple[Message, ...]) -> engine.Say | None:
    """The refusal a reply opens with, if it is one."""
    first = messages[0] if messages else None
    if isinstance(first, engine.Say) and first.key.startswith(REFUSALS):
        return first
    return None
