"""Dashboard digest preview and awareness map: scoped, suppressed below k, views audited."""

from __future__ import annotations

import re

from bot.services.checkins import CheckinService
from bot.services.messages import BeginRound
from dialogs import engine
from tests.bot.test_dashboard_auth import LARS, Dashboard, dashboard
from tests.bot.test_dashboard_pages import INGRID, TOR, as_person
from tests.services import link_web, person_id
from tests.webchat import NOW, settings_for

WEEK = "2026-W48"


async def answered_checkin(d: Dashboard, db_url: str, codes: dict[str, str]) -> None:
    """Kari and Ola (hjerteavdelingen) answer every measure of its check-in with one code."""
    names = {"kari": "Kari Nordmann", "ola": "Ola Hansen"}
    for external in codes:
        await link_web(d.services, external, names[external])
    checkins = CheckinService(
        d.services.store, d.services.catalog, settings_for(db_url, min_group_size=2)
    )
    report = await checkins.open_checkin("hjerteavdelingen", 0, NOW)
    conversation = d.services.conversation
    for external, code in codes.items():
        reply = await conversation.handle("web", external, BeginRound(report.round_id), NOW)
        while not any(isinstance(m, engine.Summary) for m in reply.messages):
            ask = [m for m in reply.messages if isinstance(m, engine.Ask)][-1]
            reply = await conversation.handle(
                "web", external, engine.Choose(ask.item_id, code), NOW
            )
        await conversation.handle("web", external, engine.Submit(), NOW)


def cells(html: str, unit: str) -> list[str]:
    found = re.search(
        rf'<th scope="row" class="depth-\d">{re.escape(unit)}</th>(.*?)</tr>', html, re.S
    )
    assert found, f"no row {unit!r}"
    return [c.strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", found[1])]


async def audit(d: Dashboard) -> list[tuple[int | None, str, str, str]]:
    async with d.services.store.transaction() as tx:
        return [(e.person_id, e.origin, e.action, e.target) for e in await tx.audit.entries()]


async def test_the_map_shows_dont_know_shares_only_where_k_allows(db_url):
    async with dashboard(db_url, min_group_size=2) as d:
        await answered_checkin(d, db_url, {"kari": "dont_know", "ola": "started"})
        await as_person(d, LARS)
        page = await d.client.get(f"/dashboard/map?period={WEEK}")
        assert page.status == 200
        html = await page.text()
        assert cells(html, "Hjerteavdelingen") == ["50,00\u00a0% (n = 2)"] * 3
        # The clinic holds the same two people: shown, nothing smaller can be derived.
        assert cells(html, "Medisinsk klinikk") == ["50,00\u00a0% (n = 2)"] * 3
        assert "Lungeavdelingen" in html  # asked nothing: dashes
        assert "Elvevik" not in html  # outside Lars' units
        bad = await d.client.get("/dashboard/map?period=uke48")
        assert bad.status == 400


async def test_below_k_the_map_and_the_digest_show_no_figures(db_url):
    async with dashboard(db_url) as d:  # k = 5, two answers
        await answered_checkin(d, db_url, {"kari": "dont_know", "ola": "dont_know"})
        await as_person(d, LARS)
        html = await (await d.client.get(f"/dashboard/map?period={WEEK}")).text()
        assert cells(html, "Hjerteavdelingen") == ["for få svar"] * 3
        assert "n = " not in html
        ingrid = await person_id(d.services, "Ingrid Berg")
        digest = await (
            await d.client.get(f"/dashboard/digest?leader={ingrid}&period={WEEK}")
        ).text()
        assert "For få svar til å vise tall" in digest
        assert "av 2" not in digest and "data:image/png" not in digest


async def test_digest_preview_is_scoped_and_every_view_is_audited(db_url):
    async with dashboard(db_url, min_group_size=2) as d:
        await answered_checkin(d, db_url, {"kari": "dont_know", "ola": "dont_know"})
        ingrid = await person_id(d.services, "Ingrid Berg")
        await as_person(d, INGRID)
        own = await d.client.get(f"/dashboard/digest?period={WEEK}")
        assert own.status == 200
        html = await own.text()
        assert "Ukesoversikt for Hjerteavdelingen, uke 48" in html
        assert "2 av 2 (100,00\u00a0%) svarer «Vet ikke»" in html
        assert 'src="data:image/png;base64,' in html
        per = await person_id(d.services, "Per Dahl")
        assert (await d.client.get(f"/dashboard/digest?leader={per}")).status == 403
        await as_person(d, LARS)  # coordinator of the hospital: previews Ingrid's digest
        preview = await d.client.get(f"/dashboard/digest?leader={ingrid}&period={WEEK}")
        assert preview.status == 200
        assert "Ukesoversikt for Hjerteavdelingen" in await preview.text()
        await as_person(d, TOR)  # coordinator in the municipality: not the hospital's leaders
        assert (await d.client.get(f"/dashboard/digest?leader={ingrid}")).status == 403
        lars = await person_id(d.services, "Lars Moen")
        target = f"digest:{ingrid}:{WEEK}"
        assert [row for row in await audit(d) if row[2] == "digest_view"] == [
            (ingrid, "dashboard", "digest_view", target),
            (lars, "dashboard", "digest_view", target),
        ]
