"""Strangers' browsers cannot fill the database: new web chats per address are capped."""

from __future__ import annotations

from aiohttp.test_utils import make_mocked_request
from sqlalchemy import func, select

from bot.app import SERVICES
from bot.channels.web.newcomers import WINDOW_SECONDS, NewcomerLimit, client_address
from dialogs.i18n import translate
from storage import models as m
from tests.webchat import ChatUser, running_app


async def web_identities(server) -> int:
    async with server.app[SERVICES].store.transaction() as tx:
        query = select(func.count()).select_from(m.Identity).where(m.Identity.channel == "web")
        return int(await tx.session.scalar(query) or 0)


async def test_the_fourth_new_browser_from_one_address_is_refused_and_stores_nothing(db_url):
    async with (
        running_app(db_url, seed=True, web_new_chats_per_hour=3) as server,
        ChatUser.on(server) as first,
        ChatUser.on(server) as second,
        ChatUser.on(server) as third,
        ChatUser.on(server) as fourth,
    ):
        for browser in (first, second, third):
            assert await browser.say("hei")  # the bot asks for an invite code
        assert await web_identities(server) == 3
        refused = await fourth.client.post(
            "/chat/api/send",
            json={"type": "text", "text": "hei"},
            headers={"Accept-Language": "nn-NO,nn;q=0.9"},
        )
        assert refused.status == 429
        assert await refused.text() == translate("nn", "web.too_many_new_chats")
        assert 0 < int(refused.headers["Retry-After"]) <= WINDOW_SECONDS + 1
        assert await web_identities(server) == 3
        # A browser that has a chat goes on as before.
        assert await first.say("/help")
        assert await web_identities(server) == 3


async def test_a_browser_with_a_chat_is_never_limited_after_a_restart(db_url):
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as kari:
        await kari.be("Kari Nordmann")
        cookies = kari.client.session.cookie_jar.filter_cookies(server.make_url("/"))
    async with (
        running_app(db_url, web_new_chats_per_hour=1) as server,
        ChatUser.on(server) as stranger,
        ChatUser.on(server) as kari_again,
    ):
        assert await stranger.say("hei")  # uses the address's one new chat
        kari_again.client.session.cookie_jar.update_cookies(cookies)
        said = await kari_again.say("/help")
        assert said and said[0]["text"] != translate("nb", "web.too_many_new_chats")


def test_the_window_slides():
    now = [0.0]
    limit = NewcomerLimit(2, clock=lambda: now[0])
    assert limit.admit("a") and limit.admit("a") and not limit.admit("a")
    assert limit.admit("b")  # another address has its own count
    assert limit.retry_after("a") == int(WINDOW_SECONDS) + 1
    now[0] = WINDOW_SECONDS + 0.5
    assert limit.admit("a")  # the first two have left the window
    assert limit.admit("a") and not limit.admit("a")


def test_the_address_counted_is_the_peer_or_what_a_local_proxy_saw():
    def seen(remote: str, forwarded: str | None = None) -> str:
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        request = make_mocked_request("POST", "/", headers=headers)
        return client_address(request.clone(remote=remote))

    assert seen("203.0.113.5", "198.51.100.7") == "203.0.113.5"  # only a local proxy is trusted
    assert seen("127.0.0.1", "198.51.100.7, 192.0.2.44") == "192.0.2.44"  # the proxy's own entry
    assert seen("::1", "2001:db8:1:2:3::9") == "2001:db8:1:2::/64"
    assert seen("2001:db8::1") == seen("2001:db8::ffff") == "2001:db8::/64"
    assert seen("::ffff:192.0.2.1") == "192.0.2.1"
    assert seen("127.0.0.1") == "127.0.0.1"


async def test_behind_a_local_proxy_each_forwarded_address_has_its_own_cap(db_url):
    async with (
        running_app(db_url, seed=True, web_new_chats_per_hour=1) as server,
        ChatUser.on(server) as first,
        ChatUser.on(server) as second,
        ChatUser.on(server) as third,
    ):
        statuses = []
        browsers = ((first, "198.51.100.1"), (second, "198.51.100.2"), (third, "198.51.100.1"))
        for browser, address in browsers:
            sent = await browser.client.post(
                "/chat/api/send",
                json={"type": "text", "text": "hei"},
                headers={"X-Forwarded-For": address},
            )
            statuses.append(sent.status)
        assert statuses == [200, 200, 429]
        assert await web_identities(server) == 2
