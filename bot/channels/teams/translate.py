"""Translate Teams activities: who is writing, and a typed line or a card submit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from botbuilder.schema import Activity, ActivityTypes

from bot.channels.teams.render import INPUT_ID, TOKEN_KEY

MENTION = re.compile(r"<at>.*?</at>", re.DOTALL)


@dataclass(frozen=True)
class TeamsLine:
    """Typed text (commands included)."""

    text: str


@dataclass(frozen=True)
class TeamsSubmit:
    """A card's Action.Submit: its token, the inputs, and the card's activity id."""

    token: str
    inputs: dict[str, Any]
    card_id: str | None


TeamsInput = TeamsLine | TeamsSubmit


def sender_key(activity: Activity) -> str:
    """The stable id of the person in Teams: the Entra object id when there is one."""
    who = activity.from_property
    return str(getattr(who, "aad_object_id", None) or who.id)


def tenant_of(activity: Activity) -> str | None:
    """The Microsoft 365 tenant an activity comes from, if it says."""
    conversation = activity.conversation
    tenant = getattr(conversation, "tenant_id", None) if conversation else None
    if tenant:
        return str(tenant)
    data = activity.channel_data or {}
    found = data.get("tenant", {}).get("id") if isinstance(data, dict) else None
    return str(found) if found else None


def translate_activity(activity: Activity) -> TeamsInput | None:
    """The person's input in a message activity (None for anything else)."""
    if activity.type != ActivityTypes.message:
        return None
    value = activity.value
    if isinstance(value, dict) and TOKEN_KEY in value:
        inputs = {k: v for k, v in value.items() if k != TOKEN_KEY}
        return TeamsSubmit(str(value[TOKEN_KEY]), inputs, activity.reply_to_id)
    text = MENTION.sub("", activity.text or "").strip()
    return TeamsLine(text) if text else None


def merge_inputs(payload: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    """A stored button payload completed with what the person entered on the card."""
    answer = inputs.get(INPUT_ID)
    kind = payload.get("type")
    merged = {k: v for k, v in payload.items() if k not in ("labels", "question")}
    if kind == "choose":
        merged["option_id"] = str(answer or "")
    elif kind == "picks":
        merged["picks"] = [p for p in str(answer or "").split(",") if p]
    elif kind == "text" and "item_id" in payload:
        if isinstance(answer, float) and answer.is_integer():
            answer = int(answer)  # Input.Number may send 12.0 for 12
        merged["text"] = str(answer if answer is not None else "")
    return merged


def recorded_answer(payload: dict[str, Any], inputs: dict[str, Any]) -> str | None:
    """How the answer reads on the updated card ("Sykehus", "Møter, E-post", "12")."""
    answer = inputs.get(INPUT_ID)
    if answer is None or answer == "":
        return None
    labels = payload.get("labels") or {}
    if payload.get("type") in ("choose", "picks"):
        return ", ".join(str(labels.get(part, part)) for part in str(answer).split(","))
    return str(answer)
