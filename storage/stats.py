"""Aggregate reads for reports and digests: submitted answers, participation, status changes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dialogs.results import AnswerFact
from storage import models as m
from storage.repositories import answer_value


async def round_facts(session: AsyncSession, round_id: int, anonymous: bool) -> list[AnswerFact]:
    """Submitted answers of a round; the respondent key never names a person."""
    if anonymous:
        anonymous_rows = await session.execute(
            select(m.AnonymousResponse.key, m.AnonymousResponse.unit_id, m.AnonymousAnswer)
            .join(m.AnonymousAnswer, m.AnonymousAnswer.response_key == m.AnonymousResponse.key)
            .where(m.AnonymousResponse.round_id == round_id)
        )
        return [
            AnswerFact(key, unit_id, row.item_id, answer_value(row))
            for key, unit_id, row in anonymous_rows
        ]
    rows = await session.execute(
        select(m.Answer)
        .where(m.Answer.round_id == round_id, m.Answer.response_id.is_not(None))
        .order_by(m.Answer.id)
    )
    latest: dict[tuple[int, str], AnswerFact] = {}
    for (row,) in rows:
        # Latest per respondent and item wins; the respondent key is the response id.
        latest[(row.response_id or 0, row.item_id)] = AnswerFact(
            f"r{row.response_id}", row.unit_id, row.item_id, answer_value(row)
        )
    return list(latest.values())


CHUNK = 5_000
"""Ids per IN (...) list (asyncpg allows 32,767 parameters in one statement)."""


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    wanted = list(ids)
    return [wanted[start : start + CHUNK] for start in range(0, len(wanted), CHUNK)]


async def checkin_answers(
    session: AsyncSession, round_ids: Sequence[int]
) -> list[tuple[int, str, str, str]]:
    """Each person's latest submitted check-in answer per unit and measure in the given rounds.

    Returns (person, unit, measure, answer code); later answers and later rounds win. Someone
    on the staff of two units (part-time positions) answers each unit's check-in for that unit.
    """
    latest: dict[tuple[int, str, str], str | None] = {}
    # Chunks in round order, rows in round and id order: later answers overwrite earlier ones.
    for chunk in _chunks(sorted(round_ids)):
        rows = await session.execute(
            select(m.Answer.person_id, m.Answer.unit_id, m.Answer.measure_id, m.Answer.choice)
            .where(
                m.Answer.round_id.in_(chunk),
                m.Answer.response_id.is_not(None),
                m.Answer.measure_id.is_not(None),
                m.Answer.person_id.is_not(None),
            )
            .order_by(m.Answer.round_id, m.Answer.id)
        )
        for person_id, unit_id, measure_id, choice in rows:
            latest[(int(person_id or 0), str(unit_id), str(measure_id))] = choice
    return [
        (person, unit, measure, choice)
        for (person, unit, measure), choice in latest.items()
        if choice is not None  # a withdrawn (skipped) answer is no answer
    ]


async def participation_counts(
    session: AsyncSession, round_ids: Sequence[int]
) -> dict[int, dict[str, int]]:
    """Round -> participation status -> count."""
    counts: dict[int, dict[str, int]] = {}
    for chunk in _chunks(round_ids):
        rows = await session.execute(
            select(m.Participation.round_id, m.Participation.status, func.count())
            .where(m.Participation.round_id.in_(chunk))
            .group_by(m.Participation.round_id, m.Participation.status)
        )
        for round_id, status, count in rows:
            counts.setdefault(int(round_id), {})[str(status)] = int(count)
    return counts


async def assigned_measures(
    session: AsyncSession, round_ids: Sequence[int]
) -> list[tuple[str, list[str]]]:
    """(unit, assigned measures) of every participation of the given check-in rounds."""
    found: list[tuple[str, list[str]]] = []
    for chunk in _chunks(round_ids):
        rows = await session.execute(
            select(m.Participation.unit_id, m.Participation.assigned).where(
                m.Participation.round_id.in_(chunk), m.Participation.assigned.is_not(None)
            )
        )
        found += [(str(unit), list(assigned or [])) for unit, assigned in rows]
    return found


async def status_history(session: AsyncSession) -> dict[str, list[tuple[datetime, str]]]:
    """Measure -> its declared statuses in order, (when, status); deadline-only rows left out."""
    rows = await session.execute(
        select(
            m.MeasureStatusChange.measure_id,
            m.MeasureStatusChange.changed_at,
            m.MeasureStatusChange.status,
        )
        .where(m.MeasureStatusChange.status.is_not(None))
        .order_by(m.MeasureStatusChange.changed_at, m.MeasureStatusChange.id)
    )
    history: dict[str, list[tuple[datetime, str]]] = {}
    for slug, at, status in rows:
        history.setdefault(str(slug), []).append((_aware(at), str(status)))
    return history


def _aware(value: datetime) -> datetime:
    # An aggregate may come back without the column's type processing: naive means UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
