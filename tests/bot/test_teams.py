"""The Teams activity handler under botbuilder's TestAdapter: cards, submits, refusals."""

from bot.services.account import new_code
from tests.bot.test_web_chat import EXPECTED, stored_anonymous_answers
from tests.services import seed, services_on
from tests.teams_chat import TeamsTestUser, card_texts, teams_channel
from tests.webchat import NOW


async def enrolled(services, db_url) -> TeamsTestUser:
    from datetime import timedelta

    from dialogs.model import Role

    code = new_code()
    async with services.store.transaction() as tx:
        await tx.org.create_invite(
            code, NOW + timedelta(days=1), "hjerteavdelingen", None, Role.STAFF, 1
        )
    user = TeamsTestUser(teams_channel(services, db_url))
    unknown = await user.say("hei")
    assert "invitasjonskoden" in card_texts(unknown[-1])[0]
    greeting = await user.say(code)
    assert card_texts(greeting[-1]) == ["Du har åpne undersøkelser:"]
    return user


async def test_the_example_questionnaire_on_cards(db_url):
    async with services_on(db_url) as services:
        await seed(services)
        user = await enrolled(services, db_url)
        await user.press("Evaluering av samhandlingsseminaret")
        consent = user.last()
        choice = next(e for e in consent["body"] if e["type"] == "Input.ChoiceSet")
        assert [c["value"] for c in choice["choices"]] == ["yes", "no"]
        assert consent["version"] == "1.5"
        await user.answer("yes")
        await user.answer("sykehus")
        await user.answer("ansatt")
        number = next(e for e in user.last()["body"] if e["type"] == "Input.Number")
        assert number["isRequired"] and number["errorMessage"]
        await user.answer(12.0)  # Input.Number may send a float
        await user.answer("6")
        await user.answer("Nyttig dag")  # the comment card
        await user.answer("dont_know")
        await user.answer("no")
        await user.answer("Ingen tid")
        multi = next(e for e in user.last()["body"] if e["type"] == "Input.ChoiceSet")
        assert multi["isMultiSelect"] is True
        too_many = await user.answer("personalmote,leder,kolleger,intranett")
        assert card_texts(too_many[0])[0].startswith("Du kan velge høyst 3.")
        await user.answer("leder,personalmote")
        await user.answer("started")
        await user.answer("dont_know")
        await user.answer("planned")
        summary = await user.press("Hopp over")
        assert any(t == "Hvor jobber du?: Sykehus" for t in card_texts(summary[-1]))
        thanks = await user.press("Send inn")
        assert "Takk for svarene" in card_texts(thanks[-1])[0]
    assert await stored_anonymous_answers(db_url) == EXPECTED


async def test_an_old_card_changes_nothing(db_url):
    async with services_on(db_url) as services:
        await seed(services)
        user = await enrolled(services, db_url)
        await user.press("Evaluering av samhandlingsseminaret")
        consent = user.last()
        await user.answer("yes")
        stale = await user.press("Svar", {"answer": "no"}, card=consent)
        assert card_texts(stale[-1]) == [
            "Den knappen hører til et tidligere steg og gjelder ikke lenger."
        ]
        assert "Hvor jobber du?" in card_texts(user.cards[-2])  # still the open question


async def test_activities_from_a_tenant_outside_the_allow_list_are_ignored(db_url):
    from botbuilder.schema import Activity, ActivityTypes, ConversationAccount

    from bot.channels.teams.channel import TeamsChannel
    from tests.webchat import settings_for

    async with services_on(db_url) as services:
        await seed(services)
        settings = settings_for(
            db_url, teams_dev_mode=True, teams_allowed_tenants="ours,also-ours"
        )
        assert settings.teams_allowed_tenants == ["ours", "also-ours"]
        channel = TeamsChannel(settings, services.store, services.conversation, lambda: NOW)
        user = TeamsTestUser(channel)
        for tenant, replies in (("theirs", 0), ("ours", 1)):
            user.adapter.template.conversation = ConversationAccount(id="c1", tenant_id=tenant)
            await user.adapter.receive_activity(Activity(type=ActivityTypes.message, text="hei"))
            got = user._drain()
            assert len(got) == replies, tenant
            async with services.store.transaction() as tx:
                known = await tx.org.identity("teams", "User1") is not None
            assert known is (tenant == "ours")  # nothing at all is stored for other tenants
