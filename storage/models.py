"""The database schema as typed SQLAlchemy models (the only place tables are declared)."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores datetimes as UTC and always returns aware values, on SQLite and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; convert aware ones to UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC value")
        converted = value.astimezone(UTC)
        # SQLite has no time zone type: store naive UTC text.
        return converted.replace(tzinfo=None) if dialect.name == "sqlite" else converted

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return aware UTC values."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, aware and in UTC (storage's only clock default)."""
    return datetime.now(UTC)


def random_key() -> str:
    """A random, order-free key for anonymous rows (never derived from time or sequence)."""
    return secrets.token_hex(16)


class Base(DeclarativeBase):
    """Declarative base with the constraint naming convention Alembic needs on SQLite."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
        list[int]: JSON(),
        list[list[str]]: JSON(),
    }


class Unit(Base):
    """A node of the organisation tree (trust, clinic, department, section; or municipality...)."""

    __tablename__ = "units"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("units.id"), index=True)
    name_nb: Mapped[str] = mapped_column(String(200))
    name_nn: Mapped[str | None] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str | None] = mapped_column(String(40))
    timezone: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(5))
    # The unit's check-in rhythm as written in the organisation file (None: no check-ins).
    checkin: Mapped[dict[str, Any] | None]


class Person(Base):
    """Someone who answers, leads or coordinates; `email` (or UPN) is the roster key."""

    __tablename__ = "people"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str | None] = mapped_column(String(5))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    # The person's own send window, "HH:MM-HH:MM" local time (shift workers); None: any time.
    send_window: Mapped[str | None] = mapped_column(String(11))
    # Days the person is away, [[first, last], ...] ISO dates inclusive: no messages then.
    away: Mapped[list[list[str]] | None]
    # Leaders may turn the weekly digest off (it stays available on demand with /digest).
    digest_opt_out: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deactivated_at: Mapped[datetime | None]


class Membership(Base):
    """A person's role in a unit; one person may hold several."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("person_id", "unit_id", "role"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))


class Identity(Base):
    """A person's address in one channel, with what proactive sending needs."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(200))
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), index=True
    )
    conversation_ref: Mapped[dict[str, Any] | None]
    reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    unreachable_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Invite(Base):
    """An enrollment code (only its hash is stored) for a unit or one person."""

    __tablename__ = "invites"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    unit_id: Mapped[str | None] = mapped_column(ForeignKey("units.id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20), default="staff")
    expires_at: Mapped[datetime]
    uses_left: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ImprovementArea(Base):
    """An improvement area (forbedringsområde) grouping measures."""

    __tablename__ = "improvement_areas"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title_nb: Mapped[str] = mapped_column(String(300))
    title_nn: Mapped[str | None] = mapped_column(String(300))
    title_en: Mapped[str | None] = mapped_column(String(300))


class Measure(Base):
    """A measure (tiltak) of an area, owned by one or more units."""

    __tablename__ = "measures"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    area_id: Mapped[str | None] = mapped_column(ForeignKey("improvement_areas.id"))
    title_nb: Mapped[str] = mapped_column(String(500))
    title_nn: Mapped[str | None] = mapped_column(String(500))
    title_en: Mapped[str | None] = mapped_column(String(500))
    owner: Mapped[str | None] = mapped_column(String(200))
    planned_start: Mapped[date | None] = mapped_column(Date)
    deadline: Mapped[date | None] = mapped_column(Date)
    category: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="not_started")


class MeasureStatusChange(Base):
    """History of a measure's leader-declared status (and of its deadline)."""

    __tablename__ = "measure_status_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    measure_id: Mapped[str] = mapped_column(
        ForeignKey("measures.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str | None] = mapped_column(String(20))
    deadline: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    # Null after the author is forgotten: the history of the measure stays.
    author_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class MeasureUnit(Base):
    """Which units own a measure."""

    __tablename__ = "measure_units"
    measure_id: Mapped[str] = mapped_column(
        ForeignKey("measures.id", ondelete="CASCADE"), primary_key=True
    )
    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id"), primary_key=True)


class QuestionnaireVersion(Base):
    """One exact questionnaire definition; never changed once stored."""

    __tablename__ = "questionnaire_versions"
    __table_args__ = (UniqueConstraint("questionnaire_id", "content_hash"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    questionnaire_id: Mapped[str] = mapped_column(String(64), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Round(Base):
    """A questionnaire sent to an audience between an opening and a closing time."""

    __tablename__ = "rounds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="survey")
    name: Mapped[str | None] = mapped_column(String(200))
    questionnaire_version_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_versions.id"))
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(20), default="draft")
    # Days after opening on which non-respondents are reminded automatically, e.g. [3, 7].
    auto_reminder_days: Mapped[list[int] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoundText(Base):
    """A round's own invitation or reminder text in one language (placeholders allowed)."""

    __tablename__ = "round_texts"
    round_id: Mapped[int] = mapped_column(
        ForeignKey("rounds.id", ondelete="CASCADE"), primary_key=True
    )
    purpose: Mapped[str] = mapped_column(String(20), primary_key=True)
    locale: Mapped[str] = mapped_column(String(5), primary_key=True)
    text: Mapped[str] = mapped_column(Text)


class RoundUnit(Base):
    """The units a round is sent to (their whole subtrees)."""

    __tablename__ = "round_units"
    round_id: Mapped[int] = mapped_column(
        ForeignKey("rounds.id", ondelete="CASCADE"), primary_key=True
    )
    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id"), primary_key=True)


class Participation(Base):
    """Whether a person has answered a round: kept apart from what they answered."""

    __tablename__ = "participations"
    __table_args__ = (UniqueConstraint("round_id", "person_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    # Null after "forget me" or retention: the row stays so the response rate stays right.
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id"))
    status: Mapped[str] = mapped_column(String(20), default="invited")
    reason: Mapped[str | None] = mapped_column(String(200))
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_reminded_at: Mapped[datetime | None]
    # Check-ins: the measures this person is asked this time (None: the whole questionnaire).
    assigned: Mapped[list[str] | None]
    invited_on: Mapped[date | None] = mapped_column(Date)
    completed_on: Mapped[date | None] = mapped_column(Date)


class Response(Base):
    """A submitted, identified response of a non-anonymous round."""

    __tablename__ = "responses"
    __table_args__ = (UniqueConstraint("round_id", "person_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id"))
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)


class Answer(Base):
    """One answer of an identified person; append-only: a later answer is a new row."""

    __tablename__ = "answers"
    __table_args__ = (Index("ix_answers_round_person_item", "round_id", "person_id", "item_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id"))
    response_id: Mapped[int | None] = mapped_column(
        ForeignKey("responses.id", ondelete="CASCADE"), index=True
    )
    item_id: Mapped[str] = mapped_column(String(200))
    measure_id: Mapped[str | None] = mapped_column(ForeignKey("measures.id"), index=True)
    choice: Mapped[str | None] = mapped_column(String(64))
    choices: Mapped[list[str] | None]
    text: Mapped[str | None] = mapped_column(Text)
    number: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)


class AnonymousResponse(Base):
    """A submitted response of an anonymous round: random key, no person, no time, no link."""

    __tablename__ = "anonymous_responses"
    # WITHOUT ROWID: SQLite's hidden rowid would otherwise reproduce the submit order. The
    # round's index includes the random key: a b-tree keeps equal keys in the order of their
    # first heap position, so an index on round_id alone would list responses in submit order.
    __table_args__ = (
        Index("ix_anonymous_responses_round_id_key", "round_id", "key"),
        {"sqlite_with_rowid": False},
    )
    key: Mapped[str] = mapped_column(String(32), primary_key=True, default=random_key)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"))
    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id"))


class AnonymousAnswer(Base):
    """One answer inside an anonymous response."""

    __tablename__ = "anonymous_answers"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012
    key: Mapped[str] = mapped_column(String(32), primary_key=True, default=random_key)
    response_key: Mapped[str] = mapped_column(
        ForeignKey("anonymous_responses.key", ondelete="CASCADE"), index=True
    )
    item_id: Mapped[str] = mapped_column(String(200))
    measure_id: Mapped[str | None] = mapped_column(ForeignKey("measures.id"))
    choice: Mapped[str | None] = mapped_column(String(64))
    choices: Mapped[list[str] | None]
    text: Mapped[str | None] = mapped_column(Text)
    number: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))


class Conversation(Base):
    """One row per person: the lock taken by every inbound event and the round in focus."""

    __tablename__ = "conversations"
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DialogStateRow(Base):
    """A person's in-progress dialog in one round (also holds anonymous in-progress answers)."""

    __tablename__ = "dialog_states"
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    round_id: Mapped[int] = mapped_column(
        ForeignKey("rounds.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxMessage(Base):
    """A proactive message waiting to be sent, or its outcome."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    purpose: Mapped[str] = mapped_column(String(40))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("identities.id", ondelete="CASCADE")
    )
    channel: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    not_before: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None]
    # Rows queued together (e.g. "reminder-run:7"): their outcomes make one delivery report.
    batch: Mapped[str | None] = mapped_column(String(40), index=True)


class ReminderRun(Base):
    """One reminder round: who was reminded of which round, and the report that came back."""

    __tablename__ = "reminder_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    # Who asked for it (None: automatic, the CLI, or the person was forgotten since).
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    origin: Mapped[str] = mapped_column(String(20))
    # The units the requester could remind (None: every unit of the round).
    scope: Mapped[list[str] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued: Mapped[int] = mapped_column(Integer, default=0)
    already_answered: Mapped[int] = mapped_column(Integer, default=0)
    capped: Mapped[int] = mapped_column(Integer, default=0)
    too_recent: Mapped[int] = mapped_column(Integer, default=0)
    without_identity: Mapped[int] = mapped_column(Integer, default=0)
    paused: Mapped[int] = mapped_column(Integer, default=0)
    completed_at_send: Mapped[int] = mapped_column(Integer, default=0)
    completed_after_24h: Mapped[int | None] = mapped_column(Integer)
    report_sent_at: Mapped[datetime | None]
    lift_reported_at: Mapped[datetime | None]


class OwnerCheckin(Base):
    """A measure owner asked to confirm its status: when, why, and whether they answered."""

    __tablename__ = "owner_checkins"
    __table_args__ = (UniqueConstraint("measure_id", "person_id", "reason", "period"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    measure_id: Mapped[str] = mapped_column(
        ForeignKey("measures.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(20))
    period: Mapped[str] = mapped_column(String(20))
    asked_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]
    answer: Mapped[str | None] = mapped_column(String(20))


class LeaderDeputy(Base):
    """A deputy who receives a leader's digest for a unit between two dates."""

    __tablename__ = "leader_deputies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    leader_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    deputy_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)


class Account(Base):
    """A dashboard log-in of a known person (their roles come from their memberships)."""

    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), unique=True
    )
    username: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebSession(Base):
    """A dashboard session: only the token's hash is stored; idle sessions expire."""

    __tablename__ = "web_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """Who exported, viewed a digest or deleted data, and when (never answer contents)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # Kept after the person is forgotten, without the link.
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    origin: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(200))


class WebMessage(Base):
    """The web chat's mailbox: what the page shows, fetched with ?after=<id>."""

    __tablename__ = "web_messages"
    # AUTOINCREMENT: ids must never be reused (the page's cursor), even after deletions.
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity_id: Mapped[int] = mapped_column(
        ForeignKey("identities.id", ondelete="CASCADE"), index=True
    )
    direction: Mapped[str] = mapped_column(String(3))
    payload: Mapped[dict[str, Any]]
    # Set for lines of an anonymous round: they are deleted in its submit transaction.
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ButtonToken(Base):
    """What a chat button means, kept server-side (Telegram allows 64 bytes of callback data)."""

    __tablename__ = "button_tokens"
    token: Mapped[str] = mapped_column(String(24), primary_key=True)
    identity_id: Mapped[int] = mapped_column(
        ForeignKey("identities.id", ondelete="CASCADE"), index=True
    )
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SchedulerLease(Base):
    """Who runs scheduled jobs: one holder per deployment, renewed, taken over when stale."""

    __tablename__ = "scheduler_leases"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime]


class JobRun(Base):
    """A job's run for one period: the unique key decides who runs it, exactly once."""

    __tablename__ = "job_runs"
    job: Mapped[str] = mapped_column(String(100), primary_key=True)
    period: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)


class ServiceSetting(Base):
    """Values the service generates and keeps (e.g. the secret key when none is configured)."""

    __tablename__ = "service_settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
