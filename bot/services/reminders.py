"""Reminder rounds: a dry run with counts, then reminders to non-respondents, then the report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.services.delivery import invitation_body, person_locale, round_text, send_time
from bot.services.questionnaires import QuestionnaireCatalog
from bot.settings import Settings
from dialogs import policy
from dialogs.i18n import translate
from dialogs.org import ancestor_ids, zone_of
from dialogs.privacy import can_show_rate, suppress_scope
from dialogs.records import (
    ParticipationStatus,
    ReminderRunRecord,
    RoundRecord,
)
from dialogs.reminders import ReminderRules, Verdict, check_text, verdict
from storage.followups import RunCounts
from storage.store import Store, Transaction

AUTOMATIC_WINDOW = timedelta(hours=12)
"""An automatic reminder missed by more than this (server down) is not sent late."""
OPERATOR = policy.Actor(person_id=None, operator=True)
LIFT_AFTER = timedelta(hours=24)
REPORT_AFTER = timedelta(hours=6)
"""A delivery report goes out when every reminder is settled, or after this at the latest."""
TEXT_PURPOSES = ("invitation", "reminder")


class ReminderError(Exception):
    """A reminder request that cannot be done; `key` is the catalogue key saying why."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class ReminderPlan:
    """The dry run: whom a reminder round would reach now, and why the others are left out."""

    round_id: int
    title: str
    scope: tuple[str, ...] | None
    invitees: int
    counts: Counter[Verdict]
    recipients: tuple[int, ...]
    shows_counts: bool = True
    """Counts are shown only for at least k invitees (in a smaller group they reveal who)."""


@dataclass(frozen=True)
class DeliveryReport:
    """A reminder run as the coordinator reads it."""

    run: ReminderRunRecord
    title: str
    sent: int
    failed: int
    unreachable: int
    pending: int
    invitees: int
    k: int

    @property
    def shows_counts(self) -> bool:
        """Whether the scope has enough invitees to show answer counts and the lift."""
        return can_show_rate(self.invitees, self.k)


class ReminderService:
    """Plans and sends reminder rounds, and builds their delivery reports."""

    def __init__(self, store: Store, catalog: QuestionnaireCatalog, settings: Settings) -> None:
        self.store = store
        self.catalog = catalog
        self.settings = settings
        self.rules = ReminderRules(
            settings.reminder_max, timedelta(hours=settings.reminder_gap_hours)
        )

    # -- what a coordinator may touch ---------------------------------------------------

    async def scope(
        self, tx: Transaction, round_: RoundRecord, actor: policy.Actor
    ) -> tuple[str, ...] | None:
        """The units of the round's participants the actor may remind (None: all of them)."""
        if actor.operator:
            return None
        units = {u.id: u for u in await tx.org.units()}
        present = {p.unit_id for p in await tx.rounds.participations(round_.id)}
        allowed = tuple(
            sorted(
                unit_id
                for unit_id in present
                if policy.decide(
                    actor,
                    policy.Action.SEND_REMINDERS,
                    unit_id,
                    lambda unit: ancestor_ids(units, unit),
                ).allowed
            )
        )
        if not allowed:
            raise ReminderError("reminders.denied", "you may not remind anyone in this round")
        return allowed

    async def _round(self, tx: Transaction, round_id: int, now: datetime) -> RoundRecord:
        round_ = await tx.rounds.get(round_id)
        if round_ is None:
            raise ReminderError("reminders.unknown_round", f"round {round_id} does not exist")
        if not round_.accepts_answers(now):
            raise ReminderError("reminders.round_not_open", f"round {round_id} is not open")
        return round_

    async def title(self, tx: Transaction, round_: RoundRecord, locale: str) -> str:
        """The round's name, else its questionnaire's title in `locale`."""
        questionnaire = await self.catalog.get(tx, round_.questionnaire_version_id)
        return round_.name or questionnaire.title.get(locale, questionnaire.default_locale)

    # -- dry run and sending ------------------------------------------------------------

    async def plan(
        self, round_id: int, actor: policy.Actor, now: datetime, locale: str = "nb"
    ) -> ReminderPlan:
        """The dry run: counts only, nothing changes."""
        async with self.store.transaction() as tx:
            return await self.plan_in(tx, round_id, actor, now, locale)

    async def plan_in(
        self, tx: Transaction, round_id: int, actor: policy.Actor, now: datetime, locale: str
    ) -> ReminderPlan:
        """`plan` inside the caller's transaction."""
        round_ = await self._round(tx, round_id, now)
        scope = await self.scope(tx, round_, actor)
        people = {p.id: p for p in await tx.org.people()}
        reachable = await tx.org.reachable_people()
        counts: Counter[Verdict] = Counter()
        recipients = []
        invitees = 0
        for participation in await tx.rounds.participations(round_id):
            if scope is not None and participation.unit_id not in scope:
                continue
            invitees += participation.status is not ParticipationStatus.INELIGIBLE
            person = people.get(participation.person_id or -1)
            found = verdict(
                participation,
                participation.person_id in reachable,
                person is None or person.paused,
                now,
                self.rules,
            )
            counts[found] += 1
            if found is Verdict.REMIND:
                recipients.append(participation.person_id or 0)
        return ReminderPlan(
            round_id,
            await self.title(tx, round_, locale),
            scope,
            invitees,
            counts,
            tuple(recipients),
            await self._shows_counts(tx, round_id, actor, invitees),
        )

    async def _shows_counts(
        self, tx: Transaction, round_id: int, actor: policy.Actor, invitees: int
    ) -> bool:
        """Counts need k invitees, and a scope total the whole round's k rule shows.

        Decided over every unit of the round, the same for every coordinator: else the dry runs
        of two nested scopes would subtract to a group of fewer than k.
        """
        k = self.settings.min_group_size
        if actor.operator or not can_show_rate(invitees, k):
            return can_show_rate(invitees, k)
        own: Counter[str] = Counter()
        for participation in await tx.rounds.participations(round_id):
            own[participation.unit_id] += (
                participation.status is not ParticipationStatus.INELIGIBLE
            )
        units = {unit.id: unit for unit in await tx.org.units()}
        allowed = {
            unit_id
            for unit_id in units
            if policy.decide(
                actor, policy.Action.SEND_REMINDERS, unit_id, lambda u: ancestor_ids(units, u)
            ).allowed
        }
        parent_of = {unit.id: unit.parent_id for unit in units.values()}
        return suppress_scope(own, parent_of, allowed, k).total_shown

    async def send(
        self,
        round_id: int,
        actor: policy.Actor,
        now: datetime,
        origin: str,
        requested_by: int | None = None,
    ) -> ReminderRunRecord:
        """Queue a reminder to everyone the dry run would reach, and record the run."""
        async with self.store.transaction() as tx:
            return await self.send_in(tx, round_id, actor, now, origin, requested_by)

    async def send_in(
        self,
        tx: Transaction,
        round_id: int,
        actor: policy.Actor,
        now: datetime,
        origin: str,
        requested_by: int | None = None,
    ) -> ReminderRunRecord:
        """`send` inside the caller's transaction."""
        plan = await self.plan_in(tx, round_id, actor, now, self.settings.default_locale)
        round_ = await self._round(tx, round_id, now)
        run_id = await tx.reminders.create_run(round_id, requested_by, origin, plan.scope, now)
        run = await tx.reminders.run(run_id)
        assert run is not None
        units = {u.id: u for u in await tx.org.units()}
        participations = {
            p.person_id: p for p in await tx.rounds.participations(round_id) if p.person_id
        }
        people = {p.id: p for p in await tx.org.people()}
        identities = await tx.org.first_identities(plan.recipients)
        texts = await tx.rounds.texts(round_id, "reminder")
        titles: dict[str, str] = {}
        messages: list[dict[str, Any]] = []
        away = 0
        # In bulk: one query per kind of data and one insert per 500 messages, so a round of
        # thousands holds the write lock for seconds, not minutes.
        for person_id in plan.recipients:
            person, identity = people.get(person_id), identities.get(person_id)
            if person is None or identity is None:
                continue
            participation = participations[person_id]
            zone = zone_of(units, participation.unit_id, self.settings.timezone)
            at = send_time(person, zone, now, self.settings)
            if at >= round_.closes_at:
                away += 1  # away (or quiet) until the round closes: no point
                continue
            locale = person_locale(person, [participation.unit_id], units, self.settings)
            if locale not in titles:
                titles[locale] = await self.title(tx, round_, locale)
            title = titles[locale]
            text = round_text(texts, round_, title, person, locale, "reminders.text", zone)
            messages.append(
                {
                    "idempotency_key": f"reminder:{round_id}:{person_id}:"
                    f"{participation.reminders_sent + 1}",
                    "purpose": "reminder",
                    "channel": identity.channel,
                    "payload": invitation_body("reminders.text", locale, text, round_id, title),
                    "person_id": person_id,
                    "identity_id": identity.id,
                    "not_before": at,
                    "batch": run.batch,
                }
            )
        added = await tx.outbox.enqueue_many(messages)
        reminded = [m["person_id"] for m in messages if m["idempotency_key"] in added]
        await tx.rounds.mark_reminded(round_id, reminded, now)
        queued = len(reminded)
        counts = RunCounts(
            queued=queued,
            already_answered=plan.counts[Verdict.ALREADY_ANSWERED],
            capped=plan.counts[Verdict.CAPPED],
            too_recent=plan.counts[Verdict.TOO_RECENT],
            without_identity=plan.counts[Verdict.WITHOUT_IDENTITY],
            paused=plan.counts[Verdict.PAUSED] + away,
            completed_at_send=await tx.reminders.completed(round_id, plan.scope),
        )
        await tx.reminders.set_counts(run_id, counts)
        stored = await tx.reminders.run(run_id)
        assert stored is not None
        return stored

    # -- texts and automatic reminders --------------------------------------------------

    async def set_text(self, round_id: int, purpose: str, locale: str, text: str | None) -> None:
        """Set a round's own invitation or reminder text (None: back to the default)."""
        if purpose not in TEXT_PURPOSES:
            raise ReminderError("reminders.bad_purpose", f"purpose must be one of {TEXT_PURPOSES}")
        if locale not in ("nb", "nn", "en"):
            raise ReminderError("reminders.bad_locale", "locale must be nb, nn or en")
        checked = check_text(text) if text is not None else None
        async with self.store.transaction() as tx:
            if await tx.rounds.get(round_id) is None:
                raise ReminderError("reminders.unknown_round", f"round {round_id} does not exist")
            await tx.rounds.set_text(round_id, purpose, locale, checked)

    async def set_automatic(self, round_id: int, days: Sequence[int]) -> None:
        """Remind non-respondents automatically on these days after opening (empty: never)."""
        if any(day < 1 or day > 365 for day in days):
            raise ReminderError("reminders.bad_days", "days must be between 1 and 365")
        async with self.store.transaction() as tx:
            if await tx.rounds.get(round_id) is None:
                raise ReminderError("reminders.unknown_round", f"round {round_id} does not exist")
            await tx.rounds.set_auto_reminders(round_id, days)

    # -- reports ------------------------------------------------------------------------

    async def report(self, run_id: int, locale: str) -> DeliveryReport:
        """The delivery report of one run as it stands now."""
        async with self.store.transaction() as tx:
            return await self.report_in(tx, run_id, locale)

    async def report_in(self, tx: Transaction, run_id: int, locale: str) -> DeliveryReport:
        """`report` inside the caller's transaction."""
        run = await tx.reminders.run(run_id)
        if run is None:
            raise ReminderError("reminders.unknown_run", f"reminder run {run_id} does not exist")
        round_ = await tx.rounds.get(run.round_id)
        assert round_ is not None
        outcomes = await tx.outbox.batch_outcomes(run.batch)
        invitees = sum(
            1
            for p in await tx.rounds.participations(run.round_id)
            if (run.scope is None or p.unit_id in run.scope)
            and p.status is not ParticipationStatus.INELIGIBLE
        )
        return DeliveryReport(
            run,
            await self.title(tx, round_, locale),
            sent=outcomes.get("sent", 0),
            failed=outcomes.get("failed", 0),
            unreachable=outcomes.get("unreachable", 0),
            pending=outcomes.get("pending", 0),
            invitees=invitees,
            k=self.settings.min_group_size,
        )

    # -- what the scheduler calls ---------------------------------------------------------

    async def automatic_due(self, now: datetime) -> list[tuple[int, int]]:
        """(round, day) of automatic reminders due now: the latest passed day of each round."""
        due = []
        async with self.store.transaction() as tx:
            for round_ in await tx.rounds.all():
                if not round_.auto_reminder_days or not round_.accepts_answers(now):
                    continue
                passed = [
                    day
                    for day in round_.auto_reminder_days
                    if round_.opens_at + timedelta(days=day) <= now
                ]
                if passed:
                    day = max(passed)
                    if now < round_.opens_at + timedelta(days=day) + AUTOMATIC_WINDOW:
                        due.append((round_.id, day))
        return due

    async def send_automatic(self, round_id: int, day: int, now: datetime) -> None:
        """An automatic reminder (the round may have closed since: then nothing happens).

        It counts as sent at its scheduled moment (opening + `day` days), not at the tick that
        ran it, so reminders on consecutive days stay exactly 24 hours apart.
        """
        async with self.store.transaction() as tx:
            round_ = await tx.rounds.get(round_id)
        if round_ is None:
            return
        scheduled = min(now, round_.opens_at + timedelta(days=day))
        try:
            await self.send(round_id, OPERATOR, scheduled, "auto")
        except ReminderError:
            return

    async def deliver_reports(self, now: datetime) -> int:
        """Queue each run's delivery report once it is settled, and its lift after 24 hours."""
        queued = 0
        async with self.store.transaction() as tx:
            for run in await tx.reminders.unreported():
                report = await self.report_in(tx, run.id, self.settings.default_locale)
                # A run that queued nothing (a second tap, everyone reminded lately) was
                # answered in the chat already: its report and lift are stored, not sent. Below
                # k invitees the (count-free) report goes out all the same, as the chat promised.
                tell = run.queued > 0 or not report.shows_counts
                settled = report.pending == 0 or now - run.created_at >= REPORT_AFTER
                if run.report_sent_at is None and settled:
                    queued += await self._tell(tx, run, "report", now) if tell else 0
                    await tx.reminders.mark_reported(run.id, now)
                if run.completed_after_24h is None and now - run.created_at >= LIFT_AFTER:
                    completed = await tx.reminders.completed(run.round_id, run.scope)
                    await tx.reminders.record_lift(run.id, completed, now)
                    queued += await self._tell(tx, run, "lift", now) if tell else 0
        return queued

    async def _tell(
        self, tx: Transaction, run: ReminderRunRecord, what: str, now: datetime
    ) -> int:
        """Send the requester the report or the lift (nobody to tell for CLI and automatic)."""
        person = await tx.org.person(run.requested_by) if run.requested_by else None
        identities = await tx.org.identities_of(person.id) if person else []
        if person is None or not identities:
            return 0
        units = {u.id: u for u in await tx.org.units()}
        memberships = [ms.unit_id for ms in await tx.org.memberships(person.id)]
        locale = person_locale(person, memberships, units, self.settings)
        report = await self.report_in(tx, run.id, locale)
        text = report_text(report, locale) if what == "report" else lift_text(report, locale)
        if text is None:
            return 0
        identity = identities[0]
        body = {"type": "say", "key": f"reminders.{what}", "locale": locale, "text": text}
        added = await tx.outbox.enqueue(
            f"reminder-{what}:{run.id}",
            f"reminder_{what}",
            identity.channel,
            body,
            person.id,
            identity.id,
            not_before=send_time(person, self.settings.timezone, now, self.settings),
        )
        return int(added)

    async def runs(self, round_id: int) -> list[ReminderRunRecord]:
        """Every reminder run of a round, oldest first."""
        async with self.store.transaction() as tx:
            return await tx.reminders.runs(round_id)


def report_text(report: DeliveryReport, locale: str) -> str:
    """The delivery report as the coordinator reads it (numbers hidden below k invitees)."""
    if not report.shows_counts:
        return translate(locale, "reminders.report_hidden", title=report.title, k=report.k)
    return translate(
        locale,
        "reminders.report",
        title=report.title,
        sent=report.sent,
        failed=report.failed,
        unreachable=report.unreachable,
        answered=report.run.already_answered,
    )


def lift_text(report: DeliveryReport, locale: str) -> str | None:
    """How many more answered within 24 hours (None before then, or below k invitees)."""
    run = report.run
    if run.lift is None or run.completed_after_24h is None or not report.shows_counts:
        return None
    return translate(
        locale,
        "reminders.lift",
        title=report.title,
        after=run.completed_after_24h,
        before=run.completed_at_send,
        lift=f"{run.lift:+d}",
    )
