"""asyncio plumbing the native core calls into: scheduling async handlers on the runtime's loop
and settling futures from the engine thread."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


def settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    """Resolve ``future`` on its own loop, unless the awaiting side gave up on it."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


def schedule(loop: asyncio.AbstractEventLoop, awaitable: Awaitable[Any], done: Callable[[Any], None]) -> None:
    """Run ``awaitable`` on ``loop`` (from any thread) and call ``done(future)`` when it ends.

    One hop onto the loop, then a task: the path every async host call takes, so it is kept
    short (``run_coroutine_threadsafe`` adds a second future and two more hops)."""

    def start() -> None:
        try:
            task: asyncio.Future[Any] = asyncio.ensure_future(awaitable, loop=loop)
        except BaseException as error:  # not awaitable after all: that is its outcome
            task = loop.create_future()
            task.set_exception(error)
        task.add_done_callback(done)

    loop.call_soon_threadsafe(start)


def loop_is_usable(loop: asyncio.AbstractEventLoop | None) -> bool:
    return loop is not None and not loop.is_closed() and loop.is_running()
