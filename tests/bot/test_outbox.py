"""Round invitations travel through the outbox to the person's web chat, once."""

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.app import SERVICES, Services
from bot.channels.base import OutboundMessage, Sent
from scheduler import outbox
from storage import models as m
from tests.services import link_web, open_round, seed, services_on
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


async def test_a_round_opened_late_in_the_evening_invites_after_the_quiet_hours(db_url):
    evening = datetime(2026, 11, 23, 21, 30, tzinfo=UTC)  # 22:30 in Oslo: quiet until 07:00
    async with services_on(db_url) as services:
        await seed(services)
        linked = [await link_web(services, f"web-{n}", n) for n in ("Ingrid Berg", "Nina Solberg")]
        round_id = await services.rounds.create(
            "evaluering-samhandlingsseminar",
            ("medisinsk-klinikk", "elvevik-kommune"),
            evening,
            evening + timedelta(days=7),
        )
        first = await services.rounds.open(round_id, evening)
        again = await services.rounds.open(round_id, evening)
        async with services.store.transaction() as tx:
            rows = await tx.session.execute(
                select(m.OutboxMessage.person_id, m.OutboxMessage.not_before).where(
                    m.OutboxMessage.purpose == "invitation"
                )
            )
            queued = {person: at for person, at in rows}

    assert first.invited > len(linked) and first.queued == len(linked)
    assert first.without_identity == first.invited - len(linked)
    assert (again.invited, again.queued) == (0, 0)  # opening again invites nobody twice
    assert sorted(queued) == sorted(linked)
    assert set(queued.values()) == {datetime(2026, 11, 24, 6, 0, tzinfo=UTC)}  # 07:00 Oslo


class SlowSender:
    """A channel that takes `delay` seconds to send each message (`first` for the first)."""

    def __init__(self, delay: float, first: float | None = None) -> None:
        self.delays = [delay if first is None else first]
        self.delay = delay
        self.started = asyncio.Event()
        self.sent: list[int | None] = []

    async def send(self, message: OutboundMessage) -> Sent:
        self.started.set()
        await asyncio.sleep(self.delays.pop() if self.delays else self.delay)
        self.sent.append(message.outbox_id)
        return Sent()


async def invitations_for_two(services: Services, sender: SlowSender) -> None:
    """Invitations queued for two web chats, which `sender` delivers."""
    await seed(services)
    for name in ("Ingrid Berg", "Nina Solberg"):
        await link_web(services, f"web-{name}", name)
    services.drainer.senders["web"] = sender
    await open_round(services, anonymous=False)


async def invitation_statuses(services: Services) -> dict[str, str]:
    assert asyncio.all_tasks() == {asyncio.current_task()}  # no send left running
    async with services.store.transaction() as tx:
        return {k: s for k, s in (await tx.outbox.statuses()).items() if "invitation" in k}


async def stop_mid_send(db_url: str, sender: SlowSender) -> dict[str, str]:
    """The drainer is stopped while sending two invitations; their outbox statuses."""
    async with services_on(db_url) as services:
        await invitations_for_two(services, sender)
        drainer = asyncio.create_task(services.drainer.run(0.05))
        await asyncio.wait_for(sender.started.wait(), 10)
        drainer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await drainer
        return await invitation_statuses(services)


async def test_a_stopping_drainer_records_the_sends_under_way(db_url):
    sender = SlowSender(0.3)
    statuses = await stop_mid_send(db_url, sender)
    assert len(sender.sent) == 2
    assert list(statuses.values()) == ["sent", "sent"]  # not sent again after the lease


async def test_a_send_that_hangs_at_shutdown_is_cancelled_and_its_row_kept(db_url, monkeypatch):
    monkeypatch.setattr(outbox, "SHUTDOWN_GRACE_SECONDS", 0.1)
    sender = SlowSender(3600)
    statuses = await stop_mid_send(db_url, sender)
    assert sender.sent == []
    assert sorted(statuses.values()) == ["pending", "pending"]  # sent once the lease runs out


async def test_a_database_error_between_batches_still_records_the_sends_under_way(db_url):
    sender = SlowSender(0.5, first=0.05)  # one sent, one under way when the next claim fails
    async with services_on(db_url, outbox_concurrency=8) as services:  # room for a 2nd batch
        await invitations_for_two(services, sender)
        drainer = services.drainer
        claim, claims = drainer._claim, []

        async def claim_then_fail(limit: int) -> list:
            claims.append(limit)
            if len(claims) > 1:  # the next batch, while the first two are being sent
                raise ConnectionError("database gone")
            return await claim(limit)

        drainer._claim = claim_then_fail  # type: ignore[method-assign]
        with pytest.raises(ConnectionError):
            await drainer._pump()
        statuses = await invitation_statuses(services)
    assert len(claims) == 2 and len(sender.sent) == 2
    assert list(statuses.values()) == ["sent", "sent"]
