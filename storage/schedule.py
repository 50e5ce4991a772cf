"""The scheduler lease and job-run rows: one scheduler per deployment, each period run once."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import models as m
from storage.database import insert_for


class ScheduleRepository:
    """Lease and job-run bookkeeping; the same SQL on SQLite and PostgreSQL."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def hold_lease(self, name: str, holder: str, now: datetime, ttl: float) -> bool:
        """Take or renew the lease; True when `holder` has it until now + ttl.

        A row lock is not used on purpose: a PostgreSQL advisory lock on a pooled connection
        can be lost silently, while an expiry time in a row means the same on both databases.
        """
        until = now + timedelta(seconds=ttl)
        await self.session.execute(
            insert_for(self.session)(m.SchedulerLease)
            .values(name=name, holder=holder, expires_at=now - timedelta(seconds=1))
            .on_conflict_do_nothing(index_elements=["name"])
        )
        result = await self.session.execute(
            update(m.SchedulerLease)
            .where(
                m.SchedulerLease.name == name,
                (m.SchedulerLease.holder == holder) | (m.SchedulerLease.expires_at < now),
            )
            .values(holder=holder, expires_at=until)
        )
        return int(getattr(result, "rowcount", 0) or 0) == 1

    async def lease_holder(self, name: str) -> tuple[str, datetime] | None:
        """Who holds the lease and until when."""
        row = await self.session.get(m.SchedulerLease, name)
        return (row.holder, row.expires_at) if row else None

    async def claim_run(self, job: str, period: str, holder: str, now: datetime) -> bool:
        """True for exactly one caller per (job, period), whatever the process."""
        result = await self.session.execute(
            insert_for(self.session)(m.JobRun)
            .values(job=job, period=period, holder=holder, started_at=now)
            .on_conflict_do_nothing(index_elements=["job", "period"])
        )
        return int(getattr(result, "rowcount", 0) or 0) == 1

    async def release_run(self, job: str, period: str, holder: str) -> None:
        """Undo a claim whose work failed, so a later tick runs the period again."""
        await self.session.execute(
            delete(m.JobRun).where(
                m.JobRun.job == job, m.JobRun.period == period, m.JobRun.holder == holder
            )
        )

    async def last_run(self, job: str) -> datetime | None:
        """When the job last started a period (for catching up after downtime)."""
        return await self.session.scalar(
            select(m.JobRun.started_at)
            .where(m.JobRun.job == job)
            .order_by(m.JobRun.started_at.desc())
            .limit(1)
        )
