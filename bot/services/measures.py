"""Leaders' /measures in chat: their units' measures with status, and setting a new status."""

from __future__ import annotations

from datetime import datetime

from bot.services.messages import (
    Button,
    ConfirmMeasureStatus,
    Message,
    Prompt,
    SetMeasureStatus,
    ShowMeasures,
)
from dialogs import engine, policy
from dialogs.i18n import translate
from dialogs.model import MeasureStatus
from dialogs.org import ancestor_ids
from dialogs.records import PersonRecord
from storage.store import Transaction

MAX_LISTED = 40
"""A chat message with more buttons than this is unreadable; the CLI lists everything."""


def _say(key: str, locale: str, **params: object) -> engine.Say:
    return engine.Say(key=key, text=translate(locale, key, **params))


def status_label(status: str, locale: str) -> str:
    """A status code as people read it («igangsatt»)."""
    return translate(locale, f"measures.status.{status}")


class MeasureCommands:
    """What a leader can see and do with measures in chat, checked with dialogs/policy.py."""

    async def handle(
        self,
        tx: Transaction,
        person: PersonRecord,
        locale: str,
        event: ShowMeasures | SetMeasureStatus | ConfirmMeasureStatus,
        now: datetime,
    ) -> Message:
        """List, pick, set or confirm, for measures the person may set the status of."""
        allowed = await self.settable(tx, person)
        if not allowed:
            return _say("measures.none", locale)
        titles = {
            slug: info.title.get(locale) for slug, info in (await tx.measures.infos()).items()
        }
        statuses = {plan.slug: plan.status for plan in await tx.measures.plans()}
        if isinstance(event, ConfirmMeasureStatus):
            if event.measure not in allowed:
                return _say("service.denied", locale)
            await tx.owner_checkins.answer(event.measure, person.id, "confirmed", now)
            return _say(
                "owners.confirmed",
                locale,
                measure=titles[event.measure],
                status=status_label(statuses[event.measure], locale),
            )
        if isinstance(event, SetMeasureStatus):
            if (
                event.measure not in allowed
                or event.status not in MeasureStatus.__members__.values()
            ):
                return _say("service.denied", locale)
            await tx.measures.set_status(
                event.measure, MeasureStatus(event.status), person.id, None
            )
            await tx.owner_checkins.answer(event.measure, person.id, "updated", now)
            return _say(
                "measures.set",
                locale,
                title=titles[event.measure],
                status=status_label(event.status, locale),
            )
        if event.measure is None or event.measure not in allowed:
            buttons = tuple(
                Button(
                    f"{titles[slug]} ({status_label(statuses[slug], locale)})", ShowMeasures(slug)
                )
                for slug in allowed[:MAX_LISTED]
            )
            return Prompt("measures.list", translate(locale, "measures.list"), buttons)
        current = statuses[event.measure]
        buttons = tuple(
            Button(status_label(status, locale), SetMeasureStatus(event.measure, status.value))
            for status in MeasureStatus
            if status.value != current
        )
        text = translate(
            locale,
            "measures.pick",
            title=titles[event.measure],
            status=status_label(current, locale),
        )
        return Prompt("measures.pick", text, buttons)

    async def settable(self, tx: Transaction, person: PersonRecord) -> list[str]:
        """Active measures owned by a unit the person may set measure status for."""
        units = {u.id: u for u in await tx.org.units()}
        actor = policy.Actor(
            str(person.id),
            tuple(
                policy.Membership(m.unit_id, m.role) for m in await tx.org.memberships(person.id)
            ),
        )

        def may_set(owner: str) -> bool:
            return policy.decide(
                actor,
                policy.Action.SET_MEASURE_STATUS,
                owner,
                lambda unit: ancestor_ids(units, unit),
            ).allowed

        return [
            plan.slug
            for plan in await tx.measures.plans()
            if plan.status is not MeasureStatus.DROPPED and any(map(may_set, plan.owning_units))
        ]
