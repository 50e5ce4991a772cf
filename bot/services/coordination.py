"""Coordinators in chat: /rounds with response rates, /remind with a dry run, then sending."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.services.messages import Button, Message, PlanReminder, Prompt, SendReminders
from bot.services.reminders import ReminderError, ReminderPlan, ReminderService
from dialogs import engine, policy
from dialogs.i18n import format_day, format_percent, translate
from dialogs.privacy import can_show_rate
from dialogs.records import ParticipationStatus
from dialogs.reminders import Verdict
from storage.store import Transaction


def _say(key: str, locale: str, **params: object) -> engine.Say:
    return engine.Say(key=key, text=translate(locale, key, **params))


class CoordinatorCommands:
    """What a coordinator does with rounds in chat, each step checked by dialogs/policy.py."""

    def __init__(self, reminders: ReminderService) -> None:
        self.reminders = reminders
        self.settings = reminders.settings

    async def rounds(
        self, tx: Transaction, actor: policy.Actor, locale: str, now: datetime
    ) -> Message | None:
        """Open rounds in the actor's scope; None if they may remind no one anywhere."""
        if not _coordinates(actor):
            return None
        lines, buttons = [], []
        k = self.settings.min_group_size
        for round_ in reversed(await tx.rounds.all()):
            if not round_.accepts_answers(now):
                continue
            try:
                scope = await self.reminders.scope(tx, round_, actor)
            except ReminderError:
                continue
            mine = [
                p
                for p in await tx.rounds.participations(round_.id)
                if scope is None or p.unit_id in scope
            ]
            eligible = sum(p.status in _ELIGIBLE for p in mine)
            answered = sum(p.status is ParticipationStatus.COMPLETED for p in mine)
            params = {
                "title": await self.reminders.title(tx, round_, locale),
                "id": round_.id,
                "deadline": self._day(round_.closes_at, locale),
                "k": k,
            }
            if can_show_rate(eligible, k):
                rate = format_percent(100 * answered / eligible, locale)
                line = translate(
                    locale,
                    "reminders.rounds.line",
                    answered=answered,
                    eligible=eligible,
                    rate=rate,
                    **params,
                )
            else:
                line = translate(locale, "reminders.rounds.line_hidden", **params)
            lines.append(line)
            label = translate(locale, "reminders.button.plan", id=round_.id)
            buttons.append(Button(label, PlanReminder(round_.id)))
        if not lines:
            return _say("reminders.rounds.none", locale)
        text = "\n".join([translate(locale, "reminders.rounds.heading"), *lines])
        return Prompt("reminders.rounds", text, tuple(buttons))

    async def plan(
        self,
        tx: Transaction,
        actor: policy.Actor,
        locale: str,
        round_id: int | None,
        now: datetime,
    ) -> Message:
        """The dry run with counts, and a button that sends."""
        if round_id is None:
            listed = await self.rounds(tx, actor, locale, now)
            return listed or _say("reminders.denied", locale)
        try:
            plan = await self.reminders.plan_in(tx, round_id, actor, now, locale)
        except ReminderError as error:
            return _say(error.key, locale)
        # Below k invitees even "nobody to remind" tells too much (e.g. that all answered).
        if not plan.recipients and plan.shows_counts:
            return _say("reminders.nobody", locale, title=plan.title)
        confirm = Button(translate(locale, "reminders.confirm"), SendReminders(round_id))
        return Prompt("reminders.plan", self._plan_text(plan, locale), (confirm,))

    async def send(
        self,
        tx: Transaction,
        actor: policy.Actor,
        person_id: int,
        locale: str,
        round_id: int,
        now: datetime,
    ) -> Message:
        """Send (confirmed); the delivery report follows through the outbox."""
        try:
            run = await self.reminders.send_in(tx, round_id, actor, now, "chat", person_id)
        except ReminderError as error:
            return _say(error.key, locale)
        round_ = await tx.rounds.get(round_id)
        assert round_ is not None
        title = await self.reminders.title(tx, round_, locale)
        report = await self.reminders.report_in(tx, run.id, locale)
        if not report.shows_counts:
            return _say("reminders.queued_hidden", locale, title=title)
        if run.queued == 0:
            return _say("reminders.nobody", locale, title=title)
        return _say("reminders.queued", locale, title=title, queued=run.queued)

    def _plan_text(self, plan: ReminderPlan, locale: str) -> str:
        k = self.settings.min_group_size
        if not plan.shows_counts:
            return translate(locale, "reminders.plan_hidden", title=plan.title, k=k)
        counts = plan.counts
        return translate(
            locale,
            "reminders.plan",
            title=plan.title,
            remind=counts[Verdict.REMIND],
            answered=counts[Verdict.ALREADY_ANSWERED],
            capped=counts[Verdict.CAPPED],
            max=self.reminders.rules.max_per_person,
            recent=counts[Verdict.TOO_RECENT],
            gap=int(self.reminders.rules.gap.total_seconds() // 3600),
            without=counts[Verdict.WITHOUT_IDENTITY],
            paused=counts[Verdict.PAUSED],
        )

    def _day(self, moment: datetime, locale: str) -> str:
        return format_day(moment.astimezone(ZoneInfo(self.settings.timezone)).date(), locale)


_ELIGIBLE = (ParticipationStatus.INVITED, ParticipationStatus.COMPLETED)


def _coordinates(actor: policy.Actor) -> bool:
    """Whether any of the actor's roles may send reminders somewhere."""
    return actor.operator or any(
        policy.Action.SEND_REMINDERS in policy.RULES[m.role] for m in actor.memberships
    )
