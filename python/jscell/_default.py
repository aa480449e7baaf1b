"""Module-level conveniences over a context-local default runtime: one per asyncio task when
called from a task, else one per thread. Each is closed when its task finishes or its thread's
locals are collected."""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from ._config import Timeout
from ._runtime import Runtime

_per_thread = threading.local()
_per_task: weakref.WeakKeyDictionary[asyncio.Task[Any], Runtime] = weakref.WeakKeyDictionary()


def get_default_runtime() -> Runtime:
    """The default runtime of the current asyncio task, or of the current thread."""
    try:
        task = asyncio.current_task()
    except RuntimeError:
        task = None
    if task is not None:
        runtime = _per_task.get(task)
        if runtime is None or runtime.is_closed():
            runtime = _per_task[task] = Runtime()
            task.add_done_callback(_closer(runtime))
        return runtime
    runtime = getattr(_per_thread, "runtime", None)
    if runtime is None or runtime.is_closed():
        runtime = _per_thread.runtime = Runtime()
    return runtime


def _closer(runtime: Runtime) -> Callable[[asyncio.Task[Any]], None]:
    def close(_task: asyncio.Task[Any]) -> None:
        runtime.close()

    return close


def eval(code: str, *, timeout: Timeout = None) -> Any:  # noqa: A001 - mirrors Runtime.eval
    """``get_default_runtime().eval(code)``."""
    return get_default_runtime().eval(code, timeout=timeout)


async def eval_async(code: str, *, timeout: Timeout = None) -> Any:
    """``await get_default_runtime().eval_async(code)``."""
    return await get_default_runtime().eval_async(code, timeout=timeout)


def bind_function(name: str, handler: Callable[..., Any]) -> None:
    """``get_default_runtime().bind_function(name, handler)``."""
    get_default_runtime().bind_function(name, handler)


def bind_object(name: str, obj: Mapping[str, Any]) -> None:
    """``get_default_runtime().bind_object(name, obj)``."""
    get_default_runtime().bind_object(name, obj)
