"""`followup results` on real answers: the schema, the numbers, the formats and the k rule.

Eight example people answer a round over the whole example organisation (k = 3), once in an
anonymous and once in an identified round; two others leave the denominator. Every figure
is checked against a count made here from the answer plans, never against the code under test.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import select, update
from typer.testing import Result

from bot.app import Services
from bot.services.seed import load_examples
from dialogs.records import ParticipationStatus
from storage import models as m
from storage.models import utcnow
from tests.bot.test_cli import (
    BASE_PLAN,
    QUESTIONNAIRE_ID,
    ROOT,
    Plan,
    answer_as,
    create_round,
    csv_rows,
    followup,
    query,
    set_up_examples,
    with_services,
)

K = 3
SCHEMA = json.loads((ROOT / "docs" / "results.schema.json").read_text(encoding="utf-8"))
AUDIENCE = ["fjordsida-sykehus", "elvevik-kommune"]

ANSWERS: dict[str, Plan] = {
    # hjerteavdelingen
    "Kari Nordmann": {
        **BASE_PLAN,
        "seminar_fornoyd": "7",
        "informasjonskanaler": ["personalmote", "leder"],
        "tiltaksplan": "yes",
        "tiltaksplan_kjent": "4",
        "tiltaksplan_fulgt_opp": "5",
    },
    "Ola Hansen": {**BASE_PLAN, "informasjonskanaler": ["personalmote", "kolleger", "e-post"]},
    "Ingrid Berg": {
        **BASE_PLAN,
        "rolle": "leder",
        "tiltaksplan": "yes",
        "tiltaksplan_kjent": "5",
        "tiltaksplan_fulgt_opp": "5",
        "tiltaksplan_fulgt_opp.comment": "Godt i gang",
    },
    # lungeavdelingen (Marit is also in ortopedisk avdeling)
    "Ahmed Ali": {
        **BASE_PLAN,
        "seminar_fornoyd": "3",
        "seminar_fornoyd.comment": "For lang dag",
        "tiltaksplan": "no",
        "tiltaksplan_hvorfor_ikke": "Ingen tid",
        "informasjonskanaler": ["intranett"],
    },
    "Sofie Lie": {**BASE_PLAN, "tiltaksplan": "no", "informasjonskanaler": ["leder", "kolleger"]},
    "Marit Strand": {
        **BASE_PLAN,
        "seminar_nyttig": "dont_know",
        "informasjonskanaler": ["e-post"],
    },
    # medisinsk-klinikk itself
    "Per Dahl": {
        **BASE_PLAN,
        "rolle": "leder",
        "tiltaksplan": "yes",
        "tiltaksplan_kjent": "3",
        "tiltaksplan_fulgt_opp": "4",
    },
    # the only respondent in the municipality: never to be seen on her own
    "Nina Solberg": {
        **BASE_PLAN,
        "arbeidssted": "kommune",
        "informasjonskanaler": ["leder"],
        "tiltak.utskrivningssamtale": "not_relevant",
    },
}
LEFT_THE_DENOMINATOR = {
    "Eirik Vik": ParticipationStatus.INELIGIBLE,
    "Tor Haugen": ParticipationStatus.UNREACHABLE,
}
INVITED = 14  # everyone in examples/people.csv


def half_up(n: int, denominator: int) -> float | None:
    """n / denominator in percent, two decimals, halves rounded up; None when nobody answered."""
    if denominator == 0:
        return None
    return math.floor(Fraction(100 * n, denominator) * 100 + Fraction(1, 2)) / 100


# --- the scenario ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Answered:
    """A round everyone in ANSWERS has answered."""

    db_url: str
    round_id: int
    anonymous: bool

    def results(self, *options: str) -> Result:
        """`followup results` for this round."""
        return followup(self.db_url, "results", self.round_id, *options, k=K)

    def report(self, *options: str) -> dict[str, Any]:
        """The JSON report."""
        return json.loads(self.results("--format", "json", *options).stdout)

    def plans_by_unit(self) -> dict[str, list[Plan]]:
        """The answer plans grouped by the unit each respondent's participation names."""
        rows = query(
            self.db_url,
            select(m.Person.name, m.Participation.unit_id)
            .join(m.Participation, m.Participation.person_id == m.Person.id)
            .where(
                m.Participation.round_id == self.round_id,
                m.Participation.status == ParticipationStatus.COMPLETED.value,
            ),
        )
        grouped: dict[str, list[Plan]] = {}
        for name, unit in rows:
            grouped.setdefault(unit, []).append(ANSWERS[name])
        return grouped


async def leave_the_denominator(
    services: Services, round_id: int, statuses: Mapping[int, ParticipationStatus]
) -> None:
    """Mark participations ineligible or unreachable, as the round's follow-up would."""
    async with services.store.transaction() as tx:
        for person, status in statuses.items():
            await tx.session.execute(
                update(m.Participation)
                .where(m.Participation.round_id == round_id, m.Participation.person_id == person)
                .values(status=status.value)
            )


def answer_the_examples(db_url: str, anonymous: bool) -> int:
    """Open a round to the whole example organisation and let ANSWERS answer it."""

    async def scenario(services: Services) -> int:
        now = utcnow()
        round_id = await load_examples(services.store, services.rounds, now)  # anonymous
        if not anonymous:
            round_id = await services.rounds.create(
                QUESTIONNAIRE_ID, AUDIENCE, now, now + timedelta(days=14), anonymous=False
            )
            await services.rounds.open(round_id, now)
        async with services.store.transaction() as tx:
            people = {p.name: p.id for p in await tx.org.people()}
        await leave_the_denominator(
            services,
            round_id,
            {people[name]: status for name, status in LEFT_THE_DENOMINATOR.items()},
        )
        for name, plan in ANSWERS.items():
            await answer_as(services, people[name], round_id, plan, now)
        return round_id

    return with_services(db_url, scenario)


@pytest.fixture
def answered(request: pytest.FixtureRequest, db_url: str) -> Answered:
    """The example round answered by the people in ANSWERS (anonymous unless parametrized)."""
    anonymous = bool(getattr(request, "param", True))
    return Answered(db_url, answer_the_examples(db_url, anonymous), anonymous)


both_kinds_of_round = pytest.mark.parametrize(
    "answered", [True, False], ids=["anonymous", "identified"], indirect=True
)
"""For checks whose outcome must not depend on how answers are stored."""


# --- independent expectations ----------------------------------------------------------------


def assert_figures(items: Sequence[Mapping[str, Any]], plans: Sequence[Plan]) -> None:
    """Every item's denominator, n and % are what counting the plans gives."""
    for item in items:
        answers = [plan[item["id"]] for plan in plans if item["id"] in plan]
        picked = Counter(
            pick
            for answer in answers
            for pick in ([answer] if isinstance(answer, str) else answer)
        )
        if 0 < len(answers) < K:  # an optional or conditional item answered by too few
            assert item["suppressed"] is True, item["id"]
            assert item["denominator"] == 0
            assert all((o["n"], o["pct"]) == (0, None) for o in item["options"])
            continue
        assert item["suppressed"] is False
        assert item["denominator"] == len(answers), item["id"]
        for option in item["options"]:
            n = picked[option["id"]]
            assert (option["n"], option["pct"]) == (n, half_up(n, len(answers))), (
                item["id"],
                option["id"],
            )


def assert_nothing_shown(group: Mapping[str, Any]) -> None:
    """A suppressed group carries no figure at all."""
    assert group["suppressed"] is True
    assert group["respondents"] is None
    for item in group["items"]:
        assert item["suppressed"] is True
        assert item["denominator"] == 0
        assert all(option["n"] == 0 and option["pct"] is None for option in item["options"])


# --- JSON ------------------------------------------------------------------------------------


@both_kinds_of_round
def test_json_report_follows_the_schema_and_counts_what_was_answered(answered):
    report = answered.report()

    Draft202012Validator(SCHEMA).validate(report)
    assert report["round"]["anonymous"] is answered.anonymous
    assert report["min_group_size"] == K
    assert report["invited"] == INVITED
    assert (report["ineligible"], report["unreachable"]) == (1, 1)
    assert report["eligible"] == INVITED - 2
    assert report["respondents"] == len(ANSWERS)
    # 8 of 12 eligible: 66.666...% shown as 66.67, not 8 of 14 invited.
    assert report["response_rate"] == half_up(len(ANSWERS), INVITED - 2) == 66.67
    assert report["suppressed"] is False
    assert_figures(report["items"], list(ANSWERS.values()))


def test_multi_select_shares_are_of_respondents_and_may_sum_over_100(answered):
    report = answered.report()

    channels = next(i for i in report["items"] if i["id"] == "informasjonskanaler")
    assert channels["denominator_kind"] == "respondents"
    assert channels["denominator"] == len(ANSWERS)
    shares = {o["id"]: o["pct"] for o in channels["options"]}
    assert shares["personalmote"] == 50.0  # Kari, Ola, Ingrid, Per
    assert sum(shares.values()) > 100
    where = next(i for i in report["items"] if i["id"] == "arbeidssted")
    assert where["denominator_kind"] == "item"
    assert {o["id"]: o["pct"] for o in where["options"]} == {
        "sykehus": 87.5,
        "kommune": 12.5,
        "annet": 0.0,
    }
    # Asked only after «Ja»: the denominator is the three who got the question.
    known = next(i for i in report["items"] if i["id"] == "tiltaksplan_kjent")
    assert known["denominator"] == 3
    assert {o["id"]: o["pct"] for o in known["options"] if o["n"]} == {
        "3": 33.33,
        "4": 33.33,
        "5": 33.33,
    }


def test_response_rate_is_withheld_when_fewer_than_k_are_eligible(db_url):
    set_up_examples(db_url)
    round_id = create_round(db_url, "--unit", "hjerteavdelingen")
    followup(db_url, "round", "open", round_id)
    kari = query(db_url, select(m.Person.id).where(m.Person.name == "Kari Nordmann"))[0]

    with_services(
        db_url,
        lambda services: leave_the_denominator(
            services, round_id, {kari: ParticipationStatus.INELIGIBLE}
        ),
    )

    report = json.loads(followup(db_url, "results", round_id, "--format", "json", k=K).stdout)
    # Two eligible (< k): the rate and the counts it would come from are all withheld.
    assert (report["invited"], report["ineligible"], report["eligible"]) == (None, None, None)
    assert report["response_rate"] is None
    text = followup(db_url, "results", round_id, k=K).stdout
    assert "Færre enn 3 kan svare: antall og svarprosent vises ikke.\n" in text
    assert "== Alle\n   for få svar\n" in text


# --- CSV and text ----------------------------------------------------------------------------


def test_norwegian_csv_opens_in_excel_and_english_csv_uses_points(answered):
    nb = answered.results("--format", "csv")
    en = answered.results("--format", "csv", "--locale", "en")

    assert nb.stdout_bytes.startswith(b"\xef\xbb\xbf")
    assert not en.stdout_bytes.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in nb.stdout_bytes
    nb_rows = csv_rows(nb.stdout_bytes, "utf-8-sig", ";")
    en_rows = csv_rows(en.stdout_bytes, "utf-8", ",")
    assert nb_rows[0] == ["gruppe", "spørsmål_id", "spørsmål", "svar", "n", "grunnlag", "prosent"]
    assert en_rows[0] == ["group", "item_id", "question", "option", "n", "denominator", "percent"]
    assert ["Alle", "arbeidssted", "Hvor jobber du?", "Kommune", "1", "8", "12,50"] in nb_rows
    where = ["All", "arbeidssted", "Where do you work?", "Municipality", "1", "8", "12.50"]
    assert where in en_rows
    assert all(len(row) == 7 for row in nb_rows + en_rows)
    assert all(re.fullmatch(r"\d{1,3},\d\d", row[6]) for row in nb_rows[1:] if row[6])
    assert all(re.fullmatch(r"\d{1,3}\.\d\d", row[6]) for row in en_rows[1:] if row[6])


def test_text_report_says_too_few_answers_for_hidden_units(answered):
    report = answered.report("--by-unit")
    text = answered.results("--by-unit").stdout

    assert text.startswith("Evaluering av samhandlingsseminaret (runde")
    assert "grunnlag 12, svar 8, svarprosent 66,67\u00a0%" in text
    assert (
        "Hvor jobber du? (n = 8)\n   Sykehus: 7 (87,50\u00a0%)\n   Kommune: 1 (12,50\u00a0%)\n"
        in text
    )
    names = {u: n for u, n in query(answered.db_url, select(m.Unit.id, m.Unit.name_nb))}
    hidden = [g["unit"] for g in report["groups"] if g["suppressed"]]
    assert "elvevik-kommune" in hidden
    for unit in hidden:
        assert f"== {names[unit]}\n   for få svar\n" in text


# --- the k rule by unit ----------------------------------------------------------------------


def subtree_totals(parents: Mapping[str, str | None], own: Mapping[str, int]) -> dict[str, int]:
    """Respondents of each unit and everything below it."""
    totals = dict.fromkeys(parents, 0)
    for unit, n in own.items():
        current: str | None = unit
        while current is not None:
            totals[current] += n
            current = parents[current]
    return totals


def nearest_shown(
    unit: str | None, children: Mapping[str | None, list[str]], shown: Iterable[str]
) -> list[str]:
    """Shown groups a reader could subtract from `unit`'s figure (through hidden groups)."""
    visible = set(shown)
    found: list[str] = []
    pending = list(children.get(unit, []))
    while pending:
        child = pending.pop()
        if child in visible:
            found.append(child)
        else:
            pending += children.get(child, [])
    return found


@both_kinds_of_round
def test_by_unit_never_shows_nor_reveals_a_group_under_k(answered):
    report = answered.report("--by-unit")
    groups = {g["unit"]: g for g in report["groups"]}
    parents = {
        unit: (parent if parent in groups else None)
        for unit, parent in query(answered.db_url, select(m.Unit.id, m.Unit.parent_id))
    }
    by_unit = answered.plans_by_unit()
    totals = subtree_totals(parents, {unit: len(plans) for unit, plans in by_unit.items()})
    shown = {unit for unit, group in groups.items() if not group["suppressed"]}

    assert set(groups) == set(parents)  # every unit of the audience is listed
    assert shown, "nothing shown: the test would prove nothing"
    for unit, group in groups.items():
        if 0 < totals[unit] < K:
            assert unit not in shown, f"{unit} has {totals[unit]} respondents"
        if unit in shown:
            assert group["respondents"] == totals[unit] >= K
            below = [p for u, plans in by_unit.items() for p in plans if _within(u, unit, parents)]
            assert_figures(group["items"], below)
        else:
            assert_nothing_shown(group)
    children: dict[str | None, list[str]] = {}
    for unit, parent in parents.items():
        children.setdefault(parent, []).append(unit)
    figures: dict[str | None, int] = {None: report["respondents"]}  # None: the whole round
    figures |= {unit: groups[unit]["respondents"] for unit in shown}
    for parent, total in figures.items():
        left = total - sum(figures[c] for c in nearest_shown(parent, children, shown))
        assert left == 0 or left >= K, (
            f"{parent or 'all'} ({total}) minus its shown sub-units leaves {left} respondents"
        )


def _within(unit: str | None, ancestor: str, parents: Mapping[str, str | None]) -> bool:
    while unit is not None:
        if unit == ancestor:
            return True
        unit = parents[unit]
    return False
