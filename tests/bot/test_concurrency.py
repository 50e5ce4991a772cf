"""One answer sent at once from two app instances (two engines, one database)."""

import asyncio

from bot.services.messages import BeginRound
from dialogs import engine
from tests.services import link_web, open_round, seed, services_on
from tests.webchat import NOW


async def test_double_tap_from_two_instances_is_recorded_and_confirmed_once(db_url):
    async with services_on(db_url) as first, services_on(db_url) as second:
        await seed(first)
        round_id = await open_round(first, anonymous=False)
        person = await link_web(first, "browser-1", "Ola Hansen")
        await first.conversation.handle("web", "browser-1", BeginRound(round_id), NOW)
        tap = engine.Choose("samtykke", "yes")
        replies = await asyncio.gather(
            first.conversation.handle("web", "browser-1", tap, NOW),
            second.conversation.handle("web", "browser-1", tap, NOW),
        )
        async with first.store.transaction() as tx:
            answers = await tx.answers.answers_of(round_id, person)

    asked_next = [
        r
        for r in replies
        if any(isinstance(m, engine.Ask) and m.item_id == "arbeidssted" for m in r.messages)
    ]
    refused = [
        r
        for r in replies
        if any(isinstance(m, engine.Say) and m.key == "engine.stale" for m in r.messages)
    ]
    assert len(asked_next) == 1, replies
    assert len(refused) == 1, replies
    assert [item for item, _ in answers] == ["samtykke"]
