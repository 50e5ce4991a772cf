"""Test helpers: a running app on a test database and a web chat client that keeps a transcript."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from bot.app import SERVICES, create_app
from bot.services.seed import load_examples
from bot.settings import Settings

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def settings_for(db_url: str, **overrides: Any) -> Settings:
    """Settings for a test app: this database, loopback, demo on, fixed secret."""
    values: dict[str, Any] = {
        "database_url": db_url,
        "host": "127.0.0.1",
        "secret_key": "test-secret",
        "demo_mode": True,
        "load_examples": False,
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running_app(
    db_url: str, seed: bool = False, **overrides: Any
) -> AsyncIterator[TestServer]:
    """An app served on loopback; `seed` loads the examples first."""
    started = time.monotonic()

    def clock() -> datetime:
        # Starts at NOW and runs at real speed, so retries and leases come due.
        return NOW + timedelta(seconds=time.monotonic() - started)

    app = create_app(settings_for(db_url, **overrides), clock=clock, drain_interval=0.05)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        if seed:
            services = app[SERVICES]
            await load_examples(services.store, services.rounds, NOW)
        yield server
    finally:
        await server.close()


class ChatUser:
    """One browser: a cookie jar, a cursor, and everything the bot said so far."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.cursor = 0
        self.seen: list[dict[str, Any]] = []

    @classmethod
    @asynccontextmanager
    async def on(cls, server: TestServer) -> AsyncIterator[ChatUser]:
        """A fresh browser on `server`."""
        client = TestClient(server)
        await client.start_server()
        try:
            yield cls(client)
        finally:
            await client.close()

    async def _take(self, response: Any) -> list[dict[str, Any]]:
        assert response.status == 200, await response.text()
        fresh = [m for m in (await response.json())["messages"] if m["id"] > self.cursor]
        if fresh:
            self.cursor = fresh[-1]["id"]
        self.seen += fresh
        return [m for m in fresh if m["direction"] == "out"]

    async def be(self, name: str) -> list[dict[str, Any]]:
        """Demo mode: become the example person with this name."""
        session = await (await self.client.get("/chat/api/session")).json()
        person = next(p for p in session["demo"] if p["name"] == name)
        return await self._take(
            await self.client.post("/chat/api/demo", json={"person_id": person["person_id"]})
        )

    async def send(self, **request: Any) -> list[dict[str, Any]]:
        """Post one action; returns the bot's new messages."""
        return await self._take(
            await self.client.post("/chat/api/send", json={"after": self.cursor, **request})
        )

    async def say(self, text: str) -> list[dict[str, Any]]:
        """Type text."""
        return await self.send(type="text", text=text, echo=text)

    async def choose(self, option_id: str) -> list[dict[str, Any]]:
        """Press an option of the current question."""
        return await self.send(
            type="choose", item_id=self.current()["item_id"], option_id=option_id
        )

    async def toggle(self, option_id: str) -> list[dict[str, Any]]:
        """Toggle an option of the current multi-select question."""
        return await self.send(
            type="toggle", item_id=self.current()["item_id"], option_id=option_id
        )

    async def action(self, kind: str, item_id: str | None = None) -> list[dict[str, Any]]:
        """Press an action button (back, skip, done, submit, edit...)."""
        return await self.send(type="action", action=kind, item_id=item_id)

    async def poll(self) -> list[dict[str, Any]]:
        """What the page's poll would fetch now."""
        return await self._take(await self.client.get(f"/chat/api/messages?after={self.cursor}"))

    def current(self) -> dict[str, Any]:
        """The newest question shown."""
        return next(m for m in reversed(self.seen) if m.get("type") == "ask")

    def last(self) -> dict[str, Any]:
        """The newest bot message."""
        return next(m for m in reversed(self.seen) if m["direction"] == "out")
