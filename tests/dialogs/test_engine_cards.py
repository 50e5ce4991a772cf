"""Card channels (Teams) send a whole answer at once: picks with Done, text with its item."""

from datetime import UTC, datetime

from dialogs import engine
from dialogs.model import LocalizedText
from tests.builders import free_text, multi, questionnaire, single

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def started(q):
    return engine.advance(q, None, engine.Start(), NOW).state


def test_done_with_picks_answers_a_multi_select_in_one_submit():
    q = questionnaire(
        multi("kanaler", "Møter", "E-post", "Intranett", max_picks=2), free_text("mer")
    )
    moved = engine.advance(q, started(q), engine.Done("kanaler", ("c", "a")), NOW)
    assert [r.value.choices for r in moved.recorded] == [("a", "c")]  # option order
    assert moved.state.current == "mer"
    too_many = engine.advance(q, started(q), engine.Done("kanaler", ("a", "b", "c")), NOW)
    assert not too_many.changed and too_many.messages[0].key == "engine.invalid.max_picks"
    unknown = engine.advance(q, started(q), engine.Done("kanaler", ("zz",)), NOW)
    assert not unknown.changed and unknown.messages[0].key == "engine.stale"


def test_text_from_an_old_card_is_stale_not_an_answer_to_the_current_question():
    q = questionnaire(free_text("forst"), free_text("sist"))
    state = engine.advance(q, started(q), engine.Text("første", item_id="forst"), NOW).state
    old = engine.advance(q, state, engine.Text("igjen", item_id="forst"), NOW)
    assert not old.changed and [m.key for m in old.messages] == ["engine.stale"]
    now = engine.advance(q, state, engine.Text("andre", item_id="sist"), NOW)
    assert [(r.item_id, r.value.text) for r in now.recorded] == [("sist", "andre")]


def test_a_comment_card_names_the_comment_key():
    q = questionnaire(single("fornoyd", "Ja", "Nei", comment=LocalizedText(nb="Kommentar?")))
    state = engine.advance(q, started(q), engine.Choose("fornoyd", "a"), NOW).state
    wrong = engine.advance(q, state, engine.Text("hei", item_id="fornoyd"), NOW)
    assert not wrong.changed
    right = engine.advance(q, state, engine.Text("hei", item_id="fornoyd.comment"), NOW)
    assert [(r.item_id, r.value.text) for r in right.recorded] == [("fornoyd.comment", "hei")]
