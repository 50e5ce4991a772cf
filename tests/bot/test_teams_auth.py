"""With a real app id, Teams traffic is authenticated both ways (fake credentials, loopback)."""

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from botframework.connector.auth import MicrosoftAppCredentials

from tests.services import services_on
from tests.teams_chat import NOW
from tests.webchat import ChatUser, running_app

APP = {
    "microsoft_app_id": "11111111-2222-3333-4444-555555555555",
    "microsoft_app_password": "not-a-real-secret",
    "microsoft_app_type": "SingleTenant",
    "microsoft_app_tenant_id": "99999999-8888-7777-6666-555555555555",
}
ACTIVITY = {
    "type": "message",
    "id": "1",
    "text": "hei",
    "channelId": "msteams",
    "serviceUrl": "http://127.0.0.1:1/",
    "from": {"id": "29:user"},
    "recipient": {"id": "28:bot"},
    "conversation": {"id": "a:conv"},
}


async def test_an_inbound_activity_without_a_valid_token_is_refused(db_url):
    async with running_app(db_url, **APP) as server, ChatUser.on(server) as client:
        http = client.client
        assert (await http.post("/api/messages", json=ACTIVITY)).status == 401
        forged = {"Authorization": "Bearer eyJhbGciOiJub25lIn0.e30."}
        assert (await http.post("/api/messages", json=ACTIVITY, headers=forged)).status == 401
        garbage = await http.post(
            "/api/messages", data=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert garbage.status in (400, 401)


async def test_proactive_messages_carry_the_bots_bearer_token(db_url, monkeypatch):
    from bot.channels.teams.channel import TeamsChannel
    from bot.channels.teams.render import render_payload
    from tests.webchat import settings_for

    seen: list[str] = []

    async def activities(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.json_response({"id": "activity-1"})

    connector = web.Application()
    # A reply to the conversation: POST /v3/conversations/{id}/activities[/{reply-to id}]
    connector.router.add_post("/v3/conversations/{conversation}/activities/{reply_to}", activities)
    fake = TestServer(connector, host="127.0.0.1")
    await fake.start_server()
    monkeypatch.setattr(
        MicrosoftAppCredentials,
        "get_access_token",
        lambda self, force_refresh=False: "fake-token-for-tests",
    )
    try:
        async with services_on(db_url) as services:
            channel = TeamsChannel(
                settings_for(db_url, **APP), services.store, services.conversation, lambda: NOW
            )
            reference = {
                "activityId": "1",
                "user": {"id": "29:user"},
                "bot": {"id": "28:bot"},
                "conversation": {"id": "a:conv"},
                "channelId": "msteams",
                "serviceUrl": str(fake.make_url("/")),
            }
            sent = await channel.proactive(
                reference, "29:user", render_payload({"text": "Hei!", "rounds": []})
            )
    finally:
        await fake.close()
    assert sent == "activity-1"
    assert seen == ["Bearer fake-token-for-tests"]


def test_single_tenant_without_a_tenant_id_does_not_start():
    from bot.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="MicrosoftAppTenantId"):
        load_settings(microsoft_app_id="x", microsoft_app_type="SingleTenant")
