"""Exceptions raised by jscell. The native module raises exactly these classes."""

from __future__ import annotations

from typing import Any


class JavaScriptError(Exception):
    """JavaScript threw and nothing caught it.

    ``name`` is the error class (``"TypeError"``, ...; ``"Uncaught"`` when a non-Error value such
    as ``42`` was thrown), ``message`` its message, ``stack`` the JS stack text (``None`` when the
    thrown value has none) and ``frames`` a list of dicts with ``function_name``, ``file_name``,
    ``line_number`` and ``column_number``.
    """

    def __init__(self, name: str, message: str, stack: str | None = None, frames: list[dict[str, Any]] | None = None):
        super().__init__(f"{name}: {message}" if message else name)
        self.name = name
        self.message = message
        self.stack = stack
        self.frames = frames or []


class RuntimeTerminated(RuntimeError):
    """The runtime can no longer run code: ``terminate()`` was called, the heap limit was hit,
    or the runtime was closed."""


class ExecutionTimeout(RuntimeError, TimeoutError):
    """A call ran past its timeout. The runtime stays usable."""


class SerializationError(ValueError):
    """A value cannot cross between Python and JavaScript whole: a cycle, nesting deeper than
    ``max_serialization_depth``, more than ``max_serialization_bytes``, or an unsupported type."""
