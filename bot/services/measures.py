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
            return self._recorded(
                "owners.confirmed",
                locale,
                event.measure,
                titles[event.measure],
                statuses[event.measure].value,
            )
        if isinstance(event, SetMeasureStatus):
            if event.measure not in allowed:
                return _say("service.denied", locale)
            if event.status not in MeasureStatus.__members__.values():
                codes = ", ".join(status.value for status in MeasureStatus)
                return _say("measures.bad_status", locale, codes=codes)
            unchanged = event.status == statuses[event.measure]
            await tx.measures.set_status(
                event.measure, MeasureStatus(event.status), person.id, event.note
            )
            answer = "confirmed" if unchanged else "updated"
            await tx.owner_checkins.answer(event.measure, person.id, answer, now)
            return self._recorded(
                "measures.set",
                locale,
                event.measure,
                titles[event.measure],
                event.status,
                hint=event.note is None,
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

    @staticmethod
    def _recorded(
        key: str, locale: str, slug: str, title: str, status: str, hint: bool = True
    ) -> engine.Say:
        """The confirmation, with how to add a note to it (unless one was given)."""
        label = status_label(status, locale)
        lines = [translate(locale, key, title=title, measure=title, status=label)]
        if hint:
            lines.append(translate(locale, "measures.note_hint", slug=slug, status=status))
        return engine.Say(key=key, text="\n".join(lines))

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
