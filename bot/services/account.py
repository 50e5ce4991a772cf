"""A person's own account in chat: pause, privacy, data export, forget me, link codes, status."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from bot.services.messages import (
    Button,
    DataExport,
    Forget,
    Invitation,
    Message,
    Prompt,
    RoundChoice,
)
from bot.services.questionnaires import QuestionnaireCatalog
from bot.services.retention import erase_person
from dialogs import engine
from dialogs.i18n import translate
from dialogs.model import Role
from dialogs.records import PersonRecord
from storage.models import utcnow
from storage.store import Transaction

LINK_CODE_MINUTES = 10
EXPORT_VERSION = 2


def _say(key: str, locale: str, **params: object) -> engine.Say:
    return engine.Say(key=key, text=translate(locale, key, **params))


def new_code() -> str:
    """A short code people can type: three groups of four hex digits."""
    return "-".join(secrets.token_hex(2).upper() for _ in range(3))


class AccountCommands:
    """The person's own commands, run inside the conversation's transaction."""

    def __init__(self, catalog: QuestionnaireCatalog, min_group_size: int) -> None:
        self.catalog = catalog
        self.k = min_group_size

    async def stop(self, tx: Transaction, person: PersonRecord, locale: str) -> Message:
        """Pause proactive messages."""
        await tx.org.set_paused(person.id, True)
        return _say("account.stopped", locale)

    async def unpause(self, tx: Transaction, person: PersonRecord, locale: str) -> Message | None:
        """Resume proactive messages if they were paused (on /start)."""
        if not person.paused:
            return None
        await tx.org.set_paused(person.id, False)
        return _say("account.restarted", locale)

    def privacy(self, locale: str) -> Message:
        """What is stored and who sees what."""
        return _say("account.privacy", locale, k=self.k)

    async def status(
        self, tx: Transaction, person: PersonRecord, locale: str, now: datetime
    ) -> Message:
        """Open rounds with progress, each with a button to continue."""
        choices = []
        for round_ in await tx.rounds.open_rounds_for(person.id, now):
            questionnaire = await self.catalog.for_person(tx, round_.id, person.id)
            stored = await tx.conversations.state(person.id, round_.id)
            answered = total = 0
            if stored:
                state = engine.DialogState.from_dict(stored)
                total = len(engine.visible_items(questionnaire, state))
                answered = sum(
                    state.answer(item.id) is not None
                    for item in engine.visible_items(questionnaire, state)
                )
            title = round_.name or questionnaire.title.get(locale, questionnaire.default_locale)
            progress = (
                translate(locale, "account.progress", answered=answered, total=total)
                if stored
                else translate(locale, "account.not_started")
            )
            choices.append(
                RoundChoice(round_.id, f"{title} ({progress})", translate(locale, "service.begin"))
            )
        key = "account.status" if choices else "service.no_open_rounds"
        return Invitation(key, translate(locale, key), tuple(choices))

    def confirm_forget(self, locale: str) -> Message:
        """Ask before deleting anything."""
        return Prompt(
            "account.forget.confirm",
            translate(locale, "account.forget.confirm"),
            (Button(translate(locale, "account.forget.yes"), Forget(confirmed=True)),),
        )

    async def forget(
        self, tx: Transaction, person: PersonRecord, locale: str, now: datetime | None = None
    ) -> Message:
        """Delete the person and everything identifiable (confirmed already).

        Identities, dialog states, identified answers and memberships go; participation rows
        stay without the person (closed rounds keep their response rates); anonymous answers
        were never linked and stay. The audit log gets counts, never who or what.
        """
        await erase_person(tx, person.id, "chat", now or utcnow())
        return _say("account.forgotten", locale)

    async def link_code(
        self, tx: Transaction, person: PersonRecord, locale: str, now: datetime
    ) -> Message:
        """A one-time code that connects another chat app to this person."""
        code = new_code()
        await tx.org.create_invite(
            code, now + timedelta(minutes=LINK_CODE_MINUTES), None, person.id, Role.STAFF, 1
        )
        return _say("account.link_code", locale, code=code, minutes=LINK_CODE_MINUTES)

    async def export(
        self, tx: Transaction, person: PersonRecord, locale: str, now: datetime | None = None
    ) -> Message:
        """Everything stored that can be tied to the person, as JSON (audited)."""
        data = await audited_export(tx, person, person.id, "chat", now or utcnow())
        return DataExport(
            translate(locale, "account.export"),
            f"followup-data-{person.id}.json",
            json.dumps(data, ensure_ascii=False, indent=2, default=str),
        )


async def person_export(tx: Transaction, person: PersonRecord) -> dict[str, Any]:
    """The person's data (the same content as the CLI's person export)."""
    participation = []
    answers = []
    for round_ in await tx.rounds.all():
        mine = await tx.rounds.participation(round_.id, person.id)
        if mine is None:
            continue
        participation.append(
            {
                "round": round_.id,
                "status": mine.status.value,
                "unit": mine.unit_id,
                "completed_on": mine.completed_on.isoformat() if mine.completed_on else None,
                "anonymous": round_.anonymous,
                "reminders_received": mine.reminders_sent,
                "last_reminded_at": (
                    mine.last_reminded_at.isoformat() if mine.last_reminded_at else None
                ),
            }
        )
        for item_id, value in await tx.answers.answers_of(round_.id, person.id):
            answers.append({"round": round_.id, "item": item_id, **value.to_dict()})
        stored = await tx.conversations.state(person.id, round_.id)
        if stored:
            state = engine.DialogState.from_dict(stored)
            answers += [
                {"round": round_.id, "item": key, "in_progress": True, **value.to_dict()}
                for key, value in state.answers
            ]
    account = await tx.accounts.by_person(person.id)
    return {
        "export_version": EXPORT_VERSION,
        "person": {
            "id": person.id,
            "email": person.email,
            "name": person.name,
            "locale": person.locale,
            "active": person.active,
            "messages_paused": person.paused,
            "send_window": (
                "-".join(f"{t:%H:%M}" for t in person.send_window) if person.send_window else None
            ),
            "away": [[first.isoformat(), last.isoformat()] for first, last in person.away],
            "digest_opt_out": person.digest_opt_out,
        },
        "dashboard_account": (
            {"username": account.username, "disabled": account.disabled} if account else None
        ),
        "deputies": [
            {
                "unit": d.unit_id,
                "as": "leader" if d.leader_id == person.id else "deputy",
                "first_day": d.first_day.isoformat(),
                "last_day": d.last_day.isoformat(),
            }
            for d in await tx.org.deputies()
            if person.id in (d.leader_id, d.deputy_id)
        ],
        "owner_checkins": [
            {
                "measure": c.measure_id,
                "reason": c.reason,
                "period": c.period,
                "asked_at": c.asked_at.isoformat(),
                "answered_at": c.answered_at.isoformat() if c.answered_at else None,
                "answer": c.answer,
            }
            for c in await tx.owner_checkins.all()
            if c.person_id == person.id
        ],
        "audit_log": [
            {"at": e.at.isoformat(), "origin": e.origin, "action": e.action, "target": e.target}
            for e in await tx.audit.entries()
            if e.person_id == person.id or _about(e.target, person.id)
        ],
        "memberships": [
            {"unit": m.unit_id, "role": m.role.value} for m in await tx.org.memberships(person.id)
        ],
        "channels": [
            {"channel": i.channel, "reachable": i.reachable}
            for i in await tx.org.identities_of(person.id, reachable_only=False)
        ],
        "participation": participation,
        "answers": answers,
        "note": "Answers to anonymous rounds are stored without any link to you and cannot be "
        "shown or deleted individually.",
    }


def _about(target: str, person_id: int) -> bool:
    """Whether an audit target names this person (their export, or their digest)."""
    return target == f"person:{person_id}" or target.startswith(f"digest:{person_id}:")


async def audited_export(
    tx: Transaction, person: PersonRecord, viewer: int | None, origin: str, now: datetime
) -> dict[str, Any]:
    """`person_export`, recorded in the audit log (who, where, whose; never the content)."""
    await tx.audit.record(viewer, origin, "person_export", f"person:{person.id}", now)
    return await person_export(tx, person)


async def find_person(tx: Transaction, key: str) -> PersonRecord:
    """A person by e-mail or id (LookupError if there is none)."""
    wanted = key.strip()
    person = (
        await tx.org.person(int(wanted))
        if wanted.isdigit()
        else await tx.org.person_by_email(wanted.lower())
    )
    if person is None:
        raise LookupError(f"no person {wanted!r} (give an e-mail or a person id)")
    return person
