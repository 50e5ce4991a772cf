"""The `followup` command: serve, database, imports, rounds, reminders, digests, results."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar
from zoneinfo import ZoneInfo

import typer
from aiohttp import web

from bot.app import Services, build_services, create_app
from bot.channels.teams.manifest import write_package
from bot.channels.telegram.channel import TelegramChannel
from bot.channels.telegram.links import deep_link, telegram_username, write_qr
from bot.logs import AccessLogger, configure_logging
from bot.services.account import audited_export, find_person, new_code
from bot.services.checkins import CheckinService
from bot.services.digest import DigestError, DigestService, leaders_of
from bot.services.digest_chart import render_chart
from bot.services.digest_render import render_html, render_json, render_text
from bot.services.digests import add_deputy
from bot.services.imports import ImportError_, ImportService
from bot.services.reminders import ReminderError, lift_text, report_text
from bot.services.results import ResultsFormat, ResultsRequest, ResultsService
from bot.services.retention import RetentionService, erase_person
from bot.services.rounds import RoundError
from bot.services.seed import database_is_empty, load_examples
from bot.settings import Settings, SettingsError, load_settings
from bot.web.auth import AccountError, DashboardAuth, new_password
from dialogs import policy
from dialogs.loader import QuestionnaireError, load_questionnaire
from dialogs.model import MeasureStatus, Role
from dialogs.org import ancestor_ids
from dialogs.policy import Action
from dialogs.reminders import Verdict
from storage.migrate import upgrade
from storage.models import utcnow

T = TypeVar("T")
app = typer.Typer(
    help="Followup: questionnaires and measure check-ins in chat.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
org_app = typer.Typer(help="The organisation (units).", no_args_is_help=True)
people_app = typer.Typer(help="The roster of people.", no_args_is_help=True)
measures_app = typer.Typer(help="Improvement areas and measures.", no_args_is_help=True)
questionnaire_app = typer.Typer(help="Questionnaire definition files.", no_args_is_help=True)
invite_app = typer.Typer(help="Enrollment codes.", no_args_is_help=True)
round_app = typer.Typer(help="Rounds: a questionnaire sent to units.", no_args_is_help=True)
teams_app = typer.Typer(help="Microsoft Teams.", no_args_is_help=True)
checkin_app = typer.Typer(help="Measure check-ins.", no_args_is_help=True)
outbox_app = typer.Typer(help="Proactive messages waiting to be sent.", no_args_is_help=True)
deputy_app = typer.Typer(help="Deputies who receive a leader's digest.", no_args_is_help=True)
user_app = typer.Typer(help="Dashboard log-ins (accounts of known people).", no_args_is_help=True)
for sub, name in [
    (db_app, "db"),
    (org_app, "org"),
    (people_app, "people"),
    (measures_app, "measures"),
    (questionnaire_app, "questionnaire"),
    (invite_app, "invite"),
    (round_app, "round"),
    (teams_app, "teams"),
    (outbox_app, "outbox"),
    (checkin_app, "checkin"),
    (user_app, "user"),
    (deputy_app, "deputy"),
]:
    app.add_typer(sub, name=name)


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None


OPERATOR = policy.Actor(person_id=None, operator=True)
"""Whoever runs the CLI on the server has its full rights, unless `--as EMAIL` names a person."""
AS_PERSON = typer.Option(
    "--as", help="Act with the rights of this person (e-mail), not the operator's."
)


async def _acting(services: Services, email: str | None) -> tuple[policy.Actor, int | None]:
    """The operator without `--as`; else the person's actor and id (LookupError if unknown)."""
    if email is None:
        return OPERATOR, None
    async with services.store.transaction() as tx:
        person = await tx.org.person_by_email(email.strip().lower())
        if person is None or not person.active:
            raise LookupError(f"no active person with e-mail {email!r}")
        memberships = await tx.org.memberships(person.id)
    roles = tuple(policy.Membership(m.unit_id, m.role) for m in memberships)
    return policy.Actor(str(person.id), roles), person.id


async def _allowed_units(
    services: Services, actor: policy.Actor, action: Action, units: Sequence[str]
) -> list[str]:
    """The `units` where `actor` may do `action`; PermissionError if none of them."""
    async with services.store.transaction() as tx:
        tree = {u.id: u for u in await tx.org.units()}
    allowed = [
        unit
        for unit in units
        if policy.decide(actor, action, unit, lambda u: ancestor_ids(tree, u)).allowed
    ]
    if not allowed:
        raise PermissionError(f"not allowed: {action} in {', '.join(units) or 'no unit'}")
    return allowed


async def _require_round(
    services: Services, actor: policy.Actor, action: Action, round_id: int
) -> None:
    """PermissionError unless `actor` may do `action` in every audience unit of the round."""
    if actor.operator:
        return
    async with services.store.transaction() as tx:
        round_ = await tx.rounds.get(round_id)
    if round_ is None:
        raise LookupError(f"round {round_id} does not exist")
    units = list(round_.unit_ids)
    if await _allowed_units(services, actor, action, units) != units:
        raise PermissionError(f"not allowed: {action} in part of round {round_id}")


def _with_services(work: Callable[[Services, Settings], Awaitable[T]], action: Action) -> T:
    """Check `action` with the policy, migrate, run `work`, and close the engine."""
    decision = policy.decide(OPERATOR, action, None, lambda _unit: ())
    if not decision.allowed:
        typer.echo(f"error: not allowed ({decision.reason})", err=True)
        raise typer.Exit(1)
    settings = _settings()

    async def main() -> T:
        await upgrade(settings.database_url)
        services = build_services(settings)
        try:
            return await work(services, settings)
        finally:
            await services.store.close()

    try:
        return asyncio.run(main())
    except (
        DigestError,
        ImportError_,
        RoundError,
        ReminderError,
        QuestionnaireError,
        LookupError,
        PermissionError,
        ValueError,
    ) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None


def _when(value: str | None, default: datetime, zone: str) -> datetime:
    """A date or date-time in the deployment's zone (ISO 8601), as aware UTC."""
    if value is None:
        return default
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(zone))
    return parsed.astimezone(UTC)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Override FOLLOWUP_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Override FOLLOWUP_PORT.")] = None,
) -> None:
    """Migrate, load the examples into an empty database, and serve the bot."""
    overrides: dict[str, object] = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    try:
        settings = load_settings(**overrides)
    except SettingsError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log_format, settings.log_level)

    async def prepare() -> None:
        await upgrade(settings.database_url)
        if not settings.load_examples:
            return
        services = build_services(settings)
        try:
            if await database_is_empty(services.store):
                round_id = await load_examples(services.store, services.rounds, utcnow())
                typer.echo(f"followup: loaded the examples (round {round_id} is open)")
        finally:
            await services.store.close()

    asyncio.run(prepare())
    typer.echo(f"followup: web chat at http://{settings.host}:{settings.port}/chat", err=False)
    sys.stdout.flush()
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        print=None,
        access_log_class=AccessLogger,
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema to the newest version."""
    settings = _settings()
    asyncio.run(upgrade(settings.database_url))
    typer.echo("database is up to date")


@org_app.command("import")
def org_import(path: Path) -> None:
    """Create or update units from a YAML tree or a CSV (id,parent,name_nb,...)."""
    count = _with_services(lambda s, _: ImportService(s.store).import_org(path), Action.IMPORT_ORG)
    typer.echo(f"imported {count} units")


@people_app.command("import")
def people_import(
    path: Path,
    deactivate_missing: Annotated[
        bool, typer.Option(help="Deactivate people not in the file (leavers).")
    ] = False,
) -> None:
    """Sync the roster from CSV (email,name,unit,role,locale; a row per membership)."""
    report = _with_services(
        lambda s, _: ImportService(s.store).import_people(path, deactivate_missing),
        Action.IMPORT_PEOPLE,
    )
    typer.echo(
        f"created {report.created}, updated {report.updated}, deactivated {report.deactivated}"
    )


@measures_app.command("import")
def measures_import(path: Path) -> None:
    """Create or update improvement areas and measures from YAML or CSV."""
    report = _with_services(
        lambda s, settings: ImportService(s.store, k=settings.min_group_size).import_measures(
            path
        ),
        Action.IMPORT_MEASURES,
    )
    typer.echo(f"imported {report.measures} measures ({report.created} new)")
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)


@measures_app.command("status")
def measures_status(
    measure: str,
    status: Annotated[MeasureStatus, typer.Argument(help="The new leader-declared status.")],
    note: Annotated[str | None, typer.Option(help="Why, or what happened.")] = None,
) -> None:
    """Set a measure's status (kept in its history with the note)."""

    async def change(services: Services, _settings: Settings) -> None:
        async with services.store.transaction() as tx:
            await tx.measures.set_status(measure, status, None, note)

    _with_services(change, Action.SET_MEASURE_STATUS)
    typer.echo(f"{measure}: {status.value}")


@questionnaire_app.command("validate")
def questionnaire_validate(paths: list[Path]) -> None:
    """Check questionnaire files; every error is printed with file, line and item."""
    failed = False
    for path in paths:
        try:
            questionnaire = load_questionnaire(path)
        except QuestionnaireError as error:
            failed = True
            for problem in error.errors:
                typer.echo(str(problem), err=True)
        else:
            typer.echo(
                f"{path}: ok ({len(questionnaire.items)} items, {questionnaire.content_hash[:12]})"
            )
    if failed:
        raise typer.Exit(1)


@questionnaire_app.command("load")
def questionnaire_load(path: Path) -> None:
    """Validate (against the stored measures) and store a questionnaire version."""
    questionnaire_id, version = _with_services(
        lambda s, _: s.rounds.load_questionnaire(path), Action.MANAGE_QUESTIONNAIRES
    )
    typer.echo(f"loaded {questionnaire_id} as version {version}")


@invite_app.command("create")
def invite_create(
    unit: Annotated[str, typer.Option(help="Unit the new person joins.")],
    role: Annotated[Role, typer.Option(help="Role in that unit.")] = Role.STAFF,
    uses: Annotated[int, typer.Option(min=1, help="How many people may use it.")] = 1,
    days: Annotated[int, typer.Option(min=1, help="Days until it expires.")] = 14,
    qr: Annotated[
        Path | None, typer.Option(help="Write a QR code PNG of the Telegram link here.")
    ] = None,
) -> None:
    """Print a new invite code for a unit (and the Telegram deep link when Telegram is on)."""
    code = new_code()

    async def create(services: Services, settings: Settings) -> str | None:
        async with services.store.transaction() as tx:
            if await tx.org.unit(unit) is None:
                raise LookupError(f"unknown unit {unit!r}")
            await tx.org.create_invite(
                code, utcnow() + timedelta(days=days), unit, None, role, uses
            )
        return await telegram_username(settings)

    username = _with_services(create, Action.CREATE_INVITE)
    typer.echo(code)
    if username:
        link = deep_link(username, code)
        typer.echo(link)
        if qr is not None:
            write_qr(link, qr)
            typer.echo(f"QR code written to {qr}")
    elif qr is not None:
        typer.echo("no QR code: set TELEGRAM_BOT_TOKEN to get a Telegram link", err=True)


@round_app.command("create")
def round_create(
    questionnaire: Annotated[str, typer.Option(help="Questionnaire id (loaded).")],
    unit: Annotated[list[str], typer.Option(help="Audience unit (repeatable; subtrees).")],
    opens: Annotated[str | None, typer.Option(help="ISO date/time; default now.")] = None,
    closes: Annotated[str | None, typer.Option(help="ISO date/time; default in 14 days.")] = None,
    anonymous: Annotated[bool, typer.Option(help="Keep who answered apart from answers.")] = False,
    name: Annotated[str | None, typer.Option(help="A name shown instead of the title.")] = None,
) -> None:
    """Create a draft round; prints its id."""

    async def create(services: Services, settings: Settings) -> int:
        now = utcnow()
        return await services.rounds.create(
            questionnaire,
            unit,
            _when(opens, now, settings.timezone),
            _when(closes, now + timedelta(days=14), settings.timezone),
            anonymous,
            name,
        )

    typer.echo(_with_services(create, Action.MANAGE_ROUNDS))


@round_app.command("open")
def round_open(round_id: int) -> None:
    """Open a round: invite its audience and queue the invitations."""
    report = _with_services(lambda s, _: s.rounds.open(round_id, utcnow()), Action.MANAGE_ROUNDS)
    typer.echo(
        f"round {report.round_id}: {report.invited} invited, {report.queued} invitations queued, "
        f"{report.without_identity} without a chat identity yet"
    )


@round_app.command("close")
def round_close(round_id: int) -> None:
    """Stop accepting answers."""
    unreachable = _with_services(lambda s, _: s.rounds.close(round_id), Action.MANAGE_ROUNDS)
    typer.echo(f"round {round_id} closed; {unreachable} invitees were unreachable")


@round_app.command("extend")
def round_extend(
    round_id: int, closes: Annotated[str, typer.Option(help="New closing date/time (ISO).")]
) -> None:
    """Move the deadline (reopens a closed round if the new deadline is ahead)."""
    _with_services(
        lambda s, settings: s.rounds.extend(
            round_id, _when(closes, utcnow(), settings.timezone), utcnow()
        ),
        Action.MANAGE_ROUNDS,
    )
    typer.echo(f"round {round_id} now closes {closes}")


@round_app.command("text")
def round_text(
    round_id: int,
    purpose: Annotated[str, typer.Option(help="invitation or reminder.")],
    locale: Annotated[str, typer.Option(help="nb, nn or en.")],
    text: Annotated[
        str | None,
        typer.Argument(help="The text; may use {title}, {deadline} and {name}."),
    ] = None,
    reset: Annotated[bool, typer.Option(help="Go back to the standard text.")] = False,
) -> None:
    """Set a round's own invitation or reminder text in one language."""
    if (text is None) == (not reset):
        typer.echo("error: give a text, or --reset", err=True)
        raise typer.Exit(1)
    _with_services(
        lambda s, _: s.reminders.set_text(round_id, purpose, locale, None if reset else text),
        Action.MANAGE_ROUNDS,
    )
    typer.echo(f"round {round_id}: {purpose} text ({locale}) {'reset' if reset else 'set'}")


@round_app.command("auto-remind")
def round_auto_remind(
    round_id: int,
    day: Annotated[
        list[int] | None,
        typer.Option(help="Days after opening to remind non-respondents (repeatable)."),
    ] = None,
) -> None:
    """Remind non-respondents automatically, e.g. --day 3 --day 7 (no --day: never)."""
    days = day or []
    _with_services(lambda s, _: s.reminders.set_automatic(round_id, days), Action.SEND_REMINDERS)
    listed = ", ".join(str(d) for d in sorted(set(days))) or "never"
    typer.echo(f"round {round_id}: automatic reminders on day(s) {listed} after opening")


@app.command()
def remind(
    round_id: int,
    dry_run: Annotated[bool, typer.Option(help="Only count whom it would reach.")] = False,
    report: Annotated[bool, typer.Option(help="Show the reports of earlier reminders.")] = False,
    as_person: Annotated[str | None, AS_PERSON] = None,
) -> None:
    """Remind everyone who has not answered an open round (never those who have)."""

    async def work(services: Services, settings: Settings) -> list[str]:
        locale = settings.default_locale
        reminders = services.reminders
        actor, person_id = await _acting(services, as_person)
        if report:
            # The reports cover every run of the round: --as needs the right on all of it.
            await _require_round(services, actor, Action.SEND_REMINDERS, round_id)
            lines = []
            for run in await reminders.runs(round_id):
                found = await reminders.report(run.id, locale)
                lift = lift_text(found, locale) or "lift: after 24 hours"
                lines.append(
                    f"run {run.id} ({run.created_at:%Y-%m-%d %H:%M} UTC, {run.origin}, "
                    f"{run.queued} queued, {found.pending} pending): "
                    f"{report_text(found, locale)} {lift}"
                )
            return lines or [f"round {round_id}: no reminders sent yet"]
        if dry_run:
            plan = await reminders.plan(round_id, actor, utcnow(), locale)
            left_out = ", ".join(
                f"{plan.counts[v]} {v.value.replace('_', ' ')}"
                for v in Verdict
                if v is not Verdict.REMIND
            )
            return [
                f"dry run for round {round_id} ({plan.title}): "
                f"{plan.counts[Verdict.REMIND]} would be reminded; left out: {left_out}"
            ]
        run = await reminders.send(round_id, actor, utcnow(), "cli", person_id)
        return [
            f"round {round_id}: {run.queued} reminders queued (reminder run {run.id}); "
            f"{run.already_answered} had answered, {run.capped} capped, {run.too_recent} "
            f"reminded less than {settings.reminder_gap_hours:g} h ago, "
            f"{run.without_identity} without a chat identity, {run.paused} paused or away",
            f"delivery report: followup remind {round_id} --report",
        ]

    for line in _with_services(work, Action.SEND_REMINDERS):
        typer.echo(line)


class DigestFormat(StrEnum):
    """Output formats of `followup digest`."""

    TEXT = "text"
    JSON = "json"
    HTML = "html"


@app.command()
def digest(
    leader: Annotated[str, typer.Option(help="The leader: e-mail or person id.")],
    period: Annotated[
        str | None, typer.Option(help="ISO week, e.g. 2026-W47 (default: the last full week).")
    ] = None,
    format: Annotated[DigestFormat, typer.Option("--format", help="Output format.")] = (
        DigestFormat.TEXT
    ),
    locale: Annotated[str | None, typer.Option(help="nb, nn or en.")] = None,
    chart: Annotated[Path | None, typer.Option(help="Also write the PNG chart here.")] = None,
    as_person: Annotated[str | None, AS_PERSON] = None,
) -> None:
    """A leader's digest for one week, as it would be sent (recorded in the audit log)."""

    async def work(services: Services, settings: Settings) -> str:
        service = DigestService(services.store, settings)
        leader_id = int(leader) if leader.isdigit() else await service.leader_by_email(leader)
        actor, viewer = await _acting(services, as_person)
        async with services.store.transaction() as tx:
            led = (await leaders_of(tx)).get(leader_id, [])
        # --as: only the leader's units the person may see the digest of.
        units = await _allowed_units(services, actor, Action.VIEW_DIGEST, led) if led else []
        async with services.store.transaction() as tx:
            found = await service.for_leader_in(
                tx, leader_id, service.period(period, utcnow()), units
            )
        await service.record_view(found, viewer, "cli", utcnow())
        language = locale or settings.default_locale
        if chart is not None:
            png = render_chart(found, language)
            if png is not None:
                chart.write_bytes(png)
        if format is DigestFormat.JSON:
            return json.dumps(render_json(found), ensure_ascii=False, indent=2)
        if format is DigestFormat.HTML:
            png = render_chart(found, language)
            encoded = base64.b64encode(png).decode() if png else None
            return render_html(found, language, encoded)
        return render_text(found, language)

    typer.echo(_with_services(work, Action.VIEW_DIGEST))


@deputy_app.command("add")
def deputy_add(
    leader: Annotated[str, typer.Option(help="The leader's e-mail.")],
    deputy: Annotated[str, typer.Option(help="The deputy's e-mail.")],
    unit: Annotated[str, typer.Option(help="The unit the leader leads.")],
    first: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD).")],
    last: Annotated[str, typer.Option("--to", help="Last day (YYYY-MM-DD).")],
) -> None:
    """The deputy receives the leader's digest for the unit between the two days."""

    async def work(services: Services, _settings: Settings) -> None:
        async with services.store.transaction() as tx:
            await add_deputy(
                tx, leader, deputy, unit, date.fromisoformat(first), date.fromisoformat(last)
            )

    _with_services(work, Action.CONFIGURE)
    typer.echo(f"{deputy} receives {leader}'s digest for {unit} from {first} to {last}")


@deputy_app.command("list")
def deputy_list() -> None:
    """Every deputy arrangement."""

    async def work(services: Services, _settings: Settings) -> list[str]:
        async with services.store.transaction() as tx:
            people = {p.id: p for p in await tx.org.people(active_only=False)}
            return [
                f"{d.unit_id}: {people[d.leader_id].email} -> {people[d.deputy_id].email}, "
                f"{d.first_day} .. {d.last_day}"
                for d in await tx.org.deputies()
            ]

    for line in _with_services(work, Action.CONFIGURE) or ["no deputies"]:
        typer.echo(line)


@app.command()
def results(
    round_id: int,
    format: Annotated[ResultsFormat, typer.Option("--format", help="Output format.")] = (
        ResultsFormat.TEXT
    ),
    locale: Annotated[str | None, typer.Option(help="nb, nn or en.")] = None,
    by_unit: Annotated[bool, typer.Option(help="Add a breakdown by unit.")] = False,
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            help="Cross-tab by a single-choice item (its id) or by 'role' (identified rounds).",
        ),
    ] = None,
    free_text: Annotated[
        bool, typer.Option(help="Include free-text answers and comments (at least k writers).")
    ] = False,
    redact: Annotated[
        bool,
        typer.Option(
            help="Replace person names in free text with «[navn]» (implies --free-text)."
        ),
    ] = False,
    output: Annotated[
        Path | None, typer.Option(help="Write to this file (required for xlsx) instead of stdout.")
    ] = None,
    as_person: Annotated[str | None, AS_PERSON] = None,
) -> None:
    """Results of a round (n, %, denominators; groups under k are suppressed); audited."""
    if format == ResultsFormat.XLSX and output is None:
        typer.echo("error: --format xlsx needs --output FILE.xlsx", err=True)
        raise typer.Exit(1)
    request = ResultsRequest(by_unit=by_unit, by=by, free_text=free_text, redact=redact)
    action = Action.VIEW_RESULTS if format == ResultsFormat.TEXT else Action.EXPORT_RESULTS

    async def export(services: Services, settings: Settings) -> bytes:
        service = ResultsService(services.store, services.catalog, settings)
        actor, viewer = await _acting(services, as_person)
        # The results cover the round's whole audience: --as needs the right on all of it.
        await _require_round(services, actor, action, round_id)
        data = await service.export(
            round_id, format, locale or settings.default_locale, request=request
        )
        # Recorded before anything is written: no export leaves without its audit row.
        await service.record_export(round_id, format, "cli", viewer, utcnow())
        return data

    data = _with_services(export, action)
    if output is None:
        sys.stdout.write(data.decode("utf-8"))
        return
    partial = output.with_name(f".{output.name}.partial")
    try:
        partial.write_bytes(data)
        partial.replace(output)
    except OSError as error:
        partial.unlink(missing_ok=True)
        typer.echo(f"error: cannot write {output}: {error.strerror}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"results of round {round_id} written to {output}", err=True)


@checkin_app.command("open")
def checkin_open(
    unit: Annotated[str, typer.Option(help="The unit whose staff are asked.")],
    period: Annotated[int, typer.Option(min=0, help="The unit's running check-in number.")],
) -> None:
    """Open a unit's check-in now (the scheduler will do this on the unit's rhythm)."""
    report = _with_services(
        lambda s, settings: CheckinService(s.store, s.catalog, settings).open_checkin(
            unit, period, utcnow()
        ),
        Action.MANAGE_ROUNDS,
    )
    if report.round_id is None:
        typer.echo(f"nothing to ask: {report.measures} measures, no staff or no measures")
        return
    typer.echo(
        f"check-in round {report.round_id}: {report.asked} asked about {report.measures} "
        f"measures, {report.queued} invitations queued"
    )


@outbox_app.command("drain")
def outbox_drain(
    until_empty: Annotated[
        bool, typer.Option(help="Stop when nothing is left to send (else run until stopped).")
    ] = False,
) -> None:
    """Send queued messages from this process (the server drains the outbox by itself too)."""

    async def drain(services: Services, settings: Settings) -> None:
        telegram = None
        if settings.telegram_bot_token is not None:
            telegram = TelegramChannel(settings, services.store, services.conversation, utcnow)
            await telegram.start_sending()
            services.drainer.senders["telegram"] = telegram.sender
        typer.echo(f"draining with {services.drainer.in_flight_limit} messages in flight at most")
        try:
            if until_empty:
                await services.drainer.drain_until_empty()
            else:
                await services.drainer.run()
        finally:
            if telegram is not None:
                await telegram.stop()

    _with_services(drain, Action.CONFIGURE)


@teams_app.command("manifest")
def teams_manifest(
    output: Annotated[Path, typer.Option(help="Zip file (or folder) to write.")] = Path("."),
    version: Annotated[
        str, typer.Option(help="App version; raise it for every re-upload (x.y.z).")
    ] = "1.0.0",
) -> None:
    """Build the Teams app package (manifest, icons, nb/nn texts) for upload in Teams admin."""
    settings = _settings()
    if not settings.microsoft_app_id or not settings.public_url:
        typer.echo("error: set MicrosoftAppId and FOLLOWUP_PUBLIC_URL first", err=True)
        raise typer.Exit(1)
    try:
        path = write_package(
            output, settings.microsoft_app_id, website_url=settings.public_url, version=version
        )
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Teams app package written to {path}")


MIN_PASSWORD = 10


def _password(from_stdin: bool) -> str:
    """A password read from standard input (one line), or a generated one."""
    if not from_stdin:
        return new_password()
    password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < MIN_PASSWORD:
        typer.echo(f"error: the password must have at least {MIN_PASSWORD} characters", err=True)
        raise typer.Exit(1)
    return password


def _account_command(
    work: Callable[[DashboardAuth], Awaitable[object]],
) -> Callable[[Services, Settings], Awaitable[None]]:
    async def run(services: Services, settings: Settings) -> None:
        try:
            await work(DashboardAuth(services.store, settings, utcnow))
        except AccountError as error:
            raise LookupError(str(error)) from None

    return run


PASSWORD_STDIN = typer.Option(
    "--password-stdin", help="Read the password from standard input instead of generating one."
)


@user_app.command("add")
def user_add(email: str, password_stdin: Annotated[bool, PASSWORD_STDIN] = False) -> None:
    """Give a person of the roster (by e-mail) a dashboard log-in; prints a generated password."""
    password = _password(password_stdin)
    _with_services(_account_command(lambda auth: auth.add(email, password)), Action.MANAGE_USERS)
    typer.echo(f"dashboard account created for {email.strip().lower()}")
    if not password_stdin:
        typer.echo(f"password: {password}")


@user_app.command("reset-password")
def user_reset_password(
    email: str, password_stdin: Annotated[bool, PASSWORD_STDIN] = False
) -> None:
    """A new password (unlocks and re-enables the account, ends its sessions)."""
    password = _password(password_stdin)
    _with_services(
        _account_command(lambda auth: auth.reset_password(email, password)), Action.MANAGE_USERS
    )
    typer.echo(f"password reset for {email.strip().lower()}")
    if not password_stdin:
        typer.echo(f"password: {password}")


@user_app.command("disable")
def user_disable(email: str) -> None:
    """Refuse every log-in of this account from now on and end its sessions."""
    _with_services(_account_command(lambda auth: auth.disable(email)), Action.MANAGE_USERS)
    typer.echo(f"dashboard account of {email.strip().lower()} disabled")


person_app = typer.Typer(help="One person's data: export or forget.", no_args_is_help=True)
retention_app = typer.Typer(
    help="Purging identifiable data older than FOLLOWUP_RETENTION_DAYS.", no_args_is_help=True
)
app.add_typer(person_app, name="person")
app.add_typer(retention_app, name="retention")
WHO = typer.Argument(help="The person's e-mail or id.")


@person_app.command("export")
def person_export(
    who: Annotated[str, WHO],
    output: Annotated[Path | None, typer.Option(help="Write the JSON to this file.")] = None,
) -> None:
    """Everything stored about a person, as JSON (what /mydata gives; audited)."""

    async def work(services: Services, _settings: Settings) -> str:
        async with services.store.transaction() as tx:
            person = await find_person(tx, who)
            data = await audited_export(tx, person, None, "cli", utcnow())
        return json.dumps(data, ensure_ascii=False, indent=2, default=str)

    text = _with_services(work, Action.IMPORT_PEOPLE)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"wrote {output}")


def _print_counts(heading: str, counts: dict[str, int]) -> None:
    typer.echo(heading if counts else f"{heading} nothing")
    for kind, count in counts.items():
        typer.echo(f"  {kind}: {count}")


@person_app.command("forget")
def person_forget(
    who: Annotated[str, WHO],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a person and their identifiable data (anonymous answers and rates stay)."""

    async def find(services: Services, _settings: Settings) -> tuple[int, str]:
        async with services.store.transaction() as tx:
            person = await find_person(tx, who)
        return person.id, " ".join(filter(None, (person.name, f"<{person.email or '-'}>")))

    person_id, label = _with_services(find, Action.IMPORT_PEOPLE)
    if not yes:
        typer.confirm(f"Forget {label} (id {person_id}) and delete their data?", abort=True)

    async def forget(services: Services, _settings: Settings) -> dict[str, int]:
        async with services.store.transaction() as tx:
            return await erase_person(tx, person_id, "cli", utcnow())

    _print_counts(f"forgot person {person_id}:", _with_services(forget, Action.IMPORT_PEOPLE))


@retention_app.command("purge")
def retention_purge(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only count what would be purged.")
    ] = False,
) -> None:
    """Purge identifiable data older than the retention period now (also runs nightly)."""
    counts = _with_services(
        lambda s, settings: RetentionService(s.store, settings).purge(utcnow(), "cli", dry_run),
        Action.CONFIGURE,
    )
    _print_counts("would purge:" if dry_run else "purged:", counts)


def main() -> None:
    """Console entry point."""
    app()
