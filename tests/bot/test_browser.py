"""Acceptance: the README's first command serves the bot; headless Chromium answers the example
questionnaire in the web chat; the database then holds exactly those answers; axe-core finds
no serious or critical accessibility problems."""

import os
import re
import shlex
from pathlib import Path

import pytest

from tests.bot.test_web_chat import EXPECTED, stored_anonymous_answers
from tests.process import ROOT, ServerProcess, free_port

CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]

pytestmark = pytest.mark.browser


def readme_run_command() -> list[str]:
    """The first command of the README's first code block (e.g. ./run)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```(?:sh|bash)?\n(.*?)```", text, re.DOTALL)
    assert block, "README.md has no code block"
    first = block[1].strip().splitlines()[0].split("#")[0].strip()
    return shlex.split(first)


def need(path: Path, what: str) -> None:
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{what} is missing at {path} (CI=true: a missing peer is a failure)")
        pytest.skip(f"{what} is missing at {path}")


@pytest.fixture
def bot_server(db_url, tmp_path):
    port = free_port()
    env = {"DATABASE_URL": db_url, "FOLLOWUP_PORT": str(port), "FOLLOWUP_HOST": "127.0.0.1"}
    server = ServerProcess(readme_run_command(), env, port, log=tmp_path / "run.log")
    server.start(timeout=600)  # ./run may install packages into .venv the first time
    yield server
    server.stop()


async def test_example_questionnaire_in_headless_chromium(bot_server, db_url):
    need(CHROMIUM, "Debian's chromium")
    need(AXE, "axe-core (npm ci)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        page = await browser.new_page(locale="nb-NO")
        await page.goto(f"{bot_server.url}/chat")
        latest = page.locator("#log li").last

        async def press(name):
            await latest.get_by_role("button", name=name, exact=True).click()

        async def type_answer(text):
            await page.fill("#message", text)
            await page.keyboard.press("Enter")

        async def wait_for_question(item_id):
            await page.wait_for_selector(f'#log li[data-item="{item_id}"]:last-child')

        await page.get_by_role("button", name=re.compile("^Kari Nordmann")).click()
        await page.wait_for_selector('#log li[data-type="invitation"]')
        await latest.get_by_role("button", name=re.compile("^Start")).click()
        await wait_for_question("samtykke")
        await press("Ja, jeg vil delta")
        await wait_for_question("arbeidssted")
        await press("Sykehus")
        await wait_for_question("rolle")
        await press("Ansatt")
        await wait_for_question("erfaring")
        await type_answer("12")
        await wait_for_question("seminar_fornoyd")
        await press("Fornøyd")
        await wait_for_question("seminar_fornoyd.comment")
        await type_answer("Nyttig dag")
        await wait_for_question("seminar_nyttig")
        await press("Vet ikke")
        await wait_for_question("tiltaksplan")
        await press("Nei")
        await wait_for_question("tiltaksplan_hvorfor_ikke")
        await type_answer("Ingen tid")
        await wait_for_question("informasjonskanaler")
        await press("Personalmøter")
        await page.wait_for_selector('#log li:last-child button[aria-pressed="true"]')
        await press("Fra nærmeste leder")
        pressed = "#log li:last-child button[aria-pressed='true']"
        await page.wait_for_function(f'document.querySelectorAll("{pressed}").length == 2')
        await press("Ferdig")
        for item, answer in [
            ("samarbeidsmoter", "Tiltaket er igangsatt"),
            ("felles-opplaering", "Vet ikke"),
            ("utskrivningssamtale", "Tiltaket er planlagt"),
        ]:
            await wait_for_question(f"tiltak.{item}")
            await press(answer)
        await wait_for_question("andre_kommentarer")
        await press("Hopp over")
        await page.wait_for_selector('#log li[data-type="summary"]:last-child')
        # Keyboard only: the first live button gets focus; Tab to "Send inn" and press Enter.
        submit = latest.get_by_role("button", name="Send inn", exact=True)
        await submit.focus()
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#log li:has-text('Takk for svarene')")

        await page.add_script_tag(path=str(AXE))
        violations = await page.evaluate(
            "async () => (await axe.run(document)).violations"
            ".filter(v => ['serious', 'critical'].includes(v.impact))"
            ".map(v => v.id + ': ' + v.help)"
        )
        await browser.close()

    assert violations == []
    assert await stored_anonymous_answers(db_url) == EXPECTED
