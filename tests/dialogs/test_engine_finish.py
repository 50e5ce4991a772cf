"""«Hopp over resten» (Finish): send in what is answered, where the questionnaire allows it."""

from __future__ import annotations

import textwrap
from dataclasses import replace

import pytest

from dialogs.engine import (
    ActionKind,
    Ask,
    Back,
    Choose,
    Finish,
    Key,
    Phase,
    Skip,
    action_event,
    start_state,
    visible_answers,
)
from dialogs.loader import QuestionnaireError, parse_questionnaire, validate_questionnaire
from dialogs.model import AnswerValue, Questionnaire
from tests.builders import (
    free_text,
    questionnaire,
    run_transcript,
    shown_if,
    single,
)


def finishing(q: Questionnaire) -> Questionnaire:
    return replace(q, finish_early=True)


# Three optional questions, like a check-in's measures.
OPTIONAL = questionnaire(
    single("a", required=False), single("b", required=False), single("c", required=False)
)
# The same, but the second one must be answered.
REQUIRED_B = questionnaire(single("a", required=False), single("b"), single("c", required=False))


def kinds(ask: Ask) -> list[ActionKind]:
    return [action.kind for action in ask.actions]


# --- offered ---------------------------------------------------------------------------------


def test_finish_is_offered_on_every_question_but_the_last() -> None:
    talk = run_transcript(
        finishing(OPTIONAL),
        [
            ("?", ["engine.invalid.use_buttons", "ask:a"]),
            (Choose("a", "a"), "ask:b"),
            (Choose("b", "b"), "ask:c"),
        ],
    )
    asks = [m for step in talk.transitions for m in step.messages if isinstance(m, Ask)]
    assert [(a.item_id, a.position, a.total) for a in asks] == [
        ("a", 1, 3),
        ("b", 2, 3),
        ("c", 3, 3),
    ]
    assert [ActionKind.FINISH in kinds(ask) for ask in asks] == [True, True, False]


@pytest.mark.parametrize("locale, label", [("nb", "Hopp over resten"), ("en", "Skip the rest")])
def test_finish_button_label_and_event(locale: str, label: str) -> None:
    talk = run_transcript(finishing(OPTIONAL), [(Choose("a", "a"), "ask:b")], locale=locale)
    finish = next(a for a in talk.ask().actions if a.kind is ActionKind.FINISH)
    assert finish.label == label
    assert finish.item_id is None
    assert action_event(finish) == Finish()


def test_finish_is_not_offered_without_finish_early() -> None:
    talk = run_transcript(OPTIONAL, [(Choose("a", "a"), "ask:b")])
    assert ActionKind.FINISH not in kinds(talk.ask())
    assert not OPTIONAL.finish_early  # off by default


def test_a_single_question_never_offers_finish() -> None:
    talk = run_transcript(
        finishing(questionnaire(single("only", required=False))),
        [("?", ["engine.invalid.use_buttons", "ask:only"])],
    )
    assert (talk.ask().position, talk.ask().total) == (1, 1)
    assert ActionKind.FINISH not in kinds(talk.ask())


def test_hidden_later_items_do_not_count_as_rest() -> None:
    # "why" is shown only after «B» on "a"; after «A», "c" is the last visible question.
    q = finishing(
        questionnaire(
            single("a", required=False),
            free_text("why", required=False, show_if=shown_if("a", "b")),
            single("c", required=False),
        )
    )
    talk = run_transcript(q, [(Choose("a", "a"), "ask:c")])
    assert (talk.ask().position, talk.ask().total) == (2, 2)
    assert ActionKind.FINISH not in kinds(talk.ask())


# --- pressing it -----------------------------------------------------------------------------


def test_finish_after_one_of_three_submits_only_that_answer() -> None:
    q = finishing(OPTIONAL)
    talk = run_transcript(
        q,
        [
            (Choose("a", "b"), "ask:b"),
            (Finish(), "engine.submitted"),
        ],
    )
    step = talk.last
    assert step.submitted and step.changed
    assert talk.state is not None and talk.state.phase is Phase.SUBMITTED
    assert [(item.id, value) for item, value in visible_answers(q, talk.state)] == [
        ("a", AnswerValue(choice="b"))
    ]
    assert step.recorded == ()  # nothing new was answered by pressing it


def test_finish_on_the_first_question_submits_nothing() -> None:
    q = finishing(OPTIONAL)
    talk = run_transcript(q, [(Finish(), "engine.submitted")])
    assert talk.last.submitted
    assert talk.state is not None and visible_answers(q, talk.state) == ()


def test_finish_after_going_back_submits_every_answer_given() -> None:
    # Back from the summary: every question is in the trail, so nothing is left to ask.
    q = finishing(OPTIONAL)
    talk = run_transcript(
        q,
        [
            (Choose("a", "a"), "ask:b"),
            (Choose("b", "b"), "ask:c"),
            (Skip(), "summary"),
            (Back(), "ask:c"),
            (Back(), "ask:b"),
            (Finish(), "engine.submitted"),
        ],
    )
    assert talk.last.submitted
    assert talk.state is not None and talk.state.phase is Phase.SUBMITTED
    assert [(item.id, value) for item, value in visible_answers(q, talk.state)] == [
        ("a", AnswerValue(choice="a")),
        ("b", AnswerValue(choice="b")),
    ]


BACK_TO_B = [
    (Choose("a", "a"), "ask:b"),
    (Skip(), "ask:c"),
    (Skip(), "summary"),
    (Back(), "ask:c"),
    (Back(), "ask:b"),
]


def test_finish_uses_the_outro_as_thanks() -> None:
    q = finishing(
        questionnaire(
            single("a", required=False),
            single("b", required=False),
            single("c", required=False),
            outro="Takk!",
        )
    )
    talk = run_transcript(q, [*BACK_TO_B, (Finish(), "engine.submitted")])
    assert talk.say().text == "Takk!"


def test_finish_after_submitting_is_already_submitted() -> None:
    run_transcript(
        finishing(OPTIONAL),
        [
            *BACK_TO_B,
            (Finish(), "engine.submitted"),
            (Finish(), Key.ALREADY_SUBMITTED.value),
        ],
    )


def test_finish_is_refused_while_a_required_item_is_open() -> None:
    q = finishing(REQUIRED_B)
    talk = run_transcript(
        q,
        [
            (Choose("a", "a"), "ask:b"),
            (Finish(), [Key.REQUIRED.value, "ask:b"]),
        ],
    )
    step = talk.last
    assert not step.submitted and not step.changed
    assert talk.state is not None and talk.state.phase is Phase.ASKING
    assert talk.state.current == "b"


def test_finish_is_refused_before_reaching_a_required_item_too() -> None:
    # "b" is visible and required but not yet asked: still open, so no early submit.
    q = finishing(REQUIRED_B)
    talk = run_transcript(q, [(Finish(), [Key.REQUIRED.value, "ask:a"])])
    assert not talk.last.submitted


def test_finish_is_stale_without_finish_early() -> None:
    talk = run_transcript(
        OPTIONAL,
        [
            (Choose("a", "a"), "ask:b"),
            (Finish(), Key.STALE.value),
        ],
    )
    assert not talk.last.submitted and not talk.last.changed
    assert talk.state is not None and talk.state.current == "b"


def test_finish_keeps_the_state_hash() -> None:
    q = finishing(OPTIONAL)
    assert start_state(q, "nb").questionnaire_hash == q.content_hash


# --- loader ----------------------------------------------------------------------------------

BODY = """\
id: test
title: Test
{extra}items:
  - id: a
    kind: single
    text: Spørsmål a?
    required: false
    options:
      - id: x
        label: X
      - id: y
        label: Y
  - id: b
    kind: text
    text: Spørsmål b?
    required: false
"""


def yaml_with(extra: str) -> str:
    return BODY.format(extra=textwrap.dedent(extra))


def test_loader_accepts_finish_early_true() -> None:
    q = parse_questionnaire(yaml_with("finish_early: true\n"), "t.yaml")
    assert q.finish_early is True
    talk = run_transcript(q, [("?", ["engine.invalid.use_buttons", "ask:a"])])
    assert ActionKind.FINISH in kinds(talk.ask())


def test_loader_defaults_finish_early_to_false() -> None:
    q = parse_questionnaire(yaml_with(""), "t.yaml")
    assert q.finish_early is False


def test_loader_rejects_a_non_boolean_finish_early_with_its_line() -> None:
    text = yaml_with("finish_early: maybe\n")
    errors = validate_questionnaire(text, "t.yaml")
    assert len(errors) == 1, errors
    (error,) = errors
    assert error.line == 3  # the line of `finish_early:`
    assert "finish_early" in error.message
    assert str(error).startswith("t.yaml:3: ")
    with pytest.raises(QuestionnaireError):
        parse_questionnaire(text, "t.yaml")


def test_hash_without_the_key_equals_hash_with_finish_early_false() -> None:
    without = parse_questionnaire(yaml_with(""), "t.yaml")
    explicit_off = parse_questionnaire(yaml_with("finish_early: false\n"), "t.yaml")
    on = parse_questionnaire(yaml_with("finish_early: true\n"), "t.yaml")
    assert without.content_hash == explicit_off.content_hash
    assert on.content_hash != without.content_hash  # turning it on is a change of definition
