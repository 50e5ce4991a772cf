"""The conversation use case: one inbound event, one transaction, the person's lock held."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import get_args

from bot.services.account import AccountCommands
from bot.services.coordination import CoordinatorCommands
from bot.services.digest import DigestService
from bot.services.digests import DigestDelivery
from bot.services.measures import MeasureCommands
from bot.services.messages import (
    BeginRound,
    ChangeSettings,
    ConfirmMeasureStatus,
    CreateLinkCode,
    Event,
    ExportMyData,
    Forget,
    Help,
    Invitation,
    LanguageMenu,
    ManageRounds,
    Message,
    PlanReminder,
    RedeemCode,
    RoundChoice,
    SendReminders,
    SetLanguage,
    SetMeasureStatus,
    ShowDigest,
    ShowMeasures,
    ShowPrivacy,
    ShowRounds,
    ShowStatus,
    StopMessages,
)
from bot.services.preferences import SettingsCommands
from bot.services.questionnaires import QuestionnaireCatalog
from bot.services.reminders import ReminderService
from bot.settings import Settings
from dialogs import engine, policy
from dialogs.i18n import LANGUAGE_NAMES, normalize_locale, translate
from dialogs.model import LOCALES, AnswerValue, Item, Questionnaire, Role, RoundKind
from dialogs.org import ancestor_ids
from dialogs.records import ParticipationStatus, PersonRecord, RoundRecord
from storage.store import Store, Transaction

ENGINE_EVENTS = get_args(engine.Event)
OWN_DATA = (ShowPrivacy, ExportMyData, Forget, StopMessages)


@dataclass(frozen=True)
class Reply:
    """What the service answers to one inbound event."""

    messages: tuple[Message, ...]
    person_id: int | None
    locale: str
    anonymous_round: int | None = None
    """The anonymous round this exchange belongs to: channels must not keep its lines."""


class ConversationService:
    """Handles events from every channel against the dialog engine and the database."""

    def __init__(self, store: Store, catalog: QuestionnaireCatalog, settings: Settings) -> None:
        self.store = store
        self.catalog = catalog
        self.default_locale = settings.default_locale
        self.account = AccountCommands(catalog, settings.min_group_size)
        self.measures = MeasureCommands()
        self.preferences = SettingsCommands(settings)
        self.coordination = CoordinatorCommands(ReminderService(store, catalog, settings))
        self.digests = DigestDelivery(DigestService(store, settings))

    async def handle(self, channel: str, external_id: str, event: Event, now: datetime) -> Reply:
        """Handle one event from one channel address, in one transaction."""
        async with self.store.transaction() as tx:
            identity = await tx.org.ensure_identity(channel, external_id, lock=True)
            if not identity.reachable:
                await tx.org.mark_reachable(identity.id)  # they wrote: reachable again
            person_id = identity.person_id
            if person_id is None:
                code = _code_in(event)
                if code is not None:
                    return await self._redeem(tx, identity.id, code, now)
                return Reply(
                    (self._say("service.not_linked", self.default_locale),),
                    None,
                    self.default_locale,
                )
            focus = await tx.conversations.lock(person_id)
            person = await tx.org.person(person_id)
            if person is None or (not person.active and not isinstance(event, OWN_DATA)):
                # Leavers keep their data rights (privacy, my data, forget me, stop).
                return Reply(
                    (self._say("service.inactive", self.default_locale),),
                    None,
                    self.default_locale,
                )
            answer = isinstance(event, ENGINE_EVENTS)
            locale = await self._answer_locale(tx, person, focus) if answer else None
            locale = locale or await self._locale(tx, person)
            messages = await self._dispatch(tx, person, locale, focus, event, now)
            # An answer changes the focus only through set_focus (a command may delete it all).
            after = await tx.conversations.focus(person.id, known=answer)
            anonymous = await self._anonymous_round(tx, focus, after, event)
            if not isinstance(event, ENGINE_EVENTS):  # answers change no language or unit
                locale = await self._locale(tx, person, fresh=True)
            return Reply(messages, person.id, locale, anonymous)

    async def _anonymous_round(
        self, tx: Transaction, before: int | None, after: int | None, event: Event
    ) -> int | None:
        candidates = [before, after, event.round_id if isinstance(event, BeginRound) else None]
        for round_id in dict.fromkeys(candidates):  # each round once (usually before == after)
            if round_id is not None and await tx.rounds.is_anonymous(round_id):
                return round_id
        return None

    async def locale_of(self, channel: str, external_id: str) -> str | None:
        """The language of the person behind a channel address (None if not linked)."""
        async with self.store.transaction() as tx:
            identity = await tx.org.identity(channel, external_id)
            person = (
                await tx.org.person(identity.person_id)
                if identity and identity.person_id
                else None
            )
            return await self._locale(tx, person) if person else None

    async def link(self, channel: str, external_id: str, person_id: int, now: datetime) -> Reply:
        """Connect a channel address to a known person and greet them (demo and linking)."""
        async with self.store.transaction() as tx:
            identity = await tx.org.ensure_identity(channel, external_id)
            await tx.org.link_identity(identity.id, person_id)
            person = await tx.org.person(person_id)
            if person is None:
                raise LookupError(f"no person {person_id}")
            # Rostered after a round opened: they belong to its audience all the same.
            for membership in await tx.org.memberships(person_id):
                await self._invite_to_open_rounds(
                    tx, person_id, membership.unit_id, membership.role, now
                )
            locale = await self._locale(tx, person)
            return Reply(await self._greeting(tx, person, locale, now), person.id, locale)

    async def _redeem(self, tx: Transaction, identity_id: int, code: str, now: datetime) -> Reply:
        redeemed = await tx.org.redeem_invite(code, now)
        if redeemed is None:
            return Reply(
                (self._say("service.invite_invalid", self.default_locale),),
                None,
                self.default_locale,
            )
        unit_id, person_id, role = redeemed
        if person_id is None:
            unit = await tx.org.unit(unit_id) if unit_id else None
            person = await tx.org.create_person(None, unit.locale if unit else None)
            person_id = person.id
        if unit_id:
            await tx.org.add_membership(person_id, unit_id, role)
            await self._invite_to_open_rounds(tx, person_id, unit_id, role, now)
        await tx.org.link_identity(identity_id, person_id)
        found = await tx.org.person(person_id)
        assert found is not None
        locale = await self._locale(tx, found)
        return Reply(await self._greeting(tx, found, locale, now), person_id, locale)

    async def _invite_to_open_rounds(
        self, tx: Transaction, person_id: int, unit_id: str, role: Role, now: datetime
    ) -> None:
        # Someone enrolled after a round opened still belongs to its audience (check-ins
        # assign measures when they open; a newcomer is asked in the next one).
        units = {u.id: u for u in await tx.org.units()}
        lineage = {unit_id, *ancestor_ids(units, unit_id)}
        for round_ in await tx.rounds.all():
            if (
                round_.kind is RoundKind.SURVEY
                and round_.accepts_answers(now)
                and lineage & set(round_.unit_ids)
            ):
                await tx.rounds.invite(round_.id, person_id, unit_id, now.date())

    async def _dispatch(
        self,
        tx: Transaction,
        person: PersonRecord,
        locale: str,
        focus: int | None,
        event: Event,
        now: datetime,
    ) -> tuple[Message, ...]:
        if isinstance(event, RedeemCode):
            return (self._say("service.already_linked", locale),)
        if isinstance(event, ShowRounds):
            restarted = await self.account.unpause(tx, person, locale)
            greeting = await self._greeting(tx, person, locale, now)
            return ((restarted,) if restarted else ()) + greeting
        if isinstance(event, ShowDigest):
            return await self.digests.on_demand(tx, person, locale, event.period, now)
        if isinstance(event, ManageRounds | PlanReminder | SendReminders):
            actor = await self._actor(tx, person)
            if isinstance(event, SendReminders):
                return (
                    await self.coordination.send(
                        tx, actor, person.id, locale, event.round_id, now
                    ),
                )
            if isinstance(event, PlanReminder):
                return (await self.coordination.plan(tx, actor, locale, event.round_id, now),)
            listed = await self.coordination.rounds(tx, actor, locale, now)
            # Not a coordinator: /rounds shows the rounds open for the person themself.
            return (listed,) if listed else await self._greeting(tx, person, locale, now)
        account = await self._account(tx, person, locale, event, now)
        if account is not None:
            return (account,)
        if isinstance(event, Help):
            return (self._say("service.help", locale),)
        if isinstance(event, SetLanguage):
            return await self._set_language(tx, person, focus, event.locale, now)
        if isinstance(event, BeginRound):
            return await self._begin(tx, person, locale, event.round_id, now)
        if focus is None:
            return await self._greeting(tx, person, locale, now)
        return await self._advance(tx, person, locale, focus, event, now)

    async def _account(
        self, tx: Transaction, person: PersonRecord, locale: str, event: Event, now: datetime
    ) -> Message | None:
        if isinstance(event, ShowMeasures | SetMeasureStatus | ConfirmMeasureStatus):
            return await self.measures.handle(tx, person, locale, event, now)
        if isinstance(event, ChangeSettings):
            return await self.preferences.handle(tx, person, locale, event.text, now)
        if isinstance(event, StopMessages):
            return await self.account.stop(tx, person, locale)
        if isinstance(event, ShowPrivacy):
            return self.account.privacy(locale)
        if isinstance(event, ShowStatus):
            return await self.account.status(tx, person, locale, now)
        own_data = {ExportMyData: policy.Action.VIEW_OWN_DATA, Forget: policy.Action.FORGET_SELF}
        action = own_data.get(type(event))
        if action is not None and not await self._allowed(tx, person, action, None):
            return self._say("service.denied", locale)
        if isinstance(event, ExportMyData):
            return await self.account.export(tx, person, locale, now)
        if isinstance(event, CreateLinkCode):
            return await self.account.link_code(tx, person, locale, now)
        if isinstance(event, Forget):
            if not event.confirmed:
                return self.account.confirm_forget(locale)
            return await self.account.forget(tx, person, locale, now)
        return None

    async def _set_language(
        self,
        tx: Transaction,
        person: PersonRecord,
        focus: int | None,
        requested: str | None,
        now: datetime,
    ) -> tuple[Message, ...]:
        locale = await self._locale(tx, person)
        chosen = normalize_locale(requested, "") if requested else ""
        if chosen not in LOCALES:
            options = tuple((code, LANGUAGE_NAMES[code]) for code in LOCALES)
            return (LanguageMenu(translate(locale, "service.language.pick"), options),)
        await tx.org.set_person_locale(person.id, chosen)
        said: tuple[Message, ...] = (self._say("service.language.set", chosen),)
        if focus is None:
            return said
        round_ = await tx.rounds.get(focus)
        stored = await tx.conversations.state(person.id, focus)
        if round_ is None or stored is None:
            return said
        questionnaire = await self.catalog.for_person(tx, round_.id, person.id)
        state = engine.DialogState.from_dict(stored).with_locale(chosen)
        await tx.conversations.save_state(person.id, focus, state.to_dict())
        return said + engine.current_prompt(questionnaire, state)

    async def _begin(
        self, tx: Transaction, person: PersonRecord, locale: str, round_id: int, now: datetime
    ) -> tuple[Message, ...]:
        round_ = await tx.rounds.get(round_id)
        participation = await tx.rounds.participation(round_id, person.id)
        if round_ is None or participation is None:
            return (self._say("service.round_unknown", locale),)
        if not await self._allowed(tx, person, policy.Action.ANSWER, participation.unit_id):
            return (self._say("service.denied", locale),)
        if participation.status == ParticipationStatus.COMPLETED:
            return (self._say("service.round_done", locale),)
        if not round_.accepts_answers(now):
            return (self._say("service.round_closed", locale),)
        await tx.conversations.set_focus(person.id, round_id)
        return await self._advance(tx, person, locale, round_id, engine.Start(), now)

    async def _actor(self, tx: Transaction, person: PersonRecord) -> policy.Actor:
        memberships = tuple(
            policy.Membership(m.unit_id, m.role) for m in await tx.org.memberships(person.id)
        )
        return policy.Actor(str(person.id), memberships)

    async def _allowed(
        self, tx: Transaction, person: PersonRecord, action: policy.Action, unit_id: str | None
    ) -> bool:
        """The one permission check (dialogs/policy.py) for this person."""
        actor = await self._actor(tx, person)
        units = {u.id: u for u in await tx.org.units()}
        return policy.decide(
            actor, action, unit_id, lambda unit: ancestor_ids(units, unit)
        ).allowed

    async def _advance(
        self,
        tx: Transaction,
        person: PersonRecord,
        locale: str,
        round_id: int,
        event: Event,
        now: datetime,
    ) -> tuple[Message, ...]:
        round_ = await tx.rounds.get(round_id)
        participation = await tx.rounds.participation(round_id, person.id)
        if round_ is None or participation is None:
            await tx.conversations.set_focus(person.id, None)
            return (self._say("service.round_unknown", locale),)
        if not round_.accepts_answers(now):
            return (self._say("service.round_closed", locale),)
        if not isinstance(event, ENGINE_EVENTS):
            return (self._say("service.help", locale),)
        questionnaire = await self.catalog.for_participation(tx, round_, participation)
        stored = await tx.conversations.state(person.id, round_id)
        state = engine.DialogState.from_dict(stored) if stored else None
        if state is None:
            state = engine.start_state(questionnaire, locale)
        transition = engine.advance(questionnaire, state, event, now)
        if not transition.changed:
            return transition.messages
        if not round_.anonymous:
            for recorded in transition.recorded:
                await tx.answers.append(
                    round_id,
                    person.id,
                    participation.unit_id,
                    recorded.item_id,
                    recorded.value,
                    recorded.measure,
                )
            for withdrawn in transition.cleared:
                # A withdrawn optional answer is a new, empty row: history stays complete.
                await tx.answers.append(
                    round_id, person.id, participation.unit_id, withdrawn, AnswerValue(), None
                )
        if transition.submitted:
            return transition.messages + await self._submit(
                tx,
                person,
                locale,
                round_,
                participation.unit_id,
                questionnaire,
                transition.state,
                now,
            )
        await tx.conversations.save_state(person.id, round_id, transition.state.to_dict())
        return transition.messages

    async def _submit(
        self,
        tx: Transaction,
        person: PersonRecord,
        locale: str,
        round_: RoundRecord,
        unit_id: str,
        questionnaire: Questionnaire,
        state: engine.DialogState,
        now: datetime,
    ) -> tuple[Message, ...]:
        answers = _final_answers(engine.visible_answers(questionnaire, state))
        if round_.anonymous:
            await tx.answers.submit_anonymous(round_.id, unit_id, answers)
            await tx.web.forget_round(person.id, round_.id)
        else:
            await tx.answers.submit_identified(round_.id, person.id, unit_id, answers)
        # In-progress answers leave with the state, in the same transaction as the submit.
        await tx.conversations.delete_state(person.id, round_.id)
        await tx.rounds.complete(round_.id, person.id, now.date())
        await tx.conversations.set_focus(person.id, None)
        if round_.anonymous:  # after every write of this person's rows (see blur_completions)
            await tx.rounds.blur_completions(round_.id)
        remaining = await tx.rounds.open_rounds_for(person.id, now)
        return (await self._offer(tx, remaining, locale),) if remaining else ()

    async def _greeting(
        self, tx: Transaction, person: PersonRecord, locale: str, now: datetime
    ) -> tuple[Message, ...]:
        rounds = await tx.rounds.open_rounds_for(person.id, now)
        return (await self._offer(tx, rounds, locale),)

    async def _offer(
        self, tx: Transaction, rounds: Sequence[RoundRecord], locale: str
    ) -> Invitation:
        choices = []
        for round_ in rounds:
            questionnaire = await self.catalog.get(tx, round_.questionnaire_version_id)
            title = round_.name or questionnaire.title.get(locale, questionnaire.default_locale)
            choices.append(RoundChoice(round_.id, title, translate(locale, "service.begin")))
        key = "service.open_rounds" if choices else "service.no_open_rounds"
        return Invitation(key, translate(locale, key), tuple(choices))

    @staticmethod
    async def _answer_locale(
        tx: Transaction, person: PersonRecord, focus: int | None
    ) -> str | None:
        """An answer's language without reading units: None when the person has their own.

        Otherwise the language the questionnaire in focus is asked in (a unit's language
        changed meanwhile shows from the next questionnaire on).
        """
        if person.locale:
            return None  # _locale reads nothing for it
        stored = await tx.conversations.state(person.id, focus) if focus is not None else None
        chosen = stored.get("locale") if stored else None
        return chosen if isinstance(chosen, str) and chosen in LOCALES else None

    async def _locale(self, tx: Transaction, person: PersonRecord, fresh: bool = False) -> str:
        if fresh:
            reloaded = await tx.org.person(person.id)
            person = reloaded or person
        if person.locale:
            return normalize_locale(person.locale, self.default_locale)
        units = {u.id: u for u in await tx.org.units()}
        for membership in await tx.org.memberships(person.id):
            unit = units.get(membership.unit_id)
            while unit is not None:
                if unit.locale:
                    return normalize_locale(unit.locale, self.default_locale)
                unit = units.get(unit.parent_id) if unit.parent_id else None
        return self.default_locale

    @staticmethod
    def _say(key: str, locale: str) -> engine.Say:
        return engine.Say(key=key, text=translate(locale, key))


CODE_SHAPE = re.compile(r"[A-Za-z0-9]+(-[A-Za-z0-9]+)+|[A-Za-z0-9]{6,}")


def _code_in(event: Event) -> str | None:
    """An invite or link code in what an unknown person sent (a greeting is not a code)."""
    if isinstance(event, RedeemCode):
        return event.code
    if isinstance(event, engine.Text):
        text = event.text.strip()
        if CODE_SHAPE.fullmatch(text) and any(c.isdigit() or c == "-" for c in text):
            return text
    return None


def _final_answers(
    pairs: Sequence[tuple[Item, AnswerValue]],
) -> list[tuple[str, AnswerValue, str | None]]:
    return [(item.id, value, item.measure) for item, value in pairs]


__all__ = ["ConversationService", "Reply"]
