"""Data-subject rights and retention: forget a person, export their data, purge old data."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.settings import Settings
from storage.retention import Counts, RetentionRepository
from storage.store import Store, Transaction

PURGE_HOUR = 3
"""The daily purge runs from 03:00 local time (a quiet hour)..."""
PURGE_WINDOW_HOURS = 3
"""...until 06:00; after longer downtime it waits for the next night (nothing is urgent)."""


STRANGER_AGE = timedelta(days=2)
"""Chat addresses never linked to a person go after this long (with what they typed): anyone
can create one by writing to the bot, and nothing of value is tied to it."""


def summary(counts: Counts) -> str:
    """Counts as an audit target, e.g. "answers=3,identities=1" (never names or answers)."""
    text = ",".join(f"{kind}={count}" for kind, count in counts.items()) or "nothing"
    return text[:200]


async def erase_person(tx: Transaction, person_id: int, origin: str, now: datetime) -> Counts:
    """Forget a person inside `tx` and audit it with counts only (the id itself is personal).

    Args:
        tx: The transaction to work in.
        person_id: Who is forgotten.
        origin: Who asked: "chat" (the person themself), "cli" (the operator) or "retention".
        now: The time of the audit entry.

    Returns:
        Rows removed or de-identified, per kind.
    """
    counts = await RetentionRepository(tx.session).erase_person(person_id)
    await tx.audit.record(None, origin, "forget", summary(counts), now)
    return counts


def cutoff(now: datetime, retention_days: int) -> datetime:
    """Identifiable data from before this moment is purged."""
    return now - timedelta(days=retention_days)


class _DryRun(Exception):
    """Raised inside the purge transaction to roll it back after counting."""

    def __init__(self, counts: Counts) -> None:
        super().__init__("dry run")
        self.counts = counts


class RetentionService:
    """Purges identifiable data older than FOLLOWUP_RETENTION_DAYS (daily, or by the CLI)."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def due(self, now: datetime) -> str | None:
        """The local day to purge for if `now` is inside the nightly window, else None."""
        local = now.astimezone(ZoneInfo(self.settings.timezone))
        if PURGE_HOUR <= local.hour < PURGE_HOUR + PURGE_WINDOW_HOURS:
            return f"{local:%Y-%m-%d}"
        return None

    async def purge(
        self, now: datetime, origin: str = "scheduler", dry_run: bool = False
    ) -> Counts:
        """Purge (or with `dry_run` only count) and audit a real purge with its counts."""
        try:
            async with self.store.transaction() as tx:
                repository = RetentionRepository(tx.session)
                counts = await repository.purge(
                    cutoff(now, self.settings.retention_days), now - STRANGER_AGE
                )
                if dry_run:
                    raise _DryRun(counts)
                await tx.audit.record(None, origin, "retention_purge", summary(counts), now)
        except _DryRun as rolled_back:
            return rolled_back.counts
        return counts
