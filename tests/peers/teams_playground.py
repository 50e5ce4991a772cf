"""Microsoft's Teams emulator, the Microsoft 365 Agents Playground, as a test peer.

`TeamsPlayground(bot_endpoint)` starts `node_modules/.bin/agentsplayground` (npm package
`@microsoft/m365agentsplayground`, pinned in package-lock.json and installed by `npm ci`; nothing
is downloaded at run time) on a free loopback port, pointed at the bot's messaging endpoint, in
Teams mode (`-c msteams`) with events recording on. A simulated user writes (`send_text`), presses
an Action.Submit (`submit`) or an Action.Execute (`execute` / `invoke`); `bot_activities()` reads
what the bot sent back from the recording file, and `page_url` is the Playground's own web page
(a Teams look-alike) for a browser test. Use it as an async context manager::

    async with TeamsPlayground("http://127.0.0.1:3978/api/messages") as teams:
        await teams.send_text("hei")
        reply = await teams.wait_for_bot_activity(lambda a: a.text is not None)

What version 0.2.28 does, verified against its bundled sources (`dist/index.js`) and by running it:

Process and readiness
    `agentsplayground start -e <endpoint> -c msteams --conversation-id <id> -p <port>
    --service-url <url> --disable-telemetry --er`. When stdout is not a terminal it writes
    `Listening on <port>` to stdout once the HTTP server listens and mounts its routes in the
    same callback; `GET /_debug/ping` answers `pong` from then on (both are waited for). If `-p`
    is taken it silently falls back to a random port, so the harness compares the announced port
    and retries with another. All other console output (including "Failed to start the server"
    errors, which do not end the process) goes only to the log file
    `M365_AGENTS_PLAYGROUND_LOGFILE` (default `./devTools/m365agentsplayground.log`), not to
    stdout/stderr; failures here therefore quote stdout, stderr and that log. It reads a config
    file `.m365agentsplayground.yml` (or legacy `.teamsapptesttool.yml`) from its working
    directory if one exists; the harness runs it in an empty temporary directory so the
    built-in default config (below) applies, and with any `M365_AGENTS_PLAYGROUND_*`,
    `TEAMSAPPTESTER_*`, `BOT_ENDPOINT`, `AUTH_*` and proxy variables removed from its
    environment (its HTTP client honours HTTP(S)_PROXY even for loopback). Node binds to all
    interfaces by default (no host option), so a `--require` preload makes every listen in that
    process default to 127.0.0.1. SIGTERM ends it at once (only SIGINT has a handler).
    Telemetry: `--disable-telemetry`.

Identity (the built-in config; `GET /_internal/v1/config` returns it)
    Tenant `00000000-0000-0000-0000-0000000000001`; bot `00000000-0000-0000-0000-00000000000011`
    "Test Bot" (no `28:` prefix); the user is `user-id-0` "Alex Wilber", aadObjectId
    `00000000-0000-0000-0000-0000000000020`, UPN and e-mail `alexw@example.com` (the YAML key
    is misspelt `userPrincipleName`). Activities carry `from: {id, name, aadObjectId}` (no UPN;
    conversationUpdate/installationUpdate omit the name), `conversation: {conversationType:
    "personal", tenantId, id}`, `channelData.tenant.id`, `channelId: "msteams"`,
    `serviceUrl: <the --service-url>` (default `http://localhost:<port>/_connector`),
    `recipient: {id: bot id, name: "Test Bot"}`, `locale: "en-US"` (hard-coded in its
    activity generators; `send_text(..., locale=)` works around it), `localTimezone` from the
    process's TZ (the harness's `timezone`), a `clientInfo` entity (locale "en-US", country
    "US", platform "Web", timezone). The UPN and e-mail are
    only available via the mocked connector: `GET /_connector/v3/conversations/<id>/members/
    user-id-0` (what `TeamsInfo.get_member` calls) answers `{id, name, givenName, surname,
    email, userPrincipalName, aadObjectId, tenantId, userRole: "user"}`. The conversation id is
    whatever `--conversation-id` says (default here: `a:playground-<hex>`, shaped like a real
    personal-chat id); other ids get 404.

Sending as the user (`/_conversation` routes; the user must be `user-id-0` or a config user)
    `POST /_conversation/v1/conversations/<id>/messages` with `{"from": {"id": "user-id-0"},
    "text": ..., "textFormat": "plain"|"markdown"|"xml"}` answers 200 `{"messageId",
    "timestamp"}` at once and only then POSTs the message activity to the bot; errors from the
    bot are swallowed (the activity is just not recorded), so wait on the recording.
    `POST /_conversation/v1/submit` with `{conversation: {id}, from: {id}, replyToId, value}`
    (replyToId must be the id of a message the Playground knows, e.g. the bot's card) answers
    200 with no body, then sends a **message** activity with `value`, `replyToId` and
    `channelData.source.name: "message"` and no text: what Teams sends for Action.Submit.
    `POST /_conversation/v1/invoke` with `{name: "adaptiveCard/action", conversation: {id},
    from: {id}, replyToId, value: {action: {type: "Action.Execute", verb, data}, trigger}}`
    sends an **invoke** activity and waits for the bot: the answer is `{type, value}` from the
    bot's invoke response body (statusCode dropped; a card `value` also replaces the card's
    content in the Playground's chat); a bot error answers 502
    `{"code": "UserBotError", ...}` (botbuilder's default `on_adaptive_card_invoke` gives 501).
    `POST /_debug/conversation/<id>/installation` sends an installationUpdate (action "add") and
    a conversationUpdate with membersAdded [user, bot]; nothing is sent on start-up, but the
    web page calls this when it loads. `POST /_internal/v1/customActivities` (the page's "Mock
    an Activity") delivers any JSON body to the bot as it is, answering 200 first;
    `GET /_internal/v1/customActivities/template?conversationId=&type=` gives templates
    (install, uninstall, userAdded, userRemoved, botAdded, botRemoved, channel/team events).
    The bot may reply to such a message even though the Playground never saw its id.

What the bot sends (the mocked connector at `<serviceUrl>` = `/_connector`)
    `POST /v3/conversations/<id>/activities[/<replyToId>]` answers 201 `{"id": "<number>"}`
    (a millisecond timestamp as a string; the colon of `a:` ids arrives URL-encoded and works);
    PUT `.../activities/<id>` updates (tested) and DELETE deletes an activity; member,
    paged-member, team and createConversation routes are mocked. No auth when the Playground has
    no client id, so botbuilder with an empty app id works both ways (also proactively through
    `adapter.continue_conversation`).

The recording (`M365_AGENTS_PLAYGROUND_RECORDING_FILE`, with `--er`)
    Each exchange is appended as `JSON.stringify(record, null, 2) + "\\n---\\n"`:
    `{logId, timestamp (ms), conversationId, direction, activityName, messageId, request:
    {headers, body, url, method}, response: {statusCode, body}, displayText}`. Activities to the
    bot have direction "Microsoft 365 Agents Playground -> User Application" and are written
    only once the bot has answered 2xx (so after the replies it sent during that turn; a
    refused one, e.g. an invoke answered 501, is not recorded at all); the bot's calls to the
    connector have "User Application -> Microsoft 365 Agents Playground", written as the
    Playground answers them, in order, whatever the status. `request.body` is the bot's
    activity as sent (no id) and `response.body.id` the id the Playground gave it
    (== `messageId`); an update is a PUT to `.../activities/<id>`. Member look-ups are recorded
    too (GET, `activityName` "getConversationMember").

The web page (`page_url`) is a React app served from the same port; on load it fetches
`/_internal/v1/config` (which first waits up to 15 s for the bot endpoint to answer) and posts
the installation above. It also asks cdn.office.net for Segoe UI fonts, which fail offline
without harm. A page opened after some REST traffic showed the bot's earlier replies and cards
but not the user's REST-posted messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Self, TypeVar

from aiohttp import ClientSession, ClientTimeout

from tests.peers.lifecycle import Started

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = ROOT / "node_modules" / "@microsoft" / "m365agentsplayground"
EXECUTABLE = ROOT / "node_modules" / ".bin" / "agentsplayground"

TO_BOT = "Microsoft 365 Agents Playground -> User Application"
FROM_BOT = "User Application -> Microsoft 365 Agents Playground"
SEPARATOR = "\n---\n"
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"

JSON = dict[str, Any]
T = TypeVar("T")

# Every listen() in the Node process without a host binds to loopback instead of all interfaces.
_LOOPBACK_PRELOAD = """\
const net = require("net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (typeof first === "number" || (typeof first === "string" && /^\\d+$/.test(first))) {
    if (typeof args[1] !== "string") args.splice(1, 0, "127.0.0.1");
  } else if (first && typeof first === "object" && first.path === undefined && !first.host) {
    args[0] = { ...first, host: "127.0.0.1" };
  }
  return listen.apply(this, args);
};
"""
_DROPPED_ENV = re.compile(
    r"^(M365_AGENTS_PLAYGROUND_|TEAMSAPPTESTER_|TEAMS_APP_TEST_TOOL_|AUTH_CLIENT_|AUTH_TENANT_)"
    r"|^(BOT_ENDPOINT|SEND_INSTALLATION_ACTIVITY|DEFAULT_CHANNEL_ID)$"
    r"|^(https?|all|no)_proxy$",
    re.IGNORECASE,
)
_LISTENING = re.compile(rb"Listening on (\d+)")


@dataclass(frozen=True)
class Account:
    """A person or bot as the Playground's built-in config describes it."""

    id: str
    name: str
    aad_object_id: str | None = None
    user_principal_name: str | None = None
    email: str | None = None
    given_name: str | None = None
    surname: str | None = None


TENANT_ID = "00000000-0000-0000-0000-0000000000001"
BOT = Account(id="00000000-0000-0000-0000-00000000000011", name="Test Bot")
USER = Account(
    id="user-id-0",
    name="Alex Wilber",
    aad_object_id="00000000-0000-0000-0000-0000000000020",
    user_principal_name="alexw@example.com",
    email="alexw@example.com",
    given_name="Alex",
    surname="Wilber",
)


class PlaygroundError(RuntimeError):
    """The Playground did not start, stopped, or refused a request."""


@dataclass(frozen=True)
class BotActivity:
    """One activity the bot sent to the Playground's connector, from the recording."""

    id: str | None  # the Playground's id for the message (what replyToId must name)
    kind: Literal["send", "update", "delete"]
    activity: JSON  # the request body as the bot sent it (no "id" for a send)
    url: str
    status: int
    timestamp: int  # milliseconds since the epoch
    record: JSON = field(repr=False, compare=False)

    @property
    def type(self) -> str | None:
        return self.activity.get("type")

    @property
    def text(self) -> str | None:
        return self.activity.get("text")

    @property
    def reply_to_id(self) -> str | None:
        return self.activity.get("replyToId")

    @property
    def attachments(self) -> list[JSON]:
        return list(self.activity.get("attachments") or [])

    @property
    def cards(self) -> list[JSON]:
        """The contents of its Adaptive Card attachments."""
        return [a["content"] for a in self.attachments if a.get("contentType") == ADAPTIVE_CARD]


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def installed_version() -> str | None:
    """The version of the Playground that `npm ci` installed, or None."""
    manifest = PACKAGE_DIR / "package.json"
    if not manifest.exists():
        return None
    return str(json.loads(manifest.read_text(encoding="utf-8"))["version"])


def parse_recording(text: str) -> list[JSON]:
    """The complete records of a recording file's text (a record still being written is left)."""
    chunks = text.split(SEPARATOR)
    return [json.loads(chunk) for chunk in chunks[:-1] if chunk.strip()]


def bot_activity(record: JSON) -> BotActivity | None:
    """The bot's activity in a recording record, or None for other records."""
    request = record.get("request") or {}
    method, url = request.get("method"), request.get("url") or ""
    if record.get("direction") != FROM_BOT or "/activities" not in url:
        return None
    if method not in ("POST", "PUT", "DELETE"):
        return None
    body = (record.get("response") or {}).get("body")
    activity_id = body.get("id") if isinstance(body, dict) else None
    kind: Literal["send", "update", "delete"] = "send"
    if method != "POST":
        kind = "update" if method == "PUT" else "delete"
        activity_id = activity_id or url.rstrip("/").rsplit("/", 1)[-1]
    return BotActivity(
        id=activity_id,
        kind=kind,
        activity=dict(request.get("body") or {}),
        url=url,
        status=int((record.get("response") or {}).get("statusCode") or 0),
        timestamp=int(record.get("timestamp") or 0),
        record=record,
    )


class TeamsPlayground(Started):
    """The Agents Playground in Teams mode, on loopback, talking to `bot_endpoint`."""

    def __init__(
        self,
        bot_endpoint: str,
        *,
        conversation_id: str | None = None,
        timezone: str = "UTC",
        work_dir: Path | None = None,
        start_timeout: float = 60.0,
        executable: Path = EXECUTABLE,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.bot_endpoint = bot_endpoint
        self.conversation_id = conversation_id or f"a:playground-{uuid.uuid4().hex[:16]}"
        self.timezone = timezone
        self.start_timeout = start_timeout
        self.executable = executable
        self.extra_args = tuple(extra_args)
        self.user, self.bot, self.tenant_id = USER, BOT, TENANT_ID
        self._own_dir = work_dir is None
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="teams-playground-"))
        self.recording_path = self.work_dir / "recording.log"
        self.log_path = self.work_dir / "playground.log"
        self.stdout_path = self.work_dir / "stdout.log"
        self.stderr_path = self.work_dir / "stderr.log"
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._session: ClientSession | None = None

    # --- addresses -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The Playground's base URL (its API and its web page)."""
        if self.port is None:
            raise PlaygroundError("the Playground is not running")
        return f"http://127.0.0.1:{self.port}"

    @property
    def page_url(self) -> str:
        """The web page a browser test opens (loading it sends the installation activities)."""
        return f"{self.url}/"

    @property
    def service_url(self) -> str:
        """The serviceUrl in every activity: the Playground's mocked Bot Connector."""
        return f"{self.url}/_connector"

    # --- life cycle --------------------------------------------------------------------------

    async def start(self) -> Self:
        """Start it and wait until it answers; PlaygroundError (with its output) if it cannot."""
        if not self.executable.exists():
            raise PlaygroundError(
                f"{self.executable} is missing: run `npm ci` in {ROOT} "
                "(package-lock.json pins @microsoft/m365agentsplayground)"
            )
        if shutil.which("node") is None:
            raise PlaygroundError("`node` is not on PATH (the Playground needs Node 20)")
        self._session = ClientSession(timeout=ClientTimeout(total=30))
        try:
            for _attempt in range(3):
                port = free_port()
                if await self._launch(port) == port:
                    self.port = port
                    break
                # The port was taken between probing and listening, so it fell back to a random
                # one and the --service-url given is wrong: try again with another.
                self._kill()
            else:
                raise PlaygroundError(f"the Playground kept moving off its port: {self.output()}")
            await self._wait_for_ping()
        except BaseException:
            await self.stop()
            raise
        return self

    async def _launch(self, port: int) -> int:
        preload = self.work_dir / "loopback-only.js"
        preload.write_text(_LOOPBACK_PRELOAD, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not _DROPPED_ENV.search(k)}
        env.update(
            TEAMSAPPTESTER_BROWSER="none",
            M365_AGENTS_PLAYGROUND_RECORDING_FILE=str(self.recording_path),
            M365_AGENTS_PLAYGROUND_LOGFILE=str(self.log_path),
            M365_AGENTS_PLAYGROUND_CONFIG_PATH=str(self.work_dir / ".m365agentsplayground.yml"),
            TEAMS_APP_TEST_TOOL_CONFIG_PATH=str(self.work_dir / ".teamsapptesttool.yml"),
            NODE_OPTIONS=f'{env.get("NODE_OPTIONS", "")} --require "{preload}"'.strip(),
            TZ=self.timezone,
            NO_COLOR="1",
        )
        command = [
            str(self.executable),
            "start",
            "--app-endpoint",
            self.bot_endpoint,
            "--channel-id",
            "msteams",
            "--conversation-id",
            self.conversation_id,
            "--port",
            str(port),
            "--service-url",
            f"http://127.0.0.1:{port}/_connector",
            "--disable-telemetry",
            "--enable-events-recording",
            *self.extra_args,
        ]
        self._spawn(command, env)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            match = _LISTENING.search(self.stdout_path.read_bytes())
            if match:
                return int(match[1])
            self._check_alive("did not start")
            await asyncio.sleep(0.05)
        raise PlaygroundError(
            f"the Playground did not listen within {self.start_timeout} s: {self.output()}"
        )

    def _spawn(self, command: list[str], env: dict[str, str]) -> None:
        """Popen in its own session (process group), output to files; returns at once."""
        with open(self.stdout_path, "wb") as stdout, open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                command,
                cwd=self.work_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )

    async def _wait_for_ping(self) -> None:
        assert self._session is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            self._check_alive("stopped while starting")
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                async with self._session.get(
                    f"{self.url}/_debug/ping", timeout=ClientTimeout(total=2)
                ) as response:
                    if response.status == 200 and await response.text() == "pong":
                        return
            await asyncio.sleep(0.05)
        raise PlaygroundError(f"the Playground did not answer /_debug/ping: {self.output()}")

    def _check_alive(self, what: str) -> None:
        if self.process is not None and self.process.poll() is not None:
            code = self.process.returncode
            raise PlaygroundError(f"the Playground {what} (exit code {code}): {self.output()}")

    def _kill(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    async def stop(self) -> None:
        """End its process group; remove the temporary directory the harness made."""
        self._kill()
        if self._session is not None:
            await self._session.close()
            self._session = None
        self.port = None
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        """Its stdout, stderr and log file (where its console messages go), for error reports."""
        parts = []
        for label, path in (
            ("stdout", self.stdout_path),
            ("stderr", self.stderr_path),
            ("log", self.log_path),
        ):
            text = path.read_text(errors="replace").strip() if path.exists() else ""
            if text:
                parts.append(f"--- {label} ---\n{text[-4000:]}")
        return "\n".join(parts) or "(no output)"

    # --- the user ----------------------------------------------------------------------------

    async def _post(self, path: str, payload: JSON) -> Any:
        if self._session is None or self.port is None:
            raise PlaygroundError("the Playground is not running")
        async with self._session.post(f"{self.url}{path}", json=payload) as response:
            text = await response.text()
            if response.status != 200:
                raise PlaygroundError(f"POST {path} answered {response.status}: {text}")
            return json.loads(text) if text else None

    async def send_text(
        self, text: str, text_format: str = "plain", *, locale: str | None = None
    ) -> str:
        """The user writes `text`; returns the id of that message.

        The Playground's own messages always say locale "en-US". With `locale` the same
        message is built here and sent as a custom activity instead: the bot sees that locale,
        but the Playground's chat (its web page) does not know the message.
        """
        if locale is not None:
            activity = self.message_activity(text, locale, text_format)
            await self.send_activity(activity)
            return str(activity["id"])
        answer = await self._post(
            f"/_conversation/v1/conversations/{self.conversation_id}/messages",
            {"from": {"id": self.user.id}, "text": text, "textFormat": text_format},
        )
        return str(answer["messageId"])

    async def submit(self, reply_to_id: str, value: JSON) -> None:
        """The user presses an Action.Submit on the bot's message `reply_to_id`.

        `value` is what the client would send: the action's `data` merged with the card's
        input values. It reaches the bot as a message activity with that `value`.
        """
        await self._post(
            "/_conversation/v1/submit",
            {
                "conversation": {"id": self.conversation_id},
                "from": {"id": self.user.id},
                "replyToId": reply_to_id,
                "value": value,
            },
        )

    async def invoke(
        self, reply_to_id: str, value: JSON | str, name: str = "adaptiveCard/action"
    ) -> Any:
        """Send an invoke activity; returns what the Playground relays of the bot's answer."""
        return await self._post(
            "/_conversation/v1/invoke",
            {
                "name": name,
                "conversation": {"id": self.conversation_id},
                "from": {"id": self.user.id},
                "replyToId": reply_to_id,
                "value": value,
            },
        )

    async def execute(self, reply_to_id: str, verb: str, data: JSON | None = None) -> Any:
        """The user presses an Action.Execute (an `adaptiveCard/action` invoke)."""
        action = {"type": "Action.Execute", "verb": verb, "data": data or {}}
        return await self.invoke(reply_to_id, {"action": action, "trigger": "manual"})

    def message_activity(self, text: str, locale: str, text_format: str = "plain") -> JSON:
        """A message activity shaped like the Playground's, from the user, in `locale`."""
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {
            "type": "message",
            "id": str(uuid.uuid4()),
            "text": text,
            "textFormat": text_format,
            "timestamp": now,
            "localTimestamp": now,
            "localTimezone": self.timezone,
            "serviceUrl": self.service_url,
            "channelId": "msteams",
            "from": {
                "id": self.user.id,
                "name": self.user.name,
                "aadObjectId": self.user.aad_object_id,
            },
            "recipient": {"id": self.bot.id, "name": self.bot.name},
            "conversation": {
                "conversationType": "personal",
                "tenantId": self.tenant_id,
                "id": self.conversation_id,
            },
            "locale": locale,
            "entities": [
                {
                    "type": "clientInfo",
                    "locale": locale,
                    "country": locale.rpartition("-")[2].upper(),
                    "platform": "Web",
                    "timezone": self.timezone,
                }
            ],
            "channelData": {"tenant": {"id": self.tenant_id}},
        }

    async def send_activity(self, activity: JSON) -> None:
        """Deliver `activity` to the bot as it is (the page's "Mock an Activity")."""
        await self._post("/_internal/v1/customActivities", activity)

    async def activity_template(self, kind: str) -> JSON:
        """The Playground's template for a custom activity, to edit and `send_activity`.

        `kind`: install, uninstall, userAdded, userRemoved, botAdded, botRemoved (personal
        chat); channel and team events need a channel conversation.
        """
        if self._session is None or self.port is None:
            raise PlaygroundError("the Playground is not running")
        query = {"conversationId": self.conversation_id, "type": kind}
        async with self._session.get(
            f"{self.url}/_internal/v1/customActivities/template", params=query
        ) as response:
            if response.status != 200:
                raise PlaygroundError(
                    f"template {kind!r}: {response.status} {await response.text()}"
                )
            return dict(await response.json())

    async def config(self) -> JSON:
        """The Playground's mock data (`GET /_internal/v1/config`: tenant, bot, users, chats).

        It first waits (up to 15 s) for the bot endpoint to accept connections.
        """
        if self._session is None or self.port is None:
            raise PlaygroundError("the Playground is not running")
        async with self._session.get(f"{self.url}/_internal/v1/config") as response:
            if response.status != 200:
                raise PlaygroundError(f"config: {response.status} {await response.text()}")
            return dict(await response.json())

    async def install(self) -> None:
        """What opening the web page does: installationUpdate + conversationUpdate to the bot."""
        await self._post(f"/_debug/conversation/{self.conversation_id}/installation", {})

    # --- what happened -------------------------------------------------------------------------

    def records(self) -> list[JSON]:
        """Every complete record of the recording file, in the order written."""
        if not self.recording_path.exists():
            return []
        return parse_recording(self.recording_path.read_text(encoding="utf-8"))

    def bot_activities(self) -> list[BotActivity]:
        """What the bot sent (sends, updates, deletes), in the order the Playground got them."""
        return [a for a in map(bot_activity, self.records()) if a is not None]

    def activities_to_bot(self) -> list[JSON]:
        """The activities the Playground delivered to the bot (and the bot accepted)."""
        return [
            r["request"]["body"]
            for r in self.records()
            if r.get("direction") == TO_BOT and isinstance(r["request"].get("body"), dict)
        ]

    async def wait_for_bot_activity(
        self,
        predicate: Callable[[BotActivity], bool] = lambda _: True,
        timeout: float = 10.0,  # noqa: ASYNC109 - a deadline is this helper's whole point
        start: int = 0,
    ) -> BotActivity:
        """The first of `bot_activities()[start:]` that satisfies `predicate`, waiting for it."""
        return await self._wait(self.bot_activities, predicate, timeout, start, "bot activity")

    async def wait_for_activity_to_bot(
        self,
        predicate: Callable[[JSON], bool] = lambda _: True,
        timeout: float = 10.0,  # noqa: ASYNC109 - as wait_for_bot_activity
        start: int = 0,
    ) -> JSON:
        """The first of `activities_to_bot()[start:]` that satisfies `predicate`, waiting for it.

        Such a record is written only when the bot has answered the request, i.e. after the
        replies it sent during that turn.
        """
        return await self._wait(
            self.activities_to_bot, predicate, timeout, start, "activity to bot"
        )

    async def _wait(
        self,
        source: Callable[[], list[T]],
        predicate: Callable[[T], bool],
        timeout: float,  # noqa: ASYNC109 - as wait_for_bot_activity
        start: int,
        what: str,
    ) -> T:
        deadline = time.monotonic() + timeout
        while True:
            items = source()[start:]
            for item in items:
                if predicate(item):
                    return item
            if not self.running:
                raise PlaygroundError(f"the Playground stopped: {self.output()}")
            if time.monotonic() >= deadline:
                seen = [_summary(item) for item in items]
                raise TimeoutError(
                    f"no matching {what} within {timeout} s; saw {seen}\n{self.output()}"
                )
            await asyncio.sleep(0.05)


def _summary(item: BotActivity | JSON) -> tuple[Any, ...]:
    if isinstance(item, BotActivity):
        return (item.kind, item.type, item.text, f"{len(item.cards)} card(s)")
    return (item.get("type"), item.get("text"), item.get("value"))
