"""Who gets a reminder (every reason, the cap and the gap at their edges) and round texts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dialogs.records import ParticipationRecord, ParticipationStatus
from dialogs.reminders import (
    MAX_TEXT,
    ReminderRules,
    TextError,
    Verdict,
    check_text,
    fill_text,
    verdict,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
RULES = ReminderRules()


def invitee(
    status: ParticipationStatus = ParticipationStatus.INVITED,
    sent: int = 0,
    last: datetime | None = None,
    person_id: int | None = 7,
) -> ParticipationRecord:
    return ParticipationRecord(
        round_id=1,
        person_id=person_id,
        unit_id="hjerteavdelingen",
        status=status,
        completed_on=NOW.date() if status is ParticipationStatus.COMPLETED else None,
        reminders_sent=sent,
        last_reminded_at=last,
    )


def judge(
    participation: ParticipationRecord,
    reachable: bool = True,
    paused: bool = False,
    now: datetime = NOW,
    rules: ReminderRules = RULES,
) -> Verdict:
    return verdict(participation, reachable, paused, now, rules)


def test_the_defaults_are_three_reminders_a_day_apart():
    assert ReminderRules(max_per_person=3, gap=timedelta(hours=24)) == RULES


def test_a_reachable_non_respondent_is_reminded():
    assert judge(invitee()) is Verdict.REMIND


def test_whoever_answered_is_never_reminded_whatever_else_holds():
    answered = invitee(ParticipationStatus.COMPLETED, sent=0)
    assert judge(answered) is Verdict.ALREADY_ANSWERED
    assert judge(answered, reachable=False, paused=True) is Verdict.ALREADY_ANSWERED
    capped = invitee(ParticipationStatus.COMPLETED, sent=3, last=NOW)
    assert judge(capped) is Verdict.ALREADY_ANSWERED


@pytest.mark.parametrize(
    "status", [ParticipationStatus.INELIGIBLE, ParticipationStatus.UNREACHABLE]
)
def test_ineligible_and_unreachable_invitees_are_left_out(status):
    assert judge(invitee(status)) is Verdict.NOT_ELIGIBLE


def test_a_de_identified_participation_is_left_out():
    # "Forget me" keeps the row for the response rate but removes the person.
    assert judge(invitee(person_id=None)) is Verdict.NOT_ELIGIBLE


@pytest.mark.parametrize(("sent", "expected"), [(2, Verdict.REMIND), (3, Verdict.CAPPED)])
def test_the_cap_allows_the_third_reminder_and_refuses_the_fourth(sent, expected):
    long_ago = NOW - timedelta(days=5)
    assert judge(invitee(sent=sent, last=long_ago)) is expected


def test_the_cap_is_configurable_and_zero_means_never():
    long_ago = NOW - timedelta(days=5)
    assert judge(invitee(sent=1, last=long_ago), rules=ReminderRules(1)) is Verdict.CAPPED
    assert judge(invitee(), rules=ReminderRules(0)) is Verdict.CAPPED


@pytest.mark.parametrize(
    ("ago", "expected"),
    [
        (timedelta(0), Verdict.TOO_RECENT),
        (timedelta(hours=24) - timedelta(seconds=1), Verdict.TOO_RECENT),
        (timedelta(hours=24), Verdict.REMIND),
        (timedelta(hours=24, seconds=1), Verdict.REMIND),
    ],
)
def test_the_gap_is_at_least_24_hours_inclusive(ago, expected):
    assert judge(invitee(sent=1, last=NOW - ago)) is expected


def test_the_gap_is_configurable():
    rules = ReminderRules(gap=timedelta(hours=48))
    assert judge(invitee(sent=1, last=NOW - timedelta(hours=47)), rules=rules) is (
        Verdict.TOO_RECENT
    )
    assert judge(invitee(sent=1, last=NOW - timedelta(hours=48)), rules=rules) is Verdict.REMIND


def test_the_cap_is_checked_before_the_gap():
    assert judge(invitee(sent=3, last=NOW - timedelta(hours=1))) is Verdict.CAPPED


def test_paused_people_are_left_out_but_cap_and_gap_come_first():
    assert judge(invitee(), paused=True) is Verdict.PAUSED
    assert judge(invitee(), reachable=False, paused=True) is Verdict.PAUSED
    assert judge(invitee(sent=1, last=NOW), paused=True) is Verdict.TOO_RECENT


def test_people_without_a_reachable_identity_are_left_out():
    assert judge(invitee(), reachable=False) is Verdict.WITHOUT_IDENTITY


# --- round texts ---------------------------------------------------------------------------


def test_a_text_with_known_placeholders_is_accepted_and_stripped():
    text = "  Husk «{title}» innen {deadline}, {name}!\n"
    assert check_text(text) == "Husk «{title}» innen {deadline}, {name}!"


def test_a_text_without_placeholders_and_with_escaped_braces_is_accepted():
    assert check_text("Svar i dag") == "Svar i dag"
    assert check_text("Bruk {{ og }} for klammer") == "Bruk {{ og }} for klammer"


@pytest.mark.parametrize("text", ["Hei {navn}", "Hei {title.upper}", "Hei {0}", "Hei {}"])
def test_an_unknown_placeholder_is_refused_naming_it_and_the_known_ones(text):
    with pytest.raises(TextError) as raised:
        check_text(text)
    message = str(raised.value)
    assert message.startswith("unknown placeholder {")
    assert "use {title}, {deadline}, {name}" in message


def test_the_first_unknown_placeholder_is_named():
    with pytest.raises(TextError, match=r"unknown placeholder \{navn\}"):
        check_text("{title} {navn} {tittel}")


@pytest.mark.parametrize("text", ["{title:d}", "{title!x}", "{deadline:>30}", "{name!r}"])
def test_format_specs_and_conversions_are_refused_before_they_break_sending(text):
    # Accepted, "{title:d}" made fill_text raise while the reminders were being queued.
    with pytest.raises(TextError, match="without ':' or '!'"):
        check_text(text)


@pytest.mark.parametrize("text", ["Hei {title", "Hei title}", "Hei }", "{"])
def test_unmatched_braces_are_refused_with_a_hint(text):
    with pytest.raises(TextError, match="braces do not match") as raised:
        check_text(text)
    assert "write {{ for a literal brace" in str(raised.value)


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_an_empty_text_is_refused(text):
    with pytest.raises(TextError, match="the text is empty"):
        check_text(text)


def test_the_length_limit_is_1000_characters_after_stripping():
    assert MAX_TEXT == 1000
    assert check_text("x" * MAX_TEXT) == "x" * MAX_TEXT
    assert check_text(" " + "x" * MAX_TEXT + " ") == "x" * MAX_TEXT
    with pytest.raises(TextError, match="longer than 1000 characters"):
        check_text("x" * (MAX_TEXT + 1))


def test_text_errors_are_value_errors():
    # The CLI turns ValueError into "error: ..." and exit code 1.
    assert issubclass(TextError, ValueError)


def test_fill_text_fills_every_placeholder():
    text = check_text("Hei {name}! «{title}» stenger {deadline}. {title} igjen.")
    filled = fill_text(text, "Evaluering", "23. desember 2026", "Kari Nordmann")
    assert filled == (
        "Hei Kari Nordmann! «Evaluering» stenger 23. desember 2026. Evaluering igjen."
    )


def test_fill_text_without_a_name_leaves_it_empty_and_keeps_literal_braces():
    filled = fill_text(check_text("Hei{name}, {{svar}} på {title}"), "Runde", "fredag", None)
    assert filled == "Hei, {svar} på Runde"
