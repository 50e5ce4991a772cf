"""The dashboard in headless Chromium: keyboard-only log-in, lock-out, rounds, a reminder round
with confirmation, a CSV download, and no serious or critical axe-core findings on any page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import SERVICES
from bot.web.auth import DashboardAuth
from storage import models as m
from tests.bot.test_browser import AXE, CHROMIUM, CHROMIUM_ARGS, need
from tests.bot.test_dashboard_auth import LARS, PASSWORD, PER
from tests.bot.test_dashboard_pages import INGRID
from tests.services import link_web, open_round
from tests.webchat import NOW, running_app, settings_for

pytestmark = pytest.mark.browser
TITLE = "Evaluering av samhandlingsseminaret"


async def axe_findings(page: Any) -> list[str]:
    """Serious and critical axe-core findings on the page as it is now."""
    if not await page.evaluate("typeof axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE))
    findings: list[str] = await page.evaluate(
        "async () => (await axe.run(document)).violations"
        ".filter(v => ['serious', 'critical'].includes(v.impact))"
        ".map(v => v.id + ': ' + v.help + ' ' + v.nodes.map(n => n.target).join(','))"
    )
    return findings


async def tab_to(page: Any, selector: str, limit: int = 15) -> None:
    """Press Tab until `selector` has the focus (keyboard only, as a person would)."""
    for _ in range(limit):
        if await page.evaluate(f"document.activeElement?.matches({selector!r}) ?? false"):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


async def keyboard_log_in(page: Any, url: str, email: str, password: str) -> None:
    await page.goto(f"{url}/dashboard/login")
    await page.wait_for_selector("#username")
    await tab_to(page, "#username")
    await page.keyboard.press("Control+A")
    await page.keyboard.type(email)
    await page.keyboard.press("Tab")
    await page.keyboard.type(password)
    await page.keyboard.press("Enter")
    await page.wait_for_load_state("domcontentloaded")


async def test_the_dashboard_in_headless_chromium(db_url, tmp_path):
    need(CHROMIUM, "Debian's chromium")
    need(AXE, "axe-core (npm ci)")
    from playwright.async_api import async_playwright

    async with running_app(db_url, seed=True) as server:
        services = server.app[SERVICES]
        auth = DashboardAuth(services.store, settings_for(db_url), lambda: NOW)
        await auth.add(LARS, PASSWORD)
        await auth.add(PER, PASSWORD)
        await auth.add(INGRID, PASSWORD)
        lungs = await open_round(services, anonymous=False, units=("lungeavdelingen",))
        for number, name in enumerate(("Kari Nordmann", "Ola Hansen", "Sofie Lie")):
            await link_web(services, f"web-{number}", name)
        url = str(server.make_url("")).rstrip("/")
        findings: dict[str, list[str]] = {}

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
            )
            # bypass_csp: axe-core is injected as an inline script, which the CSP forbids.
            context = await browser.new_context(
                locale="nb-NO", accept_downloads=True, bypass_csp=True
            )
            page = await context.new_page()

            # The skip link comes first and is visible when focused.
            await page.goto(f"{url}/dashboard/login")
            findings["login"] = await axe_findings(page)
            await page.locator("body").focus()
            await page.keyboard.press("Tab")
            assert await page.evaluate("document.activeElement.className") == "skip"
            outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
            assert outline != "none"

            # Lock-out: five wrong passwords, then even the right one gets the same message.
            for _ in range(5):
                await keyboard_log_in(page, url, PER, "wrong password")
                await page.wait_for_selector("#login-error")
            await keyboard_log_in(page, url, PER, PASSWORD)
            error = await page.wait_for_selector("#login-error")
            assert "midlertidig sperret" in await error.inner_text()
            findings["login failed"] = await axe_findings(page)

            # Keyboard-only log-in lands on the rounds page.
            await keyboard_log_in(page, url, LARS, PASSWORD)
            await page.wait_for_selector("h1:has-text('Runder og svarprosent')")
            row = page.locator('tr[data-round="1"]')
            assert TITLE in await row.inner_text()
            assert "0,00\u00a0%" in await row.inner_text()
            findings["rounds"] = await axe_findings(page)

            await tab_to(page, "a[href='/dashboard/rounds/1']")
            await page.keyboard.press("Enter")
            await page.wait_for_selector("h2:has-text('Svarprosent per enhet')")
            assert "for få" in await page.locator('tr[data-unit="hjerteavdelingen"]').inner_text()
            findings["round"] = await axe_findings(page)

            # Reminder round: a dry run first, sent only on confirmation.
            await tab_to(page, "a[href$='/remind']")
            await page.keyboard.press("Enter")
            await page.wait_for_selector("text=Prøvekjøring")
            findings["remind"] = await axe_findings(page)
            assert await count(services, m.ReminderRun) == 0
            await tab_to(page, "button[name=confirm]")
            await page.keyboard.press("Enter")
            sent = await page.wait_for_selector("#sent")
            assert "3 påminnelser er lagt i kø." in await sent.inner_text()
            assert await count(services, m.ReminderRun) == 1
            findings["round after sending"] = await axe_findings(page)

            # The CSV download, recorded in the audit log.
            async with page.expect_download() as download_info:
                await tab_to(page, "a[href$='export.csv']")
                await page.keyboard.press("Enter")
            download = await download_info.value
            assert download.suggested_filename == "round-1-results.csv"
            saved = tmp_path / download.suggested_filename
            await download.save_as(saved)
            text = saved.read_text(encoding="utf-8-sig")
            assert text.splitlines()[0].count(";") == 6
            assert await count(services, m.AuditEntry) == 1

            # The awareness map and the digest preview (no check-ins yet: empty, but usable).
            await tab_to(page, "a[href='/dashboard/map']")
            await page.keyboard.press("Enter")
            await page.wait_for_selector("h1:has-text('Hva vet de ansatte om tiltakene?')")
            findings["map"] = await axe_findings(page)
            await tab_to(page, "a[href='/dashboard/digest']")
            await page.keyboard.press("Enter")
            await page.wait_for_selector("h1:has-text('Ukesoversikt for ledere')")
            assert "Ukesoversikt for Hjerteavdelingen" in await page.inner_text("main")
            findings["digest"] = await axe_findings(page)

            # Someone else's pages: refused, and the refusal page is accessible too.
            await page.goto(f"{url}/dashboard/rounds/999")
            await page.wait_for_selector("h1")
            findings["not found"] = await axe_findings(page)

            # Scoping: the leader of hjerteavdelingen cannot open the lung unit's round or its
            # download, whatever she types into the address bar.
            other = await browser.new_context(locale="nb-NO", accept_downloads=True)
            ingrid = await other.new_page()
            await keyboard_log_in(ingrid, url, INGRID, PASSWORD)
            await ingrid.wait_for_selector("h1:has-text('Runder og svarprosent')")
            assert f'data-round="{lungs}"' not in await ingrid.content()
            for path in (f"/dashboard/rounds/{lungs}", f"/dashboard/rounds/{lungs}/export.csv"):
                response = await ingrid.goto(f"{url}{path}")
                assert response is not None and response.status == 403, path
                assert "Du har ikke tilgang til denne siden." in await ingrid.inner_text("main")
            await browser.close()

    assert {page: found for page, found in findings.items() if found} == {}


async def count(services: Any, model: Any) -> int:
    async with services.store.transaction() as tx:
        return int(await tx.session.scalar(select(func.count()).select_from(model)) or 0)


def test_the_browser_test_finds_the_lock_out_text():
    # The lock-out message is the generic one (no hint whether the account exists).
    from dialogs.i18n import translate

    assert re.search("midlertidig sperret", translate("nb", "dashboard.login.failed"))
