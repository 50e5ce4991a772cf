"""Every item kind: happy paths, typed answers and why invalid input is refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dialogs.engine import (
    ActionKind,
    Choose,
    Done,
    InputMode,
    Phase,
    Skip,
    Start,
    Submit,
    Toggle,
    advance,
    render_answer,
    visible_answers,
)
from dialogs.model import AnswerValue, Item
from tests.builders import (
    NOW,
    consent,
    free_text,
    measure_status,
    multi,
    number,
    questionnaire,
    run_transcript,
    scale,
    single,
    yes_no_na,
)


@pytest.mark.parametrize(
    ("question", "option_id", "read_back"),
    [
        (single("q", "Alternativ A", "Alternativ B"), "b", "Alternativ B"),
        (scale("q"), "3", "3 – Litt fornøyd"),
        (scale("q"), "dont_know", "Vet ikke"),
        (yes_no_na("q"), "na", "Ikke aktuelt"),
        (consent("q"), "yes", "Ja, jeg vil delta"),
        (measure_status("q", "daily-huddle"), "dont_know", "Vet ikke"),
    ],
)
def test_button_kinds_record_the_pressed_option(
    question: Item, option_id: str, read_back: str
) -> None:
    q = questionnaire(question)
    talk = run_transcript(q, [(Start(), "ask:q")])
    ask = talk.ask()
    assert ask.input is InputMode.BUTTONS
    assert [choice.id for choice in ask.choices] == [o.id for o in question.options]
    assert (ask.position, ask.total) == (1, 1)

    talk.send(Choose("q", option_id))
    assert talk.recorded[-1].value == AnswerValue(choice=option_id)
    assert [(row.question, row.answer) for row in talk.summary().rows] == [
        (question.text.get("nb"), read_back)
    ]
    submitted = talk.send(Submit())
    assert submitted.submitted
    assert visible_answers(q, submitted.state) == ((question, AnswerValue(choice=option_id)),)


def test_measure_status_is_recorded_with_its_measure() -> None:
    q = questionnaire(measure_status("m", "daily-huddle"))
    talk = run_transcript(q, [(Choose("m", "started"), "summary")])
    assert [(r.item_id, r.value.choice, r.measure) for r in talk.recorded] == [
        ("m", "started", "daily-huddle")
    ]


def test_intro_then_first_question_with_position_among_visible_items() -> None:
    q = questionnaire(single("a"), single("b"), intro="Velkommen!")
    talk = run_transcript(q, [(Start(), ["engine.intro", "ask:a"])])
    assert talk.last.messages[0].text == "Velkommen!"
    assert (talk.ask().position, talk.ask().total) == (1, 2)


def test_a_new_person_without_state_starts_in_the_default_locale() -> None:
    q = questionnaire(single("a"))
    step = advance(q, None, Start(), NOW)
    assert step.changed
    assert step.state.locale == "nb"
    assert step.state.current == "a"


# --- typed answers to button items -----------------------------------------------------------


@pytest.mark.parametrize("typed", ["2", "2.", "Alternativ B", "  alternativ   b "])
def test_typed_option_number_or_label_answers_a_button_item(typed: str) -> None:
    q = questionnaire(single("q", "Alternativ A", "Alternativ B"))
    talk = run_transcript(q, [(typed, "summary")])
    assert talk.state is not None and talk.state.answer("q") == AnswerValue(choice="b")


def test_typed_label_is_read_in_the_persons_locale() -> None:
    q = questionnaire(yes_no_na("q"))
    run_transcript(q, [("ikkje aktuelt", "summary")], locale="nn")
    run_transcript(q, [("not applicable", "summary")], locale="en")


@pytest.mark.parametrize("typed", ["4", "0", "kanskje", ""])
def test_other_typed_text_on_buttons_says_use_the_buttons_and_asks_again(typed: str) -> None:
    q = questionnaire(yes_no_na("q"))
    talk = run_transcript(q, [(typed, ["engine.invalid.use_buttons", "ask:q"])])
    assert not talk.last.changed
    assert "knappene" in talk.say().text


# --- multi-select -----------------------------------------------------------------------------


def test_multi_toggles_on_and_off_then_done_records_picks_in_option_order() -> None:
    q = questionnaire(multi("m"))
    talk = run_transcript(
        q,
        [
            (Toggle("m", "c"), "ask:m"),
            (Toggle("m", "a"), "ask:m"),
            (Toggle("m", "b"), "ask:m"),
            (Toggle("m", "b"), "ask:m"),
        ],
    )
    ask = talk.ask()
    assert ask.input is InputMode.TOGGLES
    assert [c.id for c in ask.choices if c.selected] == ["a", "c"]
    assert [a.kind for a in ask.actions] == [ActionKind.DONE]
    assert not talk.recorded, "toggles are not answers until Done"

    talk.send(Done("m"))
    assert talk.recorded[-1].value == AnswerValue(choices=("a", "c"))
    assert talk.summary().rows[0].answer == "Alternativ A, Alternativ C"


def test_multi_refuses_a_toggle_beyond_max_and_done_below_min() -> None:
    q = questionnaire(multi("m", min_picks=2, max_picks=2))
    talk = run_transcript(
        q,
        [
            (Toggle("m", "a"), "ask:m"),
            (Done("m"), ["engine.invalid.min_picks", "ask:m"]),
            (Toggle("m", "b"), "ask:m"),
            (Toggle("m", "c"), ["engine.invalid.max_picks", "ask:m"]),
        ],
    )
    assert talk.say().text.startswith("Du kan velge høyst 2.")
    assert [c.id for c in talk.ask().choices if c.selected] == ["a", "b"]
    assert talk.transitions[1].messages[0].text.startswith("Du har valgt 1. Velg minst 2")
    assert talk.ask().hint == "Velg fra 2 til 2, og trykk «Ferdig»."
    talk.send(Done("m"))
    assert talk.recorded[-1].value.choices == ("a", "b")


def test_required_multi_needs_one_pick_and_optional_multi_with_none_is_skipped() -> None:
    run_transcript(questionnaire(multi("m")), [(Done("m"), ["engine.invalid.min_picks", "ask:m"])])
    talk = run_transcript(questionnaire(multi("m", required=False)), [(Done("m"), "summary")])
    assert not talk.recorded


@pytest.mark.parametrize(("typed", "picks"), [("1, 3", ("a", "c")), ("3 1", ("a", "c"))])
def test_multi_accepts_typed_option_numbers(typed: str, picks: tuple[str, ...]) -> None:
    talk = run_transcript(questionnaire(multi("m")), [(typed, "summary")])
    assert talk.recorded[-1].value.choices == picks


def test_multi_typed_done_label_confirms_the_toggles() -> None:
    talk = run_transcript(
        questionnaire(multi("m")), [(Toggle("m", "d"), "ask:m"), ("ferdig", "summary")]
    )
    assert talk.recorded[-1].value.choices == ("d",)


def test_multi_refuses_typed_text_naming_no_option() -> None:
    run_transcript(questionnaire(multi("m")), [("1, 9", ["engine.invalid.use_toggles", "ask:m"])])


# --- free text --------------------------------------------------------------------------------


def test_text_is_stored_trimmed_and_the_prompt_warns_against_names() -> None:
    q = questionnaire(free_text("t", max_length=40))
    talk = run_transcript(q, [(Start(), "ask:t")])
    ask = talk.ask()
    assert ask.input is InputMode.TEXT
    assert ask.hint == "Ikke skriv personnavn. Høyst 40 tegn."
    talk.send("  Mer tid til opplæring \n")
    assert talk.recorded[-1].value == AnswerValue(text="Mer tid til opplæring")


def test_text_hint_in_nynorsk_and_english() -> None:
    q = questionnaire(free_text("t"))
    assert run_transcript(q, [(Start(), "ask:t")], locale="nn").ask().hint == (
        "Ikkje skriv personnamn."
    )
    assert run_transcript(q, [(Start(), "ask:t")], locale="en").ask().hint == (
        "Do not write names of people."
    )


def test_text_refuses_empty_and_too_long_saying_the_limit_and_the_length() -> None:
    q = questionnaire(free_text("t", max_length=10))
    talk = run_transcript(
        q,
        [
            ("   ", ["engine.invalid.empty", "ask:t"]),
            ("Altfor mye tekst her", ["engine.invalid.too_long", "ask:t"]),
        ],
    )
    assert talk.say().text == "Svaret er for langt: 20 tegn. Det kan være på høyst 10 tegn."


# --- numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "shown"), [("12,5", "12,5"), ("12.5", "12,5"), (" 12,50 ", "12,50")]
)
def test_number_accepts_decimal_comma_or_dot(typed: str, shown: str) -> None:
    q = questionnaire(number("n", "0", "37.5", integer=False))
    talk = run_transcript(q, [(typed, "summary")])
    assert talk.recorded[-1].value.number == Decimal("12.5")
    assert talk.summary().rows[0].answer == shown


def test_number_is_read_back_as_the_locale_writes_it() -> None:
    item = number("n", integer=False)
    assert render_answer(item, AnswerValue(number=Decimal("12.5")), "nb", "nb") == "12,5"
    assert render_answer(item, AnswerValue(number=Decimal("12.5")), "en", "nb") == "12.5"
    assert render_answer(item, AnswerValue(number=Decimal("1500")), "en", "nb") == "1,500"


def test_integer_number_hint_and_whole_number_stored() -> None:
    q = questionnaire(number("n", "0", "100"))
    talk = run_transcript(q, [(Start(), "ask:n")])
    assert talk.ask().input is InputMode.NUMBER
    assert talk.ask().hint == "Skriv et helt tall. Fra 0 til 100."
    talk.send("42,0")
    assert talk.recorded[-1].value == AnswerValue(number=Decimal("42"))


@pytest.mark.parametrize(
    ("item", "typed", "key", "text"),
    [
        (number("n"), "tolv", "engine.invalid.not_a_number", None),
        (number("n"), "1e5", "engine.invalid.not_a_number", None),
        (number("n"), "9" * 40, "engine.invalid.not_a_number", None),
        (number("n"), "1,5", "engine.invalid.not_integer", None),
        (
            number("n", "0", "37.5", integer=False),
            "40",
            "engine.invalid.out_of_range",
            "Tallet må være fra 0 til 37,5.",
        ),
        (number("n", "1"), "0", "engine.invalid.too_small", "Tallet må være minst 1."),
        (number("n", None, "10"), "11", "engine.invalid.too_large", None),
    ],
)
def test_number_refusals_say_why(item: Item, typed: str, key: str, text: str | None) -> None:
    talk = run_transcript(questionnaire(item), [(typed, [key, "ask:n"])])
    if text is not None:
        assert talk.say().text == text


# --- skipping ---------------------------------------------------------------------------------


def test_skip_is_offered_and_allowed_only_on_optional_items() -> None:
    q = questionnaire(single("req"), free_text("opt", required=False))
    talk = run_transcript(
        q,
        [
            (Skip("req"), ["engine.invalid.required", "ask:req"]),
            (Choose("req", "a"), "ask:opt"),
            (Skip("opt"), "summary"),
        ],
    )
    assert ActionKind.SKIP in [a.kind for a in talk.transitions[1].messages[0].actions]
    assert [r.item_id for r in talk.recorded] == ["req"]
    assert talk.state is not None and talk.state.answer("opt") is None


def test_skip_after_back_withdraws_the_earlier_optional_answer() -> None:
    q = questionnaire(free_text("opt", required=False), single("b"))
    talk = run_transcript(q, [("Noe", "ask:b"), ("Tilbake", "ask:opt"), (Skip(), "ask:b")])
    assert talk.last.cleared == ("opt",)
    assert talk.state is not None and talk.state.answer("opt") is None


def test_consent_phase_is_declined_on_no() -> None:
    q = questionnaire(consent(), single("a"))
    talk = run_transcript(q, [(Choose("consent", "no"), "engine.consent_declined")])
    assert talk.state is not None and talk.state.phase is Phase.DECLINED
