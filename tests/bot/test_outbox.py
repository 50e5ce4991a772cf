"""Round invitations travel through the outbox to the person's web chat, once."""

import asyncio

from bot.app import SERVICES
from tests.services import open_round
from tests.webchat import ChatUser, running_app


async def test_opening_a_round_delivers_one_invitation_to_the_web_chat(db_url):
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as user:
        await user.be("Ingrid Berg")
        services = server.app[SERVICES]
        round_id = await open_round(services, anonymous=False, units=("medisinsk-klinikk",))
        await services.rounds.open(round_id, services.drainer.clock())  # opening twice
        invitations = []
        for _ in range(100):  # the drainer runs every 50 ms in tests
            invitations += [m for m in await user.poll() if m["type"] == "invitation"]
            if invitations:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        invitations += [m for m in await user.poll() if m["type"] == "invitation"]
        async with services.store.transaction() as tx:
            statuses = await tx.outbox.statuses()

    assert [m["rounds"][0]["round_id"] for m in invitations] == [round_id]
    assert "«Evaluering av samhandlingsseminaret»" in invitations[0]["text"]
    queued = {
        key: status
        for key, status in statuses.items()
        if key.startswith(f"invitation:{round_id}:")
    }
    assert list(queued.values()) == ["sent"]  # only Ingrid has a chat identity yet


async def test_people_without_a_chat_identity_see_the_round_when_they_arrive(db_url):
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as user:
        services = server.app[SERVICES]
        round_id = await open_round(services, anonymous=False, units=("elvevik-kommune",))
        greeting = await user.be("Nina Solberg")
    offered = [r["round_id"] for r in greeting[-1]["rounds"]]
    assert round_id in offered
