"""Builders of questionnaires and items in Python, and a transcript runner for dialog tests."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from dialogs.engine import (
    Ask,
    DialogState,
    Event,
    Message,
    Recorded,
    Say,
    Summary,
    Text,
    Transition,
    advance,
    start_state,
)
from dialogs.model import Condition, Item, ItemKind, LocalizedText, Option, Questionnaire

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def loc(nb: str, nn: str | None = None, en: str | None = None) -> LocalizedText:
    """A text in nb, with nn and en defaulting to the nb text."""
    return LocalizedText(nb=nb, nn=nn or nb, en=en or nb)


def option(option_id: str, nb: str, nn: str | None = None, en: str | None = None) -> Option:
    return Option(option_id, loc(nb, nn, en))


def lettered(*labels: str) -> tuple[Option, ...]:
    """Options with ids a, b, c... and the same label in every locale."""
    return tuple(option(chr(ord("a") + n), label) for n, label in enumerate(labels))


YES_NO_NA = (
    option("yes", "Ja", "Ja", "Yes"),
    option("no", "Nei", "Nei", "No"),
    option("na", "Ikke aktuelt", "Ikkje aktuelt", "Not applicable"),
)
CONSENT = (
    option("yes", "Ja, jeg vil delta", "Ja, eg vil vere med", "Yes, I want to take part"),
    option("no", "Nei", "Nei", "No"),
)
MEASURE_ANSWERS = (
    option("started", "Tiltaket er igangsatt", "Tiltaket er sett i gang", "It has started"),
    option("planned", "Tiltaket er planlagt", "Tiltaket er planlagt", "It is planned"),
    option("not_relevant", "Ikke aktuelt for oss", "Ikkje aktuelt for oss", "Not relevant"),
    option("dont_know", "Vet ikke", "Veit ikkje", "Don't know"),
)
SATISFACTION5 = (
    option("1", "Svært misfornøyd", "Svært misnøgd", "Very dissatisfied"),
    option("2", "Litt misfornøyd", "Litt misnøgd", "Somewhat dissatisfied"),
    option("3", "Litt fornøyd", "Litt nøgd", "Somewhat satisfied"),
    option("4", "Fornøyd", "Nøgd", "Satisfied"),
    option("5", "Svært fornøyd", "Svært nøgd", "Very satisfied"),
    Option("dont_know", loc("Vet ikke", "Veit ikkje", "Don't know"), outside_scale=True),
)


def item(item_id: str, kind: ItemKind, *, question: str | None = None, **fields: Any) -> Item:
    """An item whose question defaults to "Spørsmål <id>?" (nn "Spørsmål <id>?")."""
    text = loc(question) if question else loc(f"Spørsmål {item_id}?", en=f"Question {item_id}?")
    return Item(id=item_id, kind=kind, text=text, **fields)


def single(item_id: str, *labels: str, **fields: Any) -> Item:
    return item(item_id, ItemKind.SINGLE, options=lettered(*(labels or ("A", "B"))), **fields)


def multi(item_id: str, *labels: str, **fields: Any) -> Item:
    labels = labels or tuple(f"Alternativ {letter}" for letter in "ABCD")
    return item(item_id, ItemKind.MULTI, options=lettered(*labels), **fields)


def scale(item_id: str, **fields: Any) -> Item:
    return item(item_id, ItemKind.SCALE, options=SATISFACTION5, **fields)


def yes_no_na(item_id: str, **fields: Any) -> Item:
    return item(item_id, ItemKind.YES_NO_NA, options=YES_NO_NA, **fields)


def consent(item_id: str = "consent", **fields: Any) -> Item:
    return item(item_id, ItemKind.CONSENT, question="Vil du delta?", options=CONSENT, **fields)


def measure_status(item_id: str, measure: str, **fields: Any) -> Item:
    return item(
        item_id, ItemKind.MEASURE_STATUS, options=MEASURE_ANSWERS, measure=measure, **fields
    )


def free_text(item_id: str, **fields: Any) -> Item:
    return item(item_id, ItemKind.TEXT, **fields)


def number(item_id: str, low: str | None = None, high: str | None = None, **fields: Any) -> Item:
    return item(
        item_id,
        ItemKind.NUMBER,
        min_value=Decimal(low) if low is not None else None,
        max_value=Decimal(high) if high is not None else None,
        **fields,
    )


def shown_if(item_id: str, *any_of: str) -> Condition:
    return Condition(item=item_id, any_of=any_of)


def questionnaire(
    *items: Item, intro: str | None = None, outro: str | None = None, default_locale: str = "nb"
) -> Questionnaire:
    return Questionnaire(
        id="test",
        title=loc("Test"),
        items=items,
        default_locale=default_locale,
        intro=loc(intro) if intro else None,
        outro=loc(outro) if outro else None,
        content_hash="hash-" + "-".join(i.id for i in items),
    )


# --- transcripts -----------------------------------------------------------------------------

Step = tuple[Event | str, Sequence[str] | str]
"""(what the person does — an event or typed text — , what the bot answers)."""


def said(message: Message) -> str:
    """A message as a transcript token: a Say's key, "ask:<item id>", or "summary"."""
    if isinstance(message, Say):
        return message.key
    if isinstance(message, Ask):
        return f"ask:{message.item_id}"
    assert isinstance(message, Summary)
    return "summary"


@dataclass
class Conversation:
    """One person's conversation, checking on every step what any event must respect."""

    questionnaire: Questionnaire
    state: DialogState | None
    transitions: list[Transition] = field(default_factory=list)

    def send(self, event: Event | str) -> Transition:
        before = self.state
        step = advance(
            self.questionnaire, before, Text(event) if isinstance(event, str) else event, NOW
        )
        if not step.changed:
            assert step.state == before, "an unchanged transition must keep the state"
            assert not step.recorded, "an unchanged transition must record nothing"
        assert DialogState.from_dict(json.loads(json.dumps(step.state.to_dict()))) == step.state
        self.state = step.state
        self.transitions.append(step)
        return step

    @property
    def last(self) -> Transition:
        return self.transitions[-1]

    @property
    def recorded(self) -> list[Recorded]:
        return [record for step in self.transitions for record in step.recorded]

    def ask(self) -> Ask:
        """The question asked last in the latest step."""
        asks = [message for message in self.last.messages if isinstance(message, Ask)]
        assert asks, f"no question in {self.last.messages}"
        return asks[-1]

    def summary(self) -> Summary:
        summaries = [message for message in self.last.messages if isinstance(message, Summary)]
        assert summaries, f"no summary in {self.last.messages}"
        return summaries[-1]

    def say(self) -> Say:
        says = [message for message in self.last.messages if isinstance(message, Say)]
        assert says, f"nothing said in {self.last.messages}"
        return says[0]


def run_transcript(
    q: Questionnaire,
    steps: Iterable[Step],
    *,
    locale: str = "nb",
    state: DialogState | None = None,
) -> Conversation:
    """Feed each event and assert what the bot said, as tokens (see `said`)."""
    conversation = Conversation(q, state if state is not None else start_state(q, locale))
    for number_, (event, expected) in enumerate(steps, start=1):
        step = conversation.send(event)
        wanted = [expected] if isinstance(expected, str) else list(expected)
        got = [said(message) for message in step.messages]
        assert got == wanted, f"step {number_} ({event!r}): bot said {got}, expected {wanted}"
    return conversation
