"""Exceptions raised by jscell. The native module raises exactly these classes."""

from __future__ import annotations

from typing import Literal, TypedDict


class StackFrame(TypedDict):
    """One frame of a JavaScript stack, innermost first; any field may be unknown (None)."""

    function_name: str | None
    file_name: str | None
    line_number: int | None
    column_number: int | None


class JavaScriptError(Exception):
    """JavaScript threw and nothing caught it.

    ``name`` is the error class (``"TypeError"``, ...; ``"Uncaught"`` when a non-Error value such
    as ``42`` was thrown), ``message`` its message, ``stack`` the JS stack text (``None`` when the
    thrown value has none) and ``frames`` its stack as :class:`StackFrame` dicts (at most
    ``jscell.bounds.MAX_STACK_FRAMES``).
    """

    def __init__(self, name: str, message: str, stack: str | None = None, frames: list[StackFrame] | None = None):
        super().__init__(f"{name}: {message}" if message else name)
        self.name = name
        self.message = message
        self.stack = stack
        self.frames = frames or []


TerminationReason = Literal[
    "requested",
    "closed",
    "heap_limit",
    "timeout_overdue",
    "guest_crashed",
    "guest_exited",
    "protocol_violation",
    "forked",
    "internal_error",
]
"""Why a runtime stopped, as ``RuntimeTerminated.reason`` names it."""


class RuntimeTerminated(RuntimeError):
    """The runtime can no longer run code. ``reason`` says why:

    - ``"requested"``: ``terminate()`` was called;
    - ``"closed"``: the runtime was closed;
    - ``"heap_limit"``: the JavaScript heap reached ``max_heap_size``;
    - ``"timeout_overdue"`` (hardened): the guest did not answer within the call's timeout plus
      the grace period, or within the fixed deadline of a call that takes no timeout;
    - ``"guest_crashed"`` (hardened): the guest process was killed by ``signal``;
    - ``"guest_exited"`` (hardened): the guest process exited with ``exit_code``;
    - ``"protocol_violation"`` (hardened): the guest sent what an honest guest never sends;
    - ``"forked"``: the runtime belongs to the process this one was forked from;
    - ``"internal_error"``: a bug in jscell.

    In every hardened case the guest is killed and reaped before the exception is raised.
    """

    def __init__(
        self,
        message: str,
        reason: TerminationReason = "closed",
        signal: int | None = None,
        exit_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.signal = signal
        self.exit_code = exit_code


class ExecutionTimeout(RuntimeError, TimeoutError):
    """A call ran past its timeout, ``timeout`` seconds. The runtime stays usable."""

    def __init__(self, message: str, timeout: float) -> None:
        super().__init__(message)
        self.timeout = timeout


class SerializationError(ValueError):
    """A value cannot cross between Python and JavaScript whole: a cycle, nesting deeper than
    ``max_serialization_depth``, more than ``max_serialization_bytes``, or an unsupported type."""
