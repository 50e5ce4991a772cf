"""The outbox table (proactive messages) and the web chat's mailbox."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import models as m
from storage.models import utcnow

CHUNK = 500
"""Rows per statement in bulk reads and writes."""


@dataclass(frozen=True)
class OutboxRow:
    """A claimed outbox message."""

    id: int
    purpose: str
    person_id: int | None
    identity_id: int | None
    channel: str
    payload: dict[str, Any]
    attempts: int
    external_id: str | None = None
    """The recipient's address in the channel (None: no identity, or not reachable)."""


@dataclass(frozen=True)
class WebMessageRow:
    """One line of a web chat transcript."""

    id: int
    direction: str
    payload: dict[str, Any]


class OutboxRepository:
    """Enqueue (idempotently), claim with a lease, and record outcomes."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def enqueue(
        self,
        key: str,
        purpose: str,
        channel: str,
        payload: dict[str, Any],
        person_id: int | None,
        identity_id: int | None,
        not_before: datetime | None = None,
        batch: str | None = None,
    ) -> bool:
        """Add a message unless one with this idempotency key exists; returns whether added."""
        if await self.session.scalar(
            select(m.OutboxMessage.id).where(m.OutboxMessage.idempotency_key == key)
        ):
            return False
        self.session.add(
            m.OutboxMessage(
                idempotency_key=key,
                purpose=purpose,
                channel=channel,
                payload=payload,
                person_id=person_id,
                identity_id=identity_id,
                not_before=not_before or utcnow(),
                batch=batch,
            )
        )
        await self.session.flush()
        return True

    async def enqueue_many(self, messages: list[dict[str, Any]]) -> set[str]:
        """Add many messages at once (keys already present are skipped); returns the added keys.

        Each dict has the `enqueue` arguments as `OutboxMessage` columns: idempotency_key,
        purpose, channel, payload, person_id, identity_id, not_before, batch.
        """
        keys = [message["idempotency_key"] for message in messages]
        existing: set[str] = set()
        for start in range(0, len(keys), CHUNK):
            existing |= set(
                await self.session.scalars(
                    select(m.OutboxMessage.idempotency_key).where(
                        m.OutboxMessage.idempotency_key.in_(keys[start : start + CHUNK])
                    )
                )
            )
        fresh = [
            {"status": "pending", "attempts": 0, "created_at": utcnow(), **message}
            for message in messages
            if message["idempotency_key"] not in existing
        ]
        for start in range(0, len(fresh), CHUNK):
            await self.session.execute(insert(m.OutboxMessage), fresh[start : start + CHUNK])
        return {message["idempotency_key"] for message in fresh}

    async def claim(self, worker: str, now: datetime, limit: int, lease: float) -> list[OutboxRow]:
        """Take up to `limit` due messages whose lease is free or expired."""
        query = (
            select(m.OutboxMessage)
            .where(
                m.OutboxMessage.status == "pending",
                m.OutboxMessage.not_before <= now,
                (m.OutboxMessage.claimed_until.is_(None)) | (m.OutboxMessage.claimed_until < now),
                # Not our own rows still in flight because a slow send outlived the lease; only
                # after a second lease do we take them back (a pump that failed mid-way).
                (m.OutboxMessage.claimed_by.is_(None))
                | (m.OutboxMessage.claimed_by != worker)
                | (m.OutboxMessage.claimed_until < now - timedelta(seconds=lease)),
            )
            .order_by(m.OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = list(await self.session.scalars(query))
        if not rows:
            return []
        ids = [r.id for r in rows]
        await self.session.execute(
            update(m.OutboxMessage)
            .where(m.OutboxMessage.id.in_(ids))
            .values(
                claimed_by=worker,
                claimed_until=now + timedelta(seconds=lease),
                attempts=m.OutboxMessage.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        identity_ids = {r.identity_id for r in rows if r.identity_id is not None}
        reachable = dict(
            (
                await self.session.execute(
                    select(m.Identity.id, m.Identity.external_id).where(
                        m.Identity.id.in_(identity_ids), m.Identity.reachable.is_(True)
                    )
                )
            ).all()
        )
        return [
            OutboxRow(
                r.id,
                r.purpose,
                r.person_id,
                r.identity_id,
                r.channel,
                dict(r.payload),
                r.attempts + 1,
                reachable.get(r.identity_id) if r.identity_id else None,
            )
            for r in rows
        ]

    async def finish(
        self, message_id: int, status: str, error: str | None = None, worker: str | None = None
    ) -> None:
        """Record a final outcome: sent, unreachable or failed (only by the claim's holder)."""
        await self.session.execute(
            update(m.OutboxMessage)
            .where(m.OutboxMessage.id == message_id, *_held_by(worker))
            .values(
                status=status,
                last_error=error[:500] if error else None,
                sent_at=utcnow() if status == "sent" else None,
                claimed_by=None,
                claimed_until=None,
            )
        )

    async def retry_later(
        self, message_id: int, not_before: datetime, error: str, worker: str | None = None
    ) -> None:
        """Release the lease and try again after `not_before` (only by the claim's holder)."""
        await self.session.execute(
            update(m.OutboxMessage)
            .where(m.OutboxMessage.id == message_id, *_held_by(worker))
            .values(
                not_before=not_before, last_error=error[:500], claimed_by=None, claimed_until=None
            )
        )

    async def pending_count(self) -> int:
        """Messages not yet sent or given up (leased ones included)."""
        count = await self.session.scalar(
            select(func.count())
            .select_from(m.OutboxMessage)
            .where(m.OutboxMessage.status == "pending")
        )
        return int(count or 0)

    async def batch_outcomes(self, batch: str) -> dict[str, int]:
        """How many messages of a batch are pending, sent, unreachable or failed."""
        rows = await self.session.execute(
            select(m.OutboxMessage.status, func.count())
            .where(m.OutboxMessage.batch == batch)
            .group_by(m.OutboxMessage.status)
        )
        return {status: int(count) for status, count in rows}

    async def statuses(self) -> dict[str, str]:
        """Idempotency key -> status (for reports and tests)."""
        rows = await self.session.execute(
            select(m.OutboxMessage.idempotency_key, m.OutboxMessage.status)
        )
        return {key: status for key, status in rows}


def _held_by(worker: str | None) -> tuple[Any, ...]:
    # A sender whose lease ran out must not overwrite the outcome of the one that took over.
    return () if worker is None else (m.OutboxMessage.claimed_by == worker,)


class ButtonTokenRepository:
    """Server-side meanings of chat buttons, scoped to the identity they were sent to."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def issue(self, identity_id: int, payload: dict[str, Any]) -> str:
        """A new short token standing for `payload`."""
        token = secrets.token_urlsafe(9)
        self.session.add(m.ButtonToken(token=token, identity_id=identity_id, payload=payload))
        await self.session.flush()
        return token

    async def issue_many(self, identity_id: int, payloads: list[dict[str, Any]]) -> list[str]:
        """Tokens for several buttons in one statement (a keyboard has many)."""
        if not payloads:
            return []
        tokens = [secrets.token_urlsafe(9) for _ in payloads]
        await self.session.execute(
            insert(m.ButtonToken),
            [
                {
                    "token": token,
                    "identity_id": identity_id,
                    "payload": payload,
                    "created_at": utcnow(),
                }
                for token, payload in zip(tokens, payloads, strict=True)
            ],
        )
        return tokens

    async def resolve(self, identity_id: int, token: str) -> dict[str, Any] | None:
        """The payload, only if this token was given to this identity."""
        row = await self.session.get(m.ButtonToken, token)
        if row is None or row.identity_id != identity_id:
            return None
        return dict(row.payload)


class WebMailboxRepository:
    """The web chat transcript: what the person typed and what the bot said."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def append(
        self,
        identity_id: int,
        direction: str,
        payload: dict[str, Any],
        round_id: int | None = None,
    ) -> int:
        """Add one line (tagged with an anonymous round it belongs to); returns its id."""
        row = m.WebMessage(
            identity_id=identity_id, direction=direction, payload=payload, round_id=round_id
        )
        self.session.add(row)
        await self.session.flush()
        return row.id

    async def forget_round(self, person_id: int, round_id: int) -> None:
        """Delete a person's transcript lines of an anonymous round (at its submit)."""
        mine = select(m.Identity.id).where(m.Identity.person_id == person_id)
        await self.session.execute(
            delete(m.WebMessage).where(
                m.WebMessage.round_id == round_id, m.WebMessage.identity_id.in_(mine)
            )
        )

    async def after(
        self, identity_id: int, after_id: int, limit: int = 200
    ) -> list[WebMessageRow]:
        """Lines newer than `after_id`, oldest first."""
        rows = await self.session.scalars(
            select(m.WebMessage)
            .where(m.WebMessage.identity_id == identity_id, m.WebMessage.id > after_id)
            .order_by(m.WebMessage.id)
            .limit(limit)
        )
        return [WebMessageRow(r.id, r.direction, dict(r.payload)) for r in rows]
