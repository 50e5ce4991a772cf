"""Owner status check-ins: measure owners confirm or update the status with one tap."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.channels.actions import event_payload
from bot.services.delivery import person_locale, send_time
from bot.services.measures import MeasureCommands, status_label
from bot.services.messages import ConfirmMeasureStatus, ShowMeasures
from bot.settings import Settings
from dialogs import policy
from dialogs.checkin import MeasurePlan
from dialogs.i18n import format_day, translate
from dialogs.model import MeasureStatus, Role
from dialogs.records import PersonRecord
from storage.store import Store, Transaction

ASK_AT_HOUR = 10
"""Owners are asked from 10:00 local time (the scheduler's monthly and daily runs)."""
DATES_LOOKBACK = timedelta(days=31)
"""A planned start or deadline that passed longer ago than this is not asked about anew."""
NOT_YET_STARTED = frozenset({MeasureStatus.NOT_STARTED, MeasureStatus.PLANNED})
Dates = tuple[str | None, date | None, date | None]
"""A measure's (owner, planned start, deadline)."""
FINISHED = frozenset({MeasureStatus.DONE, MeasureStatus.EVALUATED, MeasureStatus.DROPPED})


class OwnerCheckinService:
    """Asks each measure's owner(s) to confirm its status: monthly, and when a date passes."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.measures = MeasureCommands()

    def local(self, now: datetime) -> datetime:
        """`now` on the deployment's wall clock."""
        return now.astimezone(ZoneInfo(self.settings.timezone))

    async def ask_monthly(self, now: datetime) -> int:
        """Ask every owner about each active measure (once per month); returns messages queued."""
        period = f"{self.local(now):%Y-%m}"

        def due(status: MeasureStatus, _dates: Dates) -> bool:
            return status not in (MeasureStatus.DROPPED, MeasureStatus.EVALUATED)

        return await self._ask(now, due, "monthly", period)

    async def ask_passed_dates(self, now: datetime) -> int:
        """Ask about measures whose planned start or deadline passed without the status moving."""
        today = self.local(now).date()
        queued = 0
        for reason, index, stuck in (
            ("planned_start", 1, NOT_YET_STARTED),
            ("deadline", 2, frozenset(MeasureStatus) - FINISHED),
        ):

            def due(
                status: MeasureStatus,
                dates: Dates,
                index: int = index,
                stuck: frozenset[MeasureStatus] = stuck,
            ) -> bool:
                day = dates[index]
                return (
                    isinstance(day, date)
                    and today - DATES_LOOKBACK <= day < today
                    and status in stuck
                )

            queued += await self._ask(now, due, reason, None)
        return queued

    async def _ask(
        self,
        now: datetime,
        due: Callable[[MeasureStatus, Dates], bool],
        reason: str,
        period: str | None,
    ) -> int:
        queued = 0
        async with self.store.transaction() as tx:
            dates = await tx.measures.dates()
            titles = await tx.measures.infos()
            plans = await tx.measures.plans()
            units = {u.id: u for u in await tx.org.units()}
            settable = await self._settable(tx)
            for plan in plans:
                if not due(plan.status, dates[plan.slug]):
                    continue
                owner_name, start, deadline = dates[plan.slug]
                day = start if reason == "planned_start" else deadline
                for person in await self._owners(tx, plan, owner_name, settable):
                    if not await tx.org.identities_of(person.id):
                        continue  # not in any chat yet: asked once they are
                    key_period = period or (day.isoformat() if day else "")
                    if not await tx.owner_checkins.ask(
                        plan.slug, person.id, reason, key_period, now
                    ):
                        continue
                    memberships = [m.unit_id for m in await tx.org.memberships(person.id)]
                    locale = person_locale(person, memberships, units, self.settings)
                    title = titles[plan.slug].title.get(locale)
                    queued += await self._queue(
                        tx,
                        person,
                        plan.slug,
                        title,
                        plan.status,
                        reason,
                        key_period,
                        day,
                        now,
                        locale,
                    )
        return queued

    async def _settable(self, tx: Transaction) -> dict[PersonRecord, frozenset[str]]:
        """The measures each person with a status-setting role may set (asked once per run)."""
        setters = {
            m.person_id
            for m in await tx.org.all_memberships()
            if policy.Action.SET_MEASURE_STATUS in policy.RULES[m.role]
        }
        return {
            person: frozenset(await self.measures.settable(tx, person))
            for person in await tx.org.people()
            if person.id in setters
        }

    async def _owners(
        self,
        tx: Transaction,
        plan: MeasurePlan,
        owner_name: str | None,
        settable: Mapping[PersonRecord, frozenset[str]],
    ) -> list[PersonRecord]:
        """The named owner if they may set the status, else the leaders of the owning units."""
        may_set = [person for person, slugs in settable.items() if plan.slug in slugs]
        wanted = (owner_name or "").strip().lower()
        named = [
            p
            for p in may_set
            if wanted and wanted in {(p.name or "").lower(), (p.email or "").lower()}
        ]
        if named:
            return named
        # An owning body (a committee) is not a person: its units' own leaders answer for it.
        direct = []
        for person in may_set:
            roles = await tx.org.memberships(person.id)
            if any(m.role is Role.LEADER and m.unit_id in plan.owning_units for m in roles):
                direct.append(person)
        return direct or may_set

    async def _queue(
        self,
        tx: Transaction,
        person: PersonRecord,
        slug: str,
        title: str,
        status: MeasureStatus,
        reason: str,
        period: str,
        day: date | None,
        now: datetime,
        locale: str,
    ) -> int:
        identities = await tx.org.identities_of(person.id)
        if not identities:
            return 0
        label = status_label(status.value, locale)
        key = "owners.ask" if reason == "monthly" else f"owners.ask_{reason}"
        text = translate(
            locale,
            key,
            measure=title,
            status=label,
            date=format_day(day, locale) if day else "",
        )
        body = prompt_body(
            key,
            locale,
            text,
            {
                translate(locale, "owners.confirm", status=label): event_payload(
                    ConfirmMeasureStatus(slug)
                ),
                translate(locale, "owners.update"): event_payload(ShowMeasures(slug)),
            },
        )
        identity = identities[0]
        added = await tx.outbox.enqueue(
            f"owner-checkin:{slug}:{person.id}:{reason}:{period}",
            "owner_checkin",
            identity.channel,
            body,
            person.id,
            identity.id,
            not_before=send_time(person, self.settings.timezone, now, self.settings),
        )
        return int(added)


def prompt_body(
    key: str, locale: str, text: str, buttons: Mapping[str, dict[str, object]]
) -> dict[str, Any]:
    """An outbox payload with buttons (label -> request payload) every channel renders."""
    return {
        "type": "prompt",
        "key": key,
        "locale": locale,
        "text": text,
        "buttons": [{"label": label, "request": request} for label, request in buttons.items()],
    }
