"""Digests to people: the weekly delivery (deputies, opt-out) and `/digest` on demand."""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from bot.services.delivery import person_locale, send_time
from bot.services.digest import (
    DigestError,
    DigestService,
    LeaderDigest,
    OrgFacts,
    Period,
    leaders_of,
)
from bot.services.digest_chart import render_chart
from bot.services.digest_render import render_text
from bot.services.messages import Message, Picture
from dialogs import engine
from dialogs.i18n import translate
from dialogs.org import zone_of
from dialogs.records import DeputyRecord, PersonRecord
from storage.store import Transaction


@dataclass(frozen=True)
class Delivery:
    """Who gets which part of a leader's digest."""

    recipient: int
    leader: int
    units: tuple[str, ...]


def recipients(
    leaders: Mapping[int, Sequence[str]], deputies: Sequence[DeputyRecord], day: date
) -> list[Delivery]:
    """Each leader gets their units' digest, except units with a deputy on `day`.

    A deputy named for a leader's unit and a date range receives that unit's part instead
    (the latest arrangement wins when several overlap).
    """
    found = []
    for leader, units in sorted(leaders.items()):
        own: list[str] = []
        by_deputy: dict[int, list[str]] = defaultdict(list)
        for unit in sorted(units):
            active = [
                d
                for d in deputies
                if d.leader_id == leader and d.unit_id == unit and d.first_day <= day <= d.last_day
            ]
            if active:
                by_deputy[active[-1].deputy_id].append(unit)
            else:
                own.append(unit)
        if own:
            found.append(Delivery(leader, leader, tuple(own)))
        found += [Delivery(d, leader, tuple(us)) for d, us in sorted(by_deputy.items())]
    return found


def digest_message(digest: LeaderDigest, locale: str) -> Picture:
    """The digest as a text with its chart."""
    png = render_chart(digest, locale)
    return Picture(
        "digest",
        render_text(digest, locale),
        base64.b64encode(png).decode() if png else None,
        translate(locale, "digest.chart.title"),
    )


async def add_deputy(
    tx: Transaction, leader_email: str, deputy_email: str, unit_id: str, first: date, last: date
) -> DeputyRecord:
    """Name a deputy for a leader's unit and date range (DigestError says what is wrong)."""
    leader = await tx.org.person_by_email(leader_email)
    deputy = await tx.org.person_by_email(deputy_email)
    if leader is None or deputy is None:
        missing = leader_email if leader is None else deputy_email
        raise DigestError(f"no person with e-mail {missing!r}")
    if unit_id not in (await leaders_of(tx)).get(leader.id, []):
        raise DigestError(f"{leader_email} is not a leader of {unit_id!r}")
    if last < first:
        raise DigestError(f"the range ends before it starts: {first} .. {last}")
    if deputy.id == leader.id:
        raise DigestError("a leader cannot be their own deputy")
    record = DeputyRecord(unit_id, leader.id, deputy.id, first, last)
    await tx.org.add_deputy(record)
    return record


class DigestDelivery:
    """Queues every leader's (or deputy's) weekly digest, and answers `/digest`."""

    def __init__(self, digests: DigestService) -> None:
        self.digests = digests
        self.settings = digests.settings
        self.store = digests.store

    async def deliver(self, period: Period, now: datetime) -> int:
        """Queue the period's digests through the outbox (once per recipient and leader)."""
        queued = 0
        async with self.store.transaction() as tx:
            facts = await self.digests.facts(tx, period)
            people = {p.id: p for p in await tx.org.people()}
            today = now.astimezone(period.end.tzinfo).date()
            for delivery in recipients(
                await leaders_of(tx), await tx.org.deputies(), max(today, period.last)
            ):
                person = people.get(delivery.recipient)
                if person is None or person.digest_opt_out:
                    continue
                queued += await self._queue(tx, person, delivery, facts, period, now)
        return queued

    async def _queue(
        self,
        tx: Transaction,
        person: PersonRecord,
        delivery: Delivery,
        facts: OrgFacts,
        period: Period,
        now: datetime,
    ) -> int:
        identities = await tx.org.identities_of(person.id)
        if not identities:
            return 0
        digest = self.digests.build(delivery.leader, delivery.units, facts)
        units = [m.unit_id for m in await tx.org.memberships(person.id)]
        locale = person_locale(person, units, facts.units, self.settings)
        zone = zone_of(facts.units, delivery.units[0], self.settings.timezone)
        body = digest_message(digest, locale).payload() | {"locale": locale}
        identity = identities[0]
        added = await tx.outbox.enqueue(
            f"digest:{person.id}:{delivery.leader}:{period.key}",
            "digest",
            identity.channel,
            body,
            person.id,
            identity.id,
            not_before=send_time(person, zone, now, self.settings),
        )
        return int(added)

    async def on_demand(
        self, tx: Transaction, person: PersonRecord, locale: str, text: str, now: datetime
    ) -> tuple[Message, ...]:
        """`/digest [2026-W47]`: the person's own digest, and those they deputise for."""
        try:
            period = self.digests.period(text.strip() or None, now)
        except DigestError:
            return (engine.Say("digest.bad_period", translate(locale, "digest.bad_period")),)
        today = now.astimezone(period.end.tzinfo).date()
        leaders = await leaders_of(tx)
        # Their own units always (a deputy gets them meanwhile); and units they deputise for.
        mine = (
            [Delivery(person.id, person.id, tuple(leaders[person.id]))]
            if person.id in leaders
            else []
        )
        mine += [
            d
            for d in recipients(leaders, await tx.org.deputies(), today)
            if d.recipient == person.id and d.leader != person.id
        ]
        if not mine:
            return (engine.Say("digest.not_leader", translate(locale, "digest.not_leader")),)
        facts = await self.digests.facts(tx, period)
        messages: list[Message] = []
        for delivery in mine:
            digest = self.digests.build(delivery.leader, delivery.units, facts)
            await self.digests.record_view_in(tx, digest, person.id, "chat", now)
            messages.append(digest_message(digest, locale))
        return tuple(messages)
