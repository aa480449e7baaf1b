"""The bounds the hardened backend holds its guest process to.

The guest is assumed compromised: whatever it sends, the parent waits for it only so long,
decodes and keeps only so much of it, and lets it have only so much work in flight. Overrunning
a bound kills the guest, and the call raises ``RuntimeTerminated`` (``reason`` names why).
``TABLE`` lists every bound as ``(name, value, why)``; the module's other names are the
numeric ones (seconds, bytes or counts).
"""

from __future__ import annotations

from ._jscell import GUEST_BOUNDS

TABLE: list[tuple[str, str, str]] = [(name, shown, why) for name, shown, _, why in GUEST_BOUNDS]

_values: dict[str, float | int] = {name: value for name, _, value, _ in GUEST_BOUNDS if value is not None}

START_DEADLINE: float = _values["START_DEADLINE"]
GRACE: float = _values["GRACE"]
CONTROL_DEADLINE: float = _values["CONTROL_DEADLINE"]
STALL_DEADLINE: float = _values["STALL_DEADLINE"]
RELEASE_INTERVAL: float = _values["RELEASE_INTERVAL"]
FRAME_ENVELOPE: int = int(_values["FRAME_ENVELOPE"])
MAX_FRAME: int = int(_values["MAX_FRAME"])
MAX_STACK_FRAMES: int = int(_values["MAX_STACK_FRAMES"])
MAX_SANDBOX_LAYERS: int = int(_values["MAX_SANDBOX_LAYERS"])
MAX_ASYNC_CALLS: int = int(_values["MAX_ASYNC_CALLS"])
MAX_MODULE_LOADS: int = int(_values["MAX_MODULE_LOADS"])
MAX_MODULE_URLS: int = int(_values["MAX_MODULE_URLS"])
MODULE_URL_OVERHEAD: int = int(_values["MODULE_URL_OVERHEAD"])
MAX_QUEUED_COMPLETIONS: int = int(_values["MAX_QUEUED_COMPLETIONS"])
MAX_RELEASE_BATCH: int = int(_values["MAX_RELEASE_BATCH"])

__all__ = [
    "CONTROL_DEADLINE",
    "FRAME_ENVELOPE",
    "GRACE",
    "MAX_ASYNC_CALLS",
    "MAX_FRAME",
    "MAX_MODULE_LOADS",
    "MAX_MODULE_URLS",
    "MAX_QUEUED_COMPLETIONS",
    "MAX_RELEASE_BATCH",
    "MAX_SANDBOX_LAYERS",
    "MAX_STACK_FRAMES",
    "MODULE_URL_OVERHEAD",
    "RELEASE_INTERVAL",
    "STALL_DEADLINE",
    "START_DEADLINE",
    "TABLE",
]
