"""``SnapshotBuilder``: run scripts once and keep the heap they leave, so that runtimes start
with their globals, functions and closures already there (``RuntimeConfig(snapshot=...)``)."""

from __future__ import annotations

from ._config import Backend, Timeout, _backend, _size, seconds
from ._jscell import build_snapshot_bytes


class SnapshotBuilder:
    """Builds a startup snapshot for one backend's engine.

    ``execute_script(name, code)`` queues a script; ``build()`` runs them all, in order, in a fresh
    engine and returns the snapshot as ``bytes`` (picklable, storable in a file). A runtime made
    with ``RuntimeConfig(backend=..., snapshot=those_bytes)`` starts from that heap: every global,
    function and closure the scripts made is there, each runtime with its own copy, and the
    runtime's ``bootstrap``, bound functions and ops come after it, per runtime.

    The scripts run with the ECMAScript builtins and the web globals (streams, ``TextEncoder``…)
    only: no console, timers, ops or bound functions, which belong to a runtime, not a snapshot.
    On V8, ``WebAssembly``, ``SharedArrayBuffer`` and ``Atomics`` are absent while building (V8
    cannot snapshot them). A V8 snapshot (``backend`` ``"native"`` or ``"hardened"``) serves both
    V8 backends; a ``"wasm"`` one serves the wasm backend only. A snapshot is code: start runtimes
    only from snapshots you built.
    """

    def __init__(self, *, backend: Backend | None = None, max_heap_size: int | None = None, timeout: Timeout = None) -> None:
        self.backend: Backend = _backend(backend)
        self.max_heap_size = _size(max_heap_size, "max_heap_size")
        self.timeout = seconds(timeout)
        self._scripts: list[tuple[str, str]] = []

    def execute_script(self, name: str, code: str) -> None:
        """Queue ``code`` to run at build time; ``name`` is its file name in stack traces."""
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, not {type(name).__name__}")
        if not isinstance(code, str):
            raise TypeError(f"code must be a str of JavaScript source, not {type(code).__name__}")
        self._scripts.append((name, code))

    def build(self) -> bytes:
        """Run the queued scripts in a fresh engine and return its snapshot. A script that throws
        raises ``JavaScriptError`` (and one that runs past ``timeout``, ``ExecutionTimeout``)."""
        return build_snapshot_bytes(self.backend, list(self._scripts), self.max_heap_size, self.timeout)

    def __repr__(self) -> str:
        return f"<jscell.SnapshotBuilder backend={self.backend!r} scripts={len(self._scripts)}>"
