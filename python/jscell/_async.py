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


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def schedule(loop: asyncio.AbstractEventLoop, awaitable: Awaitable[Any], done: Callable[[Any], None]) -> None:
    """Run ``awaitable`` on ``loop`` (from any thread) and call ``done(future)`` when it ends."""
    asyncio.run_coroutine_threadsafe(_await(awaitable), loop).add_done_callback(done)


def loop_is_usable(loop: asyncio.AbstractEventLoop | None) -> bool:
    return loop is not None and not loop.is_closed() and loop.is_running()
