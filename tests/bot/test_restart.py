"""A person continues where they were after the server process is killed and restarted."""

import aiohttp

from tests.process import ROOT, ServerProcess, free_port


async def post(session, url, body):
    async with session.post(url, json=body) as response:
        assert response.status == 200, await response.text()
        return [m for m in (await response.json())["messages"] if m["direction"] == "out"]


async def test_answers_survive_a_killed_server(db_url, tmp_path):
    port = free_port()
    env = {"DATABASE_URL": db_url, "FOLLOWUP_PORT": str(port), "FOLLOWUP_HOST": "127.0.0.1"}
    command = [str(ROOT / ".venv/bin/followup"), "serve"]
    server = ServerProcess(command, env, port, log=tmp_path / "server.log").start()
    jar = aiohttp.CookieJar(unsafe=True)
    try:
        connector = aiohttp.TCPConnector(force_close=True)  # no connection outlives the kill
        async with aiohttp.ClientSession(cookie_jar=jar, connector=connector) as browser:
            async with browser.get(f"{server.url}/chat/api/session") as response:
                people = (await response.json())["demo"]
            kari = next(p for p in people if p["name"] == "Kari Nordmann")
            invitation = await post(
                browser, f"{server.url}/chat/api/demo", {"person_id": kari["person_id"]}
            )
            round_id = invitation[-1]["rounds"][0]["round_id"]
            await post(
                browser, f"{server.url}/chat/api/send", {"type": "begin", "round_id": round_id}
            )
            await post(
                browser,
                f"{server.url}/chat/api/send",
                {"type": "choose", "item_id": "samtykke", "option_id": "yes"},
            )
            asked = await post(
                browser,
                f"{server.url}/chat/api/send",
                {"type": "choose", "item_id": "arbeidssted", "option_id": "kommune"},
            )
            assert asked[-1]["item_id"] == "rolle"

            server.kill()
            server.start()

            # Same browser cookie (the generated secret key is kept in the database).
            after = await post(
                browser,
                f"{server.url}/chat/api/send",
                {"type": "choose", "item_id": "rolle", "option_id": "leder"},
            )
            assert after[-1]["item_id"] == "erfaring"
            back = await post(
                browser, f"{server.url}/chat/api/send", {"type": "action", "action": "back"}
            )
            assert back[-1]["item_id"] == "rolle"
            assert back[-1]["current"] == {"choice": "leder"}
    finally:
        server.stop()
