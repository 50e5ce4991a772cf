"""The unit of work: one transaction with every repository bound to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage.accounts import AccountRepository
from storage.audit import AuditRepository
from storage.database import create_engine, session_factory
from storage.followups import OwnerCheckinRepository, ReminderRepository
from storage.outbox import ButtonTokenRepository, OutboxRepository, WebMailboxRepository
from storage.repositories import (
    AnswerRepository,
    ConversationRepository,
    MeasureRepository,
    OrgRepository,
    QuestionnaireRepository,
    RoundRepository,
    ServiceSettingRepository,
)
from storage.schedule import ScheduleRepository


class Transaction:
    """Repositories sharing one session (and so one transaction)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @cached_property
    def org(self) -> OrgRepository:
        """Units, people, memberships, identities, invites."""
        return OrgRepository(self.session)

    @cached_property
    def questionnaires(self) -> QuestionnaireRepository:
        """Questionnaire versions."""
        return QuestionnaireRepository(self.session)

    @cached_property
    def measures(self) -> MeasureRepository:
        """Improvement areas and measures."""
        return MeasureRepository(self.session)

    @cached_property
    def rounds(self) -> RoundRepository:
        """Rounds and participation."""
        return RoundRepository(self.session)

    @cached_property
    def conversations(self) -> ConversationRepository:
        """Conversation locks and dialog states."""
        return ConversationRepository(self.session)

    @cached_property
    def reminders(self) -> ReminderRepository:
        """Reminder runs and their reports."""
        return ReminderRepository(self.session)

    @cached_property
    def owner_checkins(self) -> OwnerCheckinRepository:
        """Owner status check-ins."""
        return OwnerCheckinRepository(self.session)

    @cached_property
    def answers(self) -> AnswerRepository:
        """Answers and responses."""
        return AnswerRepository(self.session)

    @cached_property
    def outbox(self) -> OutboxRepository:
        """Proactive messages."""
        return OutboxRepository(self.session)

    @cached_property
    def buttons(self) -> ButtonTokenRepository:
        """Chat button tokens."""
        return ButtonTokenRepository(self.session)

    @cached_property
    def web(self) -> WebMailboxRepository:
        """The web chat transcript."""
        return WebMailboxRepository(self.session)

    @cached_property
    def schedule(self) -> ScheduleRepository:
        """Scheduler lease and job runs."""
        return ScheduleRepository(self.session)

    @cached_property
    def service_settings(self) -> ServiceSettingRepository:
        """Generated service values."""
        return ServiceSettingRepository(self.session)

    @cached_property
    def audit(self) -> AuditRepository:
        """The audit log (exports, digest views, deletions)."""
        return AuditRepository(self.session)

    @cached_property
    def accounts(self) -> AccountRepository:
        """Dashboard accounts and sessions."""
        return AccountRepository(self.session)


class Store:
    """Opens transactions on one engine; build one per app (no module-level singletons)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)

    @classmethod
    def connect(cls, url: str) -> Store:
        """A store on a new engine for `url`."""
        return cls(create_engine(url))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One transaction; commits on success, rolls back on error."""
        async with self._sessions() as session, session.begin():
            yield Transaction(session)

    async def close(self) -> None:
        """Release the engine's connections."""
        await self.engine.dispose()
