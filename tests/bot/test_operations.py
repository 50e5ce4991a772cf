"""/healthz and /metrics as an operator's monitoring sees them."""

import asyncio
import json

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.channels.base import Failed, RetryAfter, Sent, Unreachable
from bot.metrics import failure_reason
from bot.services.checkins import CheckinService
from tests.bot.test_telegram import enrolled, identified_round
from tests.peers.telegram_api import TelegramApiStandIn
from tests.process import free_port
from tests.telegram_chat import services, telegram_app
from tests.webchat import NOW, ChatUser, running_app, settings_for

CHECKIN_UNITS = ("lungeavdelingen", "hjerteavdelingen", "heimetenesta-nordbygda")
"""Three, two and two staff members: seven invitees together, more than k = 5."""


async def scrape(server, headers=None) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by (name, labels)."""
    response = await server_get(server, "/metrics", headers)
    assert response[0] == 200, response
    assert response[2].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response[1]):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


async def server_get(server, path, headers=None) -> tuple[int, str, str]:
    async with (
        aiohttp.ClientSession() as client,
        client.get(server.make_url(path), headers=headers or {}) as response,
    ):
        return response.status, await response.text(), response.headers["Content-Type"]


def value(samples, name, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


async def test_healthz_says_the_database_answers_and_who_runs_the_scheduler(db_url):
    async with running_app(db_url) as first, running_app(db_url) as second:
        answers = [await server_get(server, "/healthz") for server in (first, second)]
    assert [status for status, _, _ in answers] == [200, 200]
    bodies = [json.loads(text) for _, text, _ in answers]
    assert bodies[0] == {"status": "ok", "database": "ok", "scheduler_lease": True}
    assert bodies[1] == {"status": "ok", "database": "ok", "scheduler_lease": False}


async def test_healthz_is_503_when_the_database_does_not_answer():
    # Nothing listens on this port: every connection attempt is refused at once.
    gone = f"postgresql://postgres@127.0.0.1:{free_port()}/followup"
    async with running_app(gone) as server:
        status, text, _ = await server_get(server, "/healthz")
    assert status == 503
    assert '"database": "unavailable"' in text and '"scheduler_lease": false' in text


async def test_metrics_count_web_chat_messages_and_show_the_checkin_response_rate(db_url):
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as user:
        await user.be("Kari Nordmann")
        await user.say("/status")
        await user.say("/help")
        before = await scrape(server)
        checkins = CheckinService(
            services(server).store, services(server).catalog, settings_for(db_url)
        )
        first = await checkins.open_checkin(CHECKIN_UNITS[0], 0, NOW)
        shown_below_k = await scrape(server)
        rounds = [first.round_id] + [
            (await checkins.open_checkin(unit, 0, NOW)).round_id for unit in CHECKIN_UNITS[1:]
        ]
        async with services(server).store.transaction() as tx:
            invitees = [p for r in rounds for p in await tx.rounds.participations(r)]
            for participation in invitees[:2]:
                await tx.rounds.complete(
                    participation.round_id, participation.person_id, NOW.date()
                )
        after = await scrape(server)

    # The demo link is not a message the person sent; the two commands are.
    assert value(before, "followup_messages_in_total", channel="web") == 2
    assert value(before, "followup_messages_in_total", channel="telegram") == 0
    replies = [m for m in user.seen if m["direction"] == "out"]
    greeting = 1  # the demo link's greeting is the page's, not a reply to a message
    assert value(before, "followup_messages_out_total", channel="web") == len(replies) - greeting
    assert value(shown_below_k, "followup_checkin_response_rate") is None  # 3 invitees < k
    assert len(invitees) == 7
    assert value(after, "followup_checkin_response_rate") == pytest.approx(2 / 7)
    assert value(after, "followup_scheduler_lease_held") == 1


async def test_metrics_count_telegram_send_failures_by_reason_and_the_outbox_depth(db_url):
    async with TelegramApiStandIn() as api, telegram_app(db_url, "webhook", api) as server:
        kari = await enrolled(server, api, 2101, "Kari")
        await enrolled(server, api, 2102, "Per")
        await enrolled(server, api, 2103, "Ola")
        kari.user.block()
        api.fail("sendMessage", chat_id=2102, status=429, retry_after=1, times=1)
        api.fail("sendMessage", chat_id=2103, status=500, times=None)
        mark = api.mark()
        await identified_round(server)
        await api.wait_for_call("sendMessage", chat_id=2102, since=mark, timeout=10)
        samples = await scrape(server)
        for _ in range(100):  # the drainer records the outcome just after the send
            if value(samples, "followup_outbox_depth", channel="telegram") == 1:
                break
            await asyncio.sleep(0.05)
            samples = await scrape(server)
        delivered = [c for c in api.calls if c.method == "sendMessage" and c.status == 200]

    failures = {
        labels: count
        for (name, labels), count in samples.items()
        if name == "followup_send_failures_total"
    }
    assert failures[(("channel", "telegram"), ("reason", "forbidden"))] == 1
    assert failures[(("channel", "telegram"), ("reason", "rate_limited"))] == 1
    assert failures[(("channel", "telegram"), ("reason", "server_error"))] >= 1
    assert value(samples, "followup_outbox_depth", channel="telegram") == 1  # Ola's, retried
    assert value(samples, "followup_messages_in_total", channel="telegram") == 3
    assert value(samples, "followup_messages_out_total", channel="telegram") == len(delivered)


async def test_metrics_are_for_loopback_or_the_bearer_token_only(db_url):
    proxied = {"X-Forwarded-For": "203.0.113.9"}  # what a reverse proxy on this host adds
    async with running_app(db_url) as open_server:
        assert (await server_get(open_server, "/metrics"))[0] == 200
        assert (await server_get(open_server, "/metrics", proxied))[0] == 403
        assert (await server_get(open_server, "/healthz", proxied))[0] == 200
    async with running_app(db_url, metrics_token="scrape-me") as server:
        wrong = {**proxied, "Authorization": "Bearer guess"}
        right = {**proxied, "Authorization": "Bearer scrape-me"}
        assert (await server_get(server, "/metrics", wrong))[0] == 401
        status, text, _ = await server_get(server, "/metrics", right)
    assert status == 200 and "followup_messages_in_total" in text


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        (Sent("17"), None),
        (RetryAfter(3.0), "rate_limited"),
        (Unreachable("Forbidden: bot was blocked by the user"), "forbidden"),
        (Unreachable("Teams answered 403"), "forbidden"),
        (Unreachable("no stored Teams conversation reference"), "unreachable"),
        (Failed("Timed out"), "timeout"),
        (Failed("no answer within 30 s"), "timeout"),
        (Failed("Internal Server Error"), "server_error"),
        (Failed("Bad Gateway"), "server_error"),
        (Failed("Message is too long"), "other"),
    ],
)
def test_send_failures_have_a_few_fixed_reasons_never_the_error_text(result, reason):
    assert failure_reason(result) == reason
