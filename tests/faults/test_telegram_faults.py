"""The Bot API answering 429 storms, 5xx, 403 and timeouts: the outbox and the chat carry on."""

import asyncio
import re
from collections import Counter

import pytest
from sqlalchemy.exc import OperationalError

from storage.store import Store
from tests.bot.test_telegram import ROUND_NAME, answers_of, enrolled, identified_round
from tests.peers.telegram_api import Call, TelegramApiStandIn
from tests.telegram_chat import TelegramUser, services, telegram_app

FIRST_CHAT = 7000
NOTICE = re.compile(r"melding (\d+)")


@pytest.fixture
async def api():
    async with TelegramApiStandIn() as stand_in:
        yield stand_in


async def enqueue_notices(store: Store, api: TelegramApiStandIn, count: int) -> None:
    """One notice «melding n» for each of `count` people, straight into the outbox."""
    async with store.transaction() as tx:
        for n in range(count):
            api.user(FIRST_CHAT + n)
            identity = await tx.org.ensure_identity("telegram", str(FIRST_CHAT + n))
            await tx.outbox.enqueue(
                f"fault-test:{n}",
                "notice",
                "telegram",
                {"text": f"melding {n}"},
                None,
                identity.id,
            )


def delivered(api: TelegramApiStandIn) -> Counter[int]:
    """Notice number -> how many times it reached its chat (a dropped answer still counts)."""
    return Counter(
        int(match[1])
        for call in api.calls_to("sendMessage")
        if call.ok and (match := NOTICE.fullmatch(str(call.params.get("text", ""))))
    )


async def statuses(store: Store) -> Counter[str]:
    async with store.transaction() as tx:
        return Counter((await tx.outbox.statuses()).values())


async def until_settled(store: Store, expected: Counter[str], within: float = 20.0) -> None:
    """Wait until the outbox rows have reached these final statuses."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (found := await statuses(store)) != expected:
        assert loop.time() < deadline, f"outbox still {dict(found)}, expected {dict(expected)}"
        await asyncio.sleep(0.1)


IN_FLIGHT = 0.25
"""Seconds after a 429 during which sends already on their way may still arrive (the answer
reaches the bot's loop late on a busy machine; the rows' slots are 33 ms apart)."""


def early_calls(api: TelegramApiStandIn, refused: list[Call], retry_after: float) -> list[Call]:
    """sendMessage calls started while a 429 told the bot to wait."""
    return [
        call
        for call in api.calls_to("sendMessage")
        for no in refused
        if no.time + IN_FLIGHT < call.time < no.time + retry_after - 0.05
    ]


async def test_a_429_storm_pauses_the_outbox_then_everything_arrives_once(db_url, api):
    people = 12
    async with telegram_app(db_url, "webhook", api) as server:
        store = services(server).store
        storm = api.fail("sendMessage", status=429, retry_after=1, times=None)
        await enqueue_notices(store, api, people)
        await asyncio.sleep(2.5)
        api.cancel(storm)
        await until_settled(store, Counter({"sent": people}))
    refused = [c for c in api.calls_to("sendMessage") if c.status == 429]
    assert refused, "the storm answered nothing"
    # The pause is honoured: nothing is sent within retry_after of a 429 ...
    assert early_calls(api, refused, 1.0) == []
    # ... so a 2.5 s storm costs a few rounds of asking, not a flood of requests.
    assert len(refused) <= 3 * people
    assert delivered(api) == Counter(range(people))


async def test_5xx_answers_are_retried_with_backoff_then_delivered(db_url, api):
    async with telegram_app(db_url, "webhook", api) as server:
        store = services(server).store
        api.fail("sendMessage", chat_id=FIRST_CHAT, status=500, times=1)
        api.fail("sendMessage", chat_id=FIRST_CHAT + 1, status=502, times=1)
        await enqueue_notices(store, api, 3)
        await until_settled(store, Counter({"sent": 3}))
    assert delivered(api) == Counter(range(3))
    for chat in (FIRST_CHAT, FIRST_CHAT + 1):
        failed, retried = api.calls_to("sendMessage", chat_id=chat)
        assert failed.status in (500, 502) and retried.ok
        assert retried.time - failed.time >= 1.0  # backed off, not hammered


async def test_a_blocked_person_is_marked_unreachable_and_the_others_still_get_theirs(db_url, api):
    async with telegram_app(db_url, "webhook", api) as server:
        store = services(server).store
        api.user(FIRST_CHAT + 1).block()
        await enqueue_notices(store, api, 4)
        await until_settled(store, Counter({"sent": 3, "unreachable": 1}))
        await asyncio.sleep(0.5)  # a few more drain rounds: the blocked row is not retried
        async with store.transaction() as tx:
            blocked = await tx.org.identity("telegram", str(FIRST_CHAT + 1))
    assert blocked is not None and blocked.reachable is False
    assert [c.status for c in api.calls_to("sendMessage", chat_id=FIRST_CHAT + 1)] == [403]
    assert delivered(api) == Counter([0, 2, 3])


async def test_dropped_connections_and_timeouts_are_retried_with_bounded_duplicates(db_url, api):
    # A 2 s lease: a send gets 1 s (half the lease) before it counts as failed.
    async with telegram_app(db_url, "webhook", api, outbox_lease_seconds=2) as server:
        store = services(server).store
        # Hung up before sending: not delivered; after: delivered, but the bot cannot know.
        api.drop("sendMessage", chat_id=FIRST_CHAT, times=1)
        api.drop("sendMessage", chat_id=FIRST_CHAT + 1, after=True, times=1)
        # Answered after 3 s: the message arrives, but the bot has given up and sends again.
        api.delay("sendMessage", 3.0, chat_id=FIRST_CHAT + 2, times=1)
        await enqueue_notices(store, api, 4)
        await until_settled(store, Counter({"sent": 4}), within=30)
    counts = delivered(api)
    assert set(counts) == {0, 1, 2, 3}  # nothing lost
    # At least once: a send whose answer was lost is sent again, once.
    assert counts == Counter({0: 1, 1: 2, 2: 2, 3: 1})


async def invited(server, api: TelegramApiStandIn, chat_id: int) -> tuple[TelegramUser, int]:
    """A person enrolled, invited to a named round through the outbox, and started on it."""
    person = await enrolled(server, api, chat_id)
    mark = api.mark()
    round_id = await identified_round(server)
    invitation = await api.wait_for_call("sendMessage", chat_id=chat_id, since=mark)
    await person.press(
        f"Start: {ROUND_NAME}", person.chat.message(invitation.result["message_id"])
    )
    return person, round_id


BRIEF_FAULTS = {
    "429": lambda api, chat: api.fail("sendMessage", chat_id=chat, status=429, retry_after=1),
    "dropped": lambda api, chat: api.drop("sendMessage", chat_id=chat),
}


@pytest.mark.parametrize("fault", BRIEF_FAULTS)
async def test_a_brief_fault_on_the_next_question_is_waited_out(db_url, api, fault):
    async with telegram_app(db_url, "webhook", api) as server:
        kari, round_id = await invited(server, api, 7101)
        BRIEF_FAULTS[fault](api, 7101)
        await kari.press("Ja, jeg vil delta")
        assert "Hvor jobber du?" in kari.last_text()
        refused, shown = api.calls_to("sendMessage", chat_id=7101)[-2:]
        assert not refused.ok and shown.ok
        if fault == "429":
            assert shown.time - refused.time >= 0.95  # waited out retry_after
        await kari.press("Sykehus")
        assert "Hva er rollen din?" in kari.last_text()
        assert await answers_of(server, 7101, round_id) == [
            ("samtykke", {"choice": "yes"}),
            ("arbeidssted", {"choice": "sykehus"}),
        ]


@pytest.mark.parametrize("status", [502, 403])
async def test_when_the_next_question_cannot_be_sent_the_answer_is_kept_for_resume(
    db_url, api, status
):
    async with telegram_app(db_url, "webhook", api) as server:
        kari, round_id = await invited(server, api, 7102)
        outage = api.fail("sendMessage", chat_id=7102, status=status, times=None)
        await kari.press("Ja, jeg vil delta")
        api.cancel(outage)
        kari.user.unblock()
        assert await answers_of(server, 7102, round_id) == [("samtykke", {"choice": "yes"})]
        await kari.say("/resume")
        assert "Hvor jobber du?" in kari.last_text()
        await kari.press("Sykehus")
        assert "Hva er rollen din?" in kari.last_text()


async def test_a_tap_during_a_database_outage_is_refused_with_503_and_redelivered(db_url, api):
    async with telegram_app(db_url, "webhook", api) as server:
        round_id = await identified_round(server)
        kari = await enrolled(server, api, 2101)
        await kari.press(f"Start: {ROUND_NAME}")
        consent = kari.chat.last()
        yes = kari.find("Ja, jeg vil delta", consent)[1]
        conversation = services(server).conversation
        handle = conversation.handle

        async def database_down(*args, **kwargs):
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("restarting"))

        conversation.handle = database_down  # type: ignore[method-assign]
        refused = await kari.user.press(consent, yes, check=False)
        during = await answers_of(server, 2101, round_id)
        conversation.handle = handle  # type: ignore[method-assign]
        redelivered = await kari.user.press(consent, yes)  # Telegram retries a non-2xx update

        assert refused.status == 503  # so Telegram keeps the update and delivers it again
        assert during == []
        assert redelivered.status == 200
        assert await answers_of(server, 2101, round_id) == [("samtykke", {"choice": "yes"})]
        assert "Hvor jobber du?" in kari.last_text()
