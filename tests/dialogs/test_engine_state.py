"""The stored state: JSON round trips, and invariants over random conversations."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialogs.engine import (
    Ask,
    Back,
    Choose,
    DialogState,
    Done,
    Edit,
    Event,
    InputMode,
    Pause,
    Phase,
    Resume,
    Say,
    Skip,
    Start,
    Submit,
    Text,
    Toggle,
    Transition,
    action_event,
    advance,
    comment_key,
    current_prompt,
    start_state,
    visible_answers,
)
from dialogs.model import AnswerValue, Item, Questionnaire
from tests.builders import (
    NOW,
    consent,
    free_text,
    loc,
    multi,
    number,
    questionnaire,
    shown_if,
    single,
)

SMALL = questionnaire(
    consent(),
    single("role", "Leder", "Ansatt", "Annet"),
    multi("tools", min_picks=1, max_picks=2, show_if=shown_if("role", "b", "c")),
    single("why", "Tid", "Penger", show_if=shown_if("tools", "a")),
    free_text("note", required=False, max_length=15, comment=loc("Kommentar?")),
    number("hours", "0", "37.5", integer=False, required=False),
    intro="Hei",
)

REFUSALS = {
    "engine.stale",
    "engine.already_submitted",
    "engine.at_start",
    "engine.invalid.use_buttons",
    "engine.invalid.use_toggles",
    "engine.invalid.empty",
    "engine.invalid.too_long",
    "engine.invalid.not_a_number",
    "engine.invalid.not_integer",
    "engine.invalid.out_of_range",
    "engine.invalid.too_small",
    "engine.invalid.too_large",
    "engine.invalid.min_picks",
    "engine.invalid.max_picks",
    "engine.invalid.required",
}


def roundtrip(state: DialogState) -> DialogState:
    return DialogState.from_dict(json.loads(json.dumps(state.to_dict())))


def test_a_state_with_every_field_set_roundtrips_through_json() -> None:
    state = DialogState(
        questionnaire_hash="abc",
        locale="nn",
        phase=Phase.PAUSED,
        current="tools",
        answers=(
            ("role", AnswerValue(choice="b")),
            ("tools", AnswerValue(choices=("a", "b"))),
            ("note", AnswerValue(text="«Hei» – ø")),
            ("note.comment", AnswerValue(text="x")),
            ("hours", AnswerValue(number=Decimal("12.50"))),
        ),
        pending=("a",),
        trail=("consent", "role", "tools"),
        return_to_summary=True,
        paused_from=Phase.ASKING,
    )
    again = roundtrip(state)
    assert again == state
    assert str(again.answer("hours").number) == "12.50"  # type: ignore[union-attr]
    assert again.to_dict() == state.to_dict()


@pytest.mark.parametrize(
    "damage",
    [
        {"phase": "lost"},
        {"answers": "x"},
        {"answers": [["role"]]},
        {"answers": [["hours", {"number": "zwölf"}]]},
        {"trail": [1]},
        {"return_to_summary": "yes"},
        {"locale": None},
    ],
)
def test_from_dict_refuses_data_it_did_not_write(damage: dict[str, object]) -> None:
    data = {**start_state(SMALL, "nb").to_dict(), **damage}
    with pytest.raises(ValueError):
        DialogState.from_dict(data)


# --- random conversations --------------------------------------------------------------------


def _events(q: Questionnaire) -> list[Event]:
    events: list[Event] = [Start(), Back(), Submit(), Pause(), Resume(), Skip(), Edit("nope")]
    for item in q.items:
        events += [Choose(item.id, o.id) for o in item.options] + [Choose(item.id, "zz")]
        events += [Toggle(item.id, o.id) for o in item.options]
        events += [Done(item.id), Skip(item.id), Edit(item.id)]
        events += [Skip(comment_key(item.id)), Edit(comment_key(item.id))]
    typed = ["1", "2", "3", "9", "1, 2", "Ansatt", "ja", "", "  ", "12,5", "40", "abc"]
    typed += ["Tilbake", "Ferdig", "Send inn", "Hopp over", "Endre 2", "Fortsett", "x" * 20]
    return events + [Text(t) for t in typed]


EVENTS = _events(SMALL)


def _shown(q: Questionnaire, answers: dict[str, AnswerValue], item: Item) -> bool:
    """An independent reading of show_if, for checking what is submitted."""
    if item.show_if is None:
        return True
    parent = q.item(item.show_if.item)
    value = answers.get(item.show_if.item)
    return (
        parent is not None
        and value is not None
        and _shown(q, answers, parent)
        and bool(set(value.option_ids()) & set(item.show_if.any_of))
    )


def _check_submitted(q: Questionnaire, step: Transition) -> None:
    answers = dict(step.state.answers)
    submitted = visible_answers(q, step.state)
    for item, _ in submitted:
        base = q.item(item.id.removesuffix(".comment"))
        assert base is not None and _shown(q, answers, base), f"{item.id} is hidden"
    given_ids = {item.id for item, _ in submitted}
    for item in q.items:
        if item.required and _shown(q, answers, item):
            assert item.id in given_ids, f"required {item.id} missing at submit"
    assert answers["consent"] == AnswerValue(choice="yes")


def _sensible(q: Questionnaire, state: DialogState) -> list[Event]:
    """What the person can press or type right now: the shown choices and actions."""
    events: list[Event] = []
    for message in current_prompt(q, state):
        events += [action_event(action) for action in message.actions]
        if isinstance(message, Ask):
            press = Toggle if message.input is InputMode.TOGGLES else Choose
            events += [press(message.item_id, choice.id) for choice in message.choices]
            events += [Text("Bra"), Text("7,5")]
    return events


@settings(max_examples=300, deadline=None)
@given(st.data(), st.sampled_from(["nb", "nn", "en"]))
def test_random_conversations_keep_every_invariant(data: st.DataObject, locale: str) -> None:
    state: DialogState | None = None if locale == "nb" else start_state(SMALL, locale)
    for _ in range(data.draw(st.integers(0, 60))):
        current = state if state is not None else start_state(SMALL, "nb")
        sensible = _sensible(SMALL, current)
        choices = st.sampled_from(EVENTS)
        if sensible:
            choices = st.one_of(st.sampled_from(sensible), st.sampled_from(sensible), choices)
        event = data.draw(choices)
        step = advance(SMALL, state, event, NOW)
        assert roundtrip(step.state) == step.state
        first = step.messages[0]
        if isinstance(first, Say) and first.key in REFUSALS:
            assert state is None or (not step.changed and step.state == state)
            assert not step.recorded and not step.submitted
        if not step.changed:
            assert step.state == state and not step.recorded
        for message in step.messages:
            assert message.text and "engine." not in message.text, "a catalogue key leaked"
            if isinstance(message, Ask):
                assert 1 <= message.position <= message.total
        if step.submitted:
            assert step.state.phase is Phase.SUBMITTED
            _check_submitted(SMALL, step)
        assert current_prompt(SMALL, step.state)
        state = step.state
