"""Domain records that repositories return: units, people, identities, rounds, participation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum

from dialogs.model import LocalizedText, Role, RoundKind, RoundState


class ParticipationStatus(StrEnum):
    """Where a person stands in a round; `ineligible`/`unreachable` leave the denominator."""

    INVITED = "invited"
    COMPLETED = "completed"
    INELIGIBLE = "ineligible"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class UnitRecord:
    """A unit of the organisation tree."""

    id: str
    parent_id: str | None
    name: LocalizedText
    timezone: str | None = None
    locale: str | None = None
    checkin: Mapping[str, object] | None = None
    """The check-in rhythm from the organisation file, e.g. {"weekdays": [1], "at": "10:00"}."""


@dataclass(frozen=True)
class PersonRecord:
    """A person and their preferences."""

    id: int
    email: str | None
    name: str | None
    locale: str | None
    active: bool
    paused: bool
    send_window: tuple[time, time] | None = None
    """The person's own send window (local start inclusive, end exclusive); None: any time."""
    away: tuple[tuple[date, date], ...] = ()
    """Days the person asked not to be messaged (first, last), inclusive."""
    digest_opt_out: bool = False
    """A leader who turned the weekly digest off (it stays available with /digest)."""


@dataclass(frozen=True)
class MembershipRecord:
    """A person's role in a unit."""

    person_id: int
    unit_id: str
    role: Role


@dataclass(frozen=True)
class DeputyRecord:
    """Someone who receives a leader's digest for a unit between two dates (inclusive)."""

    unit_id: str
    leader_id: int
    deputy_id: int
    first_day: date
    last_day: date


@dataclass(frozen=True)
class IdentityRecord:
    """A channel address, linked to a person or not yet."""

    id: int
    channel: str
    external_id: str
    person_id: int | None
    reachable: bool


@dataclass(frozen=True)
class RoundRecord:
    """A round and the questionnaire version it sends."""

    id: int
    kind: RoundKind
    name: str | None
    questionnaire_version_id: int
    questionnaire_id: str
    content_hash: str
    opens_at: datetime
    closes_at: datetime
    anonymous: bool
    state: RoundState
    unit_ids: tuple[str, ...]
    auto_reminder_days: tuple[int, ...] = ()
    """Days after opening on which non-respondents are reminded automatically."""

    def accepts_answers(self, now: datetime) -> bool:
        """Open, and `now` inside the opening window."""
        return self.state == RoundState.OPEN and self.opens_at <= now < self.closes_at


@dataclass(frozen=True)
class ParticipationRecord:
    """Whether a person has answered a round (never what they answered)."""

    round_id: int
    person_id: int | None
    unit_id: str
    status: ParticipationStatus
    completed_on: date | None
    reason: str | None = None
    assigned: tuple[str, ...] | None = None
    """Check-ins: the measure slugs this person is asked (None: every item)."""
    reminders_sent: int = 0
    last_reminded_at: datetime | None = None


@dataclass(frozen=True)
class ReminderRunRecord:
    """A reminder round and its report (counts at sending; the lift once 24 hours passed)."""

    id: int
    round_id: int
    requested_by: int | None
    origin: str
    scope: tuple[str, ...] | None
    created_at: datetime
    queued: int
    already_answered: int
    capped: int
    too_recent: int
    without_identity: int
    paused: int
    completed_at_send: int
    completed_after_24h: int | None
    report_sent_at: datetime | None
    lift_reported_at: datetime | None

    @property
    def batch(self) -> str:
        """The outbox batch of this run's messages."""
        return f"reminder-run:{self.id}"

    @property
    def lift(self) -> int | None:
        """Completed participations 24 hours after sending minus at sending."""
        if self.completed_after_24h is None:
            return None
        return self.completed_after_24h - self.completed_at_send
