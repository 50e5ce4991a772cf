"""Action plans from rows: generated ids, unique even when areas reuse letters; every problem."""

from datetime import date

from dialogs.plan import flatten_yaml, parse_plan, slugify

UNITS = {"medisin", "kommune"}


def row(**fields):
    return {"units": "medisin", "title": "Et tiltak", **fields}


def test_letters_reused_across_areas_give_unique_ids():
    plan = parse_plan(
        [
            row(area="samhandling", letter="a"),
            row(area="samhandling", letter="b"),
            row(area="kompetanse", letter="a"),
            row(area="kompetanse", letter="a"),
        ],
        UNITS,
    )
    assert plan.problems == ()
    assert [m.id for m in plan.measures] == [
        "samhandling-a",
        "samhandling-b",
        "kompetanse-a",
        "kompetanse-a-2",
    ]
    assert [a.id for a in plan.areas] == ["samhandling", "kompetanse"]


def test_ids_from_titles_when_there_is_neither_id_nor_letter():
    plan = parse_plan(
        [row(title="Økt bruk av samarbeidsmøter"), row(title="Økt bruk av samarbeidsmøter")], UNITS
    )
    assert [m.id for m in plan.measures] == [
        "okt-bruk-av-samarbeidsmoter",
        "okt-bruk-av-samarbeidsmoter-2",
    ]
    assert slugify("Færre  Åpne saker!") == "faerre-apne-saker"


def test_every_problem_is_reported_with_the_measure():
    plan = parse_plan(
        [
            row(id="a1", units="medisin akutt", deadline="snart"),
            row(id="a1", planned_start="2026-05-01", deadline="2026-04-01"),
            row(id="Ugyldig id", units=""),
            {"units": "medisin"},
        ],
        UNITS,
    )
    assert plan.problems == (
        "measure a1: duplicate id",
        "measure a1: unknown unit 'akutt'",
        "measure a1: deadline must be a date YYYY-MM-DD, not 'snart'",
        "measure a1: deadline 2026-04-01 is before the start",
        "row 3: id 'Ugyldig id' must be a slug (a-z, 0-9, - and _)",
        "measure Ugyldig id: no owning unit",
        "row 4: missing title (nb)",
    )


def test_yaml_and_csv_forms_read_the_same():
    yaml_rows = flatten_yaml(
        {
            "areas": [
                {
                    "id": "kompetanse",
                    "title": {"nb": "Kompetanse"},
                    "measures": [
                        {
                            "id": "kurs",
                            "title": {"nb": "Kurs"},
                            "units": ["kommune"],
                            "deadline": date(2026, 12, 31),
                        }
                    ],
                }
            ]
        }
    )
    csv_rows = [
        {
            "area": "kompetanse",
            "area_title": "Kompetanse",
            "id": "kurs",
            "title_nb": "Kurs",
            "units": "kommune",
            "deadline": "2026-12-31",
        }
    ]
    assert parse_plan(yaml_rows, UNITS) == parse_plan(csv_rows, UNITS)
