"""Operational reads for /healthz and /metrics: a ping, outbox depth, check-in participation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from dialogs.model import RoundKind, RoundState
from dialogs.records import ParticipationStatus
from storage import models as m


async def ping(session: AsyncSession) -> None:
    """A trivial query: raises when the database does not answer."""
    await session.execute(text("SELECT 1"))


async def outbox_depth(session: AsyncSession) -> dict[str, int]:
    """Channel -> messages waiting to be sent (leased ones included)."""
    rows = await session.execute(
        select(m.OutboxMessage.channel, func.count())
        .where(m.OutboxMessage.status == "pending")
        .group_by(m.OutboxMessage.channel)
    )
    return {str(channel): int(count) for channel, count in rows}


async def checkin_participation(session: AsyncSession, since: datetime) -> tuple[int, int]:
    """(completed, eligible invitees) over check-in rounds open now or closed after `since`.

    Ineligible and unreachable invitees leave the denominator, as in every response rate.
    """
    completed = func.count().filter(m.Participation.status == ParticipationStatus.COMPLETED)
    row = (
        await session.execute(
            select(completed, func.count())
            .select_from(m.Participation)
            .join(m.Round, m.Round.id == m.Participation.round_id)
            .where(
                m.Round.kind == RoundKind.CHECKIN,
                or_(
                    m.Round.state == RoundState.OPEN,
                    (m.Round.state == RoundState.CLOSED) & (m.Round.closes_at >= since),
                ),
                m.Participation.status.in_(
                    [ParticipationStatus.INVITED, ParticipationStatus.COMPLETED]
                ),
            )
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)
