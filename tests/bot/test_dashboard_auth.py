"""Dashboard log-in: passwords, lock-out and unlock by time, idle expiry, CSRF, cookie flags."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select
from yarl import URL

from bot.app import SERVICES, Services, create_app
from bot.services.seed import load_examples
from bot.web.auth import DashboardAuth
from storage import models as m
from tests.webchat import NOW, settings_for

PASSWORD = "correct horse battery staple"
LARS = "lars.moen@fjordsida.example"
FAILED = "Feil e-postadresse eller passord"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Dashboard:
    """A running app with the examples loaded, a browser-like client and the clock."""

    client: TestClient
    services: Services
    clock: Clock
    db_url: str
    settings: Any

    async def add_account(self, email: str, password: str = PASSWORD) -> int:
        auth = DashboardAuth(self.services.store, self.settings, self.clock)
        return (await auth.add(email, password)).id

    async def login_form(self, path: str = "/dashboard/login") -> str:
        page = await self.client.get(path)
        assert page.status == 200
        return CSRF.findall(await page.text())[0]

    async def log_in(self, email: str, password: str = PASSWORD, next: str = "") -> Any:
        nonce = await self.login_form()
        return await self.client.post(
            "/dashboard/login",
            data={"csrf_token": nonce, "username": email, "password": password, "next": next},
            allow_redirects=False,
        )

    async def csrf(self, path: str = "/dashboard/") -> str:
        page = await self.client.get(path)
        assert page.status == 200, await page.text()
        return CSRF.findall(await page.text())[0]

    async def count(self, model: Any, *where: Any) -> int:
        async with self.services.store.transaction() as tx:
            query = select(func.count()).select_from(model)
            for condition in where:
                query = query.where(condition)
            return int(await tx.session.scalar(query) or 0)


@asynccontextmanager
async def dashboard(db_url: str, seed: bool = True, **overrides: Any) -> AsyncIterator[Dashboard]:
    """The app with a hand-moved clock, the examples and a client with its own cookie jar."""
    clock = Clock()
    settings = settings_for(db_url, **overrides)
    app = create_app(settings, clock=clock, drain_interval=3600)
    server = TestServer(app, host="127.0.0.1")
    client = TestClient(server)
    await client.start_server()
    try:
        services = app[SERVICES]
        if seed:
            await load_examples(services.store, services.rounds, NOW)
        yield Dashboard(client, services, clock, db_url, settings)
    finally:
        await client.close()


async def test_log_in_with_the_right_password_only(db_url):
    async with dashboard(db_url) as d:
        await d.add_account(LARS)
        anonymous = await d.client.get("/dashboard/", allow_redirects=False)
        assert anonymous.status == 303
        assert anonymous.headers["Location"].startswith("/dashboard/login")

        wrong = await d.log_in(LARS, "not it")
        assert wrong.status == 401
        assert FAILED in await wrong.text()
        unknown = await d.log_in("nobody@example.org", PASSWORD)
        assert unknown.status == 401
        assert FAILED in await unknown.text()

        right = await d.log_in(LARS.upper())
        assert right.status == 303
        assert right.headers["Location"] == "/dashboard/"
        home = await d.client.get("/dashboard/")
        assert home.status == 200
        assert "Logget inn som Lars Moen" in await home.text()
        assert await d.count(m.Account, m.Account.failed_logins == 0) == 1


async def test_log_in_returns_to_the_page_asked_for_but_never_off_site(db_url):
    async with dashboard(db_url) as d:
        await d.add_account(LARS)
        asked = await d.client.get("/dashboard/rounds/1", allow_redirects=False)
        location = URL(asked.headers["Location"])
        assert location.path == "/dashboard/login"
        assert location.query["next"] == "/dashboard/rounds/1"
        back = await d.log_in(LARS, next="/dashboard/rounds/1")
        assert back.headers["Location"] == "/dashboard/rounds/1"
        d.client.session.cookie_jar.clear()
        away = await d.log_in(LARS, next="https://evil.example/dashboard/")
        assert away.headers["Location"] == "/dashboard/"


async def test_five_failures_lock_for_fifteen_minutes_even_the_right_password(db_url):
    async with dashboard(db_url) as d:
        await d.add_account(LARS)
        for _ in range(5):
            assert (await d.log_in(LARS, "guess")).status == 401
        locked = await d.log_in(LARS)
        assert locked.status == 401
        assert FAILED in await locked.text()  # the same generic message
        assert await d.count(m.Account, m.Account.locked_until.is_not(None)) == 1

        d.clock.advance(minutes=14, seconds=59)
        assert (await d.log_in(LARS)).status == 401
        d.clock.advance(seconds=1)
        assert (await d.log_in(LARS)).status == 303
        assert await d.count(m.WebSession) == 1


async def test_failures_below_five_do_not_lock_and_a_success_clears_them(db_url):
    async with dashboard(db_url) as d:
        await d.add_account(LARS)
        for _ in range(4):
            await d.log_in(LARS, "guess")
        assert (await d.log_in(LARS)).status == 303
        d.client.session.cookie_jar.clear()
        for _ in range(4):
            await d.log_in(LARS, "guess")
        assert (await d.log_in(LARS)).status == 303  # counting started again


async def test_a_session_ends_after_eight_idle_hours(db_url):
    async with dashboard(db_url) as d:
        await d.add_account(LARS)
        await d.log_in(LARS)
        for _ in range(3):  # every request restarts the idle clock
            d.clock.advance(hours=7, minutes=59)
            assert (await d.client.get("/dashboard/", allow_redirects=False)).status == 200
        d.clock.advance(hours=8)
        expired = await d.client.get("/dashboard/", allow_redirects=False)
        assert expired.status == 303
        assert expired.headers["Location"] == "/dashboard/login?expired=1"
        assert await d.count(m.WebSession) == 0
        page = await d.client.get(expired.headers["Location"])
        assert "Økten din er utløpt" in await page.text()


async def test_log_out_ends_the_session(db_url):
    async with dashboard(db_url) as d:
        await d.add_account(LARS)
        await d.log_in(LARS)
        token = await d.csrf()
        out = await d.client.post(
            "/dashboard/logout", data={"csrf_token": token}, allow_redirects=False
        )
        assert out.status == 303
        assert await d.count(m.WebSession) == 0
        assert (await d.client.get("/dashboard/", allow_redirects=False)).status == 303


async def test_every_post_needs_the_csrf_token_and_changes_nothing_without_it(db_url):
    async with dashboard(db_url) as d:
        await d.add_account(LARS)
        await d.log_in(LARS)
        round_id = 1
        for data in ({}, {"csrf_token": "forged"}):
            remind = await d.client.post(f"/dashboard/rounds/{round_id}/remind", data=data)
            assert remind.status == 403
            logout = await d.client.post("/dashboard/logout", data=data)
            assert logout.status == 403
        assert await d.count(m.ReminderRun) == 0
        assert await d.count(m.OutboxMessage, m.OutboxMessage.purpose == "reminder") == 0
        assert await d.count(m.WebSession) == 1
        assert (await d.client.get("/dashboard/", allow_redirects=False)).status == 200


async def test_the_log_in_form_needs_its_own_token(db_url):
    async with dashboard(db_url) as d:
        await d.add_account(LARS)
        forged = await d.client.post(
            "/dashboard/login",
            data={"username": LARS, "password": PASSWORD, "csrf_token": "x"},
            allow_redirects=False,
        )
        assert forged.status == 403
        assert await d.count(m.WebSession) == 0


async def test_cookies_are_http_only_strict_and_secure_behind_a_public_url(db_url):
    async with dashboard(db_url, public_url="https://followup.example.org") as d:
        await d.add_account(LARS)
        form = await d.client.get("/dashboard/login")
        login_cookie = form.cookies["followup_login"]
        assert login_cookie["secure"] is True
        assert login_cookie["httponly"] is True
        # The client speaks plain http and keeps Secure cookies to itself: send it by hand.
        nonce = CSRF.findall(await form.text())[0]
        response = await d.client.post(
            "/dashboard/login",
            data={"csrf_token": nonce, "username": LARS, "password": PASSWORD},
            headers={"Cookie": f"followup_login={login_cookie.value}"},
            allow_redirects=False,
        )
        assert response.status == 303
        cookie = response.cookies["followup_session"]
        assert cookie["httponly"] is True
        assert cookie["secure"] is True
        assert cookie["samesite"] == "Strict"
        assert cookie["path"] == "/dashboard"
    async with dashboard(db_url, seed=False) as d:  # the same database, no public URL
        response = await d.log_in(LARS)
        cookie = response.cookies["followup_session"]
        assert cookie["httponly"] is True
        assert not cookie["secure"]  # plain http on loopback: a Secure cookie would be dropped


async def test_a_disabled_account_cannot_log_in_and_loses_its_sessions(db_url):
    async with dashboard(db_url) as d:
        await d.add_account(LARS)
        await d.log_in(LARS)
        auth = DashboardAuth(d.services.store, d.settings, d.clock)
        await auth.disable(LARS)
        assert (await d.client.get("/dashboard/", allow_redirects=False)).status == 303
        assert (await d.log_in(LARS)).status == 401
        await auth.reset_password(LARS, "a new one")
        assert (await d.log_in(LARS, "a new one")).status == 303


async def test_only_the_hash_is_stored(db_url):
    async with dashboard(db_url) as d:
        await d.add_account(LARS)
        await d.log_in(LARS)
        async with d.services.store.transaction() as tx:
            account = await tx.accounts.by_username(LARS)
            token_hashes = list(await tx.session.scalars(select(m.WebSession.token_hash)))
        assert account is not None
        assert account.password_hash.startswith("$argon2id$")
        assert PASSWORD not in account.password_hash
        cookie = d.client.session.cookie_jar.filter_cookies(d.client.make_url("/dashboard/"))
        assert cookie["followup_session"].value not in token_hashes


def test_followup_user_add_reset_password_and_disable(db_url):
    import asyncio

    from tests.bot.test_cli import fails, followup, set_up_examples

    set_up_examples(db_url)
    added = followup(db_url, "user", "add", "Lars.Moen@fjordsida.example")
    generated = re.search(r"password: (\S+)", added.stdout)
    assert generated, added.stdout
    assert "no person" in fails(db_url, "user", "add", "nobody@example.org").stderr
    assert "has an account already" in fails(db_url, "user", "add", LARS).stderr
    typed = with_stdin(db_url, "a typed password\n", "user", "add", PER, "--password-stdin")
    assert typed.exit_code == 0, typed.output
    assert "password:" not in typed.stdout
    short = with_stdin(db_url, "short\n", "user", "reset-password", LARS, "--password-stdin")
    assert short.exit_code == 1
    assert "at least 10" in short.stderr

    async def log_in(email: str, password: str) -> int:
        async with dashboard(db_url, seed=False) as d:
            return int((await d.log_in(email, password)).status)

    assert asyncio.run(log_in(LARS, generated[1])) == 303
    assert asyncio.run(log_in(PER, "a typed password")) == 303

    reset = followup(db_url, "user", "reset-password", LARS)
    new = re.search(r"password: (\S+)", reset.stdout)
    assert new and new[1] != generated[1]
    assert asyncio.run(log_in(LARS, generated[1])) == 401
    assert asyncio.run(log_in(LARS, new[1])) == 303

    followup(db_url, "user", "disable", LARS)
    assert asyncio.run(log_in(LARS, new[1])) == 401
    kari = "kari.nordmann@fjordsida.example"
    assert "no account" in fails(db_url, "user", "disable", kari).stderr


PER = "per.dahl@fjordsida.example"


def with_stdin(db_url: str, stdin: str, *args: str) -> Any:
    from typer.testing import CliRunner

    from bot.cli import app

    return CliRunner().invoke(app, list(args), input=stdin, env={"DATABASE_URL": db_url})
