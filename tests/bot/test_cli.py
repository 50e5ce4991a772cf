"""The `followup` command run in-process, checked by what it prints and what it stores.

Also home of two helpers other tests use: `followup` (run the CLI against a test database) and
`answer_as` (a demo person answers a round through the conversation service).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import func, select
from sqlalchemy.sql import Executable
from typer.testing import CliRunner, Result

from bot.app import Services, build_services
from bot.cli import app
from bot.services.messages import BeginRound, RedeemCode
from dialogs import engine
from storage import models as m
from storage.database import create_engine, session_factory
from storage.models import utcnow
from tests.webchat import settings_for

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
QUESTIONNAIRE = EXAMPLES / "questionnaires" / "evaluering.yaml"
QUESTIONNAIRE_ID = "evaluering-samhandlingsseminar"
FIXTURES = ROOT / "tests" / "fixtures" / "cli"
T = TypeVar("T")

Plan = Mapping[str, str | Sequence[str]]
"""What one person answers: item id (or comment key) -> option id, option ids, or typed text."""

BASE_PLAN: dict[str, str | Sequence[str]] = {
    "samtykke": "yes",
    "arbeidssted": "sykehus",
    "rolle": "ansatt",
    "erfaring": "10",
    "seminar_fornoyd": "6",
    "seminar_nyttig": "4",
    "tiltaksplan": "na",
    "informasjonskanaler": ["personalmote"],
    "tiltak.samarbeidsmoter": "started",
    "tiltak.felles-opplaering": "dont_know",
    "tiltak.utskrivningssamtale": "planned",
}
"""A complete set of answers to the example questionnaire (no follow-up questions)."""


# --- helpers ---------------------------------------------------------------------------------


def followup(db_url: str, *args: object, k: int = 5, ok: bool = True) -> Result:
    """Run `followup ARGS` on the test database; by default the command must succeed."""
    env = {
        "DATABASE_URL": db_url,
        "FOLLOWUP_MIN_GROUP_SIZE": str(k),
        "FOLLOWUP_TIMEZONE": None,  # Europe/Oslo
        "FOLLOWUP_DEFAULT_LOCALE": None,  # nb
    }
    result = CliRunner().invoke(app, [str(arg) for arg in args], env=env)
    if ok:
        assert result.exit_code == 0, (result.output, result.exception)
    return result


def fails(db_url: str, *args: object) -> Result:
    """Run a command that must fail the way a user sees it: exit code 1 and a message."""
    result = followup(db_url, *args, ok=False)
    assert result.exit_code == 1, (result.output, result.exception)
    assert result.stderr.strip(), "a failing command must say why"
    return result


def query(db_url: str, statement: Executable) -> list[Any]:
    """Rows of one SELECT on the test database (single-column selects give plain values)."""

    async def run() -> list[Any]:
        engine = create_engine(db_url)
        try:
            async with session_factory(engine)() as session:
                rows = (await session.execute(statement)).all()
        finally:
            await engine.dispose()
        return [row[0] if len(row) == 1 else tuple(row) for row in rows]

    return asyncio.run(run())


def count(db_url: str, model: type[m.Base]) -> int:
    """How many rows a table has."""
    return int(query(db_url, select(func.count()).select_from(model))[0])


def set_up_examples(db_url: str) -> None:
    """Import the example organisation, roster and measures, and load the questionnaire."""
    followup(db_url, "org", "import", EXAMPLES / "org.yaml")
    followup(db_url, "people", "import", EXAMPLES / "people.csv")
    followup(db_url, "measures", "import", EXAMPLES / "measures.yaml")
    followup(db_url, "questionnaire", "load", QUESTIONNAIRE)


def create_round(db_url: str, *options: object) -> int:
    """`round create` for the example questionnaire; returns the printed round id."""
    printed = followup(db_url, "round", "create", "--questionnaire", QUESTIONNAIRE_ID, *options)
    assert re.fullmatch(r"\d+\n", printed.stdout), printed.stdout
    return int(printed.stdout)


def example_audience(*roots: str) -> set[str]:
    """E-mails of the example people with a membership in the roots' subtrees (from the files)."""
    children: dict[str | None, list[dict[str, Any]]] = {}

    def index(nodes: list[dict[str, Any]], parent: str | None) -> None:
        for node in nodes:
            children.setdefault(parent, []).append(node)
            index(node.get("children") or [], node["id"])

    index(yaml.safe_load((EXAMPLES / "org.yaml").read_text(encoding="utf-8"))["units"], None)
    units, pending = set(), list(roots)
    while pending:
        unit = pending.pop()
        units.add(unit)
        pending += [child["id"] for child in children.get(unit, [])]
    with (EXAMPLES / "people.csv").open(encoding="utf-8") as handle:
        return {row["email"] for row in csv.DictReader(handle) if row["unit"] in units}


def with_services(db_url: str, work: Callable[[Services], Awaitable[T]]) -> T:
    """Run `work` against the app's services on the test database (as the server would)."""

    async def run() -> T:
        services = build_services(settings_for(db_url))
        try:
            return await work(services)
        finally:
            await services.store.close()

    return asyncio.run(run())


def person_id(db_url: str, name: str) -> int:
    """The id of an example person."""
    return int(query(db_url, select(m.Person.id).where(m.Person.name == name))[0])


async def answer_as(
    services: Services, person: int, round_id: int, plan: Plan, now: datetime
) -> None:
    """`person` opens the round in the chat, answers exactly what `plan` says, and submits.

    Optional questions the plan leaves out are skipped; a required question it leaves out, or a
    planned answer never asked for, fails the test, so the plan is exactly what was stored.
    """
    chat = services.conversation
    address = f"test-{person}"
    await chat.link("web", address, person, now)
    reply = await chat.handle("web", address, BeginRound(round_id), now)
    asked: set[str] = set()
    while True:
        last = reply.messages[-1]
        if isinstance(last, engine.Summary):
            break
        assert isinstance(last, engine.Ask), f"expected a question, the bot said {last}"
        assert last.item_id not in asked, f"{last.item_id} asked again: {reply.messages}"
        asked.add(last.item_id)
        for event in _events_for(last, plan):
            reply = await chat.handle("web", address, event, now)
    reply = await chat.handle("web", address, engine.Submit(), now)
    submitted = engine.Key.SUBMITTED.value
    assert any(getattr(said, "key", "") == submitted for said in reply.messages), reply
    assert set(plan) <= asked, f"never asked: {set(plan) - asked}"


def _events_for(ask: engine.Ask, plan: Plan) -> list[engine.Event]:
    wanted = plan.get(ask.item_id)
    if wanted is None:
        assert any(a.kind is engine.ActionKind.SKIP for a in ask.actions), (
            f"the plan has no answer to the required question {ask.item_id}"
        )
        return [engine.Skip(ask.item_id)]
    if ask.input is engine.InputMode.TOGGLES:
        assert not isinstance(wanted, str)
        return [*(engine.Toggle(ask.item_id, pick) for pick in wanted), engine.Done(ask.item_id)]
    assert isinstance(wanted, str)
    if ask.input is engine.InputMode.BUTTONS:
        return [engine.Choose(ask.item_id, wanted)]
    return [engine.Text(wanted)]


def answer_round(db_url: str, round_id: int, plans: Mapping[str, Plan]) -> None:
    """Each named example person answers the round with their plan (in that order)."""
    people = {name: person_id(db_url, name) for name in plans}

    async def answer_all(services: Services) -> None:
        for name, plan in plans.items():
            await answer_as(services, people[name], round_id, plan, utcnow())

    with_services(db_url, answer_all)


def csv_rows(raw: bytes, encoding: str, delimiter: str) -> list[list[str]]:
    """The rows of a CSV export as printed."""
    return list(csv.reader(io.StringIO(raw.decode(encoding), newline=""), delimiter=delimiter))


def oslo_to_utc(text: str) -> datetime:
    """An ISO date/time as written in Norway, as the UTC instant the database holds."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Europe/Oslo")).astimezone(UTC)


# --- org -------------------------------------------------------------------------------------


def test_org_import_yaml_creates_the_tree_and_a_second_run_changes_nothing(db_url):
    assert followup(db_url, "org", "import", EXAMPLES / "org.yaml").stdout == "imported 11 units\n"
    followup(db_url, "org", "import", EXAMPLES / "org.yaml")

    units = dict(query(db_url, select(m.Unit.id, m.Unit.parent_id)))
    assert len(units) == 11
    assert units["fjordsida-sykehus"] is None
    assert units["hjerteavdelingen"] == "medisinsk-klinikk"
    assert units["heimetenesta-nordbygda"] == "helse-og-omsorg"
    nordbygda = query(
        db_url,
        select(m.Unit.name_nn, m.Unit.locale).where(m.Unit.id == "heimetenesta-nordbygda"),
    )
    assert nordbygda == [("Heimetenesta Nordbygda", "nn")]


def test_org_import_csv_accepts_children_listed_before_their_parents(db_url):
    assert followup(db_url, "org", "import", FIXTURES / "org.csv").stdout == "imported 3 units\n"

    rows = query(
        db_url, select(m.Unit.id, m.Unit.parent_id, m.Unit.name_en, m.Unit.kind, m.Unit.locale)
    )
    assert sorted(rows) == [
        ("legevakt", "vestby-helse", "Emergency Clinic", "team", None),
        ("vestby-helse", "vestby-kommune", "Health and Welfare", "service", "nn"),
        ("vestby-kommune", None, "Vestby Municipality", "municipality", "nb"),
    ]


def test_bad_org_csv_lists_every_problem_and_writes_nothing(db_url):
    result = fails(db_url, "org", "import", FIXTURES / "bad_org.csv")

    for problem in (
        "unit vestby-kommune: duplicate id",
        "unit legevakt: unknown parent 'vestby-helse'",
        "unit sykehjem: unknown time zone 'Europe/Vestby'",
        "unit vestby-kommune: locale must be one of nb, nn, en",
    ):
        assert problem in result.stderr
    assert count(db_url, m.Unit) == 0


def test_bad_org_yaml_lists_every_problem_and_writes_nothing(db_url):
    result = fails(db_url, "org", "import", FIXTURES / "bad_org.yaml")

    assert "unit legevakt: duplicate id" in result.stderr
    assert "unit sykehjem: missing name (nb)" in result.stderr
    assert count(db_url, m.Unit) == 0


def test_org_import_refuses_parent_cycles(db_url):
    result = fails(db_url, "org", "import", FIXTURES / "cyclic_org.csv")
    assert result.stderr == (
        "error: unit vestby-helse: its parents form a cycle"
        " (vestby-helse -> legevakt -> vestby-helse)\n"
        "unit legevakt: its parents form a cycle (legevakt -> vestby-helse -> legevakt)\n"
    )
    assert count(db_url, m.Unit) == 0

    followup(db_url, "org", "import", EXAMPLES / "org.yaml")
    result = fails(db_url, "org", "import", FIXTURES / "reparent_under_own_child.csv")
    assert "unit medisinsk-klinikk: its parents form a cycle" in result.stderr
    parent = query(db_url, select(m.Unit.parent_id).where(m.Unit.id == "medisinsk-klinikk"))
    assert parent == ["fjordsida-sykehus"]


# --- people ----------------------------------------------------------------------------------


def memberships(db_url: str, email: str) -> set[tuple[str, str]]:
    """(unit, role) pairs of one person."""
    rows = query(
        db_url,
        select(m.Membership.unit_id, m.Membership.role)
        .join(m.Person, m.Person.id == m.Membership.person_id)
        .where(m.Person.email == email),
    )
    return set(rows)


def active(db_url: str) -> dict[str, bool]:
    """E-mail -> active, for everyone on the roster."""
    return {
        email: bool(on) for email, on in query(db_url, select(m.Person.email, m.Person.active))
    }


def test_people_import_creates_then_updates_without_duplicates(db_url):
    followup(db_url, "org", "import", EXAMPLES / "org.yaml")
    people = EXAMPLES / "people.csv"

    first = followup(db_url, "people", "import", people)
    second = followup(db_url, "people", "import", people)

    assert first.stdout == "created 14, updated 0, deactivated 0\n"
    assert second.stdout == "created 0, updated 14, deactivated 0\n"
    assert count(db_url, m.Person) == 14
    assert memberships(db_url, "marit.strand@fjordsida.example") == {
        ("lungeavdelingen", "staff"),
        ("ortopedisk-avdeling", "staff"),
    }
    assert memberships(db_url, "hanne.lunde@elvevik.example") == {
        ("elvevik-sykehjem", "staff"),
        ("elvevik-sykehjem", "safety_rep"),
    }
    locale = query(db_url, select(m.Person.locale).where(m.Person.name == "Ahmed Ali"))
    assert locale == ["en"]


def test_people_import_deactivates_a_leaver_who_stays_in_past_rounds(db_url):
    set_up_examples(db_url)
    past = create_round(db_url, "--unit", "hjerteavdelingen")
    followup(db_url, "round", "open", past)
    ola = "ola.hansen@fjordsida.example"

    synced = followup(
        db_url, "people", "import", FIXTURES / "people_without_ola.csv", "--deactivate-missing"
    )

    assert synced.stdout == "created 0, updated 13, deactivated 1\n"
    assert [email for email, on in active(db_url).items() if not on] == [ola]
    # The round he was invited to still counts him...
    report = followup(db_url, "results", past, "--format", "json", k=3).stdout
    assert json.loads(report)["invited"] == 3
    # ...and the next round does not invite him.
    later = create_round(db_url, "--unit", "hjerteavdelingen")
    assert "2 invited" in followup(db_url, "round", "open", later).stdout

    back = followup(db_url, "people", "import", EXAMPLES / "people.csv")
    assert back.stdout == "created 0, updated 14, deactivated 0\n"
    assert active(db_url)[ola] is True


def test_bad_people_file_lists_every_line_and_writes_nothing(db_url):
    followup(db_url, "org", "import", EXAMPLES / "org.yaml")

    result = fails(db_url, "people", "import", FIXTURES / "bad_people.csv")

    for problem in (
        "line 3: missing or invalid e-mail",
        "line 4: unknown unit 'akuttmottaket'",
        "line 5: unknown role 'boss'",
        "line 5: locale must be one of nb, nn, en",
    ):
        assert problem in result.stderr
    assert count(db_url, m.Person) == 0


# --- measures and questionnaires -------------------------------------------------------------


def test_measures_import_stores_measures_with_their_units(db_url):
    followup(db_url, "org", "import", EXAMPLES / "org.yaml")

    assert followup(db_url, "measures", "import", EXAMPLES / "measures.yaml").stdout == (
        "imported 3 measures (3 new)\n"
    )

    owners = query(db_url, select(m.MeasureUnit.measure_id, m.MeasureUnit.unit_id))
    assert sorted(owners) == [
        ("felles-opplaering", "elvevik-kommune"),
        ("felles-opplaering", "fjordsida-sykehus"),
        ("samarbeidsmoter", "helse-og-omsorg"),
        ("samarbeidsmoter", "medisinsk-klinikk"),
        ("utskrivningssamtale", "fjordsida-sykehus"),
    ]
    deadline = query(db_url, select(m.Measure.deadline).where(m.Measure.id == "samarbeidsmoter"))
    assert [d.isoformat() for d in deadline] == ["2026-12-31"]


def test_bad_measures_file_is_refused(db_url):
    followup(db_url, "org", "import", EXAMPLES / "org.yaml")

    result = fails(db_url, "measures", "import", FIXTURES / "bad_measures.yaml")

    assert "measure felles-opplaering: unknown unit 'akuttmottaket'" in result.stderr
    assert "measure felles-opplaering: deadline must be a date YYYY-MM-DD" in result.stderr
    assert count(db_url, m.Measure) == 0


def test_questionnaire_validate_reports_ok_files_and_every_problem_with_file_and_line(db_url):
    broken = FIXTURES / "broken_questionnaire.yaml"

    assert followup(db_url, "questionnaire", "validate", QUESTIONNAIRE).stdout.startswith(
        f"{QUESTIONNAIRE}: ok (15 items, "
    )
    result = fails(db_url, "questionnaire", "validate", QUESTIONNAIRE, broken)

    assert f"{QUESTIONNAIRE}: ok" in result.stdout  # the good file is still reported
    assert f"{broken}:7: [fornoyd] unknown scale 'satisfaction9'" in result.stderr
    assert f"{broken}:15: [kanal] duplicate option id 'e-post' (first on line 13)" in (
        result.stderr
    )


def test_questionnaire_load_stores_one_version_per_content(db_url):
    followup(db_url, "org", "import", EXAMPLES / "org.yaml")
    # The measure-status question names measures, so they must be known first.
    missing = fails(db_url, "questionnaire", "load", QUESTIONNAIRE)
    assert "samarbeidsmoter" in missing.stderr
    followup(db_url, "measures", "import", EXAMPLES / "measures.yaml")

    loaded = followup(db_url, "questionnaire", "load", QUESTIONNAIRE)
    again = followup(db_url, "questionnaire", "load", QUESTIONNAIRE)

    assert loaded.stdout == again.stdout == f"loaded {QUESTIONNAIRE_ID} as version 1\n"
    stored = query(db_url, select(m.QuestionnaireVersion.questionnaire_id))
    assert stored == [QUESTIONNAIRE_ID]


# --- invites ---------------------------------------------------------------------------------


def redeem(db_url: str, code: str, address: str) -> int | None:
    """A new chat user types `code`; returns the person it made them (None if refused)."""

    async def type_code(services: Services) -> int | None:
        reply = await services.conversation.handle("web", address, RedeemCode(code), utcnow())
        return reply.person_id

    return with_services(db_url, type_code)


def test_invite_create_prints_a_code_that_enrolls_into_the_unit(db_url):
    followup(db_url, "org", "import", EXAMPLES / "org.yaml")

    printed = followup(db_url, "invite", "create", "--unit", "lungeavdelingen", "--role", "leader")

    code = printed.stdout.strip()
    assert re.fullmatch(r"[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}", code)
    newcomer = redeem(db_url, code, "new-phone")
    assert newcomer is not None
    assert query(
        db_url,
        select(m.Membership.unit_id, m.Membership.role).where(m.Membership.person_id == newcomer),
    ) == [("lungeavdelingen", "leader")]
    assert redeem(db_url, code, "another-phone") is None  # one use by default


def test_invite_create_honours_uses_and_days(db_url):
    followup(db_url, "org", "import", EXAMPLES / "org.yaml")
    before = utcnow()

    code = followup(
        db_url, "invite", "create", "--unit", "hjerteavdelingen", "--uses", 2, "--days", 3
    ).stdout.strip()

    [(uses, expires)] = query(db_url, select(m.Invite.uses_left, m.Invite.expires_at))
    assert uses == 2
    assert timedelta(days=3) <= expires - before < timedelta(days=3, minutes=5)
    assert redeem(db_url, code, "phone-1") is not None
    assert redeem(db_url, code, "phone-2") is not None
    assert redeem(db_url, code, "phone-3") is None


def test_invite_for_an_unknown_unit_fails_clearly(db_url):
    followup(db_url, "org", "import", EXAMPLES / "org.yaml")

    result = fails(db_url, "invite", "create", "--unit", "akuttmottaket")

    assert result.stderr == "error: unknown unit 'akuttmottaket'\n"
    assert result.stdout == ""
    assert count(db_url, m.Invite) == 0


# --- rounds ----------------------------------------------------------------------------------


def round_row(db_url: str, round_id: int) -> m.Round:
    """The stored round."""
    return query(db_url, select(m.Round).where(m.Round.id == round_id))[0]


def test_round_create_stores_a_draft_for_the_given_units(db_url):
    set_up_examples(db_url)

    round_id = create_round(
        db_url,
        "--unit",
        "hjerteavdelingen",
        "--unit",
        "helse-og-omsorg",
        "--anonymous",
        "--name",
        "Høstrunden",
        "--opens",
        "2030-09-01",
        "--closes",
        "2030-09-15T16:00",
    )

    stored = round_row(db_url, round_id)
    assert (stored.state, stored.anonymous, stored.name) == ("draft", True, "Høstrunden")
    assert stored.opens_at == oslo_to_utc("2030-09-01T00:00")
    assert stored.closes_at == oslo_to_utc("2030-09-15T16:00")
    audience = query(db_url, select(m.RoundUnit.unit_id).where(m.RoundUnit.round_id == round_id))
    assert sorted(audience) == ["helse-og-omsorg", "hjerteavdelingen"]


def test_round_create_refuses_unknown_questionnaires_units_and_backwards_dates(db_url):
    set_up_examples(db_url)
    create = ("round", "create", "--questionnaire")

    assert (
        "'trivsel' is not loaded"
        in fails(db_url, *create, "trivsel", "--unit", "hjerteavdelingen").stderr
    )
    assert (
        "unknown units: akuttmottaket"
        in fails(db_url, *create, QUESTIONNAIRE_ID, "--unit", "akuttmottaket").stderr
    )
    backwards = fails(
        db_url,
        *create,
        QUESTIONNAIRE_ID,
        "--unit",
        "hjerteavdelingen",
        "--opens",
        "2030-09-15",
        "--closes",
        "2030-09-01",
    )
    assert "closing time must be after the opening time" in backwards.stderr
    assert count(db_url, m.Round) == 0


def test_round_open_invites_everyone_in_the_audience_subtrees(db_url):
    set_up_examples(db_url)
    expected = example_audience("medisinsk-klinikk", "helse-og-omsorg")
    round_id = create_round(db_url, "--unit", "medisinsk-klinikk", "--unit", "helse-og-omsorg")

    opened = followup(db_url, "round", "open", round_id)

    n = len(expected)
    assert n == 13  # Kari..Per and Marit below the clinic, everyone below helse-og-omsorg
    assert opened.stdout == (
        f"round {round_id}: {n} invited, 0 invitations queued, {n} without a chat identity yet\n"
    )
    invited = query(
        db_url,
        select(m.Person.email)
        .join(m.Participation, m.Participation.person_id == m.Person.id)
        .where(m.Participation.round_id == round_id),
    )
    assert sorted(invited) == sorted(expected)
    assert round_row(db_url, round_id).state == "open"


def test_round_open_queues_invitations_for_people_with_a_chat_identity(db_url):
    set_up_examples(db_url)
    kari = person_id(db_url, "Kari Nordmann")

    with_services(
        db_url, lambda services: services.conversation.link("web", "kari", kari, utcnow())
    )
    round_id = create_round(db_url, "--unit", "hjerteavdelingen")

    opened = followup(db_url, "round", "open", round_id)

    assert opened.stdout == (
        f"round {round_id}: 3 invited, 1 invitations queued, 2 without a chat identity yet\n"
    )
    queued = query(db_url, select(m.OutboxMessage.person_id))
    assert queued == [kari]


def test_round_close_and_extend_move_the_deadline_and_reopen(db_url):
    set_up_examples(db_url)
    round_id = create_round(
        db_url, "--unit", "hjerteavdelingen", "--opens", "2020-01-01", "--closes", "2020-02-01"
    )
    followup(db_url, "round", "open", round_id)

    closed = followup(db_url, "round", "close", round_id).stdout
    # Nobody in the unit had linked a chat app: all three leave the eligible denominator.
    assert closed == f"round {round_id} closed; 3 invitees were unreachable\n"
    assert round_row(db_url, round_id).state == "closed"
    assert query(db_url, select(m.Participation.status)) == ["unreachable"] * 3
    assert "is closed" in fails(db_url, "round", "open", round_id).stderr

    # A new deadline that has passed too changes the date but keeps the round closed.
    followup(db_url, "round", "extend", round_id, "--closes", "2020-03-01")
    stored = round_row(db_url, round_id)
    assert (stored.state, stored.closes_at) == ("closed", oslo_to_utc("2020-03-01T00:00"))

    future = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    extended = followup(db_url, "round", "extend", round_id, "--closes", future)

    assert extended.stdout == f"round {round_id} now closes {future}\n"
    stored = round_row(db_url, round_id)
    assert (stored.state, stored.closes_at) == ("open", oslo_to_utc(f"{future}T00:00"))
    assert query(db_url, select(m.Participation.status)) == ["invited"] * 3  # reachable again


def test_round_commands_on_a_missing_round_fail_clearly(db_url):
    set_up_examples(db_url)

    for command in (("round", "open", 42), ("round", "close", 42), ("results", 42)):
        assert fails(db_url, *command).stderr == "error: round 42 does not exist\n"
    extend = fails(db_url, "round", "extend", 42, "--closes", "2030-01-01")
    assert extend.stderr == "error: round 42 does not exist\n"


# --- results ---------------------------------------------------------------------------------


def test_results_in_text_csv_and_json_after_three_answers(db_url):
    set_up_examples(db_url)
    round_id = create_round(db_url, "--unit", "medisinsk-klinikk")
    followup(db_url, "round", "open", round_id)
    answer_round(
        db_url,
        round_id,
        {
            "Kari Nordmann": BASE_PLAN,
            "Ola Hansen": {**BASE_PLAN, "arbeidssted": "kommune"},
            "Per Dahl": {**BASE_PLAN, "rolle": "leder"},
        },
    )

    def results(*options: str) -> Result:
        return followup(db_url, "results", round_id, *options, k=2)

    text = results("--format", "text").stdout
    assert text.startswith(f"Evaluering av samhandlingsseminaret (runde {round_id})\n")
    # 3 of 7 invited answered: 42.857...% rounds half up to 42,86 %.
    assert (
        "Invitert 7, ikke aktuelle 0, ikke nåbare 0, grunnlag 7, svar 3, svarprosent 42,86\u00a0%"
        in text
    )
    assert (
        "Hvor jobber du? (n = 3)\n   Sykehus: 2 (66,67\u00a0%)\n   Kommune: 1 (33,33\u00a0%)\n"
        in text
    )

    english = results("--format", "text", "--locale", "en").stdout
    assert "Where do you work? (n = 3)\n   Hospital: 2 (66.67%)\n" in english

    rows = csv_rows(results("--format", "csv").stdout_bytes, "utf-8-sig", ";")
    assert rows[0] == ["gruppe", "spørsmål_id", "spørsmål", "svar", "n", "grunnlag", "prosent"]
    assert ["Alle", "arbeidssted", "Hvor jobber du?", "Sykehus", "2", "3", "66,67"] in rows

    report = json.loads(results("--format", "json").stdout)
    assert (report["invited"], report["eligible"], report["respondents"]) == (7, 7, 3)
    assert report["response_rate"] == 42.86
    where = next(item for item in report["items"] if item["id"] == "arbeidssted")
    assert {o["id"]: (o["n"], o["pct"]) for o in where["options"]} == {
        "sykehus": (2, 66.67),
        "kommune": (1, 33.33),
        "annet": (0, 0.0),
    }
