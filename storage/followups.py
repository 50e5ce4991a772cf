"""Reminder runs (with their delivery report and lift) and owner status check-ins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dialogs.records import ParticipationStatus, ReminderRunRecord
from storage import models as m


@dataclass(frozen=True)
class RunCounts:
    """What a reminder round found when it was sent (one count per reason)."""

    queued: int = 0
    already_answered: int = 0
    capped: int = 0
    too_recent: int = 0
    without_identity: int = 0
    paused: int = 0
    completed_at_send: int = 0


def _run(row: m.ReminderRun) -> ReminderRunRecord:
    return ReminderRunRecord(
        id=row.id,
        round_id=row.round_id,
        requested_by=row.requested_by,
        origin=row.origin,
        scope=tuple(row.scope) if row.scope is not None else None,
        created_at=row.created_at,
        queued=row.queued,
        already_answered=row.already_answered,
        capped=row.capped,
        too_recent=row.too_recent,
        without_identity=row.without_identity,
        paused=row.paused,
        completed_at_send=row.completed_at_send,
        completed_after_24h=row.completed_after_24h,
        report_sent_at=row.report_sent_at,
        lift_reported_at=row.lift_reported_at,
    )


class ReminderRepository:
    """Reminder runs: created when sent, completed by the delivery report and the lift."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create_run(
        self,
        round_id: int,
        requested_by: int | None,
        origin: str,
        scope: Sequence[str] | None,
        now: datetime,
    ) -> int:
        """A new run (its counts are set once the messages are queued)."""
        row = m.ReminderRun(
            round_id=round_id,
            requested_by=requested_by,
            origin=origin,
            scope=sorted(scope) if scope is not None else None,
            created_at=now,
        )
        self.session.add(row)
        await self.session.flush()
        return row.id

    async def set_counts(self, run_id: int, counts: RunCounts) -> None:
        """Store what the run found at sending."""
        await self.session.execute(
            update(m.ReminderRun)
            .where(m.ReminderRun.id == run_id)
            .values(**{name: getattr(counts, name) for name in RunCounts.__dataclass_fields__})
        )

    async def run(self, run_id: int) -> ReminderRunRecord | None:
        """One run."""
        row = await self.session.get(m.ReminderRun, run_id)
        return _run(row) if row else None

    async def runs(self, round_id: int | None = None) -> list[ReminderRunRecord]:
        """Runs of one round (or all), oldest first."""
        query = select(m.ReminderRun).order_by(m.ReminderRun.id)
        if round_id is not None:
            query = query.where(m.ReminderRun.round_id == round_id)
        return [_run(row) for row in await self.session.scalars(query)]

    async def unreported(self) -> list[ReminderRunRecord]:
        """Runs whose delivery report or lift has not been recorded yet."""
        rows = await self.session.scalars(
            select(m.ReminderRun)
            .where(
                (m.ReminderRun.report_sent_at.is_(None))
                | (m.ReminderRun.completed_after_24h.is_(None))
            )
            .order_by(m.ReminderRun.id)
        )
        return [_run(row) for row in rows]

    async def mark_reported(self, run_id: int, now: datetime) -> None:
        """The delivery report went out."""
        await self.session.execute(
            update(m.ReminderRun).where(m.ReminderRun.id == run_id).values(report_sent_at=now)
        )

    async def record_lift(self, run_id: int, completed: int, now: datetime) -> None:
        """Completed participations 24 hours after sending."""
        await self.session.execute(
            update(m.ReminderRun)
            .where(m.ReminderRun.id == run_id)
            .values(completed_after_24h=completed, lift_reported_at=now)
        )

    async def completed(self, round_id: int, scope: Sequence[str] | None) -> int:
        """Completed participations of a round, within the units of `scope` (None: all)."""
        query = (
            select(func.count())
            .select_from(m.Participation)
            .where(
                m.Participation.round_id == round_id,
                m.Participation.status == ParticipationStatus.COMPLETED.value,
            )
        )
        if scope is not None:
            query = query.where(m.Participation.unit_id.in_(list(scope)))
        return int(await self.session.scalar(query) or 0)


@dataclass(frozen=True)
class OwnerCheckinRecord:
    """An owner asked to confirm a measure's status."""

    id: int
    measure_id: str
    person_id: int
    reason: str
    period: str
    asked_at: datetime
    answered_at: datetime | None
    answer: str | None


def _owner_checkin(row: m.OwnerCheckin) -> OwnerCheckinRecord:
    return OwnerCheckinRecord(
        row.id,
        row.measure_id,
        row.person_id,
        row.reason,
        row.period,
        row.asked_at,
        row.answered_at,
        row.answer,
    )


class OwnerCheckinRepository:
    """Owner status check-ins: asked once per (measure, owner, reason, period)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def ask(
        self, measure_id: str, person_id: int, reason: str, period: str, now: datetime
    ) -> bool:
        """Record that an owner is asked; False if they were asked for this already."""
        exists = await self.session.scalar(
            select(m.OwnerCheckin.id).where(
                m.OwnerCheckin.measure_id == measure_id,
                m.OwnerCheckin.person_id == person_id,
                m.OwnerCheckin.reason == reason,
                m.OwnerCheckin.period == period,
            )
        )
        if exists is not None:
            return False
        self.session.add(
            m.OwnerCheckin(
                measure_id=measure_id,
                person_id=person_id,
                reason=reason,
                period=period,
                asked_at=now,
            )
        )
        await self.session.flush()
        return True

    async def answer(self, measure_id: str, person_id: int, answer: str, now: datetime) -> int:
        """Every open check-in of this owner about this measure is answered now."""
        result = await self.session.execute(
            update(m.OwnerCheckin)
            .where(
                m.OwnerCheckin.measure_id == measure_id,
                m.OwnerCheckin.person_id == person_id,
                m.OwnerCheckin.answered_at.is_(None),
            )
            .values(answered_at=now, answer=answer)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def all(self, unanswered_only: bool = False) -> list[OwnerCheckinRecord]:
        """Owner check-ins, oldest first (the digest shows the unanswered ones)."""
        query = select(m.OwnerCheckin).order_by(m.OwnerCheckin.id)
        if unanswered_only:
            query = query.where(m.OwnerCheckin.answered_at.is_(None))
        return [_owner_checkin(row) for row in await self.session.scalars(query)]
