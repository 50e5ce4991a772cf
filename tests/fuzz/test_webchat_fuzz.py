"""Fuzzing the web chat's JSON API: malformed bodies, forged cookies, refused actions."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import ClientSession, DummyCookieJar
from aiohttp.test_utils import TestServer
from hypothesis import example, given
from hypothesis import strategies as st

from bot.app import SERVICES
from bot.channels.actions import ActionError, translate_event
from bot.channels.web.routes import COOKIE
from tests.fuzz.oracles import ErrorWatch, assert_localised, assert_unchanged, snapshot
from tests.fuzz.profiles import fuzz_settings
from tests.fuzz.strategies import almost, json_values, texts
from tests.webchat import ChatUser, running_app

LOCALES = {"nn": "Kari Nordmann", "en": "Ahmed Ali"}
"""Who fuzzes in which language (Ahmed reads English by the roster; Kari picks nynorsk)."""
REFUSED = {400, 403, 413, 415}
JSON = "application/json"


@dataclass
class Web:
    """The app with two linked browsers half-way into the example round, and a bare client."""

    server: TestServer
    users: dict[str, ChatUser]
    bare: ClientSession
    errors: ErrorWatch

    async def post(self, who: str, path: str, body: bytes, content_type: str) -> int:
        """POST raw bytes as a linked person, with a forged cookie, or with none."""
        headers = {"Content-Type": content_type}
        if who in self.users:
            response = await self.users[who].client.post(path, data=body, headers=headers)
        else:
            if who == "forged":
                headers["Cookie"] = f"{COOKIE}=someone.{'0' * 32}"
            response = await self.bare.post(self.server.make_url(path), data=body, headers=headers)
        async with response:
            await response.read()
            return response.status


@pytest.fixture
async def web(db_url: str, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Web]:
    async with AsyncExitStack() as stack:
        server = await stack.enter_async_context(running_app(db_url, seed=True))
        bare = await stack.enter_async_context(ClientSession(cookie_jar=DummyCookieJar()))
        users: dict[str, ChatUser] = {}
        for locale, name in LOCALES.items():
            user = users[locale] = await stack.enter_async_context(ChatUser.on(server))
            invitation = await user.be(name)
            await user.send(type="language", code=locale)
            await user.send(type="begin", round_id=invitation[-1]["rounds"][0]["round_id"])
            assert user.current()["item_id"] == "samtykke"
        yield Web(server, users, bare, ErrorWatch(caplog))


def _action_error(body: object) -> bool:
    try:
        translate_event(body)  # type: ignore[arg-type]
    except ActionError:
        return True
    except (AttributeError, TypeError):
        return True  # not a mapping: refused before translation
    return False


payloads = st.one_of(
    json_values,
    almost({"type": "choose", "item_id": "samtykke", "option_id": "yes"}),
    almost({"type": "picks", "item_id": "informasjonskanaler", "picks": ["leder"]}),
    almost({"type": "action", "action": "skip", "item_id": "x"}),
    almost({"type": "begin", "round_id": 1}),
    almost({"type": "remind", "round_id": 1, "confirm": True}),
    almost({"type": "text", "text": "12"}),
    almost({"type": "measure_status", "measure": "m", "status": "done"}),
).filter(_action_error)
"""Bodies no honest page sends (the API refuses them before anything happens)."""

bodies = st.one_of(
    st.tuples(payloads.map(lambda p: json.dumps(p).encode()), st.just("application/json")),
    st.tuples(st.binary(max_size=100), st.sampled_from(["application/json", "text/plain"])),
    st.tuples(
        st.just(json.dumps({"type": "text", "text": "12"}).encode()),
        st.sampled_from(
            ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
        ),
    ),
    st.tuples(
        st.just(b'{"type": "text", "text": "' + b"x" * 1_100_000 + b'"}'),
        st.just("application/json"),
    ),
)
senders = st.sampled_from(["nn", "en", "forged", "none"])


async def _malformed(web: Web, case: tuple[str, str, tuple[bytes, str]]) -> tuple[int, list[str]]:
    who, path, (body, content_type) = case
    return await web.post(who, path, body, content_type), []


zz = st.text("abcxyz-_", max_size=6).map(lambda s: f"zz-{s}")
foreign_round = st.sampled_from([-1, 0, 10**6, 2**31 - 1])
refused_events = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("choose"), "item_id": zz, "option_id": texts.filter(bool)}
    ),
    st.fixed_dictionaries(
        {"type": st.just("choose"), "item_id": st.just("samtykke"), "option_id": zz}
    ),
    st.fixed_dictionaries({"type": st.just("toggle"), "item_id": zz, "option_id": zz}),
    st.fixed_dictionaries(
        {"type": st.just("picks"), "item_id": zz, "picks": st.lists(zz, max_size=3)}
    ),
    st.fixed_dictionaries(
        {"type": st.just("action"), "action": st.sampled_from(["done", "edit"]), "item_id": zz}
    ),
    st.fixed_dictionaries(
        {"type": st.just("text"), "text": texts.filter(str.strip), "item_id": zz}
    ),
    st.fixed_dictionaries({"type": st.just("begin"), "round_id": foreign_round}),
    st.fixed_dictionaries(
        {"type": st.just("remind"), "round_id": foreign_round, "confirm": st.booleans()}
    ),
    st.fixed_dictionaries({"type": st.just("measures"), "measure": zz}),
    st.fixed_dictionaries(
        {
            "type": st.just("measure_status"),
            "measure": zz,
            "status": st.sampled_from(["done", "x"]),
        }
    ),
    st.fixed_dictionaries({"type": st.just("measure_confirm"), "measure": zz}),
    st.fixed_dictionaries(
        {"type": st.just("language"), "code": st.sampled_from(["xx", "de", "😀"])}
    ),
    st.fixed_dictionaries({"type": st.just("forget"), "confirm": st.just(False)}),
)
"""Well-formed actions a linked person may send that must be refused, changing nothing."""


async def _refused(web: Web, case: tuple[str, dict[str, Any]]) -> tuple[int, list[str]]:
    who, payload = case
    said = await web.users[who].send(**payload)
    shown = [m.get("text", "") for m in said] + [
        str(part.get("label", "")) for m in said for part in m.get("choices", [])
    ]
    return 200, [s for s in shown if s]


async def _stranger(web: Web, case: tuple[str, dict[str, Any]]) -> tuple[int, list[str]]:
    """A browser nobody linked (no or a forged cookie) sends a well-formed action."""
    who, payload = case
    return await web.post(who, "/chat/api/send", json.dumps(payload).encode(), JSON), []


async def _messages(web: Web, case: tuple[str, str]) -> tuple[int, list[str]]:
    who, after = case
    client = web.users[who].client
    async with await client.get("/chat/api/messages", params={"after": after}) as response:
        return response.status, []


Send = Callable[[Web, Any], Awaitable[tuple[int, list[str]]]]
people = st.sampled_from(sorted(LOCALES))
cases: st.SearchStrategy[tuple[Send, Any, set[int]]] = st.one_of(
    st.tuples(
        st.just(_malformed),
        st.tuples(senders, st.sampled_from(["/chat/api/send", "/chat/api/demo"]), bodies),
        st.just(REFUSED),
    ),
    st.tuples(st.just(_refused), st.tuples(people, refused_events), st.just({200})),
    st.tuples(
        st.just(_stranger),
        st.tuples(
            st.sampled_from(["forged", "none"]),
            st.one_of(refused_events, st.builds(lambda t: {"type": "text", "text": t}, texts)),
        ),
        st.just({200, 400}),
    ),
    st.tuples(
        st.just(_messages),
        st.tuples(people, st.one_of(texts, st.integers().map(str))),
        st.just({200, 400}),
    ),
)


@fuzz_settings(2)
@example(
    case=(
        _malformed,
        ("nn", "/chat/api/send", (b'{"type": "begin", "round_id": 1099511627776}', JSON)),
        REFUSED,
    )
)
@example(
    case=(
        _malformed,
        (
            "en",
            "/chat/api/send",
            (b'{"type": "remind", "round_id": 1099511627776, "confirm": true}', JSON),
        ),
        REFUSED,
    )
)
@given(case=cases)
async def test_the_web_chat_refuses_what_it_cannot_use_and_changes_nothing(
    web: Web, case: tuple[Send, Any, set[int]]
) -> None:
    send, value, allowed = case
    what = (send.__name__, value)
    engine = web.server.app[SERVICES].store.engine
    # A refused request leaves no trace at all: no address, no transcript line.
    extra = ("identities", "web_messages") if send is _malformed else ()
    before = await snapshot(engine, *extra)
    web.errors.start()
    status, shown = await send(web, value)
    assert status in allowed, f"{what!r} answered {status}"
    web.errors.assert_quiet(what)
    assert_unchanged(before, await snapshot(engine, *extra), what)
    if send is _refused:
        assert_localised(shown, value[0], what)
