"""Who gets a reminder (cap, spacing, already answered) and the placeholders of round texts."""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from dialogs.records import ParticipationRecord, ParticipationStatus

PLACEHOLDERS = ("title", "deadline", "name")
"""What a round's invitation and reminder texts may contain, e.g. «{title}» by {deadline}."""
MAX_TEXT = 1000


class Verdict(StrEnum):
    """Why a person in scope gets a reminder now, or why not."""

    REMIND = "remind"
    ALREADY_ANSWERED = "already_answered"
    CAPPED = "capped"
    TOO_RECENT = "too_recent"
    WITHOUT_IDENTITY = "without_identity"
    PAUSED = "paused"
    NOT_ELIGIBLE = "not_eligible"


@dataclass(frozen=True)
class ReminderRules:
    """At most `max_per_person` reminders per round, at least `gap` apart."""

    max_per_person: int = 3
    gap: timedelta = timedelta(hours=24)


def verdict(
    participation: ParticipationRecord,
    reachable: bool,
    paused: bool,
    now: datetime,
    rules: ReminderRules,
) -> Verdict:
    """Whether to remind one invitee of a round now.

    Args:
        participation: The person's participation in the round.
        reachable: Whether the person has a reachable chat identity.
        paused: Whether the person paused proactive messages (they stay in the denominator).
        now: The moment of sending.
        rules: Cap and spacing.

    Returns:
        REMIND, or the reason they are left out.
    """
    if participation.status is ParticipationStatus.COMPLETED:
        return Verdict.ALREADY_ANSWERED
    if participation.status is not ParticipationStatus.INVITED or participation.person_id is None:
        return Verdict.NOT_ELIGIBLE
    if participation.reminders_sent >= rules.max_per_person:
        return Verdict.CAPPED
    last = participation.last_reminded_at
    if last is not None and now - last < rules.gap:
        return Verdict.TOO_RECENT
    if paused:
        return Verdict.PAUSED
    if not reachable:
        return Verdict.WITHOUT_IDENTITY
    return Verdict.REMIND


class TextError(ValueError):
    """A round text that cannot be used (the message says why)."""


def check_text(text: str) -> str:
    """A round text with only known placeholders, stripped; raises TextError otherwise."""
    text = text.strip()
    if not text:
        raise TextError("the text is empty")
    if len(text) > MAX_TEXT:
        raise TextError(f"the text is longer than {MAX_TEXT} characters")
    try:
        fields = [
            (name, spec, conversion)
            for _, name, spec, conversion in string.Formatter().parse(text)
            if name is not None
        ]
    except ValueError as error:
        hint = "write {{ for a literal brace"
        raise TextError(f"braces do not match ({error}); {hint}") from error
    known = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
    unknown = sorted({name for name, _, _ in fields if name not in PLACEHOLDERS})
    if unknown:
        raise TextError(f"unknown placeholder {{{unknown[0]}}}; use {known}")
    # A format spec or conversion ({title:d}, {title!x}) would fail (or garble) at send time.
    formatted = next((name for name, spec, conversion in fields if spec or conversion), None)
    if formatted is not None:
        raise TextError(f"write the placeholder {{{formatted}}} without ':' or '!'; use {known}")
    return text


def fill_text(text: str, title: str, deadline: str, name: str | None) -> str:
    """A checked round text with its placeholders filled in."""
    return text.format(title=title, deadline=deadline, name=name or "")
