"""Round use cases: load a questionnaire, create, open (enqueue invitations), close, extend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.services.delivery import invitation_body, person_locale, round_text
from bot.services.questionnaires import QuestionnaireCatalog
from bot.settings import Settings
from dialogs.loader import load_questionnaire
from dialogs.model import RoundState
from dialogs.org import subtree, zone_of
from dialogs.records import ParticipationStatus
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
        """Invite the audience (active members of the units' subtrees) and queue invitations."""
        async with self.store.transaction() as tx:
            round_ = await tx.rounds.get(round_id)
            if round_ is None:
                raise RoundError(f"round {round_id} does not exist")
            if round_.state == RoundState.CLOSED:
                raise RoundError(f"round {round_id} is closed")
            await tx.rounds.set_state(round_id, RoundState.OPEN)
            audience = subtree(await tx.org.units(), round_.unit_ids)
            invited = queued = without = 0
            seen: set[int] = set()
            for membership in await tx.org.all_memberships():
                if membership.unit_id not in audience or membership.person_id in seen:
                    continue
                seen.add(membership.person_id)
                added = await tx.rounds.invite(
                    round_id, membership.person_id, membership.unit_id, now.date()
                )
                if not added:
                    continue  # opened before: already invited (and its invitation queued)
                invited += 1
                if await self._queue_invitation(
                    tx, round_id, membership.person_id, membership.unit_id
                ):
                    queued += 1
                else:
                    without += 1
            return OpenReport(round_id, invited, queued, without)

    async def _queue_invitation(
        self, tx: Transaction, round_id: int, person_id: int, unit_id: str
    ) -> bool:
        identities = await tx.org.identities_of(person_id)
        person = await tx.org.person(person_id)
        if not identities or person is None or person.paused:
            return False
        round_ = await tx.rounds.get(round_id)
        assert round_ is not None
        questionnaire = await self.catalog.get(tx, round_.questionnaire_version_id)
        units = {u.id: u for u in await tx.org.units()}
        locale = person_locale(person, [unit_id], units, self.settings)
        title = round_.name or questionnaire.title.get(locale, questionnaire.default_locale)
        zone = zone_of(units, unit_id, self.settings.timezone)
        texts = await tx.rounds.texts(round_id, "invitation")
        text = round_text(texts, round_, title, person, locale, "service.invitation", zone)
        body = invitation_body("service.invitation", locale, text, round_id, title)
        identity = identities[0]
        await tx.outbox.enqueue(
            f"invitation:{round_id}:{person_id}",
            "invitation",
            identity.channel,
            body,
            person_id,
            identity.id,
            not_before=round_.opens_at,  # a round opened ahead of time invites when it opens
        )
        return True

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
