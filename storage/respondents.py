"""Who stands behind each respondent key of an identified round (never an anonymous one)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import models as m


async def respondent_people(session: AsyncSession, round_id: int) -> dict[str, int]:
    """Respondent key (as `storage.stats.round_facts` gives it) -> person id.

    Only identified responses link to a person; anonymous rounds have nothing to return, by
    design. Forgotten people (person removed) are left out.
    """
    rows = await session.execute(
        select(m.Response.id, m.Response.person_id).where(
            m.Response.round_id == round_id, m.Response.person_id.is_not(None)
        )
    )
    return {f"r{response_id}": person for response_id, person in rows if person is not None}
