"""Shared work (fullon_cache_api.flight) when a caller waiting for another's work goes away:
the work goes on for the others, and that caller alone is cancelled. No Redis needed."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from test_hygiene import Work, started

from fullon_cache_api.flight import SingleFlight, cancel_requested


@pytest.mark.anyio
async def test_a_caller_cancelled_while_it_waits_leaves_the_work_to_the_others() -> None:
    flights, work = SingleFlight(), Work()
    doer = asyncio.create_task(flights.run("k", work, share_for=60))
    await started(doer)
    quitter = asyncio.create_task(flights.run("k", work, share_for=60))
    stayer = asyncio.create_task(flights.run("k", work, share_for=60))
    await started(doer, quitter, stayer)
    quitter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await quitter
    assert not doer.done() and not stayer.done()  # the work in flight was not cancelled
    work.release.set()
    assert (await doer, await stayer, work.runs) == (1, 1, 1)


@pytest.mark.anyio
async def test_a_caller_cancelled_with_the_work_it_waits_for_ends_and_runs_nothing() -> None:
    """Cancelled together, as a loop's shutdown cancels every task: the waiter ends cancelled
    too; it does not take the work over (with its own cancellation gone, it could wait for ever
    on what the shutdown is closing)."""
    flights, work = SingleFlight(), Work()
    doer = asyncio.create_task(flights.run("k", work, share_for=60))
    await started(doer)
    waiter = asyncio.create_task(flights.run("k", work, share_for=60))
    await started(doer, waiter)
    doer.cancel()
    waiter.cancel()
    done = await asyncio.gather(doer, waiter, return_exceptions=True)
    assert [type(outcome) for outcome in done] == [asyncio.CancelledError] * 2
    assert work.runs == 1  # nobody ran it again


@pytest.mark.anyio
async def test_a_cancellation_that_came_back_as_a_reply_still_stops_a_guarded_loop() -> None:
    """A loop whose awaits may swallow a cancellation (redis-py returning a reply instead)
    ends on ``cancel_requested``: a loop's shutdown, which cancels each task once, completes."""
    rounds = 0

    async def swallowing() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(60)

    async def loop() -> None:
        nonlocal rounds
        while not cancel_requested():
            rounds += 1
            await swallowing()

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    assert not task.done() and rounds == 1
    task.cancel()
    await asyncio.wait_for(task, 5)  # ended, not cancelled: the cancellation was swallowed
    assert rounds == 1 and not task.cancelled()
