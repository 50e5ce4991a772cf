"""A loopback stand-in of the Bot Connector service that Teams replies go to, with faults."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.peers.lifecycle import Started
from tests.peers.telegram_api import Fault, applied_faults

# botbuilder's ConnectorClient posts a turn's replies and proactive messages to
# `{serviceUrl}/v3/conversations/{id}/activities[/{replyToId}]`, updates cards with PUT on
# `.../activities/{id}` and asks `.../members/{id}` for the roster. A conversation reference
# whose serviceUrl is this server's `url` sends all of that here; `fail` and `delay` make it
# answer as Teams does under load (429 with Retry-After, 502/504, 403 for a removed bot).

JSON = dict[str, Any]


@dataclass
class ConnectorCall:
    """One request the connector received, and how it answered."""

    method: str
    conversation: str
    activity: JSON
    time: float
    status: int | None = None
    answer_id: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the activity was accepted (2xx)."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def summary(self) -> str:
        """The activity's summary (our cards put their text there) or its text."""
        return str(self.activity.get("summary") or self.activity.get("text") or "")

    @property
    def card(self) -> JSON | None:
        """The Adaptive Card the activity carries, if any."""
        for attachment in self.activity.get("attachments") or []:
            content = attachment.get("content")
            if isinstance(content, dict):
                return content
        return None


class BotConnectorStandIn(Started):
    """The connector on 127.0.0.1: records every activity, answers faults on request."""

    def __init__(self) -> None:
        self.calls: list[ConnectorCall] = []
        self.faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._server: TestServer | None = None

    async def start(self) -> None:
        """Listen on a free loopback port."""
        app = web.Application()
        activities = "/v3/conversations/{conversation}/activities"
        app.router.add_post(activities, self._activity)
        app.router.add_post(activities + "/{reply_to}", self._activity)
        app.router.add_put(activities + "/{activity_id}", self._activity)
        app.router.add_get("/v3/conversations/{conversation}/members/{member}", self._member)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            await self._server.close()

    @property
    def url(self) -> str:
        """The serviceUrl to put in activities and conversation references."""
        assert self._server is not None
        return str(self._server.make_url("/"))

    def fail(
        self,
        status: int,
        conversation: str | None = None,
        retry_after: int | None = None,
        times: int | None = 1,
        method: str = "POST",
    ) -> Fault:
        """Answer matching requests (new activities; "PUT": card updates) with `status` and a
        Retry-After header, `times` times (None: until cancelled)."""
        fault = Fault(method, conversation, status, retry_after, None, 0.0, times)
        self.faults.append(fault)
        return fault

    def delay(self, seconds: float, conversation: str | None = None, times: int = 1) -> Fault:
        """Hold new activities for `seconds`, then accept them (the client may have gone)."""
        fault = Fault("POST", conversation, None, None, None, seconds, times)
        self.faults.append(fault)
        return fault

    def cancel(self, fault: Fault) -> None:
        """Stop one fault rule."""
        if fault in self.faults:
            self.faults.remove(fault)

    def sent_to(self, conversation: str) -> list[ConnectorCall]:
        """The activities posted (not updated) into one conversation, accepted or not."""
        return [c for c in self.calls if c.conversation == conversation and c.method == "POST"]

    def delivered(self, conversation: str) -> list[ConnectorCall]:
        """The accepted activities posted into one conversation."""
        return [c for c in self.sent_to(conversation) if c.ok]

    async def _activity(self, request: web.Request) -> web.Response:
        conversation = request.match_info["conversation"]
        call = ConnectorCall(request.method, conversation, await request.json(), time.monotonic())
        self.calls.append(call)
        async for fault in applied_faults(self.faults, request.method, conversation):
            if fault.status is not None:
                call.status = fault.status
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
                error = {"code": f"HTTP{fault.status}", "message": "stand-in fault"}
                return web.json_response({"error": error}, status=fault.status, headers=headers)
        call.status = 200 if request.method == "PUT" else 201
        call.answer_id = request.match_info.get("activity_id") or f"activity-{next(self._ids)}"
        return web.json_response({"id": call.answer_id}, status=call.status)

    async def _member(self, request: web.Request) -> web.Response:
        error = {"code": "MemberNotFoundInConversation", "message": "not found"}
        return web.json_response({"error": error}, status=404)
