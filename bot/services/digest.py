"""Leader digests: the organisation's check-in facts of a week, gathered once, per leader."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.settings import Settings
from dialogs.checkin import DEFAULT_PER_PERSON, cycle_length, measures_for_unit
from dialogs.digest import (
    DigestRules,
    MeasureFacts,
    RateFacts,
    UnitSection,
    build_section,
    suppression_by_measure,
)
from dialogs.model import LocalizedText, MeasureStatus, Role, RoundKind
from dialogs.org import subtrees
from dialogs.privacy import Suppression
from dialogs.records import ParticipationStatus, RoundRecord, UnitRecord
from storage import stats
from storage.store import Store, Transaction

NOT_ELIGIBLE = (ParticipationStatus.INELIGIBLE.value, ParticipationStatus.UNREACHABLE.value)


class DigestError(ValueError):
    """A digest request that cannot be served (the message says why)."""


@dataclass(frozen=True)
class Period:
    """An ISO week in the deployment's zone: what a weekly digest covers."""

    key: str
    first: date
    last: date
    end: datetime
    """The first moment after the period (Monday 00:00 local), aware UTC."""

    @classmethod
    def of_week(cls, key: str, zone: str) -> Period:
        """The ISO week `key` ("2026-W47"); raises DigestError on anything else."""
        try:
            year_text, week_text = key.upper().split("-W")
            first = date.fromisocalendar(int(year_text), int(week_text), 1)
        except ValueError as error:
            raise DigestError(f"not an ISO week like 2026-W47: {key!r}") from error
        last = first + timedelta(days=6)
        end = datetime.combine(last + timedelta(days=1), time(0), ZoneInfo(zone))
        iso = first.isocalendar()
        return cls(f"{iso.year}-W{iso.week:02d}", first, last, end.astimezone(UTC))

    @classmethod
    def last_complete(cls, now: datetime, zone: str) -> Period:
        """The latest week that has ended at `now`."""
        local = now.astimezone(ZoneInfo(zone)).date()
        iso = (local - timedelta(days=7)).isocalendar()
        return cls.of_week(f"{iso.year}-W{iso.week:02d}", zone)


@dataclass(frozen=True)
class OrgFacts:
    """Everything a period's digests are built from (gathered in one pass)."""

    period: Period
    units: Mapping[str, UnitRecord]
    measures: tuple[MeasureFacts, ...]
    titles: Mapping[str, LocalizedText]
    rates: Mapping[str, RateFacts]
    owner_pending: frozenset[str]
    relevant: Mapping[str, frozenset[str]]
    """Unit -> measures owned by it or an ancestor (whose owner check-ins concern it)."""
    partial: frozenset[str]
    """Units without a complete rotation cycle yet: their figures cover the cycle so far."""
    suppression: Mapping[str, Suppression]
    """The k rule per measure over the whole tree (computed once for every leader)."""
    scopes: Mapping[str, frozenset[str]]
    """Every unit's subtree (computed once for every leader)."""


@dataclass(frozen=True)
class LeaderDigest:
    """One leader's digest: a section per unit they lead."""

    leader_id: int
    period: Period
    sections: tuple[UnitSection, ...]
    facts: OrgFacts
    rules: DigestRules


class DigestService:
    """Gathers the facts of a period and builds each leader's digest from them."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.rules = DigestRules(k=settings.min_group_size)

    def period(self, key: str | None, now: datetime) -> Period:
        """The named ISO week, or the latest complete one."""
        zone = self.settings.timezone
        return Period.of_week(key, zone) if key else Period.last_complete(now, zone)

    async def for_leader(self, leader_id: int, period: Period) -> LeaderDigest:
        """The digest of one leader (DigestError if they lead no unit)."""
        async with self.store.transaction() as tx:
            return await self.for_leader_in(tx, leader_id, period)

    async def for_leader_in(
        self, tx: Transaction, leader_id: int, period: Period, units: Sequence[str] = ()
    ) -> LeaderDigest:
        """`for_leader` inside the caller's transaction (only `units` of them, if given)."""
        led = [u for u in await self._led_units(tx, leader_id) if not units or u in units]
        if not led:
            raise DigestError(f"person {leader_id} leads no unit")
        return self.build(leader_id, led, await self.facts(tx, period))

    async def record_view(
        self, digest: LeaderDigest, viewer: int | None, origin: str, now: datetime
    ) -> None:
        """Every digest view goes to the audit log (who, where, which digest; no figures)."""
        async with self.store.transaction() as tx:
            await self.record_view_in(tx, digest, viewer, origin, now)

    @staticmethod
    async def record_view_in(
        tx: Transaction, digest: LeaderDigest, viewer: int | None, origin: str, now: datetime
    ) -> None:
        """`record_view` inside the caller's transaction."""
        target = f"digest:{digest.leader_id}:{digest.period.key}"
        await tx.audit.record(viewer, origin, "digest_view", target, now)

    async def leader_by_email(self, email: str) -> int:
        """The person id of a leader given by e-mail (DigestError if unknown)."""
        async with self.store.transaction() as tx:
            person = await tx.org.person_by_email(email)
        if person is None:
            raise DigestError(f"no person with e-mail {email!r}")
        return person.id

    async def for_all_leaders(self, period: Period) -> list[LeaderDigest]:
        """Every leader's digest of a period, from one gathering of facts."""
        async with self.store.transaction() as tx:
            facts = await self.facts(tx, period)
            leaders = await leaders_of(tx)
        return [
            self.build(leader, sorted(units), facts) for leader, units in sorted(leaders.items())
        ]

    def build(self, leader_id: int, led: Sequence[str], facts: OrgFacts) -> LeaderDigest:
        """A leader's digest from the period's facts."""
        sections = []
        for unit_id in led:
            scope = facts.scopes[unit_id]
            relevant = frozenset().union(*(facts.relevant.get(u, frozenset()) for u in scope))
            sections.append(
                build_section(
                    unit_id,
                    facts.units,
                    facts.measures,
                    facts.suppression,
                    facts.rates,
                    facts.owner_pending & relevant,
                    facts.period.last + timedelta(days=1),
                    self.rules,
                    scope,
                )
            )
        return LeaderDigest(leader_id, facts.period, tuple(sections), facts, self.rules)

    async def _led_units(self, tx: Transaction, person_id: int) -> list[str]:
        return sorted(
            m.unit_id for m in await tx.org.memberships(person_id) if m.role is Role.LEADER
        )

    # -- gathering ----------------------------------------------------------------------

    async def facts(self, tx: Transaction, period: Period) -> OrgFacts:
        """The organisation's check-in facts as they stood at the end of `period`."""
        units = {u.id: u for u in await tx.org.units()}
        plans = await tx.measures.plans()
        relevant = {
            unit_id: frozenset(measures_for_unit(unit_id, units, plans)) for unit_id in units
        }
        rounds = [r for r in await tx.rounds.all(RoundKind.CHECKIN) if r.opens_at < period.end]
        by_unit: dict[str, list[tuple[int, RoundRecord]]] = defaultdict(list)
        for round_ in rounds:
            number = _period_number(round_)
            if number is not None and round_.unit_ids:
                by_unit[round_.unit_ids[0]].append((number, round_))
        staff = await self._staff_counts(tx)
        window: list[int] = []
        partial = set()
        rates = {}
        latest: dict[str, list[int]] = {}
        for unit_id, numbered in by_unit.items():
            numbered.sort(key=lambda pair: pair[0])
            length = cycle_length(
                len(relevant.get(unit_id, ())),
                staff.get(unit_id, 0),
                DEFAULT_PER_PERSON,
                self.rules.k,
            )
            chosen, complete = _last_cycle([n for n, _ in numbered], length)
            if not complete:
                partial.add(unit_id)
            window += [r.id for n, r in numbered if n in chosen]
            latest[unit_id] = [r.id for _, r in numbered[-2:]]
        # Only the two latest check-ins of each unit make its rate (not the whole history).
        counts = await stats.participation_counts(
            tx.session, [round_id for ids in latest.values() for round_id in ids]
        )
        for unit_id, ids in latest.items():
            pairs = [_answered_of(counts.get(round_id, {})) for round_id in ids]
            rates[unit_id] = RateFacts(
                unit_id,
                pairs[-1] if pairs else None,
                pairs[-2] if len(pairs) > 1 else None,
            )
        answers: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
        for _person, unit_id, slug, code in await stats.checkin_answers(tx.session, window):
            answers[slug][unit_id][code] += 1
        asked: dict[str, set[str]] = defaultdict(set)
        for unit_id, assigned in await stats.assigned_measures(tx.session, window):
            for slug in assigned:
                asked[slug].add(unit_id)
        history = await stats.status_history(tx.session)
        dates = await tx.measures.dates()
        zone = ZoneInfo(self.settings.timezone)
        measures = []
        for plan in plans:
            status, changed = status_at(history.get(plan.slug, []), plan.status, period.end)
            measures.append(
                MeasureFacts(
                    slug=plan.slug,
                    leader_status=status,
                    deadline=dates[plan.slug][2],
                    last_change=changed.astimezone(zone).date() if changed else None,
                    answers={unit: dict(codes) for unit, codes in answers[plan.slug].items()},
                    asked=frozenset(asked[plan.slug]),
                )
            )
        pending = frozenset(
            c.measure_id
            for c in await tx.owner_checkins.all(unanswered_only=True)
            if c.asked_at < period.end
        )
        titles = {slug: info.title for slug, info in (await tx.measures.infos()).items()}
        return OrgFacts(
            period,
            units,
            tuple(measures),
            titles,
            rates,
            pending,
            relevant,
            frozenset(partial),
            suppression_by_measure(units, tuple(measures), self.rules.k),
            subtrees(units.values()),
        )

    async def _staff_counts(self, tx: Transaction) -> dict[str, int]:
        people = {p.id: p for p in await tx.org.people()}
        counts: Counter[str] = Counter()
        for membership in await tx.org.all_memberships():
            person = people.get(membership.person_id)
            if membership.role is Role.STAFF and person is not None and not person.paused:
                counts[membership.unit_id] += 1
        return dict(counts)


async def leaders_of(tx: Transaction) -> dict[int, list[str]]:
    """Leader -> the units they lead."""
    leaders: dict[int, list[str]] = defaultdict(list)
    for membership in await tx.org.all_memberships():
        if membership.role is Role.LEADER:
            leaders[membership.person_id].append(membership.unit_id)
    return dict(leaders)


def status_at(
    history: Sequence[tuple[datetime, str]], current: MeasureStatus, end: datetime
) -> tuple[MeasureStatus, datetime | None]:
    """A measure's status as it stood at `end`, and when it last really changed before then.

    Setting the status a measure already has confirms it; it is not a change. A measure starts
    out not started (the import's default); one without any history keeps its current status.
    """
    if not history:
        return current, None
    status, changed = MeasureStatus.NOT_STARTED, None
    for at, declared in history:
        if at >= end:
            break
        if declared != status:
            status, changed = MeasureStatus(declared), at
    return status, changed


def _period_number(round_: RoundRecord) -> int | None:
    """The running number of a check-in round, from its name `checkin:<unit>:<n>`."""
    if not round_.name or not round_.name.startswith("checkin:"):
        return None
    number = round_.name.rsplit(":", 1)[-1]
    return int(number) if number.isdigit() else None


def _last_cycle(numbers: Sequence[int], length: int) -> tuple[set[int], bool]:
    """The check-in numbers of the last complete rotation cycle (or the cycle so far).

    Cycles are consecutive runs of `length` check-in numbers from 0 (as the rotation plans
    them); a cycle is complete when its last check-in has opened.
    """
    if not numbers:
        return set(), False
    present = set(numbers)
    newest = max(numbers)
    cycle = newest // length
    if newest % length != length - 1:
        cycle -= 1  # the newest cycle is still running
    if cycle < 0:
        current = newest // length
        return {n for n in present if n // length == current}, False
    return {n for n in present if n // length == cycle}, True


def _answered_of(counts: Mapping[str, int]) -> tuple[int, int]:
    """(completed, eligible) of one round's participation counts."""
    invited = sum(counts.values())
    eligible = invited - sum(counts.get(status, 0) for status in NOT_ELIGIBLE)
    return counts.get(ParticipationStatus.COMPLETED.value, 0), eligible
