"""Owner status check-ins: monthly and after a passed date, one tap to confirm, kept as rows."""

from datetime import timedelta

from sqlalchemy import update

from bot.services.messages import ConfirmMeasureStatus, SetMeasureStatus, ShowMeasures
from bot.services.owners import OwnerCheckinService
from storage import models as m
from tests.services import link_web, seed, services_on
from tests.webchat import NOW, settings_for


async def owner_checkins(services):
    async with services.store.transaction() as tx:
        return [
            (c.measure_id, c.reason, c.period, c.answer) for c in await tx.owner_checkins.all()
        ]


async def mailbox(services, external_id):
    async with services.store.transaction() as tx:
        identity = await tx.org.identity("web", external_id)
        return [line.payload for line in await tx.web.after(identity.id, 0)]


async def test_the_owning_units_leader_is_asked_monthly_once_and_confirms_with_one_tap(db_url):
    async with services_on(db_url) as services:
        await seed(services)
        await link_web(services, "per", "Per Dahl")  # leader of medisinsk-klinikk
        await link_web(services, "kari", "Kari Nordmann")  # staff: owns nothing
        owners = OwnerCheckinService(services.store, settings_for(db_url))
        assert await owners.ask_monthly(NOW) == 1
        assert await owners.ask_monthly(NOW + timedelta(days=3)) == 0  # once per month
        await services.drainer.drain_once()
        [prompt] = [p for p in await mailbox(services, "per") if p["type"] == "prompt"]
        assert prompt["text"] == (
            "Status for «Økt bruk av samarbeidsmøter om den enkelte pasient»: det står som "
            "«ikke startet». Stemmer det fortsatt?"
        )
        assert [b["label"] for b in prompt["buttons"]] == [
            "Ja, fortsatt «ikke startet»",
            "Oppdater status",
        ]
        assert [b["request"] for b in prompt["buttons"]] == [
            {"type": "measure_confirm", "measure": "samarbeidsmoter"},
            {"type": "measures", "measure": "samarbeidsmoter"},
        ]
        assert [p for p in await mailbox(services, "kari") if p["type"] == "prompt"] == []
        assert await owner_checkins(services) == [("samarbeidsmoter", "monthly", "2026-11", None)]

        reply = await services.conversation.handle(
            "web", "per", ConfirmMeasureStatus("samarbeidsmoter"), NOW
        )
        assert [message.text for message in reply.messages] == [
            "Takk! «Økt bruk av samarbeidsmøter om den enkelte pasient» står fortsatt som "
            "«ikke startet».\n"
            "Vil du legge til et notat, skriv: /measures samarbeidsmoter not_started notatet ditt"
        ]
        assert await owner_checkins(services) == [
            ("samarbeidsmoter", "monthly", "2026-11", "confirmed")
        ]
        # Staff cannot confirm a measure they do not own: refused, nothing recorded.
        refused = await services.conversation.handle(
            "web", "kari", ConfirmMeasureStatus("samarbeidsmoter"), NOW
        )
        assert refused.messages[0].key == "measures.none"


async def test_a_passed_deadline_asks_the_owner_the_next_day_and_update_answers_it(db_url):
    async with services_on(db_url) as services:
        await seed(services)
        await link_web(services, "per", "Per Dahl")
        async with services.store.transaction() as tx:
            await tx.session.execute(
                update(m.Measure)
                .where(m.Measure.id == "samarbeidsmoter")
                .values(deadline=(NOW - timedelta(days=2)).date())
            )
        owners = OwnerCheckinService(services.store, settings_for(db_url))
        assert await owners.ask_passed_dates(NOW) == 1
        assert await owners.ask_passed_dates(NOW + timedelta(hours=1)) == 0
        await services.drainer.drain_once()
        [prompt] = [p for p in await mailbox(services, "per") if p["type"] == "prompt"]
        assert prompt["text"].startswith(
            "Fristen for «Økt bruk av samarbeidsmøter om den enkelte pasient» var "
            "21. november 2026."
        )
        shown = await services.conversation.handle(
            "web", "per", ShowMeasures("samarbeidsmoter"), NOW
        )
        assert shown.messages[0].key == "measures.pick"
        await services.conversation.handle(
            "web", "per", SetMeasureStatus("samarbeidsmoter", "started"), NOW
        )
        assert await owner_checkins(services) == [
            ("samarbeidsmoter", "deadline", "2026-11-21", "updated")
        ]
