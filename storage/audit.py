"""The audit log: who exported results, viewed a digest or deleted data, and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import models as m


@dataclass(frozen=True)
class AuditRecord:
    """One audit row (never answer contents)."""

    id: int
    person_id: int | None
    origin: str
    action: str
    target: str
    at: datetime


class AuditRepository:
    """Appends to the audit log and reads it back, oldest first."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(
        self, person_id: int | None, origin: str, action: str, target: str, now: datetime
    ) -> None:
        """Append one entry, e.g. (None, "cli", "export", "round:3:xlsx")."""
        self.session.add(
            m.AuditEntry(person_id=person_id, origin=origin, action=action, target=target, at=now)
        )
        await self.session.flush()

    async def entries(self) -> list[AuditRecord]:
        """Every entry, oldest first."""
        rows = await self.session.scalars(
            select(m.AuditEntry).order_by(m.AuditEntry.at, m.AuditEntry.id)
        )
        return [
            AuditRecord(row.id, row.person_id, row.origin, row.action, row.target, row.at)
            for row in rows
        ]
