"""FeedPoller: follows an ordered feed from its tail, survives a failing feed, resumes from
the last seq it saw."""

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest

from shop_common.feed import FeedPoller


@dataclass(frozen=True)
class Event:
    seq: int


class Feed:
    """An in-memory feed; `failing` makes every read raise, `reads` records each `after`."""

    def __init__(self, seqs: Sequence[int] = ()) -> None:
        self.events = [Event(seq) for seq in seqs]
        self.failing = False
        self.reads: list[tuple[int, int]] = []

    def add(self, *seqs: int) -> None:
        self.events.extend(Event(seq) for seq in seqs)

    async def read(self, after: int, limit: int) -> list[Event]:
        self.reads.append((after, limit))
        if self.failing:
            raise ConnectionError("feed down")
        return [event for event in self.events if event.seq > after][:limit]


def poller(feed: Feed, applied: list[int], page_size: int = 500) -> FeedPoller[Event]:
    return FeedPoller(
        feed.read,
        lambda event: applied.append(event.seq),
        name="test",
        interval=0.01,
        page_size=page_size,
    )


@pytest.mark.parametrize(
    "seqs", [[], [1], [1, 2, 3, 4, 5], [7], [2, 3, 9, 64], [*range(1, 100), 1000, 1023, 1024]]
)
async def test_the_tail_is_the_highest_seq_whatever_the_gaps(seqs: list[int]) -> None:
    feed = Feed(seqs)
    assert await poller(feed, []).find_tail() == max(seqs, default=0)
    assert all(limit == 1 for _, limit in feed.reads)


async def test_events_before_the_start_are_skipped_and_later_ones_applied_in_order() -> None:
    feed = Feed([1, 2, 3])
    applied: list[int] = []
    follower = poller(feed, applied)
    await follower.poll()
    assert (follower.cursor, applied) == (3, [])
    feed.add(4, 6, 9)
    await follower.poll()
    assert (follower.cursor, applied) == (9, [4, 6, 9])
    await follower.poll()
    assert applied == [4, 6, 9]


async def test_a_poll_reads_page_after_page_until_a_short_one() -> None:
    feed = Feed()
    applied: list[int] = []
    follower = poller(feed, applied, page_size=2)
    await follower.poll()
    feed.add(1, 2, 3, 4, 5)
    feed.reads.clear()
    await follower.poll()
    assert applied == [1, 2, 3, 4, 5]
    assert feed.reads == [(0, 2), (2, 2), (4, 2)]


async def test_a_failing_feed_is_logged_once_and_read_again_from_the_last_seq(
    caplog: pytest.LogCaptureFixture,
) -> None:
    feed = Feed([1])
    applied: list[int] = []
    follower = poller(feed, applied)
    caplog.set_level(logging.INFO, logger="shop_common.feed")
    async with follower.running():
        await until(lambda: follower.cursor == 1)
        feed.failing = True
        feed.add(2, 3)
        await until(lambda: len(feed.reads) > 10)
        assert applied == []
        feed.failing = False
        await until(lambda: applied == [2, 3])
    failures = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(failures) == 1
    assert "feed down" in failures[0].getMessage()
    assert any("read again, now at seq 3" in r.getMessage() for r in caplog.records)


async def test_a_feed_unreadable_from_the_start_leaves_the_tail_unknown() -> None:
    feed = Feed([1])
    feed.failing = True
    follower = poller(feed, [])
    async with follower.running():
        await until(lambda: len(feed.reads) > 3)
        assert follower.cursor is None
        feed.failing = False
        await until(lambda: follower.cursor == 1)


async def test_the_task_stops_when_the_block_ends() -> None:
    feed = Feed()
    async with poller(feed, []).running():
        await until(lambda: len(feed.reads) > 1)
    count = len(feed.reads)
    await asyncio.sleep(0.05)
    assert len(feed.reads) == count
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "feed:test"]


async def until(condition: Callable[[], bool], deadline: float = 5.0) -> None:
    """Wait for `condition`, polling; fail after a generous `deadline`."""
    async with asyncio.timeout(deadline):
        while not condition():  # noqa: ASYNC110 - the state is plain attributes
            await asyncio.sleep(0.005)
