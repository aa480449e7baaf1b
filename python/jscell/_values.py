"""Python-side value types: ``undefined`` and ``RuntimeStats``."""

from __future__ import annotations

import dataclasses
from typing import Any


class UndefinedType:
    """The type of :data:`undefined`, JavaScript's ``undefined`` (``None`` is ``null``)."""

    _instance: UndefinedType | None = None

    def __new__(cls) -> UndefinedType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "undefined"

    def __reduce__(self) -> str:
        return "undefined"


undefined = UndefinedType()


@dataclasses.dataclass(frozen=True)
class RuntimeStats:
    """A snapshot of one runtime's resource use and counters (see ``Runtime.get_stats``)."""

    heap_total_bytes: int
    heap_used_bytes: int
    heap_limit_bytes: int
    external_memory_bytes: int
    physical_total_bytes: int
    total_execution_time: float
    last_execution_time: float
    last_execution_kind: str | None
    eval_sync_count: int
    eval_async_count: int
    call_sync_count: int
    call_async_count: int
    host_call_sync_count: int
    host_call_async_count: int
    active_async_ops: int
    live_grants: int
    active_timers: int
    active_intervals: int
    active_js_streams: int = 0
    """JavaScript streams being read from Python (``JsStream``s not yet ended or closed)."""
    active_py_streams: int = 0
    """Python sources being read by JavaScript (``PyStreamSource``s passed in, not yet ended)."""
    total_js_streams: int = 0
    total_py_streams: int = 0
    bytes_streamed_js_to_py: int = 0
    """Bytes of bytes-like chunks read from JavaScript streams."""
    bytes_streamed_py_to_js: int = 0
    """Bytes of bytes-like chunks pulled from Python sources."""
    guest_pid: int | None = None
    guest_rss_bytes: int | None = None
    sandbox_layers: dict[str, bool] | None = None

    @classmethod
    def _from_native(cls, fields: dict[str, Any]) -> RuntimeStats:
        return cls(**fields)
