"""Following an ordered feed of events from another service, as a task of this process.

A feed is read through `read(after, limit)`: the events with a `seq` above `after`, in `seq`
order, at most `limit` of them. `FeedPoller` starts at the feed's tail as it finds it (what
came before does not concern a process that has just started), then reads from the last
`seq` it saw every `interval` seconds and hands each event to `apply`. A failed read is
logged once, when the feed stops answering, and the next poll resumes from the same `seq`.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Generic, Protocol, TypeVar

__all__ = ["FeedPoller", "SequencedEvent"]

logger = logging.getLogger(__name__)


class SequencedEvent(Protocol):
    @property
    def seq(self) -> int: ...


E = TypeVar("E", bound=SequencedEvent)
ReadFeed = Callable[[int, int], Awaitable[Sequence[E]]]


class FeedPoller(Generic[E]):
    """Reads `read` from its tail on; `cursor` is the last `seq` seen, None until the tail
    is found (until then nothing can tell what a cache filled now would miss)."""

    def __init__(
        self,
        read: ReadFeed[E],
        apply: Callable[[E], None],
        *,
        name: str,
        interval: float = 0.5,
        page_size: int = 500,
    ) -> None:
        self.read = read
        self.apply = apply
        self.name = name
        self.interval = interval
        self.page_size = page_size
        self.cursor: int | None = None
        self.failing = False

    async def find_tail(self) -> int:
        """The highest `seq` in the feed (0 when empty), in about 2·log2(seq) reads of one
        event each: whether an event follows `after` only ever turns false as `after` grows.
        """
        if not await self.read(0, 1):
            return 0
        low, high = 0, 1
        while await self.read(high, 1):
            low, high = high, high * 2
        while high - low > 1:  # an event follows `low`, none follows `high`
            middle = (low + high) // 2
            if await self.read(middle, 1):
                low = middle
            else:
                high = middle
        return high

    async def poll(self) -> None:
        """One poll: find the tail the first time, else apply every event since `cursor`."""
        if self.cursor is None:
            self.cursor = await self.find_tail()
            return
        while True:
            events = await self.read(self.cursor, self.page_size)
            for event in events:
                self.apply(event)
                self.cursor = event.seq
            if len(events) < self.page_size:
                return

    async def run(self) -> None:
        """Poll until cancelled; a failing feed is reported when it starts and stops failing."""
        while True:
            try:
                await self.poll()
            except Exception as exc:  # a broken feed must not end the task
                self._failed(exc)
            else:
                self._recovered()
            await asyncio.sleep(self.interval)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator["FeedPoller[E]"]:
        """Run the poller as a background task while the block runs; cancelled after it."""
        task = asyncio.create_task(self.run(), name=f"feed:{self.name}")
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _failed(self, exc: Exception) -> None:
        if not self.failing:
            logger.warning("the %s feed cannot be read, retrying: %s", self.name, exc)
        self.failing = True

    def _recovered(self) -> None:
        if self.failing:
            logger.info("the %s feed is read again, now at seq %s", self.name, self.cursor)
        self.failing = False
