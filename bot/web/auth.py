"""Dashboard log-in: argon2id passwords, lock-out after failures, idle-expiring sessions, CSRF."""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot.services.delivery import person_locale
from bot.settings import Settings
from dialogs import policy
from dialogs.records import PersonRecord
from storage.accounts import AccountRecord
from storage.store import Store

MAX_FAILURES = 5
"""Failed log-ins in a row that lock an account."""
LOCK_FOR = timedelta(minutes=15)
IDLE_TIMEOUT = timedelta(hours=8)
"""A session with no request for this long is over."""
PASSWORD_BYTES = 15
"""A generated password: 15 random bytes, 20 URL-safe characters."""


def normalize_username(username: str) -> str:
    """Usernames are e-mail addresses, compared without case or surrounding blanks."""
    return username.strip().lower()


def new_password() -> str:
    """A random password for a new or reset account."""
    return secrets.token_urlsafe(PASSWORD_BYTES)


@dataclass(frozen=True)
class Login:
    """A successful log-in: the session token for the cookie."""

    token: str
    account_id: int


@dataclass(frozen=True)
class Viewer:
    """The logged-in person of a request, with what the policy check needs."""

    token: str
    csrf_token: str
    account: AccountRecord
    person: PersonRecord
    actor: policy.Actor
    locale: str

    def csrf_ok(self, submitted: str | None) -> bool:
        """Whether a submitted form carries this session's CSRF token."""
        return submitted is not None and hmac.compare_digest(
            submitted.encode(), self.csrf_token.encode()
        )


class AccountError(Exception):
    """An account command that cannot be done (unknown person, no account, one exists)."""


class DashboardAuth:
    """Checks passwords, keeps the failure count and sessions, and manages accounts."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Callable[[], datetime],
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        # argon2-cffi's defaults are argon2id with the RFC 9106 "low memory" parameters.
        self.hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None

    # -- passwords ------------------------------------------------------------------------

    async def hash(self, password: str) -> str:
        """An argon2id hash (computed off the event loop: it takes tens of milliseconds)."""
        return await asyncio.to_thread(self.hasher.hash, password)

    async def _verify(self, password_hash: str, password: str) -> bool:
        def check() -> bool:
            try:
                return self.hasher.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(check)

    async def _waste_time(self, password: str) -> None:
        # An unknown, disabled or locked account costs as much as a wrong password, so the
        # answer's timing does not tell which usernames exist.
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(secrets.token_hex(8))
        await self._verify(self._dummy_hash, password)

    # -- log-in, session, log-out --------------------------------------------------------

    async def login(self, username: str, password: str) -> Login | None:
        """A new session, or None with no reason given (the page says one generic thing).

        The `MAX_FAILURES`-th wrong password in a row locks the account for `LOCK_FOR`;
        while locked, even the right password is refused (and does not count).
        """
        name = normalize_username(username)
        async with self.store.transaction() as tx:
            account = await tx.accounts.by_username(name)
        now = self.clock()
        if account is None or account.disabled or account.locked(now):
            await self._waste_time(password)
            return None
        # The hash is checked outside any transaction: SQLite's write lock is not held for it.
        if not await self._verify(account.password_hash, password):
            async with self.store.transaction() as tx:
                await tx.accounts.record_failure(account.id, now, MAX_FAILURES, now + LOCK_FOR)
            return None
        token = secrets.token_urlsafe(32)
        async with self.store.transaction() as tx:
            await tx.accounts.record_success(account.id)
            if self.hasher.check_needs_rehash(account.password_hash):
                await tx.accounts.set_password(account.id, await self.hash(password))
            await tx.accounts.expire_sessions(now - IDLE_TIMEOUT)
            await tx.accounts.create_session(account.id, token, secrets.token_urlsafe(32), now)
        return Login(token, account.id)

    async def viewer(self, token: str | None) -> Viewer | None:
        """The person behind a session cookie; None when absent, expired or disabled.

        Every request with a live session restarts its idle clock.
        """
        if not token:
            return None
        now = self.clock()
        async with self.store.transaction() as tx:
            session = await tx.accounts.get_session(token)
            if session is None:
                return None
            account = await tx.accounts.get(session.account_id)
            person = await tx.org.person(account.person_id) if account else None
            if (
                account is None
                or person is None
                or not person.active  # a leaver removed from the roster
                or account.disabled
                or now - session.last_seen_at >= IDLE_TIMEOUT
            ):
                await tx.accounts.delete_session(token)
                return None
            await tx.accounts.touch_session(token, now)
            memberships = await tx.org.memberships(person.id)
            units = {u.id: u for u in await tx.org.units()}
        actor = policy.Actor(
            str(person.id), tuple(policy.Membership(m.unit_id, m.role) for m in memberships)
        )
        locale = person_locale(person, [m.unit_id for m in memberships], units, self.settings)
        return Viewer(token, session.csrf_token, account, person, actor, locale)

    async def logout(self, token: str) -> None:
        """End one session."""
        async with self.store.transaction() as tx:
            await tx.accounts.delete_session(token)

    # -- account commands (`followup user ...`) -------------------------------------------

    async def add(self, email: str, password: str) -> AccountRecord:
        """An account for the person with this e-mail.

        Raises:
            AccountError: No such person, or they have an account already.
        """
        password_hash = await self.hash(password)
        name = normalize_username(email)
        async with self.store.transaction() as tx:
            person = await tx.org.person_by_email(name)
            if person is None:
                raise AccountError(f"no person with e-mail {email!r} (import the roster first)")
            if await tx.accounts.by_person(person.id) is not None:
                raise AccountError(f"{email} has an account already")
            try:
                return await tx.accounts.create(person.id, name, password_hash, self.clock())
            except ValueError as error:
                raise AccountError(str(error)) from None

    async def reset_password(self, email: str, password: str) -> None:
        """A new password; unlocks and re-enables the account and ends its sessions.

        Raises:
            AccountError: No account for this e-mail.
        """
        password_hash = await self.hash(password)
        async with self.store.transaction() as tx:
            account = await tx.accounts.by_username(normalize_username(email))
            if account is None:
                raise AccountError(f"no account for {email!r}")
            await tx.accounts.set_password(account.id, password_hash)
            await tx.accounts.enable(account.id)

    async def disable(self, email: str) -> None:
        """Refuse every future log-in and end the account's sessions.

        Raises:
            AccountError: No account for this e-mail.
        """
        async with self.store.transaction() as tx:
            account = await tx.accounts.by_username(normalize_username(email))
            if account is None:
                raise AccountError(f"no account for {email!r}")
            await tx.accounts.disable(account.id)
