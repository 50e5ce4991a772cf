"""Aggregate reads for reports: the submitted answers of a round as anonymous-keyed facts."""

from __future__ import annotations

from sqlalchemy import select
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
