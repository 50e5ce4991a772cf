"""Questionnaire versions as definitions: parsed once from their stored source and cached."""

from __future__ import annotations

import dataclasses

from dialogs.loader import parse_questionnaire
from dialogs.model import Questionnaire
from dialogs.records import ParticipationRecord, RoundRecord
from storage.store import Transaction


class QuestionnaireCatalog:
    """Version id -> parsed Questionnaire; versions never change, so the cache never expires."""

    def __init__(self) -> None:
        self._cache: dict[int, Questionnaire] = {}

    async def get(self, tx: Transaction, version_id: int) -> Questionnaire:
        """The definition of a stored version."""
        cached = self._cache.get(version_id)
        if cached is not None:
            return cached
        source, content_hash = await tx.questionnaires.source(version_id)
        parsed = parse_questionnaire(
            source, f"questionnaire version {version_id}", await tx.measures.infos()
        )
        # The stored hash names the version, even if measure titles were edited since.
        questionnaire = dataclasses.replace(parsed, content_hash=content_hash)
        self._cache[version_id] = questionnaire
        return questionnaire

    async def for_person(self, tx: Transaction, round_id: int, person_id: int) -> Questionnaire:
        """The round's questionnaire as this person is asked it.

        In a check-in each person is asked only the measures assigned to them; the engine
        gets that narrower definition (same version hash), so it never asks the others.
        """
        round_ = await tx.rounds.get(round_id)
        if round_ is None:
            raise LookupError(f"round {round_id} does not exist")
        participation = await tx.rounds.participation(round_id, person_id)
        return await self.for_participation(tx, round_, participation)

    async def for_participation(
        self, tx: Transaction, round_: RoundRecord, participation: ParticipationRecord | None
    ) -> Questionnaire:
        """`for_person` with the round and the participation already read (no queries)."""
        questionnaire = await self.get(tx, round_.questionnaire_version_id)
        assigned = participation.assigned if participation else None
        if assigned is None:
            return questionnaire
        keep = set(assigned)
        items = tuple(i for i in questionnaire.items if i.measure is None or i.measure in keep)
        return dataclasses.replace(questionnaire, items=items)
