"""Render service messages as Adaptive Cards (schema 1.5) with token-carrying submit actions."""

from __future__ import annotations

from dataclasses import dataclass, field
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
from dialogs.i18n import translate

CARD_VERSION = "1.5"
INPUT_ID = "answer"
TOKEN_KEY = "t"

Json = dict[str, Any]


@dataclass(frozen=True)
class CardButton:
    """A submit action: its title, the payload behind its token, and whether it sends inputs."""

    title: str
    payload: Json
    with_inputs: bool = False


@dataclass(frozen=True)
class TeamsOut:
    """One card to send: its body, buttons (tokens are issued when sending) and what it asks."""

    body: list[Json]
    buttons: tuple[CardButton, ...] = ()
    item_id: str | None = None
    summary: str = ""
    extra: Json = field(default_factory=dict)


def text_block(text: str, **style: Any) -> Json:
    """Our own text (TextBlock: a little markdown is fine)."""
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def literal_block(text: str, **style: Any) -> Json:
    """Text that may come from a person: a TextRun shows it as written, markdown and all."""
    return {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": text, **style}]}


def card(out: TeamsOut, tokens: list[str]) -> Json:
    """The Adaptive Card JSON, with one token per button (in order)."""
    actions = [
        {
            "type": "Action.Submit",
            "title": button.title,
            "data": {TOKEN_KEY: token},
            "associatedInputs": "auto" if button.with_inputs else "none",
        }
        for button, token in zip(out.buttons, tokens, strict=True)
    ]
    content: Json = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": CARD_VERSION,
        "body": out.body,
    }
    if actions:
        content["actions"] = actions
    return content


def _action_buttons(actions: tuple[engine.Action, ...]) -> list[CardButton]:
    return [
        CardButton(a.label, {"type": "action", "action": a.kind.value, "item_id": a.item_id})
        for a in actions
        if a.kind is not engine.ActionKind.DONE  # the answer button confirms multi-selects
    ]


def _input(message: engine.Ask, locale: str) -> tuple[Json, Json]:
    """The input element and the payload its submit button carries."""
    current = message.current
    if message.input in (engine.InputMode.BUTTONS, engine.InputMode.TOGGLES):
        multi = message.input is engine.InputMode.TOGGLES
        chosen = [c.id for c in message.choices if c.selected] or (
            list(current.option_ids()) if current else []
        )
        element: Json = {
            "type": "Input.ChoiceSet",
            "id": INPUT_ID,
            "style": "expanded",
            "isMultiSelect": multi,
            "isRequired": True,
            "errorMessage": translate(
                locale, "teams.choose_one" if not multi else "teams.choose_some"
            ),
            "choices": [{"title": c.label, "value": c.id} for c in message.choices],
            "label": message.text,
        }
        if chosen:
            element["value"] = ",".join(chosen)
        kind = "picks" if multi else "choose"
        return element, {"type": kind, "item_id": message.item_id}
    element = {
        "type": "Input.Number" if message.input is engine.InputMode.NUMBER else "Input.Text",
        "id": INPUT_ID,
        "isRequired": True,
        "label": message.text,
        "errorMessage": message.hint or translate(locale, "teams.required"),
    }
    if message.input is engine.InputMode.TEXT:
        element["isMultiline"] = True
        if current and current.text:
            element["value"] = current.text
    elif current and current.number is not None:
        element["value"] = float(current.number)
    return element, {"type": "text", "item_id": message.item_id}


def _ask(message: engine.Ask, locale: str) -> TeamsOut:
    element, payload = _input(message, locale)
    body = [text_block(f"{message.position}/{message.total}", size="Small", isSubtle=True)]
    if message.hint:
        body.append(text_block(message.hint, isSubtle=True, size="Small"))
    body.append(element)
    payload["labels"] = {c.id: c.label for c in message.choices}
    payload["question"] = message.text
    answer = CardButton(translate(locale, "teams.answer"), payload, with_inputs=True)
    return TeamsOut(
        body, (answer, *_action_buttons(message.actions)), message.item_id, message.text
    )


def render_message(message: Message, locale: str) -> TeamsOut:
    """One service message as one card."""
    if isinstance(message, engine.Ask):
        return _ask(message, locale)
    if isinstance(message, engine.Summary):
        facts = [{"title": row.question, "value": row.answer} for row in message.rows]
        body = [
            text_block(message.heading or message.text.split("\n")[0], weight="Bolder"),
            {"type": "FactSet", "facts": facts},
        ]
        return TeamsOut(body, tuple(_action_buttons(message.actions)), summary=message.text)
    if isinstance(message, Invitation):
        buttons = tuple(
            CardButton(f"{r.label}: {r.title}", {"type": "begin", "round_id": r.round_id})
            for r in message.rounds
        )
        return TeamsOut([text_block(message.text)], buttons, summary=message.text)
    if isinstance(message, LanguageMenu):
        buttons = tuple(
            CardButton(label, {"type": "language", "code": code})
            for code, label in message.options
        )
        return TeamsOut([text_block(message.text)], buttons, summary=message.text)
    if isinstance(message, Prompt):
        buttons = tuple(CardButton(b.label, event_payload(b.event)) for b in message.buttons)
        return TeamsOut([text_block(message.text)], buttons, summary=message.text)
    if isinstance(message, DataExport):
        body = [text_block(message.text), literal_block(message.content, fontType="Monospace")]
        return TeamsOut(body, summary=message.text)
    if isinstance(message, Picture):
        return _picture(message)
    return TeamsOut(
        [text_block(message.text)], tuple(_action_buttons(message.actions)), summary=message.text
    )


def _picture(picture: Picture) -> TeamsOut:
    body = [text_block(picture.text)]
    if picture.image:
        url = f"data:image/png;base64,{picture.image}"
        body.append({"type": "Image", "url": url, "altText": picture.alt})
    return TeamsOut(body, summary=picture.text)


def render_payload(body: Json) -> TeamsOut:
    """A proactive outbox body (the channel-neutral JSON of an invitation or a notice)."""
    if body.get("type") == "picture":
        return _picture(Picture.from_payload(body))
    buttons = tuple(
        CardButton(f"{r['label']}: {r['title']}", {"type": "begin", "round_id": r["round_id"]})
        for r in body.get("rounds", [])
    ) + tuple(CardButton(b["label"], b["request"]) for b in body.get("buttons", []))
    text = str(body.get("text", ""))
    return TeamsOut([text_block(text)], buttons, summary=text)


def recorded_card(question: str, answer: str) -> Json:
    """What a question card turns into once answered: the question and the recorded answer."""
    return card(
        TeamsOut([text_block(question, weight="Bolder"), literal_block(f"✔ {answer}")]), []
    )
