"""Domain records that repositories return: units, people, identities, rounds, participation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
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


@dataclass(frozen=True)
class MembershipRecord:
    """A person's role in a unit."""

    person_id: int
    unit_id: str
    role: Role


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
