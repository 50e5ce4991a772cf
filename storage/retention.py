"""Erasing a person and purging identifiable data older than the retention cutoff."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import models as m

Counts = dict[str, int]
"""Rows affected per kind, in a stable order (kinds with no rows are left out)."""


def _rows(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _nonzero(counts: Counts) -> Counts:
    return {kind: count for kind, count in counts.items() if count}


class RetentionRepository:
    """Deletes or de-identifies what ties data to a person (forget me, retention purge)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _count(self, model: Any, *where: ColumnElement[bool]) -> int:
        return int(
            await self.session.scalar(select(func.count()).select_from(model).where(*where)) or 0
        )

    async def erase_person(self, person_id: int) -> Counts:
        """Forget one person; returns what went, per kind (LookupError if unknown).

        Foreign keys delete what is theirs (identities and with them transcripts, buttons and
        queued messages; answers and responses of identified rounds; dialog states;
        memberships; invites; owner check-ins; deputies; dashboard accounts and sessions) and
        de-identify what must stay (participation keeps the response rates of closed rounds;
        reminder runs, measure history and audit entries keep their facts). Anonymous answers
        were never linked and stay. This also clears what foreign keys cannot see: deputies'
        queued digests of this leader, audit targets naming the person, and the person's
        name as a measure's owner in the action plan.
        """
        person = await self.session.get(m.Person, person_id)
        if person is None:
            raise LookupError(f"no person with id {person_id}")
        identities = select(m.Identity.id).where(m.Identity.person_id == person_id)
        leader_digests = m.OutboxMessage.idempotency_key.like(f"digest:%:{person_id}:%")
        names = {value.strip().lower() for value in (person.name, person.email) if value}
        counts: Counts = {
            "identities": await self._count(m.Identity, m.Identity.person_id == person_id),
            "answers": await self._count(m.Answer, m.Answer.person_id == person_id),
            "responses": await self._count(m.Response, m.Response.person_id == person_id),
            "dialog_states": await self._count(
                m.DialogStateRow, m.DialogStateRow.person_id == person_id
            ),
            "participations_deidentified": await self._count(
                m.Participation, m.Participation.person_id == person_id
            ),
            "web_messages": await self._count(
                m.WebMessage, m.WebMessage.identity_id.in_(identities)
            ),
            "button_tokens": await self._count(
                m.ButtonToken, m.ButtonToken.identity_id.in_(identities)
            ),
            "outbox": await self._count(
                m.OutboxMessage,
                or_(
                    m.OutboxMessage.person_id == person_id,
                    m.OutboxMessage.identity_id.in_(identities),
                    leader_digests,
                ),
            ),
            "memberships": await self._count(m.Membership, m.Membership.person_id == person_id),
            "invites": await self._count(m.Invite, m.Invite.person_id == person_id),
            "owner_checkins": await self._count(
                m.OwnerCheckin, m.OwnerCheckin.person_id == person_id
            ),
            "deputies": await self._count(
                m.LeaderDeputy,
                or_(m.LeaderDeputy.leader_id == person_id, m.LeaderDeputy.deputy_id == person_id),
            ),
            "accounts": await self._count(m.Account, m.Account.person_id == person_id),
        }
        await self.session.execute(delete(m.OutboxMessage).where(leader_digests))
        if names:
            owned = await self.session.execute(
                update(m.Measure)
                .where(func.lower(func.trim(m.Measure.owner)).in_(sorted(names)))
                .values(owner=None)
            )
            counts["measure_owners"] = _rows(owned)
        await self.session.execute(
            update(m.AuditEntry)
            .where(m.AuditEntry.target.like(f"digest:{person_id}:%"))
            .values(target=func.replace(m.AuditEntry.target, f"digest:{person_id}:", "digest:-:"))
        )
        await self.session.execute(
            update(m.AuditEntry)
            .where(m.AuditEntry.target == f"person:{person_id}")
            .values(target="person:-")
        )
        await self.session.flush()
        await self.session.execute(delete(m.Person).where(m.Person.id == person_id))
        self.session.expunge_all()  # rows deleted by the database's cascades are stale now
        return _nonzero(counts)

    async def leavers(self, cutoff: datetime) -> list[int]:
        """People deactivated before `cutoff` with no conversation or completion since."""
        active_since = exists().where(
            m.Conversation.person_id == m.Person.id, m.Conversation.updated_at >= cutoff
        )
        completed_since = exists().where(
            m.Participation.person_id == m.Person.id,
            m.Participation.completed_on >= cutoff.date(),
        )
        rows = await self.session.scalars(
            select(m.Person.id)
            .where(
                m.Person.active.is_(False),
                m.Person.deactivated_at < cutoff,
                ~active_since,
                ~completed_since,
            )
            .order_by(m.Person.id)
        )
        return list(rows)

    async def purge(self, cutoff: datetime, strangers_before: datetime | None = None) -> Counts:
        """De-identify rounds closed before `cutoff` and delete logs older than it.

        Submitted answers of identified rounds are de-identified, not deleted: the person
        column is cleared and their times coarsened to the round's close, so the round's
        results stay computable while nothing ties them to anyone (participation loses its
        person too). Free-text answers of those rounds are deleted (they may name people);
        unsubmitted answer rows and dialog states are deleted.
        """
        counts: Counts = {}
        old_rounds = list(
            await self.session.execute(
                select(m.Round.id, m.Round.closes_at).where(m.Round.closes_at < cutoff)
            )
        )
        ids = [round_id for round_id, _ in old_rounds]
        counts["answers_in_progress"] = _rows(
            await self.session.execute(
                delete(m.Answer).where(
                    m.Answer.round_id.in_(ids),
                    m.Answer.response_id.is_(None),
                    m.Answer.person_id.is_not(None),
                )
            )
        )
        # Free text can name people (the prompt warns, people still do): it goes, not just
        # its author.
        counts["free_text_deleted"] = _rows(
            await self.session.execute(
                delete(m.Answer).where(m.Answer.round_id.in_(ids), m.Answer.text.is_not(None))
            )
        )
        answers = responses = 0
        for round_id, closes_at in old_rounds:
            answers += _rows(
                await self.session.execute(
                    update(m.Answer)
                    .where(m.Answer.round_id == round_id, m.Answer.person_id.is_not(None))
                    .values(person_id=None, answered_at=closes_at)
                )
            )
            responses += _rows(
                await self.session.execute(
                    update(m.Response)
                    .where(m.Response.round_id == round_id, m.Response.person_id.is_not(None))
                    .values(person_id=None, submitted_at=closes_at)
                )
            )
        counts["answers_deidentified"] = answers
        counts["responses_deidentified"] = responses
        counts["participations_deidentified"] = _rows(
            await self.session.execute(
                update(m.Participation)
                .where(m.Participation.round_id.in_(ids), m.Participation.person_id.is_not(None))
                .values(person_id=None, last_reminded_at=None)
            )
        )
        counts["dialog_states"] = _rows(
            await self.session.execute(
                delete(m.DialogStateRow).where(m.DialogStateRow.round_id.in_(ids))
            )
        )
        await self.session.execute(
            update(m.Conversation).where(m.Conversation.round_id.in_(ids)).values(round_id=None)
        )
        counts["reminder_requesters"] = _rows(
            await self.session.execute(
                update(m.ReminderRun)
                .where(m.ReminderRun.round_id.in_(ids), m.ReminderRun.requested_by.is_not(None))
                .values(requested_by=None)
            )
        )
        counts |= await self._old_logs(cutoff)
        if strangers_before is not None:
            # Addresses nobody linked (a stranger's browser, a chat that never enrolled), with
            # their transcript and buttons: unbounded otherwise, since anyone can create one.
            counts["unlinked_addresses"] = _rows(
                await self.session.execute(
                    delete(m.Identity).where(
                        m.Identity.person_id.is_(None), m.Identity.created_at < strangers_before
                    )
                )
            )
        erased = 0
        for person_id in await self.leavers(cutoff):
            await self.erase_person(person_id)
            erased += 1
        counts["leavers_deleted"] = erased
        return _nonzero(counts)

    async def _old_logs(self, cutoff: datetime) -> Counts:
        """Transcripts, buttons, delivered messages and other person-linked logs before cutoff.

        One cutoff for all of them rather than a shorter fixed age: a button or a transcript
        line is only as old as the round it belongs to, and rounds may run for weeks (the
        retention period must exceed the longest round). Pending messages are never touched.
        Audit entries stay (accountability) but lose the person after the cutoff, as do
        measure status changes (the measure's history stays).
        """
        statements: dict[str, Any] = {
            "web_messages": delete(m.WebMessage).where(m.WebMessage.created_at < cutoff),
            "button_tokens": delete(m.ButtonToken).where(m.ButtonToken.created_at < cutoff),
            "outbox": delete(m.OutboxMessage).where(
                m.OutboxMessage.status != "pending", m.OutboxMessage.created_at < cutoff
            ),
            "owner_checkins": delete(m.OwnerCheckin).where(m.OwnerCheckin.asked_at < cutoff),
            "deputies": delete(m.LeaderDeputy).where(m.LeaderDeputy.last_day < cutoff.date()),
            "invites": delete(m.Invite).where(
                m.Invite.person_id.is_not(None), m.Invite.expires_at < cutoff
            ),
            "measure_authors": update(m.MeasureStatusChange)
            .where(
                m.MeasureStatusChange.changed_at < cutoff,
                m.MeasureStatusChange.author_id.is_not(None),
            )
            .values(author_id=None),
            "audit_people": update(m.AuditEntry)
            .where(m.AuditEntry.at < cutoff, m.AuditEntry.person_id.is_not(None))
            .values(person_id=None),
        }
        return {kind: _rows(await self.session.execute(sql)) for kind, sql in statements.items()}
