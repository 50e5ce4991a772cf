"""Round use cases: load a questionnaire, create, open (enqueue invitations), close, extend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.services.delivery import invitation_body, person_locale, round_text, send_time
from bot.services.questionnaires import QuestionnaireCatalog
from bot.settings import Settings
from dialogs.loader import load_questionnaire
from dialogs.model import RoundState
from dialogs.org import subtree, zone_of
from dialogs.records import ParticipationStatus, RoundRecord, UnitRecord
from storage.store import Store, Transaction

UNREACHABLE_AT_CLOSE = "no reachable chat identity when the round closed"


class RoundError(Exception):
    """A round operation that cannot be done (the message says why)."""


@dataclass(frozen=True)
class OpenReport:
    """What opening a round did."""

    round_id: int
    invited: int
    queued: int
    without_identity: int


def _source(path: Path) -> str:
    return path.read_text(encoding="utf-8")


class RoundService:
    """Creates and runs rounds; the CLI, chat commands and dashboard all call this."""

    def __init__(self, store: Store, catalog: QuestionnaireCatalog, settings: Settings) -> None:
        self.store = store
        self.catalog = catalog
        self.settings = settings
        self.default_locale = settings.default_locale

    async def load_questionnaire(self, path: Path) -> tuple[str, int]:
        """Validate a questionnaire file against the stored measures and store its version."""
        async with self.store.transaction() as tx:
            questionnaire = load_questionnaire(path, await tx.measures.infos())
            version = await tx.questionnaires.store_version(
                questionnaire.id, questionnaire.content_hash, _source(path)
            )
        return questionnaire.id, version

    async def create(
        self,
        questionnaire_id: str,
        unit_ids: Sequence[str],
        opens_at: datetime,
        closes_at: datetime,
        anonymous: bool = False,
        name: str | None = None,
    ) -> int:
        """A draft round of the newest version of a questionnaire."""
        if closes_at <= opens_at:
            raise RoundError("the closing time must be after the opening time")
        async with self.store.transaction() as tx:
            version = await tx.questionnaires.latest_version(questionnaire_id)
            if version is None:
                raise RoundError(f"questionnaire {questionnaire_id!r} is not loaded")
            known = {u.id for u in await tx.org.units()}
            unknown = sorted(set(unit_ids) - known)
            if unknown or not unit_ids:
                raise RoundError(f"unknown units: {', '.join(unknown) or '(none given)'}")
            return await tx.rounds.create(version, unit_ids, opens_at, closes_at, anonymous, name)

    async def open(self, round_id: int, now: datetime) -> OpenReport:
        """Invite the audience (active members of the units' subtrees) and queue invitations.

        In bulk (one query per kind of data, inserts of 500 rows), like reminders: a round for
        thousands of people holds the write lock for seconds. Opening again invites only people
        who joined since; each invitation waits for the round's opening and the person's send
        time (quiet hours, holidays, away days, own window).
        """
        async with self.store.transaction() as tx:
            round_ = await tx.rounds.get(round_id)
            if round_ is None:
                raise RoundError(f"round {round_id} does not exist")
            if round_.state == RoundState.CLOSED:
                raise RoundError(f"round {round_id} is closed")
            await tx.rounds.set_state(round_id, RoundState.OPEN)
            units = {u.id: u for u in await tx.org.units()}
            audience = subtree(list(units.values()), round_.unit_ids)
            invitees: dict[int, str] = {}
            for membership in await tx.org.all_memberships():
                if membership.unit_id in audience:
                    invitees.setdefault(membership.person_id, membership.unit_id)
            added = await tx.rounds.invite_many(round_id, list(invitees.items()), now.date())
            messages = await self._invitations(tx, round_, sorted(added), invitees, units, now)
            queued = len(await tx.outbox.enqueue_many(messages))
            return OpenReport(round_id, len(added), queued, len(added) - queued)

    async def _invitations(
        self,
        tx: Transaction,
        round_: RoundRecord,
        person_ids: Sequence[int],
        unit_of: Mapping[int, str],
        units: Mapping[str, UnitRecord],
        now: datetime,
    ) -> list[dict[str, Any]]:
        """One invitation per reachable, unpaused person (others have no message)."""
        people = {p.id: p for p in await tx.org.people()}
        identities = await tx.org.first_identities(person_ids)
        questionnaire = await self.catalog.get(tx, round_.questionnaire_version_id)
        texts = await tx.rounds.texts(round_.id, "invitation")
        start = max(now, round_.opens_at)  # a round opened ahead of time invites when it opens
        messages: list[dict[str, Any]] = []
        for person_id in person_ids:
            person, identity = people.get(person_id), identities.get(person_id)
            if person is None or identity is None or person.paused:
                continue
            unit_id = unit_of[person_id]
            locale = person_locale(person, [unit_id], units, self.settings)
            title = round_.name or questionnaire.title.get(locale, questionnaire.default_locale)
            zone = zone_of(units, unit_id, self.settings.timezone)
            text = round_text(texts, round_, title, person, locale, "service.invitation", zone)
            messages.append(
                {
                    "idempotency_key": f"invitation:{round_.id}:{person_id}",
                    "purpose": "invitation",
                    "channel": identity.channel,
                    "payload": invitation_body(
                        "service.invitation", locale, text, round_.id, title
                    ),
                    "person_id": person_id,
                    "identity_id": identity.id,
                    "not_before": send_time(person, zone, start, self.settings),
                }
            )
        return messages

    async def close(self, round_id: int) -> int:
        """Stop accepting answers; returns how many invitees were unreachable at closing.

        People who had not answered and had no reachable chat identity when the round closed
        (never linked, or blocked the bot) leave the eligible denominator, with a reason.
        """
        async with self.store.transaction() as tx:
            if await tx.rounds.get(round_id) is None:
                raise RoundError(f"round {round_id} does not exist")
            await tx.rounds.set_state(round_id, RoundState.CLOSED)
            unreachable = 0
            for participation in await tx.rounds.participations(round_id):
                if participation.status != ParticipationStatus.INVITED:
                    continue
                person = participation.person_id
                if person is None or not await tx.org.identities_of(person):
                    await tx.rounds.mark_unreachable(round_id, person, UNREACHABLE_AT_CLOSE)
                    unreachable += 1
            return unreachable

    async def extend(self, round_id: int, closes_at: datetime, now: datetime) -> None:
        """Move the deadline (reopening a closed round when the new deadline is ahead)."""
        async with self.store.transaction() as tx:
            round_ = await tx.rounds.get(round_id)
            if round_ is None:
                raise RoundError(f"round {round_id} does not exist")
            if closes_at <= round_.opens_at:
                raise RoundError("the new closing time must be after the opening time")
            await tx.rounds.set_closes_at(round_id, closes_at)
            if round_.state == RoundState.CLOSED and closes_at > now:
                await tx.rounds.set_state(round_id, RoundState.OPEN)
                # Reopened: whoever was unreachable at closing may still link and answer.
                await tx.rounds.reinstate(round_id, UNREACHABLE_AT_CLOSE)
