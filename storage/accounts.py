"""Dashboard accounts (password hashes, failed log-ins, locks) and their idle-expiring sessions."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import models as m


@dataclass(frozen=True)
class AccountRecord:
    """A dashboard log-in of a person (roles come from the person's memberships)."""

    id: int
    person_id: int
    username: str
    password_hash: str
    failed_logins: int
    locked_until: datetime | None
    disabled: bool

    def locked(self, now: datetime) -> bool:
        """Whether log-ins are refused now because of too many failures."""
        return self.locked_until is not None and now < self.locked_until


@dataclass(frozen=True)
class SessionRecord:
    """A dashboard session (the token itself is never stored, only its hash)."""

    account_id: int
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime


def token_hash(token: str) -> str:
    """The stored form of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _account(row: m.Account) -> AccountRecord:
    return AccountRecord(
        id=row.id,
        person_id=row.person_id,
        username=row.username,
        password_hash=row.password_hash,
        failed_logins=row.failed_logins,
        locked_until=row.locked_until,
        disabled=row.disabled,
    )


def _session(row: m.WebSession) -> SessionRecord:
    return SessionRecord(row.account_id, row.csrf_token, row.created_at, row.last_seen_at)


class AccountRepository:
    """Accounts and sessions of the dashboard."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- accounts ---------------------------------------------------------------------

    async def create(
        self, person_id: int, username: str, password_hash: str, now: datetime
    ) -> AccountRecord:
        """A new, enabled account.

        Raises:
            ValueError: The person already has an account, or the username is taken.
        """
        taken = await self.session.scalar(
            select(m.Account.id).where(
                (m.Account.person_id == person_id) | (m.Account.username == username)
            )
        )
        if taken is not None:
            raise ValueError(f"an account for {username!r} exists already")
        row = m.Account(
            person_id=person_id,
            username=username,
            password_hash=password_hash,
            failed_logins=0,
            disabled=False,
            created_at=now,
        )
        self.session.add(row)
        await self.session.flush()
        return _account(row)

    async def get(self, account_id: int) -> AccountRecord | None:
        """An account by id."""
        row = await self.session.get(m.Account, account_id, populate_existing=True)
        return _account(row) if row else None

    async def by_username(self, username: str) -> AccountRecord | None:
        """An account by its username (the person's e-mail, lower case)."""
        row = await self.session.scalar(select(m.Account).where(m.Account.username == username))
        return _account(row) if row else None

    async def by_person(self, person_id: int) -> AccountRecord | None:
        """The account of a person, if any."""
        row = await self.session.scalar(select(m.Account).where(m.Account.person_id == person_id))
        return _account(row) if row else None

    async def record_failure(
        self, account_id: int, now: datetime, max_failures: int, lock_until: datetime
    ) -> AccountRecord:
        """Count a failed log-in; the `max_failures`-th in a row locks until `lock_until`.

        The counter starts again after a lock, so a locked account unlocks by time alone.
        """
        # One UPDATE, not read-modify-write: parallel failures must all count.
        await self.session.execute(
            update(m.Account)
            .where(m.Account.id == account_id)
            .values(failed_logins=m.Account.failed_logins + 1)
        )
        account = await self.get(account_id)
        assert account is not None
        if account.failed_logins >= max_failures:
            await self.session.execute(
                update(m.Account)
                .where(m.Account.id == account_id)
                .values(failed_logins=0, locked_until=lock_until)
            )
            account = await self.get(account_id)
            assert account is not None
        return account

    async def record_success(self, account_id: int) -> None:
        """A successful log-in clears the failure count."""
        await self.session.execute(
            update(m.Account)
            .where(m.Account.id == account_id)
            .values(failed_logins=0, locked_until=None)
        )

    async def set_password(self, account_id: int, password_hash: str) -> None:
        """Replace the password, clear any lock, and end every session of the account."""
        await self.session.execute(
            update(m.Account)
            .where(m.Account.id == account_id)
            .values(password_hash=password_hash, failed_logins=0, locked_until=None)
        )
        await self.delete_sessions_of(account_id)

    async def disable(self, account_id: int) -> None:
        """Refuse every future log-in and end every session of the account."""
        await self.session.execute(
            update(m.Account).where(m.Account.id == account_id).values(disabled=True)
        )
        await self.delete_sessions_of(account_id)

    async def enable(self, account_id: int) -> None:
        """Allow log-ins again (a password reset re-enables a disabled account)."""
        await self.session.execute(
            update(m.Account).where(m.Account.id == account_id).values(disabled=False)
        )

    # -- sessions ---------------------------------------------------------------------

    async def create_session(
        self, account_id: int, token: str, csrf_token: str, now: datetime
    ) -> SessionRecord:
        """A new session for `token` (only its hash is kept)."""
        row = m.WebSession(
            token_hash=token_hash(token),
            account_id=account_id,
            csrf_token=csrf_token,
            created_at=now,
            last_seen_at=now,
        )
        self.session.add(row)
        await self.session.flush()
        return _session(row)

    async def get_session(self, token: str) -> SessionRecord | None:
        """The session of a token, expired or not (the caller decides)."""
        row = await self.session.get(m.WebSession, token_hash(token), populate_existing=True)
        return _session(row) if row else None

    async def touch_session(self, token: str, now: datetime) -> None:
        """Record activity: the idle clock starts again."""
        await self.session.execute(
            update(m.WebSession)
            .where(m.WebSession.token_hash == token_hash(token))
            .values(last_seen_at=now)
        )

    async def delete_session(self, token: str) -> None:
        """Log out one session."""
        await self.session.execute(
            delete(m.WebSession).where(m.WebSession.token_hash == token_hash(token))
        )

    async def delete_sessions_of(self, account_id: int) -> None:
        """Log out every session of an account."""
        await self.session.execute(
            delete(m.WebSession).where(m.WebSession.account_id == account_id)
        )

    async def expire_sessions(self, idle_since: datetime) -> int:
        """Delete sessions with no activity since `idle_since`; returns how many."""
        result = await self.session.execute(
            delete(m.WebSession).where(m.WebSession.last_seen_at < idle_since)
        )
        return int(getattr(result, "rowcount", 0) or 0)
