"""The authorization matrix in chat: every command x every role, checked against dialogs/policy.

Also home of the shared world of the authorization tests (test_authorization_dashboard.py and
test_authorization_cli.py use it): the example organisation with unit A (`medisinsk-klinikk`,
sub-unit A1 `hjerteavdelingen`) and unit B (`kirurgisk-klinikk`) under the root
`fjordsida-sykehus`, a named person per role, a measure and an open round in each unit.

Expected outcomes come from `policy.decide` (so the surfaces are checked against the policy,
and hence against the README's roles table), and a hand-written table states the unknown-person
and cross-unit cases explicitly; a test checks the two agree. A surface may refuse more than the
policy allows only where `NARROWER` says so (with why); it may never allow more.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, get_args

from botbuilder.schema import ChannelAccount
from sqlalchemy import func, select

from bot.app import Services
from bot.channels.actions import COMMANDS, translate_event
from bot.services.imports import ImportService
from bot.services.messages import Message, ServiceEvent
from bot.services.seed import EXAMPLES_DIR
from dialogs import policy
from dialogs.i18n import translate
from dialogs.model import Role
from dialogs.org import ancestor_ids
from storage import models as m
from tests.bot.test_commands_teams import Chats
from tests.services import services_on
from tests.teams_chat import TeamsTestUser, card_texts
from tests.webchat import NOW, ChatUser, running_app

ROOT, A, A1, B = "fjordsida-sykehus", "medisinsk-klinikk", "hjerteavdelingen", "kirurgisk-klinikk"
UNITS = {"A": A, "A1": A1, "B": B, "ROOT": ROOT}
QUESTIONNAIRE = "evaluering-samhandlingsseminar"


@dataclass(frozen=True)
class Persona:
    """One person of the matrix (or the unknown sender when `role` is None)."""

    key: str
    email: str
    name: str
    role: Role | None
    unit: str
    locale: str

    @property
    def actor(self) -> policy.Actor:
        """What `policy.decide` gets for this person."""
        if self.role is None:
            return policy.Actor(None)
        return policy.Actor(self.email, (policy.Membership(self.unit, self.role),))


PERSONAS = (
    Persona("staff_a", "siri.stab@test.example", "Siri Stab", Role.STAFF, A, "en"),
    Persona("leader_a", "lene.leder@test.example", "Lene Leder", Role.LEADER, A, "nb"),
    Persona("leader_b", "bjorn.leiar@test.example", "Bjørn Leiar", Role.LEADER, B, "nn"),
    Persona("coord_a", "kari.koord@test.example", "Kari Koord", Role.COORDINATOR, A, "nb"),
    Persona("union_a", "ulf.tillit@test.example", "Ulf Tillit", Role.UNION_REP, A, "nb"),
    Persona("safety_a", "vera.vern@test.example", "Vera Vern", Role.SAFETY_REP, A, "nb"),
    Persona("admin", "ada.admin@test.example", "Ada Admin", Role.ADMIN, ROOT, "en"),
    Persona("unknown", "", "", None, "", "nb"),
)
BY_KEY = {p.key: p for p in PERSONAS}
KNOWN = tuple(p for p in PERSONAS if p.role is not None)

A_WORDS = ("Medisinsk klinikk", "Hjerteavdelingen", "Runde Alfa", "Tiltak Alfa")
B_WORDS = ("Kirurgisk klinikk", "Ortopedisk avdeling", "Runde Beta", "Tiltak Beta")
UNSEEN: Mapping[str, tuple[str, ...]] = {
    "staff_a": B_WORDS,
    "leader_a": B_WORDS,
    "leader_b": A_WORDS,
    "coord_a": B_WORDS,
    "union_a": B_WORDS,
    "safety_a": B_WORDS,
    "admin": (),
    "unknown": A_WORDS + B_WORDS,
}
"""Names no reply to this person may contain: units, rounds and measures outside their scope."""

MEASURES_YAML = """
areas:
  - id: tilgang
    title: {nb: Tilgang, nn: Tilgang, en: Access}
    measures:
      - id: tiltak-alfa
        title: {nb: Tiltak Alfa, nn: Tiltak Alfa, en: Tiltak Alfa}
        units: [medisinsk-klinikk]
      - id: tiltak-alfa1
        title: {nb: Tiltak Alfa1, nn: Tiltak Alfa1, en: Tiltak Alfa1}
        units: [hjerteavdelingen]
      - id: tiltak-beta
        title: {nb: Tiltak Beta, nn: Tiltak Beta, en: Tiltak Beta}
        units: [kirurgisk-klinikk]
"""


@dataclass(frozen=True)
class World:
    """The loaded organisation: person ids by persona key and round ids by unit key."""

    services: Services
    people: Mapping[str, int]
    rounds: Mapping[str, int]

    def unit_of(self, key: str) -> str:
        """A unit key (A, A1, B, ROOT) as a unit id."""
        return UNITS[key]


async def build_world(services: Services, folder: Path, now: datetime = NOW) -> World:
    """The examples' organisation, roster and measures, the personas, two rounds open `now`."""
    imports = ImportService(services.store)
    await imports.import_org(EXAMPLES_DIR / "org.yaml")
    await imports.import_people(EXAMPLES_DIR / "people.csv")
    roster = folder / "personas.csv"
    roster.write_text(
        "email,name,unit,role,locale\n"
        + "".join(f"{p.email},{p.name},{p.unit},{p.role},{p.locale}\n" for p in KNOWN),
        encoding="utf-8",
    )
    await imports.import_people(roster)
    await imports.import_measures(EXAMPLES_DIR / "measures.yaml")
    extra = folder / "measures.yaml"
    extra.write_text(MEASURES_YAML, encoding="utf-8")
    await imports.import_measures(extra)
    await services.rounds.load_questionnaire(EXAMPLES_DIR / "questionnaires" / "evaluering.yaml")
    rounds = {}
    for key, name in (("A", "Runde Alfa"), ("B", "Runde Beta")):
        round_id = await services.rounds.create(
            QUESTIONNAIRE, [UNITS[key]], now, now + timedelta(days=7), False, name
        )
        await services.rounds.open(round_id, now)
        rounds[key] = round_id
    async with services.store.transaction() as tx:
        ids = {p.email: p.id for p in await tx.org.people() if p.email}
    people = {p.key: ids[p.email] for p in KNOWN}
    return World(services, people, rounds)


@asynccontextmanager
async def world_on(db_url: str, folder: Path) -> AsyncIterator[World]:
    """A service graph on the test database with the world loaded."""
    async with services_on(db_url) as services:
        yield await build_world(services, folder)


COUNTED = (
    m.OutboxMessage,
    m.ReminderRun,
    m.MeasureStatusChange,
    m.AuditEntry,
    m.OwnerCheckin,
    m.Answer,
    m.Response,
    m.Account,
)


async def snapshot(services: Services) -> dict[str, object]:
    """What a refused request must leave as it was: row counts, people, statuses."""
    counts = select(
        *(select(func.count()).select_from(model).scalar_subquery() for model in COUNTED)
    )
    async with services.store.transaction() as tx:
        found: dict[str, object] = dict(
            zip(
                (model.__tablename__ for model in COUNTED),
                (await tx.session.execute(counts)).one(),
                strict=True,
            )
        )
        people = await tx.session.execute(
            select(m.Person.id, m.Person.active, m.Person.paused, m.Person.locale).order_by(
                m.Person.id
            )
        )
        found["people"] = [tuple(row) for row in people]
        found["measures"] = sorted((p.slug, p.status.value) for p in await tx.measures.plans())
        states = await tx.session.execute(
            select(m.Participation.status, func.count()).group_by(m.Participation.status)
        )
        found["participations"] = sorted(tuple(row) for row in states)
    return found


def expected(persona: Persona, action: policy.Action, unit: str | None) -> bool:
    """What the policy (the README's roles table) says."""
    units = _TREE
    return policy.decide(
        persona.actor, action, unit, lambda u: ancestor_ids(units, u) if u in units else ()
    ).allowed


@dataclass(frozen=True)
class _Unit:
    id: str
    parent_id: str | None


_TREE: Mapping[str, Any] = {
    u.id: u
    for u in (
        _Unit(ROOT, None),
        _Unit(A, ROOT),
        _Unit(A1, A),
        _Unit("lungeavdelingen", A),
        _Unit(B, ROOT),
        _Unit("ortopedisk-avdeling", B),
    )
}
"""The part of the example tree the matrix uses (checked against the database in a test)."""


async def check_tree(world: World) -> None:
    """The tree the expectations are computed on is the one in the database."""
    async with world.services.store.transaction() as tx:
        stored = {u.id: u.parent_id for u in await tx.org.units()}
    assert {unit: stored[unit] for unit in _TREE} == {u: _TREE[u].parent_id for u in _TREE}


ALLOWED, REFUSED = True, False

# -- chat -----------------------------------------------------------------------------------

HOME = "HOME"
"""Target: the unit of the persona's own membership (commands that name no unit)."""


@dataclass(frozen=True)
class ChatRow:
    """One request in chat, what it asks the policy, and how its refusal looks.

    Attributes:
        name: The row's id.
        command: The `COMMANDS` entry it covers (None: a button payload, no command).
        payload: The web chat request (as `translate_event` reads it), from the round ids.
        action: The policy action, or None for a personal command of every known person.
        unit: Unit key (A, A1, B), HOME, or None.
        refusals: The message keys that mean "refused" (besides `service.not_linked`).
    """

    name: str
    command: str | None
    payload: Callable[[Mapping[str, int]], dict[str, object]]
    action: policy.Action | None = None
    unit: str | None = None
    refusals: frozenset[str] = frozenset()


def _text(line: str) -> Callable[[Mapping[str, int]], dict[str, object]]:
    return lambda rounds: {"type": "text", "text": line.format(**rounds)}


def _personal(command: str, line: str | None = None) -> ChatRow:
    return ChatRow(command, command, _text(line or f"/{command}"))


SET = policy.Action.SET_MEASURE_STATUS
REMIND = policy.Action.SEND_REMINDERS
MEASURE_REFUSALS = frozenset({"measures.none", "service.denied"})
REMIND_REFUSALS = frozenset({"reminders.denied"})

CHAT_ROWS = (
    _personal("start"),
    _personal("status"),
    _personal("help"),
    _personal("language"),
    _personal("privacy"),
    ChatRow("mydata", "mydata", _text("/mydata"), policy.Action.VIEW_OWN_DATA),
    ChatRow("forget", "forget", _text("/forget"), policy.Action.FORGET_SELF),
    _personal("link"),
    ChatRow(
        "link_code",
        "link",
        _text("/link NOPE-1234"),
        refusals=frozenset({"service.invite_invalid"}),
    ),
    _personal("settings"),
    _personal("rounds"),
    ChatRow("measures", "measures", _text("/measures"), SET, HOME, MEASURE_REFUSALS),
    ChatRow(
        "measures_pick_b",
        "measures",
        _text("/measures tiltak-beta"),
        SET,
        "B",
        MEASURE_REFUSALS | {"measures.list"},
    ),
    ChatRow(
        "measures_set_a",
        "measures",
        _text("/measures tiltak-alfa started"),
        SET,
        "A",
        MEASURE_REFUSALS,
    ),
    ChatRow(
        "measures_set_a1",
        "measures",
        _text("/measures tiltak-alfa1 planned"),
        SET,
        "A1",
        MEASURE_REFUSALS,
    ),
    ChatRow(
        "measures_set_b",
        "measures",
        _text("/measures tiltak-beta started"),
        SET,
        "B",
        MEASURE_REFUSALS,
    ),
    ChatRow(
        "measure_confirm_b",
        None,
        lambda _r: {"type": "measure_confirm", "measure": "tiltak-beta"},
        SET,
        "B",
        MEASURE_REFUSALS,
    ),
    ChatRow("remind", "remind", _text("/remind"), REMIND, HOME, REMIND_REFUSALS),
    ChatRow("remind_a", "remind", _text("/remind {A}"), REMIND, "A", REMIND_REFUSALS),
    ChatRow("remind_b", "remind", _text("/remind {B}"), REMIND, "B", REMIND_REFUSALS),
    ChatRow(
        "remind_send_b",
        None,
        lambda r: {"type": "remind", "round_id": r["B"], "confirm": True},
        REMIND,
        "B",
        REMIND_REFUSALS,
    ),
    ChatRow(
        "remind_send_a",
        None,
        lambda r: {"type": "remind", "round_id": r["A"], "confirm": True},
        REMIND,
        "A",
        REMIND_REFUSALS,
    ),
    ChatRow(
        "digest",
        "digest",
        _text("/digest"),
        policy.Action.VIEW_DIGEST,
        HOME,
        frozenset({"digest.not_leader"}),
    ),
    ChatRow(
        "begin_b",
        None,
        lambda r: {"type": "begin", "round_id": r["B"]},
        policy.Action.ANSWER,
        "B",
        frozenset({"service.round_unknown", "service.denied"}),
    ),
    # Engine commands once a round is in focus (begin_a above the line puts one there).
    ChatRow(
        "begin_a",
        None,
        lambda r: {"type": "begin", "round_id": r["A"]},
        policy.Action.ANSWER,
        "A",
        frozenset({"service.round_unknown", "service.denied"}),
    ),
    _personal("pause"),
    _personal("resume"),
    _personal("back"),
    _personal("stop"),  # last: it pauses the person's proactive messages
)

NARROWER: Mapping[tuple[str, str], str] = {
    ("coord_a", "digest"): "/digest in chat is the person's own digest; coordinators preview "
    "leaders' digests on the dashboard (/dashboard/digest)",
    ("admin", "digest"): "the same: an admin leads no unit; previews are on the dashboard",
}
"""(persona, row) the policy allows but the surface refuses on purpose, with the reason."""


def chat_target(persona: Persona, row: ChatRow) -> str | None:
    """The unit a chat row concerns for this person."""
    if row.unit == HOME:
        return persona.unit or None
    return UNITS[row.unit] if row.unit else None


def chat_expected(persona: Persona, row: ChatRow) -> bool:
    """Allowed or refused, from the policy (with the narrowings listed in NARROWER)."""
    if (persona.key, row.name) in NARROWER:
        return REFUSED
    action = row.action or policy.Action.ANSWER
    return expected(persona, action, chat_target(persona, row))


LEAD_ROWS = tuple(
    r.name for r in CHAT_ROWS if r.action in (SET, REMIND, policy.Action.VIEW_DIGEST)
)
EXPLICIT_CHAT: Mapping[tuple[str, str], bool] = {
    # The unknown sender: everything refused (they are asked for their invite code).
    **{("unknown", row.name): REFUSED for row in CHAT_ROWS},
    # Staff on every leader and coordinator command.
    **{("staff_a", name): REFUSED for name in LEAD_ROWS},
    # Admin on every leader and coordinator command (digest: see NARROWER).
    **{("admin", name): ALLOWED for name in LEAD_ROWS if name != "digest"},
    # Cross-unit.
    ("leader_b", "measures_set_a"): REFUSED,
    ("leader_b", "measures_set_a1"): REFUSED,
    ("leader_a", "measures_set_a1"): ALLOWED,  # a sub-unit of A
    ("leader_a", "measures_set_b"): REFUSED,
    ("leader_a", "measures_pick_b"): REFUSED,
    ("leader_a", "measure_confirm_b"): REFUSED,
    ("leader_b", "measures_set_b"): ALLOWED,
    ("coord_a", "remind_a"): ALLOWED,
    ("coord_a", "remind_send_a"): ALLOWED,
    ("coord_a", "remind_b"): REFUSED,
    ("coord_a", "remind_send_b"): REFUSED,
    ("coord_a", "measures_set_a"): REFUSED,
    ("leader_a", "remind_a"): REFUSED,
    ("union_a", "remind_a"): REFUSED,
    ("union_a", "remind_send_a"): REFUSED,
    ("safety_a", "remind_send_a"): REFUSED,
    ("union_a", "measures_set_a"): REFUSED,
    ("leader_a", "digest"): ALLOWED,
    ("leader_b", "digest"): ALLOWED,
    ("union_a", "digest"): REFUSED,
    ("staff_a", "begin_b"): REFUSED,
    ("leader_a", "begin_b"): REFUSED,
    ("staff_a", "begin_a"): ALLOWED,
}
"""Hand-written expectations for the unknown and cross-unit cases."""


def test_the_explicit_table_agrees_with_the_policy() -> None:
    rows = {r.name: r for r in CHAT_ROWS}
    disagree = [
        (persona, row, want)
        for (persona, row), want in EXPLICIT_CHAT.items()
        if chat_expected(BY_KEY[persona], rows[row]) != want
    ]
    assert disagree == []


def test_narrowings_only_narrow() -> None:
    rows = {r.name: r for r in CHAT_ROWS}
    for persona, row in NARROWER:
        action = rows[row].action or policy.Action.ANSWER
        assert expected(BY_KEY[persona], action, chat_target(BY_KEY[persona], rows[row]))


def test_every_chat_command_and_event_has_a_row() -> None:
    covered = {row.command for row in CHAT_ROWS}
    assert set(COMMANDS) - covered == set()
    rounds = {"A": 1, "B": 2}
    produced = {type(translate_event(row.payload(rounds))) for row in CHAT_ROWS}
    assert set(get_args(ServiceEvent)) - produced == set()


def _key(message: Message) -> str:
    return str(getattr(message, "key", type(message).__name__))


def _texts(messages: tuple[Message, ...]) -> str:
    parts = []
    for message in messages:
        parts.append(str(getattr(message, "text", "")))
        for attribute in ("buttons", "rounds"):
            for button in getattr(message, attribute, ()):
                parts.append(str(getattr(button, "label", "")) + str(getattr(button, "title", "")))
    return "\n".join(parts)


async def test_chat_commands_follow_the_policy(db_url: str, tmp_path: Path) -> None:
    """Every row for every persona, in one world (each person on their own chat address)."""
    async with world_on(db_url, tmp_path) as world:
        await check_tree(world)
        service = world.services.conversation
        wrong = []
        for persona in PERSONAS:
            address = f"matrix-{persona.key}"
            if persona.role is not None:
                await service.link("web", address, world.people[persona.key], NOW)
            for row in CHAT_ROWS:
                want = chat_expected(persona, row)
                before = None if want else await snapshot(world.services)
                event = translate_event(row.payload(world.rounds))
                reply = await service.handle("web", address, event, NOW)
                wrong += await _chat_problems(world, persona, row, want, reply.messages, before)
        assert wrong == []


async def _chat_problems(
    world: World,
    persona: Persona,
    row: ChatRow,
    want: bool,
    messages: tuple[Message, ...],
    before: dict[str, object] | None,
) -> list[str]:
    where = f"{persona.key} {row.name}"
    key = _key(messages[0])
    refused = key in row.refusals | {"service.not_linked"}
    if refused is want:
        return [f"{where}: {'allowed' if want else 'refused'} expected, got {key}"]
    problems = []
    leaked = [word for word in UNSEEN[persona.key] if word in _texts(messages)]
    if leaked:
        problems.append(f"{where}: shows {leaked}, out of scope")
    if refused:
        if getattr(messages[0], "text", None) != translate(persona.locale, key):
            problems.append(f"{where}: the refusal is not in {persona.locale}: {messages[0]}")
        if await snapshot(world.services) != before:
            problems.append(f"{where}: refused, but something changed")
    return problems


async def test_the_web_chat_refuses_in_the_persons_language(db_url: str, tmp_path: Path) -> None:
    """The same refusals through the web chat's HTTP API (what the browser sees)."""
    async with running_app(db_url) as server:
        from bot.app import SERVICES

        world = await build_world(server.app[SERVICES], tmp_path)
        async with ChatUser.on(server) as stranger, ChatUser.on(server) as leader_b:
            said = await stranger.say("/digest")
            assert [m["text"] for m in said] == [translate("nb", "service.not_linked")]
            await leader_b.be("Bjørn Leiar")
            said = await leader_b.say(f"/remind {world.rounds['A']}")
            assert [m["text"] for m in said] == [translate("nn", "reminders.denied")]
            said = await leader_b.send(type="remind", round_id=world.rounds["A"], confirm=True)
            assert [m["text"] for m in said] == [translate("nn", "reminders.denied")]
        assert (await snapshot(world.services))["outbox"] == 0


async def test_teams_refuses_the_same_way(db_url: str, tmp_path: Path) -> None:
    """Teams parses commands with the same code; its refusals arrive as cards, localised."""
    async with services_on(db_url) as services:
        world = await build_world(services, tmp_path)
        chats = Chats(services, db_url)
        stranger = TeamsTestUser(chats.channel)
        stranger.adapter.template.from_property = ChannelAccount(id="stranger", name="?")
        said = await stranger.say("/digest")
        assert card_texts(said[-1]) == [translate("nb", "service.not_linked")]
        leader_b = await chats.join("leader-b", "Bjørn Leiar")
        before = await snapshot(services)
        for line, key in (
            (f"/remind {world.rounds['A']}", "reminders.denied"),
            ("/measures tiltak-alfa started", "service.denied"),
            ("/digest", "digest"),
        ):
            said = await leader_b.say(line)
            texts = card_texts(said[0])
            if key == "digest":  # their own digest: unit B only
                assert [w for w in A_WORDS if w in "\n".join(texts)] == []
                assert "Kirurgisk klinikk" in "\n".join(texts)
            else:
                assert texts == [translate("nn", key)]
        after = await snapshot(services)
        assert (before.pop("audit_log"), after.pop("audit_log")) == (0, 1)  # the digest view
        assert after == before
