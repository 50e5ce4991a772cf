"""Measures from CSV, leader status with history, deadline history, capacity warnings."""
# ruff: noqa: E501  (CSV rows are kept whole)

import asyncio
from datetime import date

from tests.bot.test_cli import EXAMPLES, fails, followup
from tests.services import services_on

CSV = """area;area_title;letter;title_nb;units;owner;planned_start;deadline;category
samhandling;Samhandling;a;Felles møter;medisinsk-klinikk helse-og-omsorg;Utvalget;2026-01-01;2026-06-30;møter
samhandling;Samhandling;b;Utskrivningssamtale;fjordsida-sykehus;Per Dahl;;2026-09-30;
kompetanse;Kompetanse;a;Felles kurs;elvevik-kommune;;;;
"""


def history(db_url, slug):
    async def read():
        async with services_on(db_url) as services, services.store.transaction() as tx:
            return await tx.measures.history(slug)

    return asyncio.run(read())


def test_csv_import_status_and_deadline_history(db_url, tmp_path):
    followup(db_url, "org", "import", EXAMPLES / "org.yaml")
    followup(db_url, "people", "import", EXAMPLES / "people.csv")
    plan = tmp_path / "plan.csv"
    plan.write_text(CSV, encoding="utf-8")
    imported = followup(db_url, "measures", "import", plan)
    assert imported.stdout == "imported 3 measures (3 new)\n"
    # The nursing home has one staff member for two measures: k = 5 cannot be reached.
    assert (
        "warning: elvevik-sykehjem: 1 staff x 5 measures per check-in = 5, fewer than "
        "2 measures x k 5 = 10"
    ) in imported.stderr
    assert "hjerteavdelingen" not in imported.stderr  # 2 staff x 5 = 2 measures x 5

    assert (
        followup(
            db_url, "measures", "status", "samhandling-a", "started", "--note", "Første møte holdt"
        ).stdout
        == "samhandling-a: started\n"
    )
    assert "unknown measure" in fails(db_url, "measures", "status", "nope", "started").stderr
    plan.write_text(CSV.replace("2026-06-30", "2026-08-31"), encoding="utf-8")
    assert followup(db_url, "measures", "import", plan).stdout == "imported 3 measures (0 new)\n"
    assert history(db_url, "samhandling-a") == [
        ("started", None, "Første møte holdt"),
        (None, date(2026, 8, 31), "deadline 2026-06-30 -> 2026-08-31"),
    ]


async def test_a_leader_sets_the_status_of_their_measures_in_chat(db_url):
    from bot.app import SERVICES
    from tests.webchat import ChatUser, running_app

    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as per:
        await per.be("Per Dahl")  # leader of Medisinsk klinikk
        listed = (await per.say("/measures"))[-1]
        assert listed["type"] == "prompt"
        assert [b["label"] for b in listed["buttons"]] == [
            "Økt bruk av samarbeidsmøter om den enkelte pasient (ikke startet)"
        ]
        picked = (await per.send(**listed["buttons"][0]["request"]))[-1]
        assert [b["label"] for b in picked["buttons"]] == [
            "planlagt",
            "igangsatt",
            "gjennomført",
            "evaluert",
            "avsluttet uten gjennomføring",
        ]
        done = (await per.send(**picked["buttons"][1]["request"]))[-1]
        assert done["text"] == (
            "Registrert: «Økt bruk av samarbeidsmøter om den enkelte pasient» er igangsatt.\n"
            "Vil du legge til et notat, skriv: /measures samarbeidsmoter started notatet ditt"
        )
        noted = (await per.say("/measures samarbeidsmoter started Første møte holdt 12.11."))[-1]
        assert noted["text"] == (
            "Registrert: «Økt bruk av samarbeidsmøter om den enkelte pasient» er igangsatt."
        )
        wrong = (await per.say("/measures samarbeidsmoter begynt"))[-1]
        assert wrong["text"] == (
            "Den statusen kjenner jeg ikke. Bruk en av: not_started, planned, started, done, "
            "evaluated, dropped."
        )
        forged = await per.send(
            type="measure_status", measure="utskrivningssamtale", status="done"
        )
        assert forged[-1]["key"] == "service.denied"  # owned by the hospital, not his clinic
        async with ChatUser.on(server) as kari:
            await kari.be("Kari Nordmann")
            assert (await kari.say("/tiltak"))[-1]["key"] == "measures.none"
        async with server.app[SERVICES].store.transaction() as tx:
            history = await tx.measures.history("samarbeidsmoter")
            plans = {p.slug: p.status.value for p in await tx.measures.plans()}
    assert history == [("started", None, None), ("started", None, "Første møte holdt 12.11.")]
    assert plans == {
        "felles-opplaering": "not_started",
        "samarbeidsmoter": "started",
        "utskrivningssamtale": "not_started",
    }
