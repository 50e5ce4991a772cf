"""Check-ins: one round per unit and period asking staff "has this measure started?"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.services.delivery import invitation_body, person_locale, round_text, send_time
from bot.services.questionnaires import QuestionnaireCatalog
from bot.settings import Settings
from dialogs.checkin import DEFAULT_PER_PERSON, measures_for_unit, plan_rotation
from dialogs.i18n import translate
from dialogs.loader import parse_questionnaire
from dialogs.model import Role, RoundKind, RoundState
from dialogs.org import zone_of
from dialogs.records import PersonRecord, RoundRecord, UnitRecord
from storage.store import Store, Transaction

CHECKIN_DAYS = 7
"""How long a check-in stays open (answers after that count for the next one)."""

CHECKIN_TEMPLATE = """\
id: checkin-{unit}
title:
  nb: Status for tiltak
  nn: Status for tiltak
  en: Measure check-in
intro:
  nb: Noen korte spørsmål om tiltakene der du jobber. «Vet ikke» er et helt greit svar.
  nn: Nokre korte spørsmål om tiltaka der du jobbar. «Veit ikkje» er eit heilt greitt svar.
  en: A few short questions about the measures where you work. "Don't know" is a fine answer.
finish_early: true
items:
  - id: tiltak
    kind: measure_status
    required: false
    measures: [{measures}]
"""


@dataclass(frozen=True)
class CheckinReport:
    """What opening one unit's check-in did."""

    round_id: int | None
    asked: int
    queued: int
    measures: int


def checkin_name(unit_id: str, period: int) -> str:
    """The round name that identifies a unit's check-in of one period (and makes it unique)."""
    return f"checkin:{unit_id}:{period}"


class CheckinService:
    """Opens a unit's check-in: who is asked which measures, and when they hear about it."""

    def __init__(self, store: Store, catalog: QuestionnaireCatalog, settings: Settings) -> None:
        self.store = store
        self.catalog = catalog
        self.settings = settings

    async def open_checkin(
        self, unit_id: str, period: int, now: datetime, per_person: int = DEFAULT_PER_PERSON
    ) -> CheckinReport:
        """Open (once) the check-in of `unit_id` for its running number `period`."""
        async with self.store.transaction() as tx:
            existing = await tx.rounds.by_name(checkin_name(unit_id, period))
            if existing is not None:
                return CheckinReport(existing.id, 0, 0, 0)
            units = {u.id: u for u in await tx.org.units()}
            if unit_id not in units:
                raise LookupError(f"unknown unit {unit_id!r}")
            measures = measures_for_unit(unit_id, units, await tx.measures.plans())
            staff = await self._staff(tx, unit_id)
            if not measures or not staff:
                return CheckinReport(None, 0, 0, len(measures))
            version = await self._version(tx, unit_id, measures)
            round_id = await tx.rounds.create(
                version,
                [unit_id],
                now,
                now + timedelta(days=CHECKIN_DAYS),
                anonymous=False,
                name=checkin_name(unit_id, period),
                kind=RoundKind.CHECKIN,
            )
            await tx.rounds.set_state(round_id, RoundState.OPEN)
            rotation = plan_rotation(
                measures,
                sorted(staff),
                seed=unit_id,
                period=period,
                per_person=per_person,
                k=self.settings.min_group_size,
            )
            zone = zone_of(units, unit_id, self.settings.timezone)
            round_ = await tx.rounds.get(round_id)
            assert round_ is not None
            assignments = rotation.assignments
            await tx.rounds.invite_many(
                round_id, [(p, unit_id) for p in assignments], now.date(), assignments
            )
            messages = await self._invitations(tx, round_, staff, assignments, units, zone, now)
            queued = len(await tx.outbox.enqueue_many(messages))
            return CheckinReport(round_id, len(assignments), queued, len(measures))

    async def _staff(self, tx: Transaction, unit_id: str) -> dict[int, PersonRecord]:
        """Active staff of exactly this unit who have not paused messages."""
        return {p.id: p for p in await tx.org.unit_members(unit_id, Role.STAFF) if not p.paused}

    async def _version(self, tx: Transaction, unit_id: str, measures: tuple[str, ...]) -> int:
        source = CHECKIN_TEMPLATE.format(unit=unit_id, measures=", ".join(measures))
        questionnaire = parse_questionnaire(
            source, f"check-in of {unit_id}", await tx.measures.infos()
        )
        return await tx.questionnaires.store_version(
            questionnaire.id, questionnaire.content_hash, source
        )

    async def _invitations(
        self,
        tx: Transaction,
        round_: RoundRecord,
        staff: Mapping[int, PersonRecord],
        assignments: Mapping[int, Sequence[str]],
        units: Mapping[str, UnitRecord],
        zone: str,
        now: datetime,
    ) -> list[dict[str, Any]]:
        """One check-in message per reachable person, in bulk (one query per kind of data)."""
        identities = await tx.org.first_identities(assignments)
        texts = await tx.rounds.texts(round_.id, "invitation")
        messages: list[dict[str, Any]] = []
        for person_id, assigned in assignments.items():
            person, identity = staff[person_id], identities.get(person_id)
            if identity is None:
                continue
            send_at = send_time(person, zone, now, self.settings)
            if send_at >= round_.closes_at:
                continue  # away (or quiet) for the whole check-in: asked in the next one
            locale = person_locale(person, round_.unit_ids, units, self.settings)
            title = translate(locale, "checkin.title")
            text = round_text(
                texts,
                round_,
                title,
                person,
                locale,
                "checkin.invitation",
                zone,
                count=len(assigned),
            )
            messages.append(
                {
                    "idempotency_key": f"checkin:{round_.id}:{person_id}",
                    "purpose": "checkin",
                    "channel": identity.channel,
                    "payload": invitation_body(
                        "checkin.invitation", locale, text, round_.id, title
                    ),
                    "person_id": person_id,
                    "identity_id": identity.id,
                    "not_before": send_at,
                }
            )
        return messages
