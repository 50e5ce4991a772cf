"""The outbox survives a SIGKILL of the process draining it: nothing lost, few duplicates."""

import asyncio
import os
import re
import signal
from collections import Counter

import pytest

from storage.store import Store
from tests.peers.telegram_api import TelegramApiStandIn
from tests.process import ROOT

ROWS = 2000
CHATS = 200
CONCURRENCY = 16


async def enqueue(db_url: str, api: TelegramApiStandIn) -> None:
    store = Store.connect(db_url)
    try:
        async with store.transaction() as tx:
            identities = []
            for chat in range(CHATS):
                api.user(5000 + chat)
                identities.append(await tx.org.ensure_identity("telegram", str(5000 + chat)))
            for n in range(ROWS):
                identity = identities[n % CHATS]
                await tx.outbox.enqueue(
                    f"crash-test:{n}",
                    "notice",
                    "telegram",
                    {"text": f"melding {n}"},
                    None,
                    identity.id,
                )
    finally:
        await store.close()


def drainer(db_url: str, api: TelegramApiStandIn):
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "TELEGRAM_BOT_TOKEN": api.token,
        "TELEGRAM_API_BASE_URL": api.root,
        "FOLLOWUP_TELEGRAM_RATE": "400",
        "FOLLOWUP_TELEGRAM_CHAT_RATE": "50",
        "FOLLOWUP_OUTBOX_LEASE_SECONDS": "2",
        "FOLLOWUP_OUTBOX_CONCURRENCY": str(CONCURRENCY),
    }
    return asyncio.create_subprocess_exec(
        str(ROOT / ".venv/bin/followup"),
        "outbox",
        "drain",
        "--until-empty",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )


def delivered(api: TelegramApiStandIn) -> Counter:
    texts = [c.params.get("text", "") for c in api.calls_to("sendMessage") if c.ok]
    return Counter(int(m[1]) for t in texts if (m := re.fullmatch(r"melding (\d+)", t)))


@pytest.mark.parametrize("kill", [True, False], ids=["sigkill-and-restart", "no-kill"])
async def test_no_row_is_lost_and_duplicates_stay_within_the_rows_in_flight(db_url, kill):
    async with TelegramApiStandIn() as api:
        await enqueue(db_url, api)
        first = await drainer(db_url, api)
        if kill:
            await api.wait_for(lambda: sum(delivered(api).values()) >= ROWS // 4, timeout=60)
            os.killpg(first.pid, signal.SIGKILL)
            await first.wait()
            at_kill = sum(delivered(api).values())
            second = await drainer(db_url, api)
            output = (await second.communicate())[0].decode()
            assert second.returncode == 0, output
        else:
            output = (await first.communicate())[0].decode()
            assert first.returncode == 0, output
        counts = delivered(api)
    print(f"\n{output.strip()}")
    lost = [n for n in range(ROWS) if counts[n] == 0]
    duplicates = sum(count - 1 for count in counts.values())
    print(
        f"delivered {sum(counts.values())}, lost {len(lost)}, duplicates {duplicates}"
        + (f", killed after {at_kill}" if kill else "")
    )
    assert lost == []
    assert f"{CONCURRENCY} messages in flight at most" in output
    if kill:
        assert duplicates <= CONCURRENCY
        assert 0 < at_kill < ROWS
    else:
        assert duplicates == 0
