"""The Agents Playground harness against a tiny botbuilder echo bot (CloudAdapter, no app id).

The bot echoes text, answers "card" with an Adaptive Card (Action.Submit + Action.Execute),
reports submitted values, and later sends a proactive message through
`adapter.continue_conversation`; everything is checked in the Playground's recording.
"""

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from botbuilder.core import (
    ActivityHandler,
    CardFactory,
    InvokeResponse,
    MessageFactory,
    TurnContext,
)
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import (
    Activity,
    AdaptiveCardInvokeResponse,
    ConversationReference,
)

from tests.peers.teams_playground import (
    ADAPTIVE_CARD,
    BOT,
    EXECUTABLE,
    ROOT,
    TENANT_ID,
    USER,
    PlaygroundError,
    TeamsPlayground,
    installed_version,
    parse_recording,
)

CARD = {
    "type": "AdaptiveCard",
    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
    "version": "1.4",
    "body": [
        {"type": "TextBlock", "text": "Har tiltaket startet?"},
        {"type": "Input.Text", "id": "comment", "label": "Kommentar"},
    ],
    "actions": [
        {"type": "Action.Submit", "title": "Ja", "data": {"answer": "yes"}},
        {"type": "Action.Execute", "title": "Oppdater", "verb": "refresh", "data": {"n": 1}},
    ],
}

ANSWERED = {**CARD, "body": [{"type": "TextBlock", "text": "Svar registrert"}], "actions": []}


def need_playground() -> None:
    """Skip without the npm package or Node, unless CI=true (then a missing peer fails)."""
    missing = None
    if not EXECUTABLE.exists():
        missing = f"the Agents Playground is missing at {EXECUTABLE} (npm ci)"
    elif shutil.which("node") is None:
        missing = "node is not on PATH"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing} (CI=true: a missing peer is a failure)")
        pytest.skip(missing)


class Config:
    """What ConfigurationBotFrameworkAuthentication reads; an empty app id means no auth."""

    APP_ID = ""
    APP_PASSWORD = ""
    APP_TYPE = "MultiTenant"
    APP_TENANTID = ""


class EchoBot(ActivityHandler):
    def __init__(self) -> None:
        self.received: list[Activity] = []
        self.reference: ConversationReference | None = None
        self.errors: list[BaseException] = []

    async def on_turn(self, turn_context: TurnContext) -> None:
        self.received.append(turn_context.activity)
        if self.reference is None:
            self.reference = TurnContext.get_conversation_reference(turn_context.activity)
        await super().on_turn(turn_context)

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        if activity.value is not None:
            if activity.reply_to_id:  # replace the card, as a bot records an answer in place
                answered = MessageFactory.attachment(CardFactory.adaptive_card(ANSWERED))
                answered.id = activity.reply_to_id
                await turn_context.update_activity(answered)
            await turn_context.send_activity(
                f"submitted {json.dumps(activity.value, sort_keys=True)}"
            )
        elif activity.text == "card":
            await turn_context.send_activity(
                MessageFactory.attachment(CardFactory.adaptive_card(CARD))
            )
        else:
            await turn_context.send_activity(f"echo: {activity.text}")

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse | None:
        activity = turn_context.activity
        if activity.name != "adaptiveCard/action":
            return await super().on_invoke_activity(turn_context)
        verb = activity.value["action"]["verb"]
        refreshed = {**CARD, "body": [{"type": "TextBlock", "text": f"verb {verb}"}]}
        # Not on_adaptive_card_invoke: ActivityHandler serializes that answer to a dict and
        # CloudAdapter.process serializes it again, which fails in botbuilder 4.17
        # ('dict' object has no attribute 'is_xml_model'). CloudAdapter wants the model.
        return InvokeResponse(
            status=200,
            body=AdaptiveCardInvokeResponse(status_code=200, type=ADAPTIVE_CARD, value=refreshed),
        )


class BotServer:
    def __init__(self) -> None:
        self.bot = EchoBot()
        self.adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(Config()))

        async def on_error(context: TurnContext, error: Exception) -> None:
            self.bot.errors.append(error)

        self.adapter.on_turn_error = on_error
        self.app = web.Application()
        self.app.router.add_post("/api/messages", self.messages)
        self.runner = web.AppRunner(self.app)
        self.endpoint = ""

    async def messages(self, request: web.Request) -> web.StreamResponse:
        return await self.adapter.process(request, self.bot)

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.endpoint = f"http://127.0.0.1:{port}/api/messages"


@pytest.fixture
async def bot_server() -> AsyncIterator[BotServer]:
    need_playground()
    server = BotServer()
    await server.start()
    yield server
    await server.runner.cleanup()


def listening_addresses(port: int) -> set[str]:
    """Local addresses of sockets listening on `port`, from /proc/net/tcp{,6} (hex)."""
    found = set()
    for name in ("tcp", "tcp6"):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


async def test_echo_card_submit_execute_and_proactive(bot_server: BotServer) -> None:
    bot = bot_server.bot
    async with TeamsPlayground(bot_server.endpoint, timezone="Europe/Oslo") as teams:
        assert teams.conversation_id.startswith("a:")
        mock = (await teams.config())["config"]
        assert mock["tenantId"] == TENANT_ID and mock["bot"]["id"] == BOT.id
        me = mock["currentUser"]
        assert (me["id"], me["name"], me["aadObjectId"], me["userPrincipleName"], me["email"]) == (
            USER.id,
            USER.name,
            USER.aad_object_id,
            USER.user_principal_name,
            USER.email,
        )
        assert mock["personalChat"]["id"] == teams.conversation_id
        addresses = listening_addresses(teams.port)
        if addresses:  # Linux: only loopback (127.0.0.1 is 0100007F in /proc/net/tcp)
            assert addresses == {"0100007F"}, addresses

        # A text message, and the echo with the Playground's id for it.
        message_id = await teams.send_text("hei")
        echo = await teams.wait_for_bot_activity(lambda a: a.text == "echo: hei")
        assert echo.kind == "send" and echo.id and echo.status == 201
        assert echo.activity["recipient"]["id"] == USER.id

        first = bot.received[0]
        assert first.type == "message" and first.text == "hei" and first.id
        assert first.channel_id == "msteams"
        assert first.service_url == teams.service_url
        assert first.conversation.id == teams.conversation_id
        assert first.conversation.conversation_type == "personal"
        assert first.from_property.id == USER.id
        assert first.from_property.name == USER.name
        assert first.from_property.aad_object_id == USER.aad_object_id
        assert first.recipient.id == BOT.id
        assert first.channel_data["tenant"]["id"] == TENANT_ID
        assert first.locale == "en-US"  # always, in the Playground's own messages
        sent = await teams.wait_for_activity_to_bot(lambda a: a.get("text") == "hei")
        assert sent["conversation"]["tenantId"] == TENANT_ID
        assert sent["localTimezone"] == "Europe/Oslo"
        assert message_id  # the REST answer's id is the Playground's, not the activity's

        # The same message in another locale goes as a custom activity.
        norwegian_id = await teams.send_text("hallo", locale="nb-NO")
        await teams.wait_for_bot_activity(lambda a: a.text == "echo: hallo")
        norwegian = bot.received[-1]
        assert (norwegian.id, norwegian.locale, norwegian.text) == (norwegian_id, "nb-NO", "hallo")
        assert norwegian.from_property.aad_object_id == USER.aad_object_id
        assert norwegian.conversation.id == teams.conversation_id

        # A card, then its Action.Submit: a message activity with `value`, replying to the card.
        start = len(teams.bot_activities())
        await teams.send_text("card")
        card = await teams.wait_for_bot_activity(lambda a: bool(a.cards), start=start)
        assert card.cards[0]["actions"][0]["data"] == {"answer": "yes"}
        await teams.submit(card.id, {"answer": "yes", "comment": "fint"})
        confirmation = await teams.wait_for_bot_activity(
            lambda a: (a.text or "").startswith("submitted"), start=start
        )
        assert confirmation.text == 'submitted {"answer": "yes", "comment": "fint"}'
        updated = await teams.wait_for_bot_activity(lambda a: a.kind == "update", start=start)
        assert updated.id == card.id and updated.cards == [ANSWERED]
        assert updated.url.endswith(f"/activities/{card.id}")
        submitted = bot.received[-1]
        assert submitted.type == "message"
        assert submitted.text is None
        assert submitted.value == {"answer": "yes", "comment": "fint"}
        assert submitted.reply_to_id == card.id

        # Action.Execute: an invoke the Playground waits for; the answer is the bot's response.
        answer = await teams.execute(card.id, "refresh", {"n": 1})
        assert answer["type"] == ADAPTIVE_CARD  # the Playground passes on {type, value}
        assert answer["value"]["body"][0]["text"] == "verb refresh"
        invoke = bot.received[-1]
        assert invoke.type == "invoke" and invoke.name == "adaptiveCard/action"
        assert invoke.value["action"]["verb"] == "refresh"

        # A proactive message through the stored conversation reference.
        assert bot.reference is not None
        start = len(teams.bot_activities())

        async def proactive(context: TurnContext) -> None:
            await context.send_activity("påminnelse")

        await bot_server.adapter.continue_conversation(bot.reference, proactive, "")
        reminder = await teams.wait_for_bot_activity(lambda a: a.text == "påminnelse", start=start)
        # CloudAdapter's continuation activity has a fresh id, so this "replies" to that id:
        # POST .../conversations/a%3A.../activities/<uuid>, which the Playground accepts.
        assert reminder.kind == "send" and reminder.id
        assert reminder.activity["conversation"]["id"] == teams.conversation_id
        assert reminder.activity["recipient"]["id"] == USER.id

        # Opening the web page installs the app: installationUpdate + conversationUpdate.
        before = len(bot.received)
        await teams.install()
        assert teams.page_url == f"{teams.url}/"
        for _ in range(100):
            if len(bot.received) >= before + 2:
                break
            await asyncio.sleep(0.05)
        kinds = [a.type for a in bot.received[before:]]
        assert kinds == ["installationUpdate", "conversationUpdate"], kinds
        added = {m.id for m in bot.received[-1].members_added}
        assert added == {USER.id, BOT.id}

        assert bot.errors == []
        order = [(a.kind, a.text or f"{len(a.cards)} card") for a in teams.bot_activities()]
        assert order == [
            ("send", "echo: hei"),
            ("send", "echo: hallo"),
            ("send", "1 card"),
            ("update", "1 card"),
            ("send", confirmation.text),
            ("send", "påminnelse"),
        ]

    assert not teams.running
    assert not teams.work_dir.exists()


async def test_a_failed_start_reports_the_playgrounds_output(bot_server: BotServer) -> None:
    playground = TeamsPlayground(bot_server.endpoint, extra_args=("--bogus-option",))
    with pytest.raises(PlaygroundError) as failure:
        await playground.start()
    assert "Unknown arguments: bogus-option" in str(failure.value)  # yargs, on stderr
    assert not playground.running


def test_the_installed_playground_is_the_pinned_one() -> None:
    need_playground()
    pinned = json.loads((ROOT / "package.json").read_text())["dependencies"]
    assert installed_version() == pinned["@microsoft/m365agentsplayground"]


def test_parse_recording_leaves_a_record_being_written() -> None:
    done = json.dumps({"a": 1}, indent=2)
    assert parse_recording(f"{done}\n---\n{done[:5]}") == [{"a": 1}]
    assert parse_recording("") == []
