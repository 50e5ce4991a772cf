"""The Bot Connector answering 429, 502/504, 500, 403 and timeouts: the outbox and the chat carry
on (the real app in Teams dev mode, activities posted to /api/messages, replies to a stand-in)."""

import asyncio
import itertools
import re
from collections import Counter
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from storage.store import Store
from tests.bot.test_telegram import ROUND_NAME, identified_round
from tests.faults.teams_connector import BotConnectorStandIn, ConnectorCall
from tests.faults.test_telegram_faults import statuses, until_settled
from tests.telegram_chat import invite_code, services
from tests.webchat import running_app

NOTICE = re.compile(r"melding (\d+)")
_activity_ids = itertools.count(1)


@pytest.fixture
async def connector():
    async with BotConnectorStandIn() as stand_in:
        yield stand_in


def conversation_of(n: int) -> str:
    return f"a:fault-conversation-{n}"


async def enqueue_notices(store: Store, connector: BotConnectorStandIn, count: int) -> None:
    """Teams people who talked to the bot before (a stored reference), each sent a notice."""
    async with store.transaction() as tx:
        for n in range(count):
            identity = await tx.org.ensure_identity("teams", f"aad-{n}")
            reference = {
                "user": {"id": f"29:user-{n}", "aadObjectId": f"aad-{n}"},
                "bot": {"id": "28:bot"},
                "conversation": {"id": conversation_of(n), "conversationType": "personal"},
                "channelId": "msteams",
                "serviceUrl": connector.url,
            }
            await tx.org.set_conversation_ref(identity.id, reference)
            await tx.outbox.enqueue(
                f"teams-fault:{n}", "notice", "teams", {"text": f"melding {n}"}, None, identity.id
            )


def delivered(connector: BotConnectorStandIn) -> Counter[int]:
    """Notice number -> how many times Teams accepted it."""
    return Counter(
        int(match[1])
        for call in connector.calls
        if call.ok and (match := NOTICE.fullmatch(call.summary))
    )


async def test_a_429_storm_with_retry_after_pauses_sending_then_all_arrive_once(db_url, connector):
    people = 6
    async with running_app(db_url, teams_dev_mode=True) as server:
        store = services(server).store
        storm = connector.fail(429, retry_after=1, times=None)
        await enqueue_notices(store, connector, people)
        await asyncio.sleep(2.5)
        connector.cancel(storm)
        await until_settled(store, Counter({"sent": people}))
    refused = [c for c in connector.calls if c.status == 429]
    assert refused
    # The pause is honoured: no one's message is tried again before Retry-After has passed
    # (sends already on their way when the first 429 came back still arrive; Teams' requests
    # take a while), and a 2.5 s storm costs each message at most three tries.
    for n in range(people):
        tries = connector.sent_to(conversation_of(n))
        for no, again in itertools.pairwise(tries):
            assert no.status == 429 and again.time - no.time >= 0.95
        assert len(tries) <= 4
    assert delivered(connector) == Counter(range(people))


async def test_502_504_and_500_are_retried_then_delivered(db_url, connector):
    async with running_app(db_url, teams_dev_mode=True) as server:
        store = services(server).store
        for n, status in enumerate((502, 504, 500)):
            connector.fail(status, conversation_of(n), times=1)
        await enqueue_notices(store, connector, 4)
        await until_settled(store, Counter({"sent": 4}))
    assert delivered(connector) == Counter(range(4))
    for n in range(3):
        failed, retried = connector.sent_to(conversation_of(n))
        assert not failed.ok and retried.ok
        assert retried.time - failed.time >= 0.9


async def test_403_marks_the_person_unreachable_and_the_others_still_get_theirs(db_url, connector):
    async with running_app(db_url, teams_dev_mode=True) as server:
        store = services(server).store
        connector.fail(403, conversation_of(2), times=None)
        await enqueue_notices(store, connector, 4)
        await until_settled(store, Counter({"sent": 3, "unreachable": 1}))
        await asyncio.sleep(0.5)
        async with store.transaction() as tx:
            removed = await tx.org.identity("teams", "aad-2")
    assert removed is not None and removed.reachable is False
    assert [c.status for c in connector.sent_to(conversation_of(2))] == [403]
    assert delivered(connector) == Counter([0, 1, 3])


async def test_a_connector_slower_than_the_lease_allows_is_given_up_and_retried(db_url, connector):
    # With a 2 s lease a send may take 1 s; this one is answered after 3 s, when the bot has
    # given up (else the lease would run out and the row be taken over mid-send).
    async with running_app(db_url, teams_dev_mode=True, outbox_lease_seconds=2) as server:
        store = services(server).store
        connector.delay(3.0, conversation_of(1))
        await enqueue_notices(store, connector, 3)
        await until_settled(store, Counter({"sent": 3}), within=30)
        await asyncio.sleep(1.5)  # the slow request's late acceptance
    counts = delivered(connector)
    assert counts == Counter({0: 1, 1: 2, 2: 1})  # at least once; one duplicate per time-out
    async with running_app(db_url) as server:
        assert await statuses(services(server).store) == Counter({"sent": 3})


# --- inside a conversation ------------------------------------------------------------------


class TeamsPerson:
    """Someone in a Teams chat with the bot: activities to /api/messages, cards from the
    connector stand-in."""

    def __init__(self, server: TestServer, connector: BotConnectorStandIn, n: int) -> None:
        self.url = str(server.make_url("/api/messages"))
        self.connector = connector
        self.conversation = conversation_of(n)
        self.key = f"aad-person-{n}"
        self.who = {"id": f"29:person-{n}", "aadObjectId": self.key, "name": "Kari"}

    async def post(self, **fields: Any) -> int:
        activity = {
            "type": "message",
            "id": f"in-{next(_activity_ids)}",
            "channelId": "msteams",
            "serviceUrl": self.connector.url,
            "from": self.who,
            "recipient": {"id": "28:bot", "name": "Followup"},
            "conversation": {"id": self.conversation, "conversationType": "personal"},
            **fields,
        }
        async with aiohttp.ClientSession() as http, http.post(self.url, json=activity) as reply:
            return reply.status

    async def say(self, text: str) -> int:
        return await self.post(text=text)

    def cards(self) -> list[ConnectorCall]:
        return [c for c in self.connector.delivered(self.conversation) if c.card]

    def last_texts(self) -> list[str]:
        from tests.teams_chat import card_texts

        card = self.cards()[-1].card
        assert card is not None
        return card_texts(card)

    async def press(self, title: str, inputs: dict[str, Any] | None = None) -> int:
        """Press the newest card's button with this title (Action.Submit data plus inputs)."""
        for call in reversed(self.cards()):
            assert call.card is not None
            for action in call.card.get("actions", []):
                if action["title"] == title or action["title"].endswith(": " + title):
                    value = {**action["data"], **(inputs or {})}
                    return await self.post(value=value, replyToId=call.answer_id)
        raise LookupError(f"no button {title!r}")

    async def answer(self, value: Any) -> int:
        return await self.press("Svar", {"answer": value})


async def started(
    server: TestServer, connector: BotConnectorStandIn, n: int
) -> tuple[TeamsPerson, int]:
    """A Teams person enrolled by invite code, invited to a named round and on its first card."""
    person = TeamsPerson(server, connector, n)
    await person.say(await invite_code(server))
    round_id = await identified_round(server)
    await connector_wait(lambda: any(ROUND_NAME in c.summary for c in person.cards()))
    assert await person.press(f"Start: {ROUND_NAME}") < 300
    assert any("Vil du delta?" in t for t in person.last_texts())
    return person, round_id


async def connector_wait(condition: Any, within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, "the bot sent nothing"
        await asyncio.sleep(0.05)


async def stored_answers(server: TestServer, key: str, round_id: int) -> list[str]:
    async with services(server).store.transaction() as tx:
        identity = await tx.org.identity("teams", key)
        assert identity is not None and identity.person_id is not None
        rows = await tx.answers.answers_of(round_id, identity.person_id)
    return [item for item, _value in rows]


async def test_a_brief_429_on_the_next_card_is_waited_out(db_url, connector):
    async with running_app(db_url, seed=True, teams_dev_mode=True) as server:
        kari, round_id = await started(server, connector, 1)
        connector.fail(429, kari.conversation, retry_after=1, times=1)
        assert await kari.answer("yes") < 300
        assert "Hvor jobber du?" in kari.last_texts()
        refused, shown = connector.sent_to(kari.conversation)[-2:]
        assert refused.status == 429 and shown.ok
        assert shown.time - refused.time >= 0.95
        await kari.answer("sykehus")
        assert "Hva er rollen din?" in kari.last_texts()
        assert await stored_answers(server, kari.key, round_id) == ["samtykke", "arbeidssted"]


async def test_when_the_next_card_cannot_be_sent_the_answer_is_kept_for_resume(db_url, connector):
    async with running_app(db_url, seed=True, teams_dev_mode=True) as server:
        kari, round_id = await started(server, connector, 2)
        outage = connector.fail(502, kari.conversation, retry_after=1, times=None)
        await kari.answer("yes")
        connector.cancel(outage)
        assert await stored_answers(server, kari.key, round_id) == ["samtykke"]
        await kari.say("/resume")
        assert "Hvor jobber du?" in kari.last_texts()
        await kari.answer("sykehus")
        assert await stored_answers(server, kari.key, round_id) == ["samtykke", "arbeidssted"]
