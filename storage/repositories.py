"""Repositories: every query the services need, returning domain records, never ORM rows."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dialogs.checkin import MeasurePlan
from dialogs.model import (
    AnswerValue,
    LocalizedText,
    MeasureInfo,
    MeasureStatus,
    Role,
    RoundKind,
    RoundState,
)
from dialogs.plan import MeasureSpec
from dialogs.records import (
    DeputyRecord,
    IdentityRecord,
    MembershipRecord,
    ParticipationRecord,
    ParticipationStatus,
    PersonRecord,
    RoundRecord,
    UnitRecord,
)
from dialogs.rhythm import parse_window
from storage import models as m
from storage.database import insert_for
from storage.models import random_key, utcnow

SCATTER_ROWS = 3
ANSWER_KEYS = ("key", "response_key")
CHUNK = 500
"""Ids per IN (...) list: well under every database's parameter limit."""


def hash_code(code: str) -> str:
    """Invite and link codes are stored only as hashes."""
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def _unit(row: m.Unit) -> UnitRecord:
    return UnitRecord(
        id=row.id,
        parent_id=row.parent_id,
        name=LocalizedText(nb=row.name_nb, nn=row.name_nn, en=row.name_en),
        timezone=row.timezone,
        locale=row.locale,
        checkin=dict(row.checkin) if row.checkin else None,
    )


def _person(row: m.Person) -> PersonRecord:
    return PersonRecord(
        row.id,
        row.email,
        row.name,
        row.locale,
        row.active,
        row.paused,
        parse_window(row.send_window) if row.send_window else None,
        tuple(
            (date.fromisoformat(first), date.fromisoformat(last)) for first, last in row.away or ()
        ),
        bool(row.digest_opt_out),
    )


def _identity(row: m.Identity) -> IdentityRecord:
    return IdentityRecord(row.id, row.channel, row.external_id, row.person_id, row.reachable)


class OrgRepository:
    """Units, people, memberships, identities and invites."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def upsert_unit(self, unit: UnitRecord, kind: str | None = None) -> None:
        """Create or update a unit by id."""
        row = await self.session.get(m.Unit, unit.id) or m.Unit(id=unit.id)
        row.parent_id = unit.parent_id
        row.name_nb = unit.name.nb or unit.id
        row.name_nn, row.name_en = unit.name.nn, unit.name.en
        row.kind, row.timezone, row.locale = kind, unit.timezone, unit.locale
        row.checkin = dict(unit.checkin) if unit.checkin else None
        self.session.add(row)
        await self.session.flush()

    async def units(self) -> list[UnitRecord]:
        """Every unit, by id."""
        rows = await self.session.scalars(select(m.Unit).order_by(m.Unit.id))
        return [_unit(row) for row in rows]

    async def unit(self, unit_id: str) -> UnitRecord | None:
        """One unit, if it exists."""
        row = await self.session.get(m.Unit, unit_id)
        return _unit(row) if row else None

    async def count_units(self) -> int:
        """How many units exist (zero means an empty database)."""
        return int(await self.session.scalar(select(func.count()).select_from(m.Unit)) or 0)

    async def person_by_email(self, email: str) -> PersonRecord | None:
        """A person by roster key (case-insensitive)."""
        row = await self.session.scalar(select(m.Person).where(m.Person.email == email.lower()))
        return _person(row) if row else None

    async def person(self, person_id: int) -> PersonRecord | None:
        """A person by id."""
        row = await self.session.get(m.Person, person_id)
        return _person(row) if row else None

    async def people(self, active_only: bool = True) -> list[PersonRecord]:
        """All people, by id."""
        query = select(m.Person).order_by(m.Person.id)
        if active_only:
            query = query.where(m.Person.active.is_(True))
        return [_person(row) for row in await self.session.scalars(query)]

    async def upsert_person(
        self, email: str, name: str | None, locale: str | None
    ) -> tuple[PersonRecord, bool]:
        """Create or update a person by e-mail; returns the person and whether it was created."""
        row = await self.session.scalar(select(m.Person).where(m.Person.email == email.lower()))
        created = row is None
        if row is None:
            row = m.Person(email=email.lower(), active=True, paused=False)
        row.name = name or row.name
        row.locale = locale or row.locale
        if not row.active:
            row.active, row.deactivated_at = True, None
        self.session.add(row)
        await self.session.flush()
        return _person(row), created

    async def create_person(self, name: str | None, locale: str | None) -> PersonRecord:
        """A person known only through a channel (no roster e-mail)."""
        row = m.Person(name=name, locale=locale, active=True, paused=False)
        self.session.add(row)
        await self.session.flush()
        return _person(row)

    async def deactivate_people_except(self, keep_emails: set[str]) -> int:
        """Leavers: deactivate everyone with an e-mail not in `keep_emails`."""
        result = await self.session.execute(
            update(m.Person)
            .where(m.Person.active.is_(True), m.Person.email.is_not(None))
            .where(m.Person.email.not_in(sorted(keep_emails)))
            .values(active=False, deactivated_at=utcnow())
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def set_person_locale(self, person_id: int, locale: str) -> None:
        """Remember a person's language choice."""
        await self.session.execute(
            update(m.Person).where(m.Person.id == person_id).values(locale=locale)
        )

    async def set_paused(self, person_id: int, paused: bool) -> None:
        """Pause or resume proactive messages to a person."""
        await self.session.execute(
            update(m.Person).where(m.Person.id == person_id).values(paused=paused)
        )

    async def set_send_window(self, person_id: int, window: tuple[time, time] | None) -> None:
        """Set or clear the person's own send window."""
        text = f"{window[0]:%H:%M}-{window[1]:%H:%M}" if window else None
        await self.session.execute(
            update(m.Person).where(m.Person.id == person_id).values(send_window=text)
        )

    async def set_away(self, person_id: int, periods: Sequence[tuple[date, date]]) -> None:
        """Replace the days the person is away (no messages then)."""
        value = [[first.isoformat(), last.isoformat()] for first, last in periods] or None
        await self.session.execute(
            update(m.Person).where(m.Person.id == person_id).values(away=value)
        )

    async def set_digest_opt_out(self, person_id: int, opt_out: bool) -> None:
        """Turn the weekly digest off (or on again) for a leader."""
        await self.session.execute(
            update(m.Person).where(m.Person.id == person_id).values(digest_opt_out=opt_out)
        )

    async def add_deputy(self, deputy: DeputyRecord) -> None:
        """Name a deputy who receives a leader's digest for a unit in a date range."""
        self.session.add(
            m.LeaderDeputy(
                unit_id=deputy.unit_id,
                leader_id=deputy.leader_id,
                deputy_id=deputy.deputy_id,
                first_day=deputy.first_day,
                last_day=deputy.last_day,
            )
        )
        await self.session.flush()

    async def deputies(self) -> list[DeputyRecord]:
        """Every deputy arrangement, oldest first."""
        rows = await self.session.scalars(select(m.LeaderDeputy).order_by(m.LeaderDeputy.id))
        return [
            DeputyRecord(r.unit_id, r.leader_id, r.deputy_id, r.first_day, r.last_day)
            for r in rows
        ]

    async def set_memberships(
        self, person_id: int, memberships: Iterable[tuple[str, Role]]
    ) -> None:
        """Replace a person's memberships with exactly these (unit, role) pairs."""
        await self.session.execute(delete(m.Membership).where(m.Membership.person_id == person_id))
        for unit_id, role in sorted(set(memberships)):
            self.session.add(m.Membership(person_id=person_id, unit_id=unit_id, role=role.value))
        await self.session.flush()

    async def add_membership(self, person_id: int, unit_id: str, role: Role) -> None:
        """Add one membership unless the person already has it."""
        exists = await self.session.scalar(
            select(m.Membership.id).where(
                m.Membership.person_id == person_id,
                m.Membership.unit_id == unit_id,
                m.Membership.role == role.value,
            )
        )
        if exists is None:
            self.session.add(m.Membership(person_id=person_id, unit_id=unit_id, role=role.value))
            await self.session.flush()

    async def memberships(self, person_id: int) -> list[MembershipRecord]:
        """A person's memberships."""
        rows = await self.session.scalars(
            select(m.Membership)
            .where(m.Membership.person_id == person_id)
            .order_by(m.Membership.unit_id, m.Membership.role)
        )
        return [MembershipRecord(r.person_id, r.unit_id, Role(r.role)) for r in rows]

    async def unit_members(self, unit_id: str, role: Role) -> list[PersonRecord]:
        """Active people holding `role` in exactly this unit, by id."""
        rows = await self.session.scalars(
            select(m.Person)
            .join(m.Membership, m.Membership.person_id == m.Person.id)
            .where(
                m.Membership.unit_id == unit_id,
                m.Membership.role == role.value,
                m.Person.active.is_(True),
            )
            .order_by(m.Person.id)
        )
        return [_person(row) for row in rows.unique()]

    async def all_memberships(self) -> list[MembershipRecord]:
        """Every membership of every active person."""
        rows = await self.session.scalars(
            select(m.Membership)
            .join(m.Person, m.Person.id == m.Membership.person_id)
            .where(m.Person.active.is_(True))
            .order_by(m.Membership.person_id, m.Membership.unit_id)
        )
        return [MembershipRecord(r.person_id, r.unit_id, Role(r.role)) for r in rows]

    async def identity(self, channel: str, external_id: str) -> IdentityRecord | None:
        """A channel identity, if known."""
        row = await self.session.scalar(
            select(m.Identity).where(
                m.Identity.channel == channel, m.Identity.external_id == external_id
            )
        )
        return _identity(row) if row else None

    async def identity_by_id(self, identity_id: int) -> IdentityRecord | None:
        """A channel identity by id."""
        row = await self.session.get(m.Identity, identity_id)
        return _identity(row) if row else None

    async def ensure_identity(
        self, channel: str, external_id: str, lock: bool = False
    ) -> IdentityRecord:
        """The identity for this address, created (unlinked) when new.

        With `lock`, the row stays locked for the transaction (PostgreSQL), so two first
        messages from one address cannot both enroll it; the insert never races either.
        """
        query = select(m.Identity).where(
            m.Identity.channel == channel, m.Identity.external_id == external_id
        )
        if lock:
            query = query.with_for_update()
        # populate_existing: the row as stored now, even if this session loaded it earlier.
        query = query.execution_options(populate_existing=True)
        row = await self.session.scalar(query)  # one round trip when the address is known
        if row is None:
            await self.session.execute(
                insert_for(self.session)(m.Identity)
                .values(
                    channel=channel, external_id=external_id, reachable=True, created_at=utcnow()
                )
                .on_conflict_do_nothing(index_elements=["channel", "external_id"])
            )
            row = await self.session.scalar(query)
        assert row is not None
        return _identity(row)

    async def mark_reachable(self, identity_id: int) -> None:
        """The person wrote to us again here (e.g. unblocked the bot)."""
        await self.session.execute(
            update(m.Identity)
            .where(m.Identity.id == identity_id)
            .values(reachable=True, unreachable_reason=None)
        )

    async def link_identity(self, identity_id: int, person_id: int) -> None:
        """Connect a channel identity to a person."""
        await self.session.execute(
            update(m.Identity)
            .where(m.Identity.id == identity_id)
            .values(person_id=person_id, reachable=True, unreachable_reason=None)
        )

    async def set_conversation_ref(self, identity_id: int, ref: dict[str, Any]) -> None:
        """Remember what proactive sending and message edits need for this address."""
        await self.session.execute(
            update(m.Identity).where(m.Identity.id == identity_id).values(conversation_ref=ref)
        )

    async def conversation_ref(self, identity_id: int) -> dict[str, Any]:
        """The stored conversation reference (empty when none yet)."""
        row = await self.session.get(m.Identity, identity_id)
        return dict(row.conversation_ref or {}) if row else {}

    async def identities_of(
        self, person_id: int, reachable_only: bool = True
    ) -> list[IdentityRecord]:
        """Identities of a person (reachable ones by default), oldest first."""
        query = select(m.Identity).where(m.Identity.person_id == person_id)
        if reachable_only:
            query = query.where(m.Identity.reachable.is_(True))
        rows = await self.session.scalars(query.order_by(m.Identity.id))
        return [_identity(row) for row in rows]

    async def first_identities(self, person_ids: Iterable[int]) -> dict[int, IdentityRecord]:
        """Each person's oldest reachable identity (where proactive messages go), in bulk."""
        wanted = sorted(set(person_ids))
        found: dict[int, IdentityRecord] = {}
        for start in range(0, len(wanted), CHUNK):
            rows = await self.session.scalars(
                select(m.Identity)
                .where(
                    m.Identity.person_id.in_(wanted[start : start + CHUNK]),
                    m.Identity.reachable.is_(True),
                )
                .order_by(m.Identity.id)
            )
            for row in rows:
                if row.person_id is not None:
                    found.setdefault(row.person_id, _identity(row))
        return found

    async def reachable_people(self) -> set[int]:
        """Ids of people with at least one reachable chat identity."""
        rows = await self.session.scalars(
            select(m.Identity.person_id)
            .where(m.Identity.reachable.is_(True), m.Identity.person_id.is_not(None))
            .distinct()
        )
        return {int(person_id) for person_id in rows if person_id is not None}

    async def mark_unreachable(self, identity_id: int, reason: str) -> None:
        """The channel said this address is gone."""
        await self.session.execute(
            update(m.Identity)
            .where(m.Identity.id == identity_id)
            .values(reachable=False, unreachable_reason=reason[:200])
        )

    async def create_invite(
        self,
        code: str,
        expires_at: datetime,
        unit_id: str | None,
        person_id: int | None,
        role: Role,
        uses: int,
    ) -> None:
        """Store a new invite code (hashed)."""
        self.session.add(
            m.Invite(
                code_hash=hash_code(code),
                unit_id=unit_id,
                person_id=person_id,
                role=role.value,
                expires_at=expires_at,
                uses_left=uses,
            )
        )
        await self.session.flush()

    async def redeem_invite(
        self, code: str, now: datetime
    ) -> tuple[str | None, int | None, Role] | None:
        """Use one use of a valid invite: (unit, person, role), or None if unknown/expired/used."""
        row = await self.session.scalar(
            select(m.Invite).where(m.Invite.code_hash == hash_code(code)).with_for_update()
        )
        if row is None or row.expires_at <= now or row.uses_left <= 0:
            return None
        row.uses_left -= 1
        await self.session.flush()
        return row.unit_id, row.person_id, Role(row.role)


class QuestionnaireRepository:
    """Stored questionnaire versions (immutable once stored)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def store_version(self, questionnaire_id: str, content_hash: str, source: str) -> int:
        """The version id for this exact content, stored when new."""
        existing = await self.session.scalar(
            select(m.QuestionnaireVersion.id).where(
                m.QuestionnaireVersion.questionnaire_id == questionnaire_id,
                m.QuestionnaireVersion.content_hash == content_hash,
            )
        )
        if existing is not None:
            return int(existing)
        row = m.QuestionnaireVersion(
            questionnaire_id=questionnaire_id, content_hash=content_hash, source=source
        )
        self.session.add(row)
        await self.session.flush()
        return row.id

    async def source(self, version_id: int) -> tuple[str, str]:
        """(definition source text, content hash) of a version."""
        row = await self.session.get(m.QuestionnaireVersion, version_id)
        if row is None:
            raise LookupError(f"questionnaire version {version_id} does not exist")
        return row.source, row.content_hash

    async def latest_version(self, questionnaire_id: str) -> int | None:
        """The newest stored version of a questionnaire."""
        found = await self.session.scalar(
            select(m.QuestionnaireVersion.id)
            .where(m.QuestionnaireVersion.questionnaire_id == questionnaire_id)
            .order_by(m.QuestionnaireVersion.id.desc())
            .limit(1)
        )
        return int(found) if found is not None else None


class RoundRepository:
    """Rounds, their audiences and participation."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._anonymous: dict[int, bool] = {}
        """Round -> anonymous, as read in this transaction (it never changes once created)."""

    async def create(
        self,
        version_id: int,
        unit_ids: Sequence[str],
        opens_at: datetime,
        closes_at: datetime,
        anonymous: bool,
        name: str | None,
        kind: RoundKind = RoundKind.SURVEY,
    ) -> int:
        """A new round in draft state."""
        row = m.Round(
            kind=kind.value,
            name=name,
            questionnaire_version_id=version_id,
            opens_at=opens_at,
            closes_at=closes_at,
            anonymous=anonymous,
            state=RoundState.DRAFT.value,
        )
        self.session.add(row)
        await self.session.flush()
        for unit_id in sorted(set(unit_ids)):
            self.session.add(m.RoundUnit(round_id=row.id, unit_id=unit_id))
        await self.session.flush()
        return row.id

    async def get(self, round_id: int) -> RoundRecord | None:
        """A round with its questionnaire and audience."""
        found = (
            await self.session.execute(
                select(m.Round, m.QuestionnaireVersion)
                .join(m.QuestionnaireVersion)
                .where(m.Round.id == round_id)
            )
        ).first()
        if found is None:
            return None
        row, version = found
        units = await self.session.scalars(
            select(m.RoundUnit.unit_id)
            .where(m.RoundUnit.round_id == round_id)
            .order_by(m.RoundUnit.unit_id)
        )
        self._anonymous[round_id] = row.anonymous
        return _round(row, version, list(units))

    async def is_anonymous(self, round_id: int) -> bool | None:
        """Whether a round is anonymous (None: no such round)."""
        if round_id not in self._anonymous:
            found = await self.session.scalar(
                select(m.Round.anonymous).where(m.Round.id == round_id)
            )
            if found is None:
                return None
            self._anonymous[round_id] = found
        return self._anonymous[round_id]

    async def by_name(self, name: str) -> RoundRecord | None:
        """The round with this name (check-ins are named after their unit and period)."""
        found = await self.session.scalar(select(m.Round.id).where(m.Round.name == name))
        return await self.get(found) if found is not None else None

    async def all(self, kind: RoundKind | None = None) -> list[RoundRecord]:
        """Every round (of one kind), newest first, in three queries whatever their number."""
        query = (
            select(m.Round, m.QuestionnaireVersion)
            .join(m.QuestionnaireVersion)
            .order_by(m.Round.id.desc())
        )
        if kind is not None:
            query = query.where(m.Round.kind == kind.value)
        found = (await self.session.execute(query)).all()
        units: dict[int, list[str]] = {}
        if found:
            unit_rows = await self.session.execute(
                select(m.RoundUnit.round_id, m.RoundUnit.unit_id).order_by(m.RoundUnit.unit_id)
            )
            for round_id, unit_id in unit_rows:
                units.setdefault(round_id, []).append(unit_id)
        return [_round(row, version, units.get(row.id, [])) for row, version in found]

    async def set_state(self, round_id: int, state: RoundState) -> None:
        """Move a round through its life cycle."""
        await self.session.execute(
            update(m.Round).where(m.Round.id == round_id).values(state=state.value)
        )

    async def set_auto_reminders(self, round_id: int, days: Sequence[int]) -> None:
        """Remind non-respondents automatically this many days after opening."""
        await self.session.execute(
            update(m.Round)
            .where(m.Round.id == round_id)
            .values(auto_reminder_days=sorted(set(days)) or None)
        )

    async def set_text(self, round_id: int, purpose: str, locale: str, text: str | None) -> None:
        """Set (or with None remove) the round's own invitation or reminder text."""
        await self.session.execute(
            delete(m.RoundText).where(
                m.RoundText.round_id == round_id,
                m.RoundText.purpose == purpose,
                m.RoundText.locale == locale,
            )
        )
        if text is not None:
            self.session.add(
                m.RoundText(round_id=round_id, purpose=purpose, locale=locale, text=text)
            )
            await self.session.flush()

    async def texts(self, round_id: int, purpose: str) -> dict[str, str]:
        """The round's own texts for one purpose, by locale."""
        rows = await self.session.execute(
            select(m.RoundText.locale, m.RoundText.text).where(
                m.RoundText.round_id == round_id, m.RoundText.purpose == purpose
            )
        )
        return {locale: text for locale, text in rows}

    async def mark_reminded(self, round_id: int, person_ids: Iterable[int], now: datetime) -> None:
        """Count one more reminder to each of these people in a round."""
        wanted = sorted(set(person_ids))
        for start in range(0, len(wanted), CHUNK):
            await self.session.execute(
                update(m.Participation)
                .where(
                    m.Participation.round_id == round_id,
                    m.Participation.person_id.in_(wanted[start : start + CHUNK]),
                )
                .values(
                    reminders_sent=m.Participation.reminders_sent + 1,
                    last_reminded_at=now,
                )
                .execution_options(synchronize_session=False)
            )

    async def set_closes_at(self, round_id: int, closes_at: datetime) -> None:
        """Extend (or shorten) the deadline."""
        await self.session.execute(
            update(m.Round).where(m.Round.id == round_id).values(closes_at=closes_at)
        )

    async def invite(
        self,
        round_id: int,
        person_id: int,
        unit_id: str,
        on: date,
        assigned: Sequence[str] | None = None,
    ) -> bool:
        """Add a participation row unless there is one; returns whether it was added."""
        exists = await self.session.scalar(
            select(m.Participation.id).where(
                m.Participation.round_id == round_id, m.Participation.person_id == person_id
            )
        )
        if exists is not None:
            return False
        self.session.add(
            m.Participation(
                round_id=round_id,
                person_id=person_id,
                unit_id=unit_id,
                status=ParticipationStatus.INVITED.value,
                invited_on=on,
                assigned=list(assigned) if assigned is not None else None,
            )
        )
        await self.session.flush()
        return True

    async def invite_many(
        self,
        round_id: int,
        invitees: Sequence[tuple[int, str]],
        on: date,
        assigned: Mapping[int, Sequence[str]] | None = None,
    ) -> set[int]:
        """Invite (person, unit) pairs in bulk, skipping anyone already invited; returns the new.

        One query for who is there and one insert per 500 rows, so opening a round for thousands
        of people holds the write lock for seconds, not minutes.
        """
        present = set(
            await self.session.scalars(
                select(m.Participation.person_id).where(m.Participation.round_id == round_id)
            )
        )
        fresh: dict[int, str] = {}
        for person_id, unit_id in invitees:
            if person_id not in present:
                fresh.setdefault(person_id, unit_id)
        rows = [
            {
                "round_id": round_id,
                "person_id": person_id,
                "unit_id": unit_id,
                "status": ParticipationStatus.INVITED.value,
                "invited_on": on,
                "assigned": list(assigned[person_id]) if assigned is not None else None,
            }
            for person_id, unit_id in fresh.items()
        ]
        for start in range(0, len(rows), CHUNK):
            await self.session.execute(insert(m.Participation), rows[start : start + CHUNK])
        return set(fresh)

    async def participation(self, round_id: int, person_id: int) -> ParticipationRecord | None:
        """A person's participation in a round."""
        row = await self.session.scalar(
            select(m.Participation).where(
                m.Participation.round_id == round_id, m.Participation.person_id == person_id
            )
        )
        return _participation(row) if row else None

    async def participations(self, round_id: int) -> list[ParticipationRecord]:
        """Every participation of a round."""
        rows = await self.session.scalars(
            select(m.Participation)
            .where(m.Participation.round_id == round_id)
            .order_by(m.Participation.id)
        )
        return [_participation(row) for row in rows]

    async def complete(self, round_id: int, person_id: int, on: date) -> None:
        """Mark a participation completed (a date only: no time that could order responses)."""
        await self.session.execute(
            update(m.Participation)
            .where(m.Participation.round_id == round_id, m.Participation.person_id == person_id)
            .values(status=ParticipationStatus.COMPLETED.value, completed_on=on)
        )

    async def mark_unreachable(self, round_id: int, person_id: int | None, reason: str) -> None:
        """An invitee who could not be reached leaves the eligible denominator."""
        query = update(m.Participation).where(
            m.Participation.round_id == round_id,
            m.Participation.status == ParticipationStatus.INVITED.value,
        )
        query = query.where(
            m.Participation.person_id.is_(None)
            if person_id is None
            else m.Participation.person_id == person_id
        )
        await self.session.execute(
            query.values(status=ParticipationStatus.UNREACHABLE.value, reason=reason)
        )

    async def blur_completions(self, round_id: int) -> None:
        """Rewrite every completed participation of the round (PostgreSQL only).

        The submit transaction writes the anonymous response, the participation and the
        person's conversation row together, so those rows would carry its transaction id
        (xmin). Rewriting the participations and conversation rows of everyone who completed
        the round gives them all the newest one, and a response's xmin no longer points at a
        person. (Only rows committed as completed are rewritten: a concurrent submitter is
        never waited for, so two submits cannot deadlock.)
        """
        if self.session.get_bind().dialect.name != "postgresql":
            return
        completed = (
            m.Participation.round_id == round_id,
            m.Participation.status == ParticipationStatus.COMPLETED.value,
        )
        await self.session.execute(
            update(m.Participation).where(*completed).values(status=m.Participation.status)
        )
        await self.session.execute(
            update(m.Conversation)
            .where(
                m.Conversation.person_id.in_(select(m.Participation.person_id).where(*completed))
            )
            .values(round_id=m.Conversation.round_id)
        )

    async def reinstate(self, round_id: int, reason: str) -> None:
        """Put people marked unreachable for `reason` back among the invited."""
        await self.session.execute(
            update(m.Participation)
            .where(
                m.Participation.round_id == round_id,
                m.Participation.status == ParticipationStatus.UNREACHABLE.value,
                m.Participation.reason == reason,
            )
            .values(status=ParticipationStatus.INVITED.value, reason=None)
        )

    async def open_rounds_for(self, person_id: int, now: datetime) -> list[RoundRecord]:
        """Open rounds the person is invited to and has not completed."""
        ids = await self.session.scalars(
            select(m.Round.id)
            .join(m.Participation, m.Participation.round_id == m.Round.id)
            .where(
                m.Participation.person_id == person_id,
                m.Participation.status == ParticipationStatus.INVITED.value,
                m.Round.state == RoundState.OPEN.value,
                m.Round.opens_at <= now,
                m.Round.closes_at > now,
            )
            .order_by(m.Round.id)
        )
        return [r for r in [await self.get(i) for i in ids] if r is not None]


def _round(row: m.Round, version: m.QuestionnaireVersion, units: list[str]) -> RoundRecord:
    return RoundRecord(
        id=row.id,
        kind=RoundKind(row.kind),
        name=row.name,
        questionnaire_version_id=row.questionnaire_version_id,
        questionnaire_id=version.questionnaire_id,
        content_hash=version.content_hash,
        opens_at=row.opens_at,
        closes_at=row.closes_at,
        anonymous=row.anonymous,
        state=RoundState(row.state),
        unit_ids=tuple(units),
        auto_reminder_days=tuple(row.auto_reminder_days or ()),
    )


def _participation(row: m.Participation) -> ParticipationRecord:
    return ParticipationRecord(
        round_id=row.round_id,
        person_id=row.person_id,
        unit_id=row.unit_id,
        status=ParticipationStatus(row.status),
        completed_on=row.completed_on,
        reason=row.reason,
        assigned=tuple(row.assigned) if row.assigned is not None else None,
        reminders_sent=row.reminders_sent or 0,
        last_reminded_at=row.last_reminded_at,
    )


def _value_columns(value: AnswerValue) -> dict[str, Any]:
    return {
        "choice": value.choice,
        "choices": list(value.choices) if value.choices else None,
        "text": value.text,
        "number": value.number,
    }


class ConversationRepository:
    """The per-person conversation lock, the round in focus and in-progress dialog states."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._focus: dict[int, int | None] = {}
        """Person -> round in focus, as this transaction's `lock` read or `set_focus` wrote."""
        self._held: list[m.DialogStateRow] = []

    async def lock(self, person_id: int) -> int | None:
        """Lock the person's conversation row for this transaction; returns the round in focus.

        On PostgreSQL this is SELECT ... FOR UPDATE; on SQLite the transaction already holds
        the write lock (BEGIN IMMEDIATE), so two processes still handle one event at a time.
        Locking never writes the row (an upsert would: on PostgreSQL its new transaction id
        would undo what `RoundRepository.blur_completions` did for anonymous rounds).
        """
        query = (
            select(m.Conversation.round_id)
            .where(m.Conversation.person_id == person_id)
            .with_for_update()
        )
        found = (await self.session.execute(query)).first()
        if found is None:
            # Two first events at once must not both insert: the loser waits, then locks.
            await self.session.execute(
                insert_for(self.session)(m.Conversation)
                .values(person_id=person_id, updated_at=utcnow())
                .on_conflict_do_nothing(index_elements=["person_id"])
            )
            found = (await self.session.execute(query)).first()
        focus: int | None = found[0] if found else None
        self._focus[person_id] = focus
        return focus

    async def focus(self, person_id: int, known: bool = False) -> int | None:
        """The round in focus, without locking or creating anything (the person may be gone).

        `known`: answer from this transaction's own `lock` and `set_focus` when it has used
        them for the person (for callers that changed the row no other way meanwhile).
        """
        if known and person_id in self._focus:
            return self._focus[person_id]
        return await self.session.scalar(
            select(m.Conversation.round_id).where(m.Conversation.person_id == person_id)
        )

    async def set_focus(self, person_id: int, round_id: int | None) -> None:
        """Which round the person is answering now."""
        await self.session.execute(
            update(m.Conversation)
            .where(m.Conversation.person_id == person_id)
            .values(round_id=round_id, updated_at=utcnow())
        )
        self._focus[person_id] = round_id

    async def state(self, person_id: int, round_id: int) -> dict[str, Any] | None:
        """The stored dialog state, if the person has started this round."""
        row = await self.session.get(m.DialogStateRow, (person_id, round_id))
        if row is None:
            return None
        # Held, so the session's (weak) identity map answers a second read without SQL.
        self._held.append(row)
        return dict(row.state)

    async def save_state(self, person_id: int, round_id: int, state: dict[str, Any]) -> None:
        """Store the dialog state (so a restart between two answers loses nothing)."""
        # One upsert, no read first (it runs after every answer).
        insert = insert_for(self.session)(m.DialogStateRow).values(
            person_id=person_id, round_id=round_id, state=state, updated_at=utcnow()
        )
        await self.session.execute(
            insert.on_conflict_do_update(
                index_elements=["person_id", "round_id"],
                set_={"state": insert.excluded.state, "updated_at": insert.excluded.updated_at},
            )
        )
        # A row this session loaded earlier must not keep the old state.
        loaded = self.session.identity_map.get(
            self.session.identity_key(m.DialogStateRow, (person_id, round_id))
        )
        if loaded is not None:
            self.session.expire(loaded)

    async def delete_state(self, person_id: int, round_id: int) -> None:
        """Drop the in-progress state (done inside the submit transaction)."""
        await self.session.execute(
            delete(m.DialogStateRow).where(
                m.DialogStateRow.person_id == person_id, m.DialogStateRow.round_id == round_id
            )
        )


class AnswerRepository:
    """Identified answers (append-only), submitted responses and anonymous responses."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def append(
        self,
        round_id: int,
        person_id: int,
        unit_id: str,
        item_id: str,
        value: AnswerValue,
        measure_id: str | None,
        response_id: int | None = None,
    ) -> None:
        """A new answer row; earlier rows stay (reports take the latest)."""
        self.session.add(
            m.Answer(
                round_id=round_id,
                person_id=person_id,
                unit_id=unit_id,
                response_id=response_id,
                item_id=item_id,
                measure_id=measure_id,
                **_value_columns(value),
            )
        )
        await self.session.flush()

    async def submit_identified(
        self,
        round_id: int,
        person_id: int,
        unit_id: str,
        answers: Sequence[tuple[str, AnswerValue, str | None]],
    ) -> int:
        """A submitted response with its final answers; returns the response id."""
        row = m.Response(round_id=round_id, person_id=person_id, unit_id=unit_id)
        self.session.add(row)
        await self.session.flush()
        for item_id, value, measure_id in answers:
            await self.append(round_id, person_id, unit_id, item_id, value, measure_id, row.id)
        return row.id

    async def submit_anonymous(
        self,
        round_id: int,
        unit_id: str,
        answers: Sequence[tuple[str, AnswerValue, str | None]],
    ) -> None:
        """An anonymous response: random keys, no person, no time; answers in random order."""
        system = random.SystemRandom()
        rows = [
            {"item_id": item_id, "measure_id": measure_id, **_value_columns(value)}
            for item_id, value, measure_id in answers
        ]
        bundles = [({"round_id": round_id, "unit_id": unit_id}, rows)]
        if self.session.get_bind().dialect.name == "postgresql":
            bundles += await self._take_random(round_id)
        # Every bundle gets new random keys and goes in in random order (answers too).
        system.shuffle(bundles)
        responses, children = [], []
        for response, its_answers in bundles:
            key = random_key()
            responses.append({**response, "key": key})
            shuffled = list(its_answers)
            system.shuffle(shuffled)
            children += [
                {**answer, "key": random_key(), "response_key": key} for answer in shuffled
            ]
        for response in responses:
            await self.session.execute(insert(m.AnonymousResponse).values(**response))
        for start in range(0, len(children), CHUNK):
            await self.session.execute(insert(m.AnonymousAnswer), children[start : start + CHUNK])

    async def _take_random(
        self, round_id: int
    ) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """Remove a few random earlier responses of the round, to be written again (PostgreSQL).

        PostgreSQL appends rows to the heap and indexes point at a row's first position (an
        update in place keeps it), so both a plain scan and an index scan would list responses
        in submit order. Deleting a few random earlier ones and inserting them again with new
        keys, shuffled together with the new response, moves them: no order follows submits.
        SKIP LOCKED: two submits at once never take (and so duplicate) the same response.
        """
        taken = list(
            await self.session.execute(
                select(m.AnonymousResponse.key, m.AnonymousResponse.unit_id)
                .where(m.AnonymousResponse.round_id == round_id)
                .order_by(func.random())
                .limit(SCATTER_ROWS)
                .with_for_update(skip_locked=True)
            )
        )
        if not taken:
            return []
        keys = [key for key, _ in taken]
        columns = [c for c in m.AnonymousAnswer.__table__.columns if c.name not in ANSWER_KEYS]
        answers: dict[str, list[dict[str, Any]]] = {key: [] for key in keys}
        for row in await self.session.execute(
            select(m.AnonymousAnswer.response_key, *columns).where(
                m.AnonymousAnswer.response_key.in_(keys)
            )
        ):
            answers[row[0]].append(
                {c.name: value for c, value in zip(columns, row[1:], strict=True)}
            )
        await self.session.execute(
            delete(m.AnonymousResponse).where(m.AnonymousResponse.key.in_(keys))
        )
        return [({"round_id": round_id, "unit_id": unit}, answers[key]) for key, unit in taken]

    async def answers_of(self, round_id: int, person_id: int) -> list[tuple[str, AnswerValue]]:
        """Every answer row a person gave in a round, oldest first (for tests and exports)."""
        rows = await self.session.scalars(
            select(m.Answer)
            .where(m.Answer.round_id == round_id, m.Answer.person_id == person_id)
            .order_by(m.Answer.id)
        )
        return [(row.item_id, _answer_value(row)) for row in rows]


def _answer_value(row: m.Answer | m.AnonymousAnswer) -> AnswerValue:
    return AnswerValue(
        choice=row.choice,
        choices=tuple(row.choices or ()),
        text=row.text,
        number=row.number,
    )


class MeasureRepository:
    """Improvement areas and measures with their owning units."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def upsert_area(self, area_id: str, title: LocalizedText) -> None:
        """Create or update an improvement area."""
        row = await self.session.get(m.ImprovementArea, area_id) or m.ImprovementArea(id=area_id)
        row.title_nb = title.nb or area_id
        row.title_nn, row.title_en = title.nn, title.en
        self.session.add(row)
        await self.session.flush()

    async def upsert_measure(self, spec: MeasureSpec, author_id: int | None = None) -> bool:
        """Create or update a measure and its owning units; returns whether it was new.

        A changed deadline is recorded in the measure's history, never just overwritten.
        """
        row = await self.session.get(m.Measure, spec.id)
        created = row is None
        row = row or m.Measure(id=spec.id, status=MeasureStatus.NOT_STARTED.value)
        if not created and row.deadline != spec.deadline:
            self.session.add(
                m.MeasureStatusChange(
                    measure_id=spec.id,
                    deadline=spec.deadline,
                    author_id=author_id,
                    note=f"deadline {row.deadline or '-'} -> {spec.deadline or '-'}",
                )
            )
        row.area_id, row.owner, row.category = spec.area_id, spec.owner, spec.category
        row.title_nb = spec.title.nb or spec.id
        row.title_nn, row.title_en = spec.title.nn, spec.title.en
        row.planned_start, row.deadline = spec.planned_start, spec.deadline
        self.session.add(row)
        await self.session.flush()
        await self.session.execute(
            delete(m.MeasureUnit).where(m.MeasureUnit.measure_id == spec.id)
        )
        for unit_id in sorted(set(spec.units)):
            self.session.add(m.MeasureUnit(measure_id=spec.id, unit_id=unit_id))
        await self.session.flush()
        return created

    async def set_status(
        self, slug: str, status: MeasureStatus, author_id: int | None, note: str | None
    ) -> None:
        """The leader's new status, with author and note kept in the history."""
        row = await self.session.get(m.Measure, slug)
        if row is None:
            raise LookupError(f"unknown measure {slug!r}")
        row.status = status.value
        self.session.add(
            m.MeasureStatusChange(
                measure_id=slug, status=status.value, author_id=author_id, note=note
            )
        )
        await self.session.flush()

    async def history(self, slug: str) -> list[tuple[str | None, date | None, str | None]]:
        """(status, deadline, note) changes of a measure, oldest first."""
        rows = await self.session.scalars(
            select(m.MeasureStatusChange)
            .where(m.MeasureStatusChange.measure_id == slug)
            .order_by(m.MeasureStatusChange.id)
        )
        return [(r.status, r.deadline, r.note) for r in rows]

    async def plans(self) -> list[MeasurePlan]:
        """Every measure with its owning units and status (what check-in planning needs)."""
        owners: dict[str, set[str]] = {}
        for measure_id, unit_id in await self.session.execute(
            select(m.MeasureUnit.measure_id, m.MeasureUnit.unit_id)
        ):
            owners.setdefault(measure_id, set()).add(unit_id)
        rows = await self.session.scalars(select(m.Measure).order_by(m.Measure.id))
        return [
            MeasurePlan(r.id, frozenset(owners.get(r.id, ())), MeasureStatus(r.status))
            for r in rows
        ]

    async def dates(self) -> dict[str, tuple[str | None, date | None, date | None]]:
        """Slug -> (owner, planned start, deadline) of every measure."""
        rows = await self.session.execute(
            select(m.Measure.id, m.Measure.owner, m.Measure.planned_start, m.Measure.deadline)
        )
        return {slug: (owner, start, deadline) for slug, owner, start, deadline in rows}

    async def infos(self) -> dict[str, MeasureInfo]:
        """Slug -> title of every measure (what the questionnaire loader needs)."""
        rows = await self.session.scalars(select(m.Measure).order_by(m.Measure.id))
        return {
            r.id: MeasureInfo(r.id, LocalizedText(nb=r.title_nb, nn=r.title_nn, en=r.title_en))
            for r in rows
        }


class ServiceSettingRepository:
    """Values the service generates once and keeps."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_or_create(self, key: str, make: Any) -> str:
        """The stored value, or `make()` stored now."""
        row = await self.session.get(m.ServiceSetting, key)
        if row is None:
            row = m.ServiceSetting(key=key, value=str(make()))
            self.session.add(row)
            await self.session.flush()
        return row.value


def answer_value(row: m.Answer | m.AnonymousAnswer) -> AnswerValue:
    """The domain value of a stored answer row."""
    return _answer_value(row)
