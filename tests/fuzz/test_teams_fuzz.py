"""Fuzzing Teams' /api/messages (dev mode): malformed activities, forged card submits."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from hypothesis import given
from hypothesis import strategies as st

from bot.app import SERVICES
from bot.channels.teams.render import INPUT_ID, TOKEN_KEY
from tests.fuzz.oracles import ErrorWatch, assert_localised, assert_unchanged, snapshot
from tests.fuzz.profiles import fuzz_settings
from tests.fuzz.strategies import almost, json_values, refused_commands, texts
from tests.services import person_id
from tests.teams_chat import card_texts
from tests.webchat import NOW, running_app

PEOPLE = {"nn": "Kari Nordmann", "en": "Ahmed Ali"}


@dataclass
class Connector:
    """The Bot Connector the bot replies to: accepts everything, keeps the activities."""

    received: list[dict[str, Any]] = field(default_factory=list)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def handle(self, request: web.Request) -> web.Response:
        """Any connector call: record a posted activity, answer with a fresh id."""
        if request.can_read_body:
            body = await request.json()
            if isinstance(body, dict) and body.get("type"):
                self.received.append(body)
        return web.json_response({"id": f"activity-{next(self.ids)}"})

    def texts_since(self, mark: int) -> list[tuple[str, str]]:
        """(recipient, text) of everything the bot sent since `mark`, cards included."""
        shown: list[tuple[str, str]] = []
        for activity in self.received[mark:]:
            who = str((activity.get("recipient") or {}).get("id", ""))
            if activity.get("text"):
                shown.append((who, str(activity["text"])))
            for attachment in activity.get("attachments") or []:
                shown += [(who, t) for t in card_texts(attachment["content"])]
        return shown

    def tokens_for(self, who: str) -> list[str]:
        """The button tokens on the newest card sent to `who`."""
        for activity in reversed(self.received):
            if (activity.get("recipient") or {}).get("id") == who:
                for attachment in activity.get("attachments") or []:
                    actions = attachment["content"].get("actions", [])
                    return [a["data"][TOKEN_KEY] for a in actions]
        return []


@dataclass
class Teams:
    """The app in Teams dev mode with two linked people on the example round's first card."""

    server: TestServer
    http: ClientSession
    connector: Connector
    connector_url: str
    errors: ErrorWatch
    tokens: dict[str, list[str]]

    def activity(self, who: str, **fields: Any) -> dict[str, Any]:
        """A well-formed message activity from `who`."""
        return {
            "type": "message",
            "id": "in-1",
            "channelId": "msteams",
            "serviceUrl": self.connector_url,
            "from": {"id": who, "name": who},
            "recipient": {"id": "bot", "name": "Followup"},
            "conversation": {"id": f"conversation-{who}"},
            **fields,
        }

    async def post(self, body: bytes, content_type: str = "application/json") -> int:
        """POST to /api/messages; the status."""
        url = self.server.make_url("/api/messages")
        headers = {"Content-Type": content_type}
        async with self.http.post(url, data=body, headers=headers) as response:
            await response.read()
            return response.status


@pytest.fixture
async def teams(db_url: str, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Teams]:
    connector = Connector()
    peer = web.Application()
    peer.router.add_route("*", "/{tail:.*}", connector.handle)
    async with AsyncExitStack() as stack:
        server = await stack.enter_async_context(
            running_app(db_url, seed=True, teams_dev_mode=True)
        )
        peer_server = TestServer(peer, host="127.0.0.1")
        await peer_server.start_server()
        stack.push_async_callback(peer_server.close)
        http = await stack.enter_async_context(ClientSession())
        url = str(peer_server.make_url("/")).rstrip("/")
        fuzz = Teams(server, http, connector, url, ErrorWatch(caplog), {})
        services = server.app[SERVICES]
        for locale, name in PEOPLE.items():
            pid = await person_id(services, name)
            await services.conversation.link("teams", locale, pid, NOW)
            async with services.store.transaction() as tx:
                await tx.org.set_person_locale(pid, locale)
            assert await fuzz.post(json.dumps(fuzz.activity(locale, text="/start")).encode()) < 300
            begin = {TOKEN_KEY: connector.tokens_for(locale)[0]}
            assert await fuzz.post(json.dumps(fuzz.activity(locale, value=begin)).encode()) < 300
            fuzz.tokens[locale] = connector.tokens_for(locale)
            assert fuzz.tokens[locale], connector.received[-1]
        yield fuzz


def _not_an_answer(activity: Any) -> bool:
    """Leaves out well-formed typed lines from linked people (those may be answers)."""
    if not isinstance(activity, dict) or activity.get("type") != "message":
        return True
    sender = activity.get("from")
    return not (
        isinstance(sender, dict) and sender.get("id") in PEOPLE and "value" not in activity
    )


def activities(connector_url: str) -> st.SearchStrategy[Any]:
    """Activities with fields missing, of the wrong type, of unexpected kinds."""
    return st.one_of(
        json_values,
        almost(
            {
                "type": st.sampled_from(
                    ["message", "conversationUpdate", "invoke", "event", "typing", "weird"]
                ),
                "id": "in-2",
                "channelId": "msteams",
                "serviceUrl": connector_url,
                "from": st.fixed_dictionaries({"id": st.sampled_from([*PEOPLE, "stranger"])}),
                "recipient": {"id": "bot"},
                "conversation": {"id": "c"},
                "text": texts,
                "value": json_values,
            }
        ),
    ).filter(_not_an_answer)


submits = st.tuples(
    st.sampled_from(sorted(PEOPLE)),
    st.one_of(
        json_values,
        st.fixed_dictionaries({TOKEN_KEY: st.one_of(texts, json_values)}),
        st.fixed_dictionaries(
            {TOKEN_KEY: st.just("foreign"), INPUT_ID: st.one_of(texts, json_values)}
        ),
    ),
)
"""Card submits with random, foreign or wrongly typed tokens and inputs."""


@fuzz_settings(2)
@given(data=st.data())
async def test_teams_refuses_what_it_cannot_use_and_changes_nothing(
    teams: Teams, data: st.DataObject
) -> None:
    kind = data.draw(st.sampled_from(["activity", "bytes", "submit", "command"]))
    if kind == "activity":
        what: Any = data.draw(activities(teams.connector_url))
        body, allowed = json.dumps(what).encode(), {200, 201, 400}
    elif kind == "bytes":
        what = data.draw(st.binary(max_size=100))
        body, allowed = what, {400, 415}
    elif kind == "submit":
        who, value = data.draw(submits)
        if isinstance(value, dict) and value.get(TOKEN_KEY) == "foreign":
            value[TOKEN_KEY] = teams.tokens["en" if who == "nn" else "nn"][0]
        what = (who, value)
        body, allowed = json.dumps(teams.activity(who, value=value)).encode(), {200, 201}
    else:
        who, line = data.draw(st.tuples(st.sampled_from(sorted(PEOPLE)), refused_commands))
        what = (who, line)
        body, allowed = json.dumps(teams.activity(who, text=line)).encode(), {200, 201}
    engine = teams.server.app[SERVICES].store.engine
    before = await snapshot(engine)
    teams.errors.start()
    mark = len(teams.connector.received)
    status = await teams.post(body)
    assert status in allowed, f"{what!r} answered {status}"
    teams.errors.assert_quiet(what)
    assert_unchanged(before, await snapshot(engine), what)
    for who, text in teams.connector.texts_since(mark):
        assert_localised([text], who if who in PEOPLE else "nb", what)
