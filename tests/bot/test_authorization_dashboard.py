"""The authorization matrix of the dashboard: every route x every role, against dialogs/policy."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from argon2 import PasswordHasher
from markupsafe import escape

from bot.app import SERVICES
from bot.web.auth import DashboardAuth
from bot.web.routes import COOKIE
from dialogs import policy
from dialogs.i18n import translate
from tests.bot.test_authorization import (
    BY_KEY,
    KNOWN,
    PERSONAS,
    UNITS,
    UNSEEN,
    Persona,
    World,
    build_world,
    check_tree,
    expected,
    snapshot,
)
from tests.bot.test_dashboard_auth import Dashboard, dashboard

PREFIX = "/dashboard"
PUBLIC = {
    ("GET", PREFIX): 302,
    ("GET", f"{PREFIX}/login"): 200,
    ("POST", f"{PREFIX}/login"): 303,
}
"""Routes without a session, and what they answer anyone (the log-in is tested elsewhere)."""


@dataclass(frozen=True)
class PageRow:
    """One request to a dashboard route, and the policy question it asks.

    Attributes:
        name: The row's id.
        method: GET or POST.
        route: The route as the router names it (`{round_id}` left in).
        round: Which round fills `{round_id}` (A, B, or MISSING for a round that does not exist).
        query: The query string, with `{leader_a}`/`{leader_b}` filled from the person ids.
        action: The policy action; None: every logged-in person may.
        unit: The unit key the action concerns (HOME: the person's own unit).
        allowed_status: The status of an allowed request.
    """

    name: str
    method: str
    route: str
    round: str | None = None
    query: str = ""
    action: policy.Action | None = None
    unit: str | None = None
    allowed_status: int = 200


ROUND = f"{PREFIX}/rounds/{{round_id}}"
RATES, REMIND = policy.Action.VIEW_RESPONSE_RATES, policy.Action.SEND_REMINDERS
EXPORT, DIGEST = policy.Action.EXPORT_RESULTS, policy.Action.VIEW_DIGEST
PAGE_ROWS = (
    PageRow("home", "GET", f"{PREFIX}/"),
    PageRow("round_a", "GET", ROUND, "A", action=RATES, unit="A"),
    PageRow("round_b", "GET", ROUND, "B", action=RATES, unit="B"),
    PageRow("round_missing", "GET", ROUND, "MISSING", allowed_status=404),
    PageRow("remind_page_a", "GET", f"{ROUND}/remind", "A", action=REMIND, unit="A"),
    PageRow("remind_page_b", "GET", f"{ROUND}/remind", "B", action=REMIND, unit="B"),
    PageRow(
        "remind_b", "POST", f"{ROUND}/remind", "B", action=REMIND, unit="B", allowed_status=303
    ),
    PageRow(
        "remind_a", "POST", f"{ROUND}/remind", "A", action=REMIND, unit="A", allowed_status=303
    ),
    PageRow("export_a", "GET", f"{ROUND}/export.csv", "A", action=EXPORT, unit="A"),
    PageRow("export_b", "GET", f"{ROUND}/export.csv", "B", action=EXPORT, unit="B"),
    PageRow("digest", "GET", f"{PREFIX}/digest", action=DIGEST, unit="HOME"),
    PageRow(
        "digest_of_a",
        "GET",
        f"{PREFIX}/digest",
        query="leader={leader_a}",
        action=DIGEST,
        unit="A",
    ),
    PageRow(
        "digest_of_b",
        "GET",
        f"{PREFIX}/digest",
        query="leader={leader_b}",
        action=DIGEST,
        unit="B",
    ),
    PageRow("map", "GET", f"{PREFIX}/map", action=policy.Action.VIEW_RESULTS, unit="HOME"),
    PageRow("logout", "POST", f"{PREFIX}/logout", allowed_status=303),  # last: ends the session
)

EXPLICIT_PAGES: Mapping[tuple[str, str], int] = {
    # Cross-unit: another unit's round, reminders, export and digest.
    ("leader_b", "round_a"): 403,
    ("leader_b", "digest_of_a"): 403,
    ("leader_a", "digest_of_b"): 403,
    ("leader_a", "digest_of_a"): 200,
    ("coord_a", "digest_of_a"): 200,
    ("coord_a", "remind_page_b"): 403,
    ("coord_a", "remind_b"): 403,
    ("coord_a", "remind_a"): 303,
    ("coord_a", "export_b"): 403,
    ("union_a", "remind_a"): 403,
    ("union_a", "round_a"): 200,
    ("union_a", "export_a"): 403,
    ("safety_a", "map"): 200,
    ("leader_a", "export_a"): 403,
    # Staff: their own home page only.
    **{("staff_a", row.name): 403 for row in PAGE_ROWS if row.action is not None},
    # Admin: everything.
    **{("admin", row.name): row.allowed_status for row in PAGE_ROWS},
    # Nobody logged in: the log-in page, for every page.
    **{("unknown", row.name): 303 for row in PAGE_ROWS},
}
"""Hand-written statuses for the unknown and cross-unit cases."""


def page_status(persona: Persona, row: PageRow) -> int:
    """The status the policy calls for."""
    if persona.role is None:
        return 303  # to the log-in page
    if row.action is None:
        return row.allowed_status
    unit = persona.unit if row.unit == "HOME" else UNITS[row.unit or ""]
    return row.allowed_status if expected(persona, row.action, unit) else 403


def test_the_explicit_statuses_agree_with_the_policy() -> None:
    rows = {row.name: row for row in PAGE_ROWS}
    disagree = [
        (persona, row, status)
        for (persona, row), status in EXPLICIT_PAGES.items()
        if page_status(BY_KEY[persona], rows[row]) != status
    ]
    assert disagree == []


def _routes(app: web.Application) -> set[tuple[str, str]]:
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith(PREFIX)
        and not isinstance(route.resource, web.StaticResource)
        and route.method != "HEAD"
    }


def _url(world: World, row: PageRow) -> str:
    rounds = {**world.rounds, "MISSING": 999999}
    path = row.route.replace("{round_id}", str(rounds[row.round])) if row.round else row.route
    query = row.query.format(leader_a=world.people["leader_a"], leader_b=world.people["leader_b"])
    return f"{path}?{query}" if query else path


async def _request(
    d: Dashboard, world: World, row: PageRow, logged_in: bool
) -> tuple[int, str, str]:
    url = _url(world, row)
    if row.method == "GET":
        response = await d.client.get(url, allow_redirects=False)
    else:
        token = await d.csrf() if logged_in else "none"
        response = await d.client.post(url, data={"csrf_token": token}, allow_redirects=False)
    return response.status, await response.text(), response.headers.get("Location", "")


async def test_every_dashboard_route_follows_the_policy(db_url: str, tmp_path: Path) -> None:
    async with dashboard(db_url, seed=False) as d:
        world = await build_world(d.services, tmp_path)
        await check_tree(world)
        app = d.client.app
        assert app is not None and app[SERVICES] is d.services
        covered = {(row.method, row.route) for row in PAGE_ROWS} | set(PUBLIC)
        assert _routes(app) == covered, "every dashboard route has a row, and no row is stale"
        for (method, path), status in PUBLIC.items():
            if method == "GET":
                response = await d.client.get(path, allow_redirects=False)
                assert response.status == status, path
        auth = DashboardAuth(d.services.store, d.settings, d.clock, CHEAP)
        accounts = {p.key: (await auth.add(p.email, "x" * 12)).id for p in KNOWN}
        wrong: list[str] = []
        for persona in PERSONAS:
            d.client.session.cookie_jar.clear()
            if persona.role is not None:
                await _session(d, accounts[persona.key])
            for row in PAGE_ROWS:
                wrong += await _check(d, world, persona, row)
        assert wrong == []


CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
"""Log-in is tested in test_dashboard_auth.py; here a session is made directly, fast."""


async def _session(d: Dashboard, account_id: int) -> None:
    token = secrets.token_urlsafe(32)
    async with d.services.store.transaction() as tx:
        await tx.accounts.create_session(account_id, token, secrets.token_urlsafe(32), d.clock())
    d.client.session.cookie_jar.update_cookies({COOKIE: token}, d.client.make_url("/"))


async def _check(d: Dashboard, world: World, persona: Persona, row: PageRow) -> list[str]:
    where = f"{persona.key} {row.name}"
    want = page_status(persona, row)
    before = None if want == row.allowed_status else await snapshot(d.services)
    status, body, location = await _request(d, world, row, persona.role is not None)
    if status != want:
        return [f"{where}: {want} expected, got {status}"]
    problems = []
    if persona.role is None and not location.startswith(f"{PREFIX}/login"):
        problems.append(f"{where}: not sent to the log-in page but to {location!r}")
    leaked = [word for word in UNSEEN[persona.key] if word in body]
    if leaked:
        problems.append(f"{where}: shows {leaked}, out of scope")
    if before is not None:
        if status == 403:
            refusals = [
                str(escape(translate(persona.locale, f"dashboard.error.{kind}")))
                for kind in ("forbidden", "no_digest")
            ]
            if not any(refusal in body for refusal in refusals):
                problems.append(f"{where}: the refusal is not in {persona.locale}")
        if await snapshot(d.services) != before:
            problems.append(f"{where}: refused, but something changed")
    return problems
