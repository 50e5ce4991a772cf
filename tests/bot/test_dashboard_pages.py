"""Dashboard pages: scoping by dialogs/policy.py, rates with the k rule, reminders, exports."""

from __future__ import annotations

import re

from sqlalchemy import select

from storage import models as m
from tests.bot.test_dashboard_auth import LARS, Dashboard, dashboard
from tests.services import link_web, open_round, person_id
from tests.webchat import NOW

INGRID = "ingrid.berg@fjordsida.example"  # leader of hjerteavdelingen
PER = "per.dahl@fjordsida.example"  # leader of medisinsk-klinikk
TOR = "tor.haugen@elvevik.example"  # coordinator of helse-og-omsorg
EXAMPLE_ROUND = 1
TOO_FEW = "for få (under 5 inviterte)"


def row(html: str, key: str) -> str:
    """The table row of one unit (data-unit) or round (data-round)."""
    found = re.search(rf'<tr data-(?:unit|round)="{re.escape(key)}">(.*?)</tr>', html, re.S)
    assert found, f"no row {key!r}"
    return re.sub(r"[ \t\n]+", " ", found[1])


async def complete(d: Dashboard, round_id: int, *names: str) -> None:
    ids = [await person_id(d.services, name) for name in names]
    async with d.services.store.transaction() as tx:
        for pid in ids:
            await tx.rounds.complete(round_id, pid, NOW.date())


async def as_person(d: Dashboard, email: str) -> None:
    d.client.session.cookie_jar.clear()
    async with d.services.store.transaction() as tx:
        exists = await tx.accounts.by_username(email)
    if exists is None:
        await d.add_account(email)
    assert (await d.log_in(email)).status == 303


async def test_a_coordinator_sees_rates_in_scope_with_small_units_suppressed(db_url):
    async with dashboard(db_url) as d:
        await complete(d, EXAMPLE_ROUND, "Kari Nordmann", "Ola Hansen", "Ahmed Ali", "Per Dahl")
        await as_person(d, LARS)
        home = await (await d.client.get("/dashboard/")).text()
        # The hospital part only: 8 eligible, 4 answered.
        assert '<td class="num">8</td> <td class="num">4</td>' in row(home, "1")
        assert "50,00\u00a0%" in row(home, "1")
        page = await d.client.get(f"/dashboard/rounds/{EXAMPLE_ROUND}")
        assert page.status == 200
        html = await page.text()
        assert "50,00\u00a0%" in row(html, "fjordsida-sykehus")
        assert TOO_FEW in row(html, "hjerteavdelingen")  # 3 invitees
        assert TOO_FEW in row(html, "lungeavdelingen")
        # 7 of 8: shown, it would give Lars' own unit (1) away by subtraction.
        assert TOO_FEW in row(html, "medisinsk-klinikk")
        assert "elvevik" not in html and "Helse og omsorg" not in html
        assert "/export.csv" in html and "/remind" in html


async def test_a_leader_sees_only_their_subtree_and_nothing_to_export_or_remind(db_url):
    async with dashboard(db_url) as d:
        lungs = await open_round(d.services, anonymous=False, units=("lungeavdelingen",))
        surgery = await open_round(d.services, anonymous=False, units=("kirurgisk-klinikk",))
        await as_person(d, INGRID)
        home = await (await d.client.get("/dashboard/")).text()
        assert TOO_FEW in row(home, str(EXAMPLE_ROUND))  # her unit alone has 3 invitees
        assert f'data-round="{lungs}"' not in home
        for path in (
            f"/dashboard/rounds/{lungs}",
            f"/dashboard/rounds/{lungs}/export.csv",
            f"/dashboard/rounds/{lungs}/remind",
            f"/dashboard/rounds/{EXAMPLE_ROUND}/export.csv",
            f"/dashboard/rounds/{EXAMPLE_ROUND}/remind",
        ):
            response = await d.client.get(path)
            assert response.status == 403, path
            assert "Ingen tilgang" in await response.text()
        own = await (await d.client.get(f"/dashboard/rounds/{EXAMPLE_ROUND}")).text()
        assert "hjerteavdelingen" in own and "lungeavdelingen" not in own
        assert "/export.csv" not in own and "/remind" not in own
        assert (await d.client.get("/dashboard/rounds/999")).status == 404

        await as_person(d, PER)  # the clinic's leader sees both departments, not surgery
        assert (await d.client.get(f"/dashboard/rounds/{lungs}")).status == 200
        assert (await d.client.get(f"/dashboard/rounds/{surgery}")).status == 403
        await as_person(d, TOR)
        assert (await d.client.get(f"/dashboard/rounds/{lungs}")).status == 403
        assert (await d.client.get(f"/dashboard/rounds/{lungs}/export.csv")).status == 403
        async with d.services.store.transaction() as tx:
            assert await tx.audit.entries() == []


async def test_a_reminder_round_starts_only_after_the_confirming_post(db_url):
    async with dashboard(db_url) as d:
        for number, name in enumerate(("Kari Nordmann", "Ola Hansen", "Sofie Lie", "Per Dahl")):
            await link_web(d.services, f"web-{number}", name)
        await complete(d, EXAMPLE_ROUND, "Per Dahl")
        await as_person(d, LARS)
        plan = await d.client.get(f"/dashboard/rounds/{EXAMPLE_ROUND}/remind")
        assert plan.status == 200
        html = await plan.text()
        assert "Prøvekjøring" in html
        assert re.search(r"Får påminnelse</th>\s*<td class=\"num\">3</td>", html)
        assert re.search(r"Har svart allerede</th>\s*<td class=\"num\">1</td>", html)
        assert await d.count(m.ReminderRun) == 0
        assert await d.count(m.OutboxMessage, m.OutboxMessage.purpose == "reminder") == 0

        token = re.findall(r'name="csrf_token" value="([^"]+)"', html)[0]
        sent = await d.client.post(
            f"/dashboard/rounds/{EXAMPLE_ROUND}/remind",
            data={"csrf_token": token, "confirm": "yes"},
            allow_redirects=False,
        )
        assert sent.status == 303
        async with d.services.store.transaction() as tx:
            runs = list(await tx.session.scalars(select(m.ReminderRun)))
        assert [(r.origin, r.requested_by, r.queued) for r in runs] == [
            ("dashboard", await person_id(d.services, "Lars Moen"), 3)
        ]
        assert runs[0].scope == ["fjordsida-sykehus", "hjerteavdelingen", "lungeavdelingen",
                                 "medisinsk-klinikk"]  # fmt: skip
        assert await d.count(m.OutboxMessage, m.OutboxMessage.purpose == "reminder") == 3
        assert sent.headers["Location"] == f"/dashboard/rounds/{EXAMPLE_ROUND}?sent={runs[0].id}"
        shown = await (await d.client.get(sent.headers["Location"])).text()
        assert "3 påminnelser er lagt i kø." in shown


async def test_a_leader_cannot_start_a_reminder_round(db_url):
    async with dashboard(db_url) as d:
        await as_person(d, PER)
        token = await d.csrf()
        response = await d.client.post(
            f"/dashboard/rounds/{EXAMPLE_ROUND}/remind", data={"csrf_token": token}
        )
        assert response.status == 403
        assert await d.count(m.ReminderRun) == 0


async def test_an_export_is_the_results_csv_of_the_scope_and_is_audited(db_url):
    async with dashboard(db_url) as d:
        await as_person(d, LARS)
        response = await d.client.get(f"/dashboard/rounds/{EXAMPLE_ROUND}/export.csv")
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert response.headers["Content-Disposition"] == (
            f'attachment; filename="round-{EXAMPLE_ROUND}-results.csv"'
        )
        text = (await response.read()).decode("utf-8")
        assert text.startswith("\ufeff")  # Excel reads the Norwegian CSV as UTF-8
        header = text[1:].splitlines()[0]
        assert header.count(";") == 6
        assert "Elvevik" not in text and "Hjemmetjenesten" not in text
        async with d.services.store.transaction() as tx:
            entries = await tx.audit.entries()
        lars = await person_id(d.services, "Lars Moen")
        assert [(e.person_id, e.origin, e.action, e.target) for e in entries] == [
            (lars, "dashboard", "export", f"round:{EXAMPLE_ROUND}")
        ]


async def test_pages_follow_the_persons_language(db_url):
    async with dashboard(db_url) as d:
        await as_person(d, "ahmed.ali@fjordsida.example")  # English, staff: no rounds
        home = await (await d.client.get("/dashboard/")).text()
        assert '<html lang="en">' in home
        assert "There are no rounds for you to see." in home
