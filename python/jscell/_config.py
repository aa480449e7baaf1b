"""``RuntimeConfig``: every option a runtime is created with, validated when constructed."""

from __future__ import annotations

import dataclasses
import datetime
import os
from dataclasses import dataclass
from typing import Any, Literal, get_args

from ._jscell import MAX_WARM_GUESTS, check_snapshot, process_memory_floor

Backend = Literal["native", "hardened", "wasm"]
"""The name of a backend: ``RuntimeConfig(backend=...)``."""

BACKENDS: tuple[Backend, ...] = get_args(Backend)
"""Backends this build provides."""

Timeout = float | int | datetime.timedelta | None
"""A timeout as callers may give it: seconds, a ``timedelta``, or None for none."""

GUEST_BINARY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jscell-guest")
"""The hardened backend's guest process, shipped inside this package."""

DEFAULT_MAX_SERIALIZATION_DEPTH = 1_000
MAX_SERIALIZATION_DEPTH_CEILING = 10_000
DEFAULT_MAX_SERIALIZATION_BYTES = 128 << 20
MIN_HEAP_SIZE = 8 << 20


def seconds(value: Timeout, field: str = "timeout") -> float | None:
    """A timeout as seconds: ``None``, a positive int/float, or a ``timedelta``."""
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{field} must be seconds (int or float), a datetime.timedelta or None, not {type(value).__name__}")
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{field} must be a positive, finite number of seconds, got {value!r}")
    return float(value)


def _backend(value: object) -> Backend:
    if value is None:
        value = os.environ.get("JSCELL_BACKEND") or "native"
    if not isinstance(value, str):
        raise TypeError(f"backend must be a str, not {type(value).__name__}")
    for backend in BACKENDS:
        if value == backend:
            return backend
    raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, got {value!r}")


def _size(value: Any, field: str, minimum: int = 1) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{field} must be an int (bytes) or None, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{field} must be at least {minimum} bytes, got {value}")
    return value


def _process_memory(value: Any) -> int | None:
    """The guest's memory cap. Where the parent can give a guest a memory cgroup, the cap holds
    what it commits and may be small; elsewhere the guest's rlimit holds what it reserves,
    which V8 makes large, so the cap has a higher floor."""
    size = _size(value, "max_process_memory")
    floor, mechanism = process_memory_floor()
    if size is not None and size < floor:
        how = (
            "a memory cgroup holds it here"
            if mechanism == "cgroup"
            else "this machine lets jscell make no memory cgroup, and the guest's RLIMIT_DATA counts the "
            "address space V8 reserves at start-up, about 140 MB"
        )
        raise ValueError(f"max_process_memory must be at least {floor} bytes ({floor >> 20} MiB; {how}), got {size}")
    return size


def _executable(value: Any, field: str) -> str:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{field} must be a path (str or os.PathLike), not {type(value).__name__}")
    path = os.path.abspath(os.fspath(value))
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise ValueError(f"{field} must be an executable file, got {path!r}")
    return path


def _directory(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{field} must be a path (str or os.PathLike) or None, not {type(value).__name__}")
    path = os.path.abspath(os.fspath(value))
    if not os.path.isdir(path):
        raise ValueError(f"{field} must be an existing directory, got {path!r}")
    return path


def _snapshot(snapshot: object, backend: Backend, jitless: bool, max_heap_size: int | None) -> bytes | None:
    if snapshot is None:
        return None
    if not isinstance(snapshot, (bytes, bytearray, memoryview)):
        raise TypeError(f"snapshot must be bytes (from SnapshotBuilder.build()) or None, not {type(snapshot).__name__}")
    snapshot = bytes(snapshot)
    # Checked before any engine sees the bytes (V8 aborts the process on a bad snapshot).
    check_snapshot(snapshot, backend, jitless, max_heap_size)
    return snapshot


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
class RuntimeConfig:
    """Options for a :class:`jscell.Runtime`. Every argument is keyword-only and readable back as
    an attribute; an invalid value raises ``TypeError``/``ValueError`` naming the field.

    The constructor takes wider types than it stores (a ``timedelta`` timeout, ``os.PathLike``
    paths, ``backend=None`` for the environment's choice), hence its own ``__init__``."""

    backend: Backend
    """``'native'`` (V8 on a thread of this process), ``'hardened'`` (V8 in a sandboxed child process)
    or ``'wasm'`` (QuickJS-ng compiled to WebAssembly, in wasmtime in this process)."""
    max_heap_size: int | None
    """JS heap limit in bytes, or None."""
    initial_heap_size: int | None
    """Initial JS heap size in bytes, or None."""
    bootstrap: str | None
    """JavaScript run once when the runtime starts."""
    timeout: float | None
    """Default timeout in seconds for every call, or None."""
    enable_console: bool
    """Whether ``console`` exists (output goes to logging)."""
    max_serialization_depth: int
    """Deepest nesting a value may have."""
    max_serialization_bytes: int | None
    """Largest size a value may have (None: the default)."""
    module_root: str | None
    """Directory whose files `import` may load (seen from JS as `/`), or None for no file access."""
    guest_path: str | None
    """Hardened: the guest binary (default: the one in the package)."""
    max_process_memory: int | None
    """Hardened: cap on the guest process's whole memory, in bytes."""
    jitless: bool
    """Hardened: run V8 without its JIT compilers."""
    warm_guests: int
    """Hardened: guests to keep started ahead (sandboxed, V8 up) for runtimes with these guest options,
    so creating one skips most of a guest's start-up. Each waiting guest is an idle process."""
    snapshot: bytes | None = dataclasses.field(repr=False)
    """A startup snapshot (``SnapshotBuilder.build()``) the runtime starts from, or None. A snapshot
    is code: load only snapshots you built (or trust as you trust your scripts)."""

    def __init__(
        self,
        *,
        backend: Backend | None = None,
        max_heap_size: int | None = None,
        initial_heap_size: int | None = None,
        bootstrap: str | None = None,
        timeout: Timeout = None,
        enable_console: bool = False,
        max_serialization_depth: int = DEFAULT_MAX_SERIALIZATION_DEPTH,
        max_serialization_bytes: int | None = DEFAULT_MAX_SERIALIZATION_BYTES,
        module_root: str | os.PathLike[str] | None = None,
        jitless: bool = False,
        max_process_memory: int | None = None,
        guest_path: str | os.PathLike[str] | None = None,
        warm_guests: int = 0,
        snapshot: bytes | bytearray | memoryview | None = None,
    ) -> None:
        backend = _backend(backend)
        max_heap_size = _size(max_heap_size, "max_heap_size", MIN_HEAP_SIZE)
        initial_heap_size = _size(initial_heap_size, "initial_heap_size")
        if max_heap_size is not None and initial_heap_size is not None:
            if initial_heap_size > max_heap_size:
                raise ValueError("initial_heap_size must not exceed max_heap_size")
        if bootstrap is not None and not isinstance(bootstrap, str):
            raise TypeError(f"bootstrap must be JavaScript source (str) or None, not {type(bootstrap).__name__}")
        timeout = seconds(timeout)
        if not isinstance(enable_console, bool):
            raise TypeError(f"enable_console must be a bool, not {type(enable_console).__name__}")
        if isinstance(max_serialization_depth, bool) or not isinstance(max_serialization_depth, int):
            raise TypeError(f"max_serialization_depth must be an int, not {type(max_serialization_depth).__name__}")
        if not 1 <= max_serialization_depth <= MAX_SERIALIZATION_DEPTH_CEILING:
            raise ValueError(
                f"max_serialization_depth must be between 1 and {MAX_SERIALIZATION_DEPTH_CEILING}, got {max_serialization_depth}"
            )
        max_serialization_bytes = _size(max_serialization_bytes, "max_serialization_bytes")
        module_root = _directory(module_root, "module_root")
        if not isinstance(jitless, bool):
            raise TypeError(f"jitless must be a bool, not {type(jitless).__name__}")
        max_process_memory = _process_memory(max_process_memory)
        guest_path = _executable(guest_path, "guest_path") if guest_path is not None else None
        if isinstance(warm_guests, bool) or not isinstance(warm_guests, int):
            raise TypeError(f"warm_guests must be an int, not {type(warm_guests).__name__}")
        if not 0 <= warm_guests <= MAX_WARM_GUESTS:
            raise ValueError(f"warm_guests must be between 0 and {MAX_WARM_GUESTS}, got {warm_guests}")
        snapshot = _snapshot(snapshot, backend, jitless, max_heap_size)
        if backend == "hardened":
            if guest_path is None:
                guest_path = _executable(GUEST_BINARY, "guest_path")
        else:
            hardened_only = {
                "jitless": jitless,
                "max_process_memory": max_process_memory,
                "guest_path": guest_path,
                "warm_guests": warm_guests,
            }
            for field, value in hardened_only.items():
                if value not in (None, False, 0):
                    raise ValueError(f"{field} applies to the hardened backend only (backend is {backend!r})")
        # Every field is stored from the parameter of its name, now validated; frozen, hence
        # object.__setattr__.
        validated = locals()
        for option in dataclasses.fields(self):
            object.__setattr__(self, option.name, validated[option.name])
