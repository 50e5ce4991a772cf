"""The life cycle the test peers share: `async with Peer() as peer` starts it and stops it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class Started(ABC):
    """A peer started on entering an `async with` block and stopped on leaving it."""

    @abstractmethod
    async def start(self) -> object:
        """Listen (and wait until ready)."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop listening and release what `start` took."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
