"""Moving through a questionnaire: conditions, comments, Back, Edit, consent, pause, stale."""

from __future__ import annotations

import pytest

from dialogs.engine import (
    ActionKind,
    Ask,
    Back,
    Choose,
    DialogState,
    Done,
    Edit,
    Event,
    Pause,
    Phase,
    Resume,
    Skip,
    Start,
    Submit,
    Text,
    Toggle,
    current_prompt,
    visible_answers,
)
from dialogs.model import AnswerValue
from tests.builders import (
    consent,
    free_text,
    loc,
    multi,
    number,
    questionnaire,
    run_transcript,
    said,
    scale,
    shown_if,
    single,
    yes_no_na,
)

# Staff are asked which channels they use; leaders are not.
ROLES = questionnaire(
    single("role", "Leder", "Ansatt"),
    multi("channels", show_if=shown_if("role", "b")),
    yes_no_na("meetings"),
)


def answered_ids(state: DialogState | None) -> list[str]:
    assert state is not None
    return [item.id for item, _ in visible_answers(ROLES, state)]


# --- conditions ------------------------------------------------------------------------------


def test_condition_met_asks_the_item_and_counts_it() -> None:
    talk = run_transcript(ROLES, [(Choose("role", "b"), "ask:channels")])
    assert (talk.ask().position, talk.ask().total) == (2, 3)


def test_condition_not_met_skips_the_item() -> None:
    talk = run_transcript(ROLES, [(Choose("role", "a"), "ask:meetings")])
    assert (talk.ask().position, talk.ask().total) == (2, 2)


def test_changing_an_answer_hides_the_dependent_answer_but_keeps_it_in_state() -> None:
    talk = run_transcript(
        ROLES,
        [
            (Choose("role", "b"), "ask:channels"),
            (Toggle("channels", "a"), "ask:channels"),
            (Done("channels"), "ask:meetings"),
            (Back(), "ask:channels"),
            (Back(), "ask:role"),
            (Choose("role", "a"), "ask:meetings"),
            (Choose("meetings", "yes"), "summary"),
        ],
    )
    assert [row.item_id for row in talk.summary().rows] == ["role", "meetings"]
    assert answered_ids(talk.state) == ["role", "meetings"]
    assert talk.state is not None and talk.state.answer("channels") is not None


def test_edit_that_reveals_an_item_asks_it_before_returning_to_the_summary() -> None:
    talk = run_transcript(
        ROLES,
        [
            (Choose("role", "a"), "ask:meetings"),
            (Choose("meetings", "no"), "summary"),
            (Edit("role"), "ask:role"),
            (Choose("role", "b"), "ask:channels"),
            ("2", "summary"),
            (Submit(), "engine.submitted"),
        ],
    )
    assert answered_ids(talk.state) == ["role", "channels", "meetings"]


def test_multi_condition_matches_any_picked_option() -> None:
    q = questionnaire(multi("m"), single("why", show_if=shown_if("m", "c")))
    run_transcript(q, [("1, 3", "ask:why")])
    run_transcript(q, [("1, 2", "summary")])


# --- Back and Edit ---------------------------------------------------------------------------


def test_back_from_the_middle_shows_the_earlier_answer() -> None:
    talk = run_transcript(ROLES, [(Choose("role", "b"), "ask:channels"), (Back(), "ask:role")])
    ask = talk.ask()
    assert ask.current == AnswerValue(choice="b")
    assert [c.id for c in ask.choices if c.selected] == ["b"]
    assert ActionKind.BACK not in [a.kind for a in ask.actions], "no Back on the first question"


def test_back_at_the_first_question_says_so() -> None:
    run_transcript(ROLES, [(Back(), ["engine.at_start", "ask:role"])])


def test_back_then_same_answer_records_again_and_moves_on() -> None:
    talk = run_transcript(
        ROLES,
        [(Choose("role", "a"), "ask:meetings"), (Back(), "ask:role"), ("1", "ask:meetings")],
    )
    assert [r.item_id for r in talk.recorded] == ["role", "role"]


def test_back_to_a_multi_starts_from_the_confirmed_picks() -> None:
    talk = run_transcript(
        ROLES,
        [
            (Choose("role", "b"), "ask:channels"),
            ("1, 2", "ask:meetings"),
            (Back(), "ask:channels"),
            (Toggle("channels", "a"), "ask:channels"),
        ],
    )
    assert [c.id for c in talk.ask().choices if c.selected] == ["b"]


def test_summary_rows_actions_and_back_to_the_last_item() -> None:
    talk = run_transcript(
        ROLES,
        [(Choose("role", "a"), "ask:meetings"), (Choose("meetings", "na"), "summary")],
    )
    summary = talk.summary()
    assert [(r.question, r.answer) for r in summary.rows] == [
        ("Spørsmål role?", "Leder"),
        ("Spørsmål meetings?", "Ikke aktuelt"),
    ]
    assert [(a.kind, a.label, a.item_id) for a in summary.actions] == [
        (ActionKind.SUBMIT, "Send inn", None),
        (ActionKind.EDIT, "Endre 1", "role"),
        (ActionKind.EDIT, "Endre 2", "meetings"),
        (ActionKind.BACK, "Tilbake", None),
    ]
    assert "1. Spørsmål role?\nLeder" in summary.text
    talk.send(Back())
    assert talk.ask().item_id == "meetings"
    assert talk.ask().current == AnswerValue(choice="na")


def test_edit_from_the_summary_returns_to_the_summary() -> None:
    q = questionnaire(single("a"), single("b"), single("c"))
    talk = run_transcript(
        q,
        [
            ("1", "ask:b"),
            ("1", "ask:c"),
            ("1", "summary"),
            (Edit("b"), "ask:b"),
            (Choose("b", "b"), "summary"),
            ("endre 1", "ask:a"),
            (Back(), ["engine.at_start", "ask:a"]),
            ("1", "summary"),
        ],
    )
    assert [row.answer for row in talk.summary().rows] == ["A", "B", "A"]


# --- optional comment ------------------------------------------------------------------------

COMMENTED = questionnaire(
    scale("sat", comment=loc("Vil du si mer?", "Vil du seie meir?", "Anything to add?")),
    single("next"),
)


def test_comment_is_asked_after_the_answer_and_stored_under_its_own_key() -> None:
    talk = run_transcript(
        COMMENTED, [(Choose("sat", "4"), "ask:sat.comment"), ("Bra opplegg", "ask:next")]
    )
    assert talk.transitions[0].state.phase is Phase.COMMENT
    ask = talk.transitions[0].messages[0]
    assert isinstance(ask, Ask)
    assert ask.text == "Vil du si mer?"
    assert "Ikke skriv personnavn." in (ask.hint or "")
    assert [(r.item_id, r.value) for r in talk.recorded] == [
        ("sat", AnswerValue(choice="4")),
        ("sat.comment", AnswerValue(text="Bra opplegg")),
    ]
    talk.send(Choose("next", "a"))
    assert [(r.question, r.answer) for r in talk.summary().rows][:2] == [
        ("Spørsmål sat?", "4 – Fornøyd"),
        ("Kommentar", "Bra opplegg"),
    ]
    state = talk.state
    assert state is not None
    assert [i.id for i, _ in visible_answers(COMMENTED, state)] == ["sat", "sat.comment", "next"]


def test_comment_can_be_skipped_and_back_returns_to_its_item() -> None:
    talk = run_transcript(
        COMMENTED,
        [
            (Choose("sat", "1"), "ask:sat.comment"),
            (Back(), "ask:sat"),
            (Choose("sat", "2"), "ask:sat.comment"),
            (Skip("sat"), "engine.stale"),
            (Skip("sat.comment"), "ask:next"),
        ],
    )
    assert talk.state is not None and talk.state.answer("sat.comment") is None


def test_comment_row_can_be_edited_from_the_summary() -> None:
    talk = run_transcript(
        COMMENTED,
        [
            (Choose("sat", "5"), "ask:sat.comment"),
            ("Første", "ask:next"),
            (Choose("next", "b"), "summary"),
            (Edit("sat.comment"), "ask:sat.comment"),
            ("Andre", "summary"),
        ],
    )
    assert talk.summary().rows[1].answer == "Andre"


# --- consent, pause, start -------------------------------------------------------------------


def test_consent_no_then_start_again_returns_to_the_consent_question() -> None:
    q = questionnaire(consent(), single("a"))
    talk = run_transcript(
        q,
        [
            (Choose("consent", "no"), "engine.consent_declined"),
            (Choose("a", "a"), "engine.stale"),
            (Start(), "ask:consent"),
            (Choose("consent", "yes"), "ask:a"),
        ],
    )
    declined = talk.transitions[0].messages[0]
    assert [(a.kind, a.label) for a in declined.actions] == [(ActionKind.START, "Start på nytt")]


def test_consent_uses_its_own_decline_message_and_a_typed_start_again() -> None:
    q = questionnaire(consent(decline_message=loc("Takk likevel.")), single("a"))
    talk = run_transcript(
        q, [("nei", "engine.consent_declined"), ("start på nytt", "ask:consent")]
    )
    assert talk.transitions[0].messages[0].text == "Takk likevel."


def test_start_while_asking_reshows_the_question_and_keeps_answers() -> None:
    talk = run_transcript(
        ROLES, [(Choose("role", "a"), "ask:meetings"), (Start(), "ask:meetings")]
    )
    assert not talk.last.changed
    assert talk.state is not None and talk.state.answer("role") == AnswerValue(choice="a")


def test_pause_and_resume_show_the_same_question() -> None:
    talk = run_transcript(
        ROLES,
        [
            (Choose("role", "a"), "ask:meetings"),
            (Pause(), "engine.paused"),
            (Pause(), "engine.paused"),
            (Resume(), "ask:meetings"),
        ],
    )
    paused = talk.transitions[1]
    assert paused.state.phase is Phase.PAUSED
    assert [a.kind for a in paused.messages[0].actions] == [ActionKind.RESUME]
    assert talk.state is not None and talk.state.phase is Phase.ASKING


def test_an_answer_while_paused_resumes_and_a_refused_one_stays_paused() -> None:
    talk = run_transcript(
        ROLES,
        [
            (Pause(), "engine.paused"),
            (Choose("meetings", "no"), "engine.stale"),
            ("kanskje", ["engine.invalid.use_buttons", "ask:role"]),
        ],
    )
    assert talk.state is not None and talk.state.phase is Phase.PAUSED
    resumed = talk.send("Ansatt").state
    assert resumed.phase is Phase.ASKING and resumed.current == "channels"


def test_typed_resume_label_resumes() -> None:
    talk = run_transcript(ROLES, [(Pause(), "engine.paused"), ("fortsett", "ask:role")])
    assert talk.state is not None and talk.state.phase is Phase.ASKING


def test_pause_in_the_comment_resumes_in_the_comment() -> None:
    run_transcript(
        COMMENTED,
        [
            (Choose("sat", "3"), "ask:sat.comment"),
            (Pause(), "engine.paused"),
            (Resume(), "ask:sat.comment"),
        ],
    )


def test_current_prompt_reshows_what_the_person_is_looking_at() -> None:
    q = questionnaire(single("a"), intro="Hei!")
    talk = run_transcript(q, [])
    assert talk.state is not None
    assert [type(m).__name__ for m in current_prompt(q, talk.state)] == ["Say", "Ask"]
    talk.send("1")
    assert [type(m).__name__ for m in current_prompt(q, talk.state)] == ["Summary"]


# --- stale presses and submit ----------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        Choose("meetings", "yes"),
        Choose("role", "nonexistent"),
        Toggle("channels", "a"),
        Done("channels"),
        Skip("meetings"),
        Edit("role"),
        Submit(),
    ],
)
def test_presses_for_another_step_are_stale(event: Event) -> None:
    talk = run_transcript(ROLES, [(event, "engine.stale")])
    assert not talk.last.changed


def test_submit_says_the_outro_and_nothing_changes_afterwards() -> None:
    q = questionnaire(single("a"), outro="Takk for hjelpen!")
    talk = run_transcript(q, [("1", "summary"), ("send inn", "engine.submitted")])
    assert talk.last.submitted
    assert talk.say().text == "Takk for hjelpen!"
    for event in (
        Start(),
        Choose("a", "b"),
        Edit("a"),
        Back(),
        Submit(),
        Text("hei"),
        Pause(),
        Resume(),
    ):
        step = talk.send(event)
        assert [said(m) for m in step.messages] == ["engine.already_submitted"]
        assert not step.changed and not step.submitted


def test_default_thanks_without_an_outro() -> None:
    talk = run_transcript(
        questionnaire(number("n")), [("7", "summary"), (Submit(), "engine.submitted")]
    )
    assert talk.say().text == "Takk! Svarene dine er sendt inn."


# --- languages --------------------------------------------------------------------------------


def test_nynorsk_person_gets_nynorsk_texts_and_labels() -> None:
    q = questionnaire(yes_no_na("a"), free_text("t", required=False))
    talk = run_transcript(q, [(Choose("a", "na"), "ask:t")], locale="nn")
    ask = talk.ask()
    assert [a.label for a in ask.actions] == ["Hopp over", "Tilbake"]
    assert ask.hint == "Ikkje skriv personnamn."
    talk.send(Skip())
    assert talk.summary().rows[0].answer == "Ikkje aktuelt"
    assert talk.summary().actions[0].label == "Send inn"


def test_changing_language_mid_conversation() -> None:
    talk = run_transcript(ROLES, [(Choose("role", "a"), "ask:meetings")])
    assert talk.state is not None
    english = talk.state.with_locale("en")
    assert english.answers == talk.state.answers
    prompt = current_prompt(ROLES, english)[0]
    assert isinstance(prompt, Ask)
    assert prompt.text == "Question meetings?"
    assert [c.label for c in prompt.choices] == ["Yes", "No", "Not applicable"]


def test_required_items_left_unanswered_by_back_are_asked_before_the_summary() -> None:
    q = questionnaire(single("a"), single("b"), single("c"))
    run_transcript(
        q,
        [
            ("1", "ask:b"),
            (Back(), "ask:a"),
            ("1", "ask:b"),
            ("1", "ask:c"),
            ("1", "summary"),
        ],
    )
    # Text typed on the summary that is no action is refused with the summary shown again.
    q2 = questionnaire(consent(), single("a"))
    run_transcript(
        q2,
        [
            ("1", "ask:a"),
            ("1", "summary"),
            ("hallo", ["engine.invalid.use_buttons", "summary"]),
        ],
    )
